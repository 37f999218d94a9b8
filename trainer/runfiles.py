"""A run folder a crash cannot corrupt: atomic writes, a `complete` marker, safe checkpoint loads,
and an index of run folders so a custom `--output` need not be repeated.

Every artefact is written to a hidden temporary file in the same folder, flushed to disk and
renamed over its final name (`os.replace` is atomic on one file system), so a kill -9 leaves
the old file or the new one, never half of one. Leftover temporaries (`.NAME.PID.tmp`) are
never read and are removed when the run is resumed. The marker file `complete` is written last,
after the report: a folder without it is a run that did not finish (or is still running).

The index (`<hoot data dir>/runs.json`, run id -> absolute folder) is what lets
`hoot report|export|predict RUN` find a run made with `--output elsewhere/`; a path to the run
folder is always accepted too.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import pickle
import shutil
from pathlib import Path
from typing import Any, BinaryIO, Callable

from hoot.advisor.errors import HootError

log = logging.getLogger(__name__)

COMPLETE_MARKER = "complete"
INDEX_NAME = "runs.json"
#: files that make a folder a hoot run (config.json is written first, `complete` last)
RUN_FILES = ("config.json", "dataset.json", "bakeoff.json", "finetune.json", "metrics.json", "best.pt")


def _tmp_for(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def _replace(tmp: Path, path: Path) -> None:
    try:
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise


#: kept free beyond what a write needs (the file system's own metadata, the journal, the next log line)
FREE_SPACE_MARGIN_BYTES = 32 * 2**20
_DISK_FULL = (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))


def _mb(n: float) -> str:
    return f"{n / 2**20:,.0f} MB"


def check_free_space(folder: Path, need_bytes: int, what: str) -> None:
    """Fail in one line before writing `need_bytes` into `folder` when its disk cannot take them
    (a full disk mid-write killed the process with a bus error, or left a half-written temporary)."""
    probe = Path(folder)
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        free = shutil.disk_usage(probe).free
    except OSError:
        return  # cannot tell: the write itself will say
    if need_bytes + FREE_SPACE_MARGIN_BYTES > free:
        raise HootError(f"not enough free disk space in '{folder}' for {what}: it needs {_mb(need_bytes)} and "
                        f"{_mb(free)} are free; free some space, or put the run on another disk with --output")


def is_disk_full(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in _DISK_FULL


def disk_full_error(path: Path, what: str) -> HootError:
    return HootError(f"the disk filled up while writing {what} '{path}' (the partial file is removed); free some "
                     "space, or put the run on another disk with --output, and run again")


def _atomic_write(path: Path, write: Callable[[BinaryIO], Any]) -> None:
    """write(file) into a temporary beside `path`, fsync, then rename over `path`: a reader (or a
    resume after kill -9) sees the old file or the whole new one, never half of it. A full disk
    is one clear error, and the temporary is removed."""
    path = Path(path)
    tmp = _tmp_for(path)
    try:
        with open(tmp, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if is_disk_full(exc):
            raise disk_full_error(path, "the file") from None
        raise
    _replace(tmp, path)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    _atomic_write(path, lambda fh: fh.write(data))


def atomic_write_text(path: Path, text: str) -> None:
    """UTF-8 text; characters from file names that are not valid UTF-8 are written escaped."""
    atomic_write_bytes(path, text.encode("utf-8", errors="backslashreplace"))


def atomic_write_json(path: Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, default=str))


def _tensor_bytes(obj: Any) -> int:
    """The bytes of the tensors in a (nested) checkpoint: what torch.save will write, near enough."""
    if hasattr(obj, "element_size") and hasattr(obj, "numel"):
        return int(obj.element_size() * obj.numel())
    if isinstance(obj, dict):
        return sum(_tensor_bytes(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(_tensor_bytes(v) for v in obj)
    return 0


def atomic_torch_save(obj: Any, path: Path) -> None:
    """torch.save through a temporary file: an interrupted save never leaves a broken checkpoint,
    and one that cannot fit on the disk is refused before it is started."""
    import torch

    path = Path(path)
    check_free_space(path.parent, _tensor_bytes(obj), f"the checkpoint '{path.name}'")
    _atomic_write(path, lambda fh: torch.save(obj, fh))


def remove_stale_temporaries(run_dir: Path) -> list[Path]:
    """Temporaries left by a killed write (never read; safe to drop before a resume)."""
    gone = []
    for folder in (run_dir, run_dir / "bakeoff"):
        if folder.is_dir():
            for tmp in folder.glob(".*.tmp"):
                tmp.unlink(missing_ok=True)
                gone.append(tmp)
            for tmp in folder.glob("*.tmp"):  # the old naming (best.pt.tmp)
                tmp.unlink(missing_ok=True)
                gone.append(tmp)
    return gone


def load_checkpoint(path: Path, map_location: Any = "cpu") -> dict:
    """torch.load(weights_only=True) with one-line answers: a file that would run code when
    unpickled is refused (and says so), a truncated or foreign file names itself and the fix."""
    import torch

    path = Path(path)
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        text = str(exc).lower()
        if "unsupported global" in text or "global" in text and "reduce" in text:  # a class or function to call
            raise HootError(f"refused to load '{path}': it holds Python objects that would run code when loaded "
                            "(hoot loads checkpoints as plain data, weights_only=True); delete the file and re-create "
                            "it with hoot") from None
        raise HootError(f"'{path}' cannot be read (truncated or not a checkpoint: {first[:80]}); delete it and re-run") from None
    except (RuntimeError, EOFError, OSError, ValueError, AttributeError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        raise HootError(f"'{path}' cannot be read (truncated or not a checkpoint: {first}); delete it and re-run") from None
    if not isinstance(state, dict):
        raise HootError(f"'{path}' is not a hoot checkpoint (a {type(state).__name__}, not a dict); delete it and re-run")
    return state


def mark_complete(run_dir: Path) -> None:
    atomic_write_text(run_dir / COMPLETE_MARKER, "complete\n")


def is_complete(run_dir: Path) -> bool:
    return (Path(run_dir) / COMPLETE_MARKER).is_file()


def looks_like_run(run_dir: Path) -> bool:
    return (Path(run_dir) / "config.json").is_file()


def ensure_writable_dir(path: Path, what: str) -> Path:
    """Create `path` (and parents) or fail in one line naming it; checks it can take a file."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".hoot-write-test.{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except FileExistsError:
        raise HootError(f"{what} '{path}' is a file, not a folder; pass a folder") from None
    except OSError as exc:
        raise HootError(f"{what} '{path}' cannot be written ({exc.strerror or type(exc).__name__}); "
                        "pass a folder you can write to") from None
    return path


def claim_run_dir(output: Path, run_id: str, chosen: bool) -> str:
    """Create OUTPUT/RUN_ID for a new run, exclusively (mkdir is atomic): two shortlists started in
    the same second, or twice with one --run-id, never share a folder (the second would overwrite
    config.json and bakeoff.json while keeping the first run's best.pt). A timestamp id the user
    did not choose moves on to RUN_ID-2, -3, ...; a chosen --run-id that exists is refused.
    Returns the run id claimed."""
    output = ensure_writable_dir(Path(output), "--output folder")
    for n in range(1, 1000):
        candidate = run_id if n == 1 else f"{run_id}-{n}"
        try:
            os.mkdir(output / candidate)
            return candidate
        except FileExistsError:
            if chosen:
                raise HootError(f"--run-id '{run_id}': run folder '{output / run_id}' already exists; continue it with "
                                f"`hoot shortlist --resume {run_id} --output {output}`, or pick another --run-id") from None
    raise HootError(f"no free run folder for '{run_id}' in '{output}'; pass --run-id NAME")


def release_unused_run_dir(run_dir: Path) -> None:
    """Remove a folder claimed by `claim_run_dir` when the run failed before it wrote config.json."""
    if Path(run_dir).is_dir() and not looks_like_run(run_dir):
        shutil.rmtree(run_dir, ignore_errors=True)


# -- the index of run folders ----------------------------------------------------------------------


def _index_path() -> Path:
    from hoot.advisor.paths import data_dir

    return data_dir() / INDEX_NAME


def read_index() -> dict[str, str]:
    try:
        data = json.loads(_index_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def remember_run(run_id: str, run_dir: Path) -> None:
    """Record where run `run_id` lives; best effort (an unwritable data dir only costs the lookup)."""
    from hoot.advisor.paths import ensure_data_dir

    try:
        index = read_index()
        index[run_id] = str(Path(run_dir).resolve())
        ensure_data_dir()
        atomic_write_json(_index_path(), index)
    except HootError as exc:  # the run is fine; only `hoot report RUN_ID` will need the folder's path
        log.warning("run '%s' not added to hoot's index of runs (%s); find it by its folder: %s",
                    run_id, exc.format_message(), run_dir)
    except OSError as exc:
        log.warning("run '%s' not added to hoot's index of runs (%s); find it by its folder: %s",
                    run_id, exc.strerror or exc, run_dir)


def locate_run(run: str, output: str = "reports", *, trained: bool = False, option: str = "") -> Path:
    """The folder of run `run`: a path to a run folder, a run id under `output`, or a run id in the
    index (the folder a custom --output put it in). The one run locator: predict, export,
    optimize, report and shortlist --resume all find a run here, so an id means the same folder
    in every command. `trained`: the run must hold a best.pt (predict, export, optimize);
    `option` names the option the run came from in errors (e.g. --resume). HootError when none fits."""
    said = f"{option} {run}: " if option else ""
    candidates = [Path(run), Path(output) / run]
    recorded = read_index().get(run)
    if recorded:
        candidates.append(Path(recorded))
    found = next((p for p in candidates if p.is_dir() and looks_like_run(p)), None)
    if found is None:
        for path in candidates:
            if not path.is_dir():
                continue
            if trained and not (path / "best.pt").is_file():
                raise HootError(f"{said}'{path}' has no best.pt and no config.json: not a hoot run folder; pass a "
                                "folder made by hoot shortlist")
            raise HootError(f"{said}'{path}' is not a hoot run folder (no config.json); pass a folder made by "
                            "hoot shortlist")
        raise HootError(f"{said}run '{run}' not found (looked in {', '.join(str(c) for c in candidates)}); pass the "
                        "run folder's path or --output")
    if trained and not (found / "best.pt").is_file():
        raise HootError(f"{said}run '{found}' has no best.pt yet (it did not finish); finish it with "
                        f"`hoot shortlist --resume {found.name} --output {found.parent}`")
    return found
