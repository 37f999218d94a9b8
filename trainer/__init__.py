"""hoot's trainer: data scan and cache, train/eval loop, bake-off, fine-tune, export."""
