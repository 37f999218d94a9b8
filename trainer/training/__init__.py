"""The training wing: loop, one bake-off rung, the bake-off, the fine-tune, and their precision."""
