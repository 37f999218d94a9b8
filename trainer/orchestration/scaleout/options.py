"""The scale-out flags of `hoot shortlist`, checked once before anything is written."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any

from hoot.advisor.errors import HootError
from hoot.trainer.orchestration.scaleout import study as st


@dataclass(frozen=True)
class ScaleoutOptions:
    """--storage, --study, --worker, --status, --nproc, --nnodes, --rdzv-endpoint, --sync-bn
    (and the table --format for --status); each error names the flag and the fix."""

    storage: str | None = None
    study: str | None = None
    worker: bool = False
    status: bool = False
    nproc: int = 1
    nnodes: int = 1
    rdzv_endpoint: str | None = None
    sync_bn: bool = False
    format: str = "table"

    @classmethod
    def from_dict(cls, options: dict[str, Any] | None) -> ScaleoutOptions:
        known = {f.name for f in dataclasses.fields(cls)}
        clean = {k.replace("-", "_"): v for k, v in (options or {}).items() if v is not None}
        unknown = sorted(set(clean) - known)
        if unknown:
            raise HootError(f"unknown scale-out option '{unknown[0]}'")
        opts = cls(**clean)
        opts.validate()
        return opts

    @property
    def world_size(self) -> int:
        return self.nproc * self.nnodes

    def validate(self) -> None:
        self._check_roles()
        self._check_study()
        self._check_processes()
        if self.storage is not None:
            st.check_storage_form(self.storage)

    def _check_roles(self) -> None:
        if self.worker and self.status:
            raise HootError("--worker and --status exclude each other: run one or the other")
        flag = "--worker" if self.worker else "--status"
        if (self.worker or self.status) and not self.storage:
            raise HootError(f"{flag} needs the coordinator's --storage URL and --study NAME")
        if (self.worker or self.status) and not self.study:
            raise HootError(f"{flag} needs --study NAME (the name the coordinator printed)")

    def _check_study(self) -> None:
        if self.study is not None and not re.fullmatch(r"[A-Za-z0-9_.:-]{1,100}", self.study):
            raise HootError(f"--study '{self.study}' must be 1-100 letters, digits, '_', '-', '.' or ':'")
        if self.study is not None and self.study.endswith(st.RUNGS_SUFFIX):
            raise HootError(f"--study '{self.study}' names hoot's work queue; pass the bake-off's name without '{st.RUNGS_SUFFIX}'")

    def _check_processes(self) -> None:
        for flag, value, what in (("--nproc", self.nproc, "processes per machine"), ("--nnodes", self.nnodes, "machines")):
            if isinstance(value, bool) or not isinstance(value, int):
                raise HootError(f"{flag} {value!r} must be a whole number of {what} (at least 1)")
            if value < 1:
                raise HootError(f"{flag} {value} must be at least 1 ({what} for the fine-tune)")
        if self.nnodes > 1 and not self.rdzv_endpoint:
            raise HootError("--nnodes > 1 needs --rdzv-endpoint HOST:PORT (a port on the first machine every machine can reach)")
        if self.rdzv_endpoint and not re.fullmatch(r"[^\s:]+:\d{1,5}", self.rdzv_endpoint):
            raise HootError(f"--rdzv-endpoint '{self.rdzv_endpoint}' must be HOST:PORT, e.g. node0:29500")
        if self.nnodes > 1 and not self.storage:
            raise HootError("--nnodes > 1 needs --storage URL: the other machines learn the winner from the study")
