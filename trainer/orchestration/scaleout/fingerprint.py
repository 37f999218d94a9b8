"""Same run on every machine: the data and the settings a study was made with, checked before work."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hoot.advisor.errors import HootError
from hoot.advisor.paths import existing_folder
from hoot.trainer.orchestration.scaleout import study as st

#: settings that may differ between machines without changing the bake-off's result
LOCAL_SETTINGS = ("data_dir", "annotations", "output", "run_id", "device", "num_threads", "auto_batch")


def settings_of(config: Any) -> dict[str, Any]:
    """The settings every machine must share: the config without its machine-local fields."""
    return {k: v for k, v in config.to_dict().items() if k not in LOCAL_SETTINGS}


def fingerprint_of(config: Any) -> dict[str, str]:
    data_dir = existing_folder(config.data_dir, "data folder")
    annotations = getattr(config, "annotations", None)
    return {"data": st.data_fingerprint(data_dir, Path(annotations) if annotations else None),
            "settings": st.settings_fingerprint(settings_of(config))}


def study_name_for(study: str | None, fingerprint: dict[str, str]) -> str:
    """--study, or a name derived from data+settings so that re-running the command resumes."""
    return study or f"hoot-{fingerprint['data'][:6]}{fingerprint['settings'][:6]}"


def check_same_run(bake: st.BakeoffStudy, config: Any) -> None:
    """A worker or a resumed coordinator must use the study's data and settings: else one-line error."""
    attrs = bake.attrs()
    recorded = attrs.get("fingerprint") or {}
    mine = fingerprint_of(config)
    if recorded.get("data") != mine["data"]:
        raise HootError(
            f"the images in '{config.data_dir}' differ from the data study '{bake.name}' was made with "
            "(file names or sizes); give every machine the same copy of the dataset"
        )
    if recorded.get("settings") != mine["settings"]:
        theirs = attrs.get("settings") or {}
        ours = settings_of(config)
        diff = [k for k in sorted(set(theirs) | set(ours)) if theirs.get(k) != ours.get(k)]
        shown = ", ".join(f"{k}={ours.get(k)!r} here but {theirs.get(k)!r} in the study" for k in diff[:3])
        raise HootError(
            f"settings differ from study '{bake.name}': {shown or 'unknown fields'}; "
            "start every process with the coordinator's shortlist options"
        )
