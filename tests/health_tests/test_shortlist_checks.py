"""`hoot shortlist` runs the doctor's cheap checks first: it refuses a test/ folder that leaks into
training (unless --allow-leakage), warns about duplicates, and keeps near copies on one side."""

from __future__ import annotations

from pathlib import Path

import pytest

from hoot.advisor.errors import HootError
from hoot.testing.images import tiny_config
from hoot.testing.planted import make_planted
from hoot.trainer.orchestration.engine import default_engine


def test_leaky_test_folder_refused_unless_allowed(tmp_path):
    data = make_planted(tmp_path / "data", n_images=90, classes=3, n_flips=0, n_cross=0, n_leaks=2)
    prepare = default_engine().prepare
    with pytest.raises(HootError, match="test/ folder .* shares 2 image.*--allow-leakage"):
        prepare(tiny_config(data.root, tmp_path, candidates=["squeezenet1_1"]), progress=False)
    assert not (tmp_path / "reports" / "t").exists()
    ctx = prepare(tiny_config(data.root, tmp_path, candidates=["squeezenet1_1"], allow_leakage=True), progress=False)
    assert any("hoot doctor" in w for w in ctx.scan.warnings)


def test_drawn_splits_keep_near_copies_together(tmp_path):
    data = make_planted(tmp_path / "data", n_images=90, classes=3, n_flips=0, n_cross=0, n_leaks=0, n_exact=6, n_near=6)
    ctx = default_engine().prepare(tiny_config(data.root, tmp_path, candidates=["squeezenet1_1"]), progress=False)
    side = {s.path: name for name, samples in ctx.scan.split_items() for s in samples}
    for a, b in data.exact + data.near:
        assert side[a] == side[b]


def test_second_preflight_reads_hashes_from_the_cache(tmp_path, monkeypatch):
    """Every process that prepares a run checks the data; only the first decodes (size + mtime unchanged)."""
    from hoot.trainer.health import doctor, hashing

    data = make_planted(tmp_path / "data", n_images=60, classes=3, n_flips=0, n_cross=0, n_leaks=0, n_exact=2, n_near=2)
    config = tiny_config(data.root, tmp_path, candidates=["squeezenet1_1"])
    first = doctor.preflight(config)
    assert hashing.cache_path_for(data.root).is_file()
    decoded = []
    monkeypatch.setattr(hashing, "read_facts", lambda p: decoded.append(p) or hashing.ImageFacts(p, error="x"))
    again = doctor.preflight(config)
    assert decoded == []
    assert [s.path for s in again.val] == [s.path for s in first.val]
    touched = data.exact[0][1]
    Path(touched).write_bytes(Path(touched).read_bytes() + b"\0")  # changed size: decoded again
    doctor.preflight(config)
    assert decoded == [touched]
