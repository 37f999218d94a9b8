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


def test_smp_unet_trains_in_the_shortlist(tmp_path, capsys):
    """seeds/003's U-Net (smp, ResNet-34 encoder) through the same shortlist, from scratch."""
    data = make_segmentation(tmp_path / "seg", n=15, size=32)
    code = main(["shortlist", str(data), "--candidates", "unet_resnet34", "--no-pretrained", "--image-size", "32",
                 "--steps", "2", "--full-epochs", "1", "--batch-size", "8", "--loss", "dice",
                 "--output", str(tmp_path / "out"), "--run-id", "unet", "--format", "json"])
    out = capsys.readouterr().out
    assert code == 0, out
    payload = json.loads(out)
    assert payload["winner"] == "unet_resnet34" and 0.0 <= payload["test"]["test_miou"] <= 1.0
    sources = json.loads((tmp_path / "out" / "unet" / "config.json").read_text())["resolved"]["model_sources"]
    assert "segmentation-models-pytorch" in sources.get("unet_resnet34", "")


def test_smp_encoder_weights_load_and_only_the_decoder_and_head_start_fresh():
    """Pretrained smp: ImageNet encoder from the hub cache (a file this test writes), decoder and head
    fresh; the "frozen" strategy then trains exactly the fresh parts."""
    import segmentation_models_pytorch as smp
    import torch

    from hoot.testing.weights import write_smp_encoder_file
    from hoot.trainer.tasks import get_task
    from hoot.trainer.training.strategy import apply_strategy

    torch.manual_seed(3)
    state = smp.create_model("unet", encoder_name="resnet34", encoder_weights=None).encoder.state_dict()
    write_smp_encoder_file("resnet34", state)
    model = get_task("segmentation").build_model("unet_resnet34", num_classes=4, pretrained=True)
    assert torch.equal(model.model.encoder.conv1.weight, state["conv1.weight"])
    assert sorted(model.hoot_head_names) == ["model.decoder", "model.segmentation_head"]
    trainable = apply_strategy(model, "frozen")
    fresh = sum(p.numel() for n, p in model.named_parameters() if not n.startswith("model.encoder."))
    assert trainable == fresh > 0
    assert model.eval()(torch.zeros(1, 3, 64, 64)).shape == (1, 4, 64, 64)


def test_torchvision_voc_weights_load_except_the_class_convs(tmp_path):
    """Pretrained torchvision segmenter for 4 classes: the COCO-with-VOC-labels file (one this test
    writes into torch's cache) loads into everything but the 21-class convs, which are the head the
    "frozen" strategy trains (named as the wrapper's parameters are)."""
    import torch
    from torchvision.models.segmentation import lraspp_mobilenet_v3_large

    from hoot.advisor.catalog import load_catalog
    from hoot.bench.sources import source_of
    from hoot.trainer.tasks import get_task
    from hoot.trainer.training.strategy import apply_strategy

    variant = load_catalog().get("lraspp_mobilenet_v3_large")
    path = source_of(variant).weights_file(variant).path
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(5)
    state = lraspp_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=21).state_dict()
    torch.save(state, path)
    model = get_task("segmentation").build_model("lraspp_mobilenet_v3_large", num_classes=4, pretrained=True)
    assert torch.equal(model.model.backbone["0"][0].weight, state["backbone.0.0.weight"])
    assert sorted(model.hoot_head_names) == ["model.classifier.high_classifier", "model.classifier.low_classifier"]
    trainable = apply_strategy(model, "frozen")
    assert 0 < trainable == sum(p.numel() for n, p in model.named_parameters() if "_classifier." in n)
    assert model.eval()(torch.zeros(1, 3, 64, 64)).shape == (1, 4, 64, 64)
