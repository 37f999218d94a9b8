"""Where hoot keeps its files: the user's data directory (results store) and reports."""

from __future__ import annotations

import os
from pathlib import Path


def data_dir() -> Path:
    """HOOT_DATA_DIR, else $XDG_DATA_HOME/hoot, else ~/.local/share/hoot (not created here)."""
    env = os.environ.get("HOOT_DATA_DIR")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_DATA_HOME")
    return (Path(xdg) if xdg else Path.home() / ".local" / "share") / "hoot"


def default_db_path() -> Path:
    """The results store `hoot bench` writes and `hoot advise` reads by default."""
    return data_dir() / "bench.sqlite"
