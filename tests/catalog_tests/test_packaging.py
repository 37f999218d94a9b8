"""A non-editable install ships catalog.yaml as a real file (the repo's advisor/catalog.yaml is a symlink)."""

from __future__ import annotations

import shutil
import stat
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_wheel_ships_catalog_and_installed_copy_loads(tmp_path):
    """About 3 s: builds the wheel offline (needs setuptools in this environment), installs it elsewhere."""
    pytest.importorskip("setuptools", reason="building the wheel offline needs setuptools in this environment")
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "catalog.yaml"):
        shutil.copy2(ROOT / name, src / name)
    for package in ("cli", "advisor", "bench", "trainer", "testing"):
        shutil.copytree(ROOT / package, src / package, symlinks=True,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    assert (src / "advisor" / "catalog.yaml").is_symlink()  # the layout under test

    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(wheels), str(src)], check=True, capture_output=True, text=True, timeout=300)
    (wheel,) = wheels.glob("hoot-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        info = zf.getinfo("hoot/advisor/catalog.yaml")
        assert not stat.S_ISLNK(info.external_attr >> 16), "catalog.yaml is a symlink inside the wheel"
        assert zf.read(info) == (ROOT / "catalog.yaml").read_bytes()
        # every module installs under the one namespace: nothing that another distribution could also own
        tops = {name.split("/")[0] for name in zf.namelist() if not name.startswith("hoot-")}
        assert tops == {"hoot"}, tops

    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)],
                   check=True, capture_output=True, text=True, timeout=300)
    # -S: no site processing, so the editable install's finder is off; dependencies come from the venv
    deps = sysconfig.get_paths()["purelib"]
    code = ("from hoot.advisor.catalog import load_catalog, default_catalog_path; c = load_catalog(); "
            "print(default_catalog_path()); print(len(c))")
    proc = subprocess.run([sys.executable, "-S", "-c", code], cwd=tmp_path, capture_output=True, text=True,
                          env={"PYTHONPATH": f"{site}:{deps}", "PATH": "/usr/bin:/bin"}, timeout=120)
    assert proc.returncode == 0, proc.stderr
    path, count = proc.stdout.split()
    assert Path(path).is_relative_to(site) and not Path(path).is_symlink()
    shipped = yaml.safe_load((ROOT / "catalog.yaml").read_text(encoding="utf-8"))
    assert int(count) == len(shipped["variants"])
