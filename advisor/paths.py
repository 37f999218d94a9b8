"""Where hoot keeps its files: the user's data directory (results store) and reports."""

from __future__ import annotations

import os
from pathlib import Path

from hoot.advisor.errors import HootError

#: what a user-given image folder must be (the fix every "no such folder" error names)
IMAGE_FOLDER = "a folder with one sub-folder of images per class"



def _data_dir_and_source() -> tuple[Path, str]:
    env = os.environ.get("HOOT_DATA_DIR")
    if env:
        return Path(env), "HOOT_DATA_DIR"
    xdg = os.environ.get("XDG_DATA_HOME")
    if xdg:
        return Path(xdg) / "hoot", "XDG_DATA_HOME"
    return Path.home() / ".local" / "share" / "hoot", "HOME"


def data_dir() -> Path:
    """HOOT_DATA_DIR, else $XDG_DATA_HOME/hoot, else ~/.local/share/hoot (not created here).
    A file where the folder should be is one clear error (not a crash where hoot first writes)."""
    path, source = _data_dir_and_source()
    if path.exists() and not path.is_dir():
        raise HootError(f"hoot's data folder '{path}' (from {source}) is a file, not a folder; set HOOT_DATA_DIR "
                        "to a folder")
    return path


def ensure_data_dir() -> Path:
    """data_dir(), created; a read-only or unwritable home is one clear error naming the way out."""
    path, source = data_dir(), _data_dir_and_source()[1]
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise HootError(f"cannot create hoot's data folder '{path}' (from {source}: {exc.strerror or exc}); set "
                        "HOOT_DATA_DIR to a folder you can write, or pass --db FILE") from None
    return path


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
