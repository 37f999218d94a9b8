"""A ViT is built for the size it runs at (issue 21: vit_h_14 failed every `hoot bench --all` with
"Wrong image height! Expected 224 but got 518")."""

from __future__ import annotations

import torch

from hoot.bench.models import build_model


def test_a_vit_built_for_its_measured_size_takes_that_size() -> None:
    model = build_model("vit_b_16", image_size=32).eval()  # a small stand-in for vit_h_14 at 518
    with torch.inference_mode():
        assert model(torch.zeros(1, 3, 32, 32)).shape == (1, 1000)


def test_the_bench_worker_passes_the_measured_size(monkeypatch) -> None:
    import hoot.bench.worker as worker

    seen = {}

    def builder(name, **kwargs):
        seen.update(kwargs)
        raise RuntimeError("stop here")

    monkeypatch.setattr(worker, "load_builder", lambda spec: builder)
    monkeypatch.setattr(worker.hoot.bench.models, "build_model", builder)
    from hoot.bench.records import SettingsKey  # noqa: F401 - the job type's module is importable
    job = type("Job", (), {"threads": 1, "runtime": "eager", "device": "cpu", "builder": None, "catalog_path": None,
                           "variant": "vit_h_14", "task": "classification", "input_size": 518})()
    try:
        worker.run_job(job, lambda message: None)
    except Exception:  # noqa: BLE001 - only the builder's arguments matter here
        pass
    assert seen.get("image_size") == 518, seen
