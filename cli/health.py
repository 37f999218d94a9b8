"""`hoot doctor` (the data's problems before the bake-off) and `hoot explain` (the model's evidence
after it). Findings go to stdout (a table per kind, or --format json with file paths); the
report folder's path and notes go to stderr. Exit 0 when clean, 1 when problems are found."""

from __future__ import annotations

import time
from pathlib import Path

import click

from hoot.advisor.errors import HootError, NoAnswer
from hoot.cli.options import Number, fraction, non_negative_int, positive_float, positive_int
from hoot.trainer.tasks import AUTO, TASKS

DOCTOR_FORMATS = ("table", "json", "markdown")


def _outside_data(out: Path, data: Path) -> Path:
    """--out must not be the data folder or inside it: the doctor writes nothing there."""
    out_r, data_r = out.resolve(), data.resolve()
    if out_r == data_r or data_r in out_r.parents:
        raise HootError(f"--out '{out}' is inside the data folder '{data}'; hoot writes nothing there: pass a folder "
                        "outside it (default: reports/doctor-<time>)")
    return out


@click.command(context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.argument("data_dir")
@click.option("--task", default="auto", type=click.Choice([AUTO, *TASKS]), help="As hoot shortlist: auto reads the layout.")
@click.option("--annotations", default=None, metavar="FILE", help="Detection: the COCO json when it is not DATA_DIR/annotations.json.")
@click.option("--val-fraction", default=0.2, type=fraction(), help="As hoot shortlist: the splits checked are the ones it draws.")
@click.option("--test-fraction", default=0.2, type=fraction())
@click.option("--seed", default=0, type=non_negative_int())
@click.option("--near-bits", default=4, type=Number(integer=True, minimum=0, maximum=32, example="4"),
              help="Near duplicates: perceptual hashes (64 bits) at most this many bits apart.")
@click.option("--label-check/--no-label-check", default=True, help="Confident learning (cleanlab) on out-of-fold probabilities of a linear probe.")
@click.option("--label-budget-s", default=120.0, type=positive_float(example="120"), help="Wall-clock budget of the label check.")
@click.option("--folds", default=5, type=Number(integer=True, minimum=2, maximum=20, example="5"), help="Cross-validation folds of the label check.")
@click.option("--threads", default=None, type=positive_int(256, "4"), help="Decode threads (default: the cores, at most 8).")
@click.option("--out", default=None, metavar="DIR", help="Report folder (default: reports/doctor-<time>).")
@click.option("--format", "fmt", default="table", type=click.Choice(DOCTOR_FORMATS), help="Findings on stdout.")
def doctor(data_dir, task, annotations, val_fraction, test_fraction, seed, near_bits, label_check, label_budget_s, folds,
           threads, out, fmt) -> None:
    """Check DATA_DIR before training: class balance, exact and near duplicates, one image under two
    labels, leakage between train/val/test, unreadable/tiny/odd-mode images and likely label errors."""
    from hoot.advisor.paths import existing_folder
    from hoot.trainer.health.doctor import DoctorOptions, run_doctor
    from hoot.trainer.health.doctor_report import tables, write_report

    existing_folder(data_dir, "data folder")
    out_dir = _outside_data(Path(out or Path("reports") / time.strftime("doctor-%Y%m%d-%H%M%S")), Path(data_dir))
    options = DoctorOptions(task, val_fraction, test_fraction, seed, int(near_bits), label_check, label_budget_s,
                            int(folds), threads, annotations)
    report = run_doctor(data_dir, options)
    md = write_report(report, out_dir)
    if fmt == "json":
        import json

        click.echo(json.dumps({**report.to_dict(), "report": str(md)}, indent=2))
    else:
        for title, table in tables(report, fmt):
            click.echo(f"\n{title}\n{table}" if fmt == "table" else f"\n## {title}\n\n{table}")
    lc = report.label_check
    if lc is not None and not lc.ran:
        click.echo(f"hoot: label check not run: {lc.reason}", err=True)
    if report.problems:  # exit 1 (hoot's "no answer"): the data is not clean
        raise NoAnswer(f"{len(report.problems)} problem(s) found; report: {md}", {"report": str(md)})
    click.echo(f"hoot: clean; report: {md}", err=True)


@click.command(context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.argument("run")
@click.argument("images", nargs=-1)
@click.option("--method", default="gradcam", type=click.Choice(["gradcam", "gradcam++", "eigencam"]),
              help="Class-activation method (pytorch-grad-cam).")
@click.option("--class", "class_name", default=None, metavar="NAME", help="Explain this class (default: the predicted one).")
@click.option("--out", default=None, metavar="DIR", help="Where the PNG overlays go (default: RUN/explain/).")
@click.option("--output", default="reports", help="Where run folders are (to find RUN by its id).")
@click.option("--format", "fmt", default="table", type=click.Choice(["table", "json", "csv", "markdown"]))
def explain(run, images, method, class_name, out, output, fmt) -> None:
    """Class-activation heatmaps of RUN's model over IMAGES, saved as PNG overlays."""
    from hoot.advisor.render import render
    from hoot.trainer.deploy.trained import load_trained
    from hoot.trainer.runfiles import locate_run
    from hoot.trainer.health.explain import explain_images

    run_dir = locate_run(run, output, trained=True)
    model, meta = load_trained(run_dir)
    maps = explain_images(model, meta, list(images), Path(out) if out else run_dir / "explain", method, class_name)
    rows = [m.__dict__ for m in maps]
    click.echo(render(rows, fmt, ("image", "method", "explained_class", "predicted_class", "probability", "overlay_png")))
