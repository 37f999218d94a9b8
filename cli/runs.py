"""`hoot shortlist`, `hoot export`, `hoot predict`, `hoot report`: the trainer's commands.

Data (the ranking table, predictions, export facts) goes to stdout in --format; progress
bars, warnings and notes go to stderr. Every bad input is a one-line HootError.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import click

from hoot.advisor.errors import HootError
from hoot.advisor.paths import existing_folder
from hoot.advisor.render import FORMATS, render
from hoot.cli.options import Number, Threads, advisor_limits, fraction, limits_given, non_negative_int, positive_float, positive_int
from hoot.trainer.tasks import AUTO, TASKS

SCALEOUT_FLAGS = ("storage", "study", "worker", "status", "nproc", "nnodes", "rdzv_endpoint", "sync_bn")
TABLE_COLUMNS = ("rank", "candidate", "rung", "{metric}", "val_loss", "train_images_per_s", "latency_ms", "params", "winner")


@click.command(context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.argument("data_dir", required=False)
@click.option("--candidates", default=None, metavar="A,B,C", help="Models to compare (catalog names). Default: the advisor's top picks.")
@click.option("--target", default=None, metavar="NAME", help="Advisor target for picking candidates (mobile, edge, cpu-server, ...); "
              "its budgets, like the limits below, also apply to --candidates.")
@click.option("--task", default="auto", type=click.Choice([AUTO, *TASKS]),
              help="auto: the layout decides (class folders, tag sidecars/labels.csv, images/+masks/ or VOC, COCO/YOLO).")
@click.option("--loss", default="", metavar="NAME",
              help="Training loss (default: the task's). classification: ce, focal; multilabel: bce, focal; "
                   "segmentation: ce, dice, dice_ce, tversky, jaccard, focal.")
@advisor_limits
@click.option("--top", "top_k", default=4, type=positive_int(64), help="How many advisor picks become candidates.")
@click.option("--val-fraction", default=0.2, type=fraction(), help="Validation share drawn from train when DATA_DIR has no val/ (stratified, seeded).")
@click.option("--test-fraction", default=0.2, type=fraction(), help="Held-out test share drawn from train when DATA_DIR has no test/ (stratified, seeded; at least one image per class).")
@click.option("--image-size", default=None, type=positive_int(2048, "224"), metavar="PX", help="Training size. Default: min(candidates' native size, median image size).")
@click.option("--batch-size", default=32, type=positive_int(65536, "32"))
@click.option("--seed", default=0, type=non_negative_int())
@click.option("--epochs", default=1.0, type=positive_float(10_000), help="Bake-off budget per candidate at rung 0, in epochs.")
@click.option("--steps", default=None, type=positive_int(example="100"), help="Bake-off budget in optimiser steps (overrides --epochs).")
@click.option("--budget-seconds", default=None, type=positive_float(example="60"), help="Bake-off budget in training seconds (overrides --steps).")
@click.option("--rungs", default=None, type=positive_int(64, "2"), help="Successive-halving rungs (default: until one candidate is left).")
@click.option("--eta", default=2, type=Number(integer=True, minimum=2, maximum=64, example="2"), help="Keep 1/eta of the candidates per rung; the next rung trains eta x longer.")
@click.option("--pretrained/--no-pretrained", default=True, help="Start from the model's ImageNet weights, read from its package's cache (torchvision: TORCH_HOME; timm and smp: the Hugging Face hub cache).")
@click.option("--strategy", default="auto", type=click.Choice(["auto", "frozen", "top", "full"]), help="Fine-tuning strategy (seeds/004).")
@click.option("--similarity", default="similar", type=click.Choice(["similar", "somewhat-different", "different"]),
              help="How close your images are to ImageNet (picks the auto strategy, seeds/004).")
@click.option("--full-epochs", default=None, type=non_negative_int(10_000, "10"), help="Fine-tune epochs for the winner (default: from the dataset size; 0 skips).")
@click.option("--optimizer", default="adamw", type=click.Choice(["adamw", "sgd"]))
@click.option("--lr", default=None, type=positive_float(10, "1e-3"), help="Learning rate (default: seeds/004's range for the strategy).")
@click.option("--weight-decay", default=0.05, type=Number(minimum=0, maximum=10, example="0.05"))
@click.option("--label-smoothing", default=0.0, type=Number(minimum=0, maximum=0.99, example="0.1"))
@click.option("--focal", is_flag=True, help="Focal loss instead of cross-entropy/BCE (seeds/003).")
@click.option("--focal-gamma", default=2.0, type=Number(minimum=0, maximum=100, example="2"))
@click.option("--warmup-epochs", default=1.0, type=Number(minimum=0, maximum=10_000, example="1"))
@click.option("--patience", default=5, type=non_negative_int(10_000, "5"), help="Early stopping: epochs without improvement.")
@click.option("--device", default="auto", help="auto, cpu, cuda or cuda:N.")
@click.option("--threads", default=None, type=Threads(), help="CPU threads for torch (at most the cores this process may use).")
@click.option("--no-auto-batch", is_flag=True, help="On a GPU, keep --batch-size for the fine-tune instead of searching.")
@click.option("--precision", default="auto", show_default=True, help="Step precision: auto (measured on a GPU, fp32 on "
              "CPU), probe (measure anywhere), fp32, bf16 or fp16, optionally +channels_last.")
@click.option("--compile", "compile_mode", default="off", show_default=True,
              type=click.Choice(["off", "auto", "default", "reduce-overhead"]),
              help="torch.compile the step (reduce-overhead: CUDA graphs; auto: only when measured faster).")
@click.option("--output", default="reports", help="Where run folders go (remembered: report/export/predict find the run by its id).")
@click.option("--run-id", default="", help="Run folder name (default: a timestamp).")
@click.option("--resume", default=None, metavar="RUN", help="Continue run RUN (id under --output, or its folder).")
@click.option("--format", "fmt", default="table", type=click.Choice(FORMATS), help="Format of the ranking on stdout.")
@click.option("--allow-leakage", is_flag=True, help="Train even when DATA/test/ shares images with training (hoot doctor lists them).")
@click.option("--annotations", default=None, metavar="FILE", help="Detection: the COCO json of DATA_DIR's images when it is not "
              "DATA_DIR/annotations.json (implies --task detection).")
@click.option("--storage", default=None, metavar="URL", help="Scale-out: Optuna storage shared by workers.")
@click.option("--study", default=None, metavar="NAME", help="Scale-out: study name.")
@click.option("--worker", is_flag=True, default=None, help="Scale-out: run trials of an existing study.")
@click.option("--status", is_flag=True, default=None, help="Scale-out: show a study's progress.")
@click.option("--nproc", default=None, type=positive_int(1024, "2"), help="Scale-out: fine-tune processes per machine (DDP).")
@click.option("--nnodes", default=None, type=positive_int(4096, "2"), help="Scale-out: machines for the fine-tune.")
@click.option("--rdzv-endpoint", default=None, metavar="HOST:PORT", help="Scale-out: torchrun rendezvous.")
@click.option("--sync-bn", is_flag=True, default=None, help="Scale-out: SyncBatchNorm in the DDP fine-tune.")
def shortlist(data_dir, candidates, target, task, loss, top_k, val_fraction, test_fraction, image_size, batch_size, seed, epochs, steps, budget_seconds, rungs, eta,
              pretrained, strategy, similarity, full_epochs, optimizer, lr, weight_decay, label_smoothing, focal,
              focal_gamma, warmup_epochs, patience, device, threads, no_auto_batch, precision, compile_mode, output, run_id,
              resume, fmt, allow_leakage, annotations,
              **options) -> None:
    """Bake-off of candidate models on the images in DATA_DIR, then fine-tune the winner.

    DATA_DIR holds one folder per class (or train/ and val/ with class folders; .txt tag
    sidecars or labels.csv for multi-label; images/ + masks/ or Pascal VOC for segmentation;
    COCO annotations.json or YOLO images/ + labels/ for detection).
    Everything lands in OUTPUT/<run-id>/.
    """
    quiet_cuda_probe()
    from hoot.trainer.orchestration.candidates import parse_candidates
    from hoot.trainer.config import ShortlistConfig

    limits = limits_given(options)
    scaleout_opts = {k: v for k, v in options.items()
                     if k in SCALEOUT_FLAGS and v is not None and v is not False}  # 0 is a value (refused later)
    if resume:
        from hoot.trainer.orchestration.shortlist import resume_config

        config = resume_config(output, resume)
    elif data_dir is None:
        if scaleout_opts.get("status"):
            config = None
        else:
            raise HootError("missing DATA_DIR: pass the folder of images (one sub-folder per class), or --resume RUN")
    else:
        existing_folder(data_dir, "data folder")
        if annotations is not None:  # absolute: a resumed run or a scale-out worker may start elsewhere
            annotations = str(Path(annotations).expanduser().absolute())  # the reader says when it is missing
        names = parse_candidates(candidates)
        if names and (limits or target):
            from hoot.trainer.tasks import AUTO, detect_task

            names = _limited(names, detect_task(Path(data_dir), annotations) if task == AUTO else task, limits, target)
        elif not names:
            names = _advised(data_dir, task, top_k, target, limits, annotations)
        config = ShortlistConfig(
            data_dir=data_dir, candidates=names, task=task, loss=loss, val_fraction=val_fraction, test_fraction=test_fraction,
            image_size=image_size,
            batch_size=batch_size, seed=seed, epochs=epochs, steps=steps, budget_seconds=budget_seconds, rungs=rungs,
            eta=eta, pretrained=pretrained, strategy=strategy, full_epochs=full_epochs, optimizer=optimizer, lr=lr,
            weight_decay=weight_decay, label_smoothing=label_smoothing, focal=focal, focal_gamma=focal_gamma,
            warmup_epochs=warmup_epochs, patience=patience, output=output, run_id=run_id, device=device,
            num_threads=threads, auto_batch=not no_auto_batch, similarity=similarity,
            precision=precision, compile=compile_mode, allow_leakage=allow_leakage, annotations=annotations)
        if config.pretrained:
            from hoot.bench.models import require_cached_weights

            require_cached_weights(config.candidates)
    if scaleout_opts:
        try:
            from hoot.trainer.orchestration.scaleout import run_shortlist
        except ImportError:
            raise HootError("scale-out is not available in this build (hoot.trainer.orchestration.scaleout is missing); drop "
                            f"--{next(iter(scaleout_opts)).replace('_', '-')}") from None
        from hoot.trainer.orchestration.results import ShortlistResult

        # a coordinator with a timestamp id claims its folder as a local run does (a chosen --run-id is
        # how a coordinator is restarted into its study's folder, so that one is taken as given)
        claimed = config is not None and not resume and not run_id and not (
            scaleout_opts.get("worker") or scaleout_opts.get("status"))
        with _new_run_folder(config, chosen=False) if claimed else contextlib.nullcontext(config) as config:
            answer = run_shortlist(config, {**scaleout_opts, "format": fmt})
        if scaleout_opts.get("status"):
            click.echo(render(answer, fmt))
        elif isinstance(answer, ShortlistResult) and answer.table:
            click.echo(render(answer.table, fmt, _columns({"table": answer.table})))
        return
    from hoot.trainer.orchestration.shortlist import run_local

    from hoot.trainer.report import run_answer

    with _new_run_folder(config, chosen=bool(run_id)) if not resume else contextlib.nullcontext(config) as config:
        try:
            result = run_local(config)
            answer = run_answer(Path(str(result.run_dir)))  # the held-out test figure
        except KeyboardInterrupt:
            from hoot.trainer.runfiles import looks_like_run

            if looks_like_run(config.run_dir):  # main prints it, once
                raise KeyboardInterrupt(f"interrupted; the last checkpoint is kept: resume with "
                                        f"`hoot shortlist --resume {config.run_id} --output {config.output}`") from None
            raise
    payload = {**result.to_dict(), **answer}
    click.echo(render(result.table, fmt, _columns(payload), json_payload=payload))
    if fmt == "table":
        click.echo(final_line(payload))
        click.echo(f"run id: {config.run_id}")  # on its own line, last: what report/export/predict take


def final_line(payload: dict) -> str:
    """The run's answer in one line: the kept model's figure on the held-out test split
    (`payload`: the command's JSON answer, the result with hoot.trainer.report.run_answer's figures)."""
    test = payload.get("test") or {}
    name = "test_" + _metric(payload)[len("val_"):]
    if name not in test:
        return f"winner {payload['winner']}: no test figure (the fine-tune did not finish)"
    return (f"winner {payload['winner']}: {name} {test[name]:.4f} on {payload.get('test_images')} held-out test images "
            f"(model kept: {payload.get('kept')}, selected on validation)")


def quiet_cuda_probe() -> None:
    """torch's cpp_extension warns "No CUDA runtime is found" on CPU machines with a CUDA_HOME; it is not the user's problem."""
    import logging

    logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)


def _metric(result: dict) -> str:
    """The validation metric the run ranked on (the task's; recorded in finetune.json), else the
    first validation metric of the table."""
    if result.get("metric"):
        return str(result["metric"])
    row = result["table"][0] if result.get("table") else {}
    return next((k for k in row if k.startswith("val_") and k != "val_loss"), "val_top1")


def _columns(result: dict) -> list[str]:
    return [c.format(metric=_metric(result)) for c in TABLE_COLUMNS]


@contextlib.contextmanager
def _new_run_folder(config, chosen: bool):
    """A new run gets a folder of its own, atomically: never another run's (issue 21); a timestamp
    id taken in the same second moves on to ID-2, a chosen --run-id that exists is refused. Yields
    the config with the id claimed; a run that fails before config.json gives its folder back."""
    import dataclasses

    from hoot.trainer.runfiles import claim_run_dir, release_unused_run_dir

    claimed_id = claim_run_dir(Path(config.output), config.run_id, chosen=chosen)
    config = config if claimed_id == config.run_id else dataclasses.replace(config, run_id=claimed_id)
    try:
        yield config
    except BaseException:
        release_unused_run_dir(config.run_dir)  # failed before config.json: nothing to resume
        raise


def _advised(data_dir, task, top_k, target, limits: dict, annotations: str | None = None) -> list[str]:
    from hoot.trainer.orchestration.candidates import HOW_PICKED, advised_candidates
    from hoot.trainer.tasks.scanning import scan_dataset

    scan = scan_dataset(data_dir, task, annotations=annotations)
    names, reasons = advised_candidates(scan.task, top_k, len(scan.train) + len(scan.val), scan.median_size() or None,
                                        limits, target)
    click.echo(f"candidates {HOW_PICKED}:\n  " + "\n  ".join(reasons), err=True)
    return names


def _limited(names: list[str], task: str, limits: dict, target: str | None) -> list[str]:
    """--candidates under the advisor's limits: the survivors, and a line per candidate dropped."""
    from hoot.trainer.orchestration.candidates import limit_candidates

    kept, dropped = limit_candidates(names, task, limits, target)
    for line in dropped:
        click.echo(f"hoot: dropped candidate {line}", err=True)
    return kept


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("run")
@click.option("--format", "export_format", default="onnx", show_default=True, type=click.Choice(["onnx", "torchscript"]))
@click.option("--out", default=None, help="Output file (default: next to the run's best.pt).")
@click.option("--output", default="reports", show_default=True,
              help="Where run folders are (runs made with another --output are found by id from hoot's index).")
def export(run, export_format, out, output) -> None:
    """Export a trained run (its best.pt) to ONNX (checked with onnxruntime) or TorchScript."""
    from pathlib import Path

    quiet_cuda_probe()
    from hoot.trainer.deploy.export import export_run
    from hoot.trainer.runfiles import locate_run

    result = export_run(locate_run(run, output, trained=True), export_format, Path(out) if out else None)
    click.echo(f"{result['path']}  ({result['size_mb']} MB, {result['variant']}, {result['image_size']} px; "
               f"{_check_words(result['check'])})")


def _check_words(check: dict) -> str:
    """The export check in one clause: what was compared with PyTorch, on what, with which runtime."""
    if not check.get("checked_with"):
        return f"not checked: {check.get('note', 'no runtime to load it')}"
    figures = ", ".join(f"{k.replace('_', ' ')} {v:.3g}" if isinstance(v, float) else f"{k.replace('_', ' ')} {v}"
                        for k, v in check.items() if k not in ("checked_with", "input", "note"))
    note = f"; {check['note']}" if check.get("note") else ""
    return f"vs PyTorch on {check.get('input', 'the check input')} via {check['checked_with']}: {figures}{note}"


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("run")
@click.argument("images", nargs=-1)
@click.option("--top", "top_k", default=5, show_default=True, type=positive_int(1000, "5"), help="Classes per image.")
@click.option("--threshold", default=None, type=Number(minimum=0, maximum=1, example="0.5"),
              help="Multi-label: probability at which a tag is given (default: the run's, selected on validation, else 0.5).")
@click.option("--score-threshold", default=0.5, show_default=True, type=fraction(), help="Detection: boxes at or above this score.")
@click.option("--out-dir", default=None, help="Segmentation: where mask PNGs and overlays go (default: RUN/predictions).")
@click.option("--format", "fmt", default="table", show_default=True, type=click.Choice(FORMATS))
@click.option("--output", default="reports", show_default=True,
              help="Where run folders are (runs made with another --output are found by id from hoot's index).")
def predict(run, images, top_k, threshold, score_threshold, out_dir, fmt, output) -> None:
    """Answer for IMAGES (files, folders of images, or quoted globs) with a trained run: top-k classes,
    tags (each with whether it is given at the threshold), mask files or boxes (the run's task)."""
    if not images:  # answered before torch is imported (no wait)
        raise HootError("no images given; pass one or more image files: hoot predict RUN a.jpg b.png")
    quiet_cuda_probe()
    from hoot.trainer.deploy.predict import predict_images
    from hoot.trainer.runfiles import locate_run
    from pathlib import Path

    rows = predict_images(locate_run(run, output, trained=True), list(images), top_k, threshold, score_threshold,
                          Path(out_dir) if out_dir else None)
    columns = list(dict.fromkeys(k for r in rows for k in r)) or ["image"]
    click.echo(render(rows, fmt, columns, floatfmt=".4f"))


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("run")
@click.option("--output", default="reports", show_default=True,
              help="Where run folders are (runs made with another --output are found by id from hoot's index).")
def report(run, output) -> None:
    """Re-render a run's report.md, report.html, metrics.json/csv and plots from its files."""
    from hoot.trainer.report import write_report
    from hoot.trainer.runfiles import locate_run

    files = write_report(locate_run(run, output))
    for name, p in files.items():
        click.echo(f"{name}: {p}")
