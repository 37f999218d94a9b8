"""The tasks hoot trains (classification, multi-label, detection, segmentation), one module each,
behind one interface (`hoot.trainer.tasks.base.Task`; its docstring says how a task plugs in).

`get_task(name)` is the only way the rest of hoot reaches a task; `detect_task(root)` is what
`--task auto` means. Modules load lazily: a task module imports torch, the registry does not.
"""

from __future__ import annotations

import importlib
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from hoot.advisor.errors import HootError

if TYPE_CHECKING:
    from hoot.trainer.tasks.base import LayoutMatch, Task

#: name -> "module:Class"; the order is the order `--task` lists them in
TASKS: dict[str, str] = {
    "classification": "hoot.trainer.tasks.classification:ClassificationTask",
    "multilabel": "hoot.trainer.tasks.multilabel:MultiLabelTask",
    "detection": "hoot.trainer.tasks.detection:DetectionTask",
    "segmentation": "hoot.trainer.tasks.segmentation:SegmentationTask",
}
AUTO = "auto"


def _load(name: str) -> "type[Task] | None":
    module_name, _, cls_name = TASKS[name].partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:  # not in this build (a task still being written); others must not hide
            return None
        raise
    return getattr(module, cls_name)


def available() -> tuple[str, ...]:
    """The task names this build can train, in `TASKS` order."""
    return tuple(n for n in TASKS if _load(n) is not None)


@lru_cache(maxsize=None)
def get_task(name: str) -> "Task":
    """The task called `name` (a shared instance); a HootError names the choices for any other name."""
    cls = _load(name) if name in TASKS else None
    if cls is None:
        raise HootError(f"--task '{name}' is not one of {', '.join((AUTO,) + available())}")
    return cls()


def annotation_readers() -> list[str]:
    """The tasks that take an `--annotations FILE` (detection: a COCO json)."""
    return [n for n in available() if _load(n).annotations_file]  # type: ignore[union-attr]


def layout_matches(root: str | Path) -> list["LayoutMatch"]:
    """Every task's reading of `root` (what `--task auto` chooses from)."""
    root = Path(root)
    found = []
    for name in available():
        match = _load(name).detect(root)  # type: ignore[union-attr]
        if match is not None:
            found.append(match)
    return found


def detect_task(root: str | Path, annotations: str | Path | None = None) -> str:
    """The task whose layout `root` holds: the one task-specific layout (masks, COCO, YOLO, tags),
    else the generic one (class folders), which is also what an unknown layout is read as (its reader's
    error lists every layout). Two specific layouts are ambiguous: a HootError names them. With an
    `--annotations FILE`, the task that reads such a file (the layout is in the file, not the folder)."""
    root = Path(root)
    if not root.exists():
        raise HootError(f"data folder '{root}' does not exist; pass a folder of images")
    if not root.is_dir():
        raise HootError(f"data folder '{root}' is a file; pass the folder that holds the images")
    if annotations is not None:
        readers = annotation_readers()
        if len(readers) == 1:
            return readers[0]
        raise HootError(f"--annotations '{annotations}' fits more than one task ({', '.join(readers)}); pass --task")
    matches = layout_matches(root)
    specific = [m for m in matches if m.specific]
    if len(specific) == 1:
        return specific[0].task
    if len(specific) > 1:
        names = "; ".join(f"{m.layout} (--task {m.task})" for m in specific)
        raise HootError(f"data folder '{root}' matches more than one layout: {names}; pass --task to say which")
    if matches:
        return matches[0].task
    return "classification"  # its reader says what is missing (and names the other layouts)



def make_loss(task: str, label_smoothing: float = 0.0, focal: bool = False, gamma: float = 2.0):
    """The output loss of task `task` with these settings (its default `--loss`)."""
    from hoot.trainer.tasks.base import LossOptions

    return get_task(task).make_loss(LossOptions("", label_smoothing, focal, gamma))
