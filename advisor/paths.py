"""Where hoot keeps its files: the user's data directory (results store) and reports."""

from __future__ import annotations

import os
from pathlib import Path

from hoot.advisor.errors import HootError

#: what a user-given image folder must be (the fix every "no such folder" error names)
IMAGE_FOLDER = "a folder with one sub-folder of images per class"


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


def existing_folder(path: str | os.PathLike[str], what: str, expect: str = IMAGE_FOLDER) -> Path:
    """`path` when it is a folder; else one HootError in hoot's one wording ("<what> '<path>' does not
    exist" / "is a file, not a folder", then "pass <expect>"). Every command checks a folder the
    user named here, so the same mistake reads the same in advise, shortlist and scale-out."""
    folder = Path(path).expanduser()
    if not folder.exists():
        raise HootError(f"{what} '{folder}' does not exist; pass {expect}")
    if not folder.is_dir():
        raise HootError(f"{what} '{folder}' is a file, not a folder; pass {expect}")
    return folder
