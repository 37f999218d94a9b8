"""A tiny segmentation shortlist end to end (32 px, from scratch), then report, predict and export
on its run: the answer is test mIoU, with pictures, mask PNGs and an ONNX file with real outputs."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image

from hoot.cli.main import main
from hoot.testing.images import make_segmentation


def test_segmentation_shortlist_predict_export(tmp_path, capsys):
    data = make_segmentation(tmp_path / "seg", n=15, size=32)
    code = main(["shortlist", str(data), "--candidates", "lraspp_mobilenet_v3_large", "--no-pretrained",
                 "--image-size", "32", "--steps", "2", "--full-epochs", "1", "--batch-size", "8", "--loss", "dice_ce",
                 "--output", str(tmp_path / "out"), "--run-id", "seg"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "test_miou" in out.splitlines()[-2] and out.splitlines()[-1].startswith("run id: ") and "val_miou" in out
    run = tmp_path / "out" / "seg"
    ft = json.loads((run / "finetune.json").read_text())
    assert ft["metric"] == "val_miou" and 0.0 <= ft["test"]["test_miou"] <= 1.0
    assert {"test_dice", "test_pixel_accuracy"} <= set(ft["test"]) and len(ft["final"]["per_class"]["iou"]) == 4
    assert [p["path"] for p in ft["pictures"]] == ["test_masks.png", "test_iou.png"]
    report = (run / "report.md").read_text()
    assert "test_masks.png" in report and "Per-class iou" in report

    image = str(data / "images" / "img_0000.png")
    assert main(["predict", str(run), image, "--format", "json", "--out-dir", str(tmp_path / "pred")]) == 0
    rows = json.loads(capsys.readouterr().out)
    mask = np.asarray(Image.open(rows[0]["mask"]))
    assert mask.shape == (32, 32) and mask.max() < 4 and (tmp_path / "pred" / "img_0000_overlay.png").is_file()

    assert main(["export", str(run), "--format", "onnx"]) == 0
    import onnxruntime as ort

    session = ort.InferenceSession(str(run / "model.onnx"), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {"image": np.zeros((1, 3, 32, 32), np.float32)})
    assert got.shape == (1, 4, 32, 32)  # the model's real outputs: per-pixel logits
