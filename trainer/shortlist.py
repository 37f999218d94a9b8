"""`hoot shortlist` end to end on one machine: prepare -> bake-off -> fine-tune -> report.

Each stage writes its result into the run folder as soon as it exists (bakeoff.json per
rung, last.pt/best.pt per epoch, finetune.json), so an interrupted run keeps what it
measured and `--resume RUN` continues where it stopped.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from hoot.trainer.bakeoff import RunContext, prepare, run_bakeoff
from hoot.trainer.config import ShortlistConfig


def run_local(config: ShortlistConfig, progress: bool = True, executor=None) -> dict:
    """Run (or resume) a shortlist in this process; returns the bake-off table and final metrics."""
    from hoot.trainer.report import write_report

    ctx: RunContext = prepare(config, progress=progress)
    run_dir = ctx.run_dir
    try:
        result = run_bakeoff(ctx, executor)
        write_report(run_dir)
        ft_file = run_dir / "finetune.json"
        finetune_result = json.loads(ft_file.read_text()) if ft_file.is_file() else None
        if finetune_result is None:  # --full-epochs 0: best.pt holds the bake-off weights
            from hoot.trainer.finetune import finetune

            finetune_result = finetune(ctx, result.winner)
            ft_file.write_text(json.dumps(finetune_result, indent=2, default=str), encoding="utf-8")
    finally:
        if (run_dir / "bakeoff.json").is_file():
            write_report(run_dir)
    print(f"report: {run_dir / 'report.md'} (and report.html, metrics.json, best.pt)", file=sys.stderr)
    return {"run_id": config.run_id, "run_dir": str(run_dir), "winner": result.winner, "table": result.table(),
            "final": {k: v for k, v in (finetune_result.get("final") or {}).items() if isinstance(v, float)}}


def resume_config(output: str, run: str) -> ShortlistConfig:
    """The saved settings of run `run` (a run id under `output`, or a run folder path)."""
    from hoot.advisor.errors import HootError

    path = Path(run)
    if not (path / "config.json").is_file():
        path = Path(output) / run
    if not (path / "config.json").is_file():
        raise HootError(f"--resume {run}: no run folder with config.json at '{path}'; pass a run id under {output}/")
    import dataclasses

    return dataclasses.replace(ShortlistConfig.load(path / "config.json"), output=str(path.parent))
