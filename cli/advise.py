"""`hoot advise`: rank catalog models for a target and task, with reasons and guidance.

Reads the catalog, the targets, the results store (plain sqlite3) and optionally scans a
dataset folder; never imports torch, so it answers in a fraction of a second. Data goes
to stdout in the chosen format; an unsatisfiable question exits 1 naming the binding
constraint; a bad input exits 2 with one line.
"""

from __future__ import annotations

import json
import math
from typing import Any

import click

from hoot.advisor.errors import HootError, NoAnswer
from hoot.advisor.render import FORMATS, render

TABLE_COLUMNS = ("rank", "name", "family", "params_m", "gmacs", "{metric}", "input_px", "cost", "why")
CSV_COLUMNS = ("rank", "name", "family", "params", "gmacs", "{metric}", "input_size", "latency_ms",
               "cost_source", "pareto_layer", "score", "reasons")


def parse_positive(text: str | None, option: str) -> float | None:
    """A positive finite number from the command line, or a one-line HootError naming the option."""
    if text is None:
        return None
    try:
        value = float(str(text).strip())
    except ValueError:
        raise HootError(f"{option} '{text}' is not a number; give a positive number like 25 or 0.5") from None
    if math.isnan(value) or math.isinf(value) or value <= 0:
        raise HootError(f"{option} '{text}' must be a positive finite number")
    return value


def _cost_cell(pick) -> str:
    c = pick.candidate
    if c.latency_source == "measured":
        return f"{c.latency_ms:.3g} ms"
    if c.latency_source == "estimated":
        return f"~{c.latency_ms:.3g} ms est."
    return f"{c.variant.gmacs:.3g} GMACs est." if c.variant.gmacs is not None else "unknown"


def _why(pick) -> str:
    """A short column for the table: Pareto layer and the document role."""
    parts = ["front" if pick.pareto_layer == 1 else f"layer {pick.pareto_layer}"]
    role = next((r for r in pick.reasons if r.startswith("named by the documents")), None)
    if role:
        head, _, src = role.partition(": ")
        parts.append(head.replace("named by the documents (", "doc ").rstrip(")") + " " + src.split('"')[0].strip())
    return "; ".join(parts)


def pick_json(pick, metric: str) -> dict[str, Any]:
    v, c = pick.variant, pick.candidate
    return {
        "rank": pick.rank,
        "name": v.name,
        "display_name": v.display_name,
        "family": v.family,
        "params": v.params,
        "gmacs": v.gmacs,
        "top1": v.top1,
        "accuracy_metric": metric,
        "accuracy": c.accuracy,
        "input_size": v.crop_size,
        "latency_ms": None if c.latency_ms is None else round(c.latency_ms, 4),
        "latency_source": c.latency_source,
        "cost_source": {"measured": "measured_latency", "estimated": "latency_estimated_from_gmacs"}.get(
            c.latency_source or "", "gmacs_estimate"),
        "peak_memory_mb": (c.measurement or {}).get("peak_memory_mb"),
        "memory_tier": c.memory_tier,
        "memory_tier_source": c.memory_tier_source,
        "speed_class": v.speed_class,
        "weights_file_mb": v.weights_file_mb,
        "pareto_layer": pick.pareto_layer,
        "score": pick.score,
        "reasons": list(pick.reasons),
    }


def _rows(advice, metric: str) -> list[dict[str, Any]]:
    rows = []
    for p in advice.picks:
        v, c = p.variant, p.candidate
        rows.append({
            "rank": p.rank, "name": v.name, "family": v.family,
            "params_m": None if v.params is None else round(v.params / 1e6, 2), "params": v.params,
            "gmacs": v.gmacs, metric: c.accuracy, "input_px": v.crop_size, "input_size": v.crop_size,
            "cost": _cost_cell(p), "latency_ms": None if c.latency_ms is None else round(c.latency_ms, 4),
            "cost_source": pick_json(p, metric)["cost_source"], "pareto_layer": p.pareto_layer, "score": p.score,
            "why": _why(p), "reasons": " | ".join(p.reasons),
        })
    return rows


def _header(advice) -> list[str]:
    r = advice.request
    what = f"task {r.task}" + (f", target {advice.target.name} ({advice.target.title})" if advice.target else "")
    lines = [f"hoot advise: {what}: {len(advice.survivors)} of {advice.n_candidates} models meet the constraints"]
    if advice.target:
        lines.append(f"Rule: {advice.target.rule}")
    lines.append(f"Cost: {advice.cost_basis}")
    return lines


def _footer(advice, guidance, dataset) -> list[str]:
    lines = ["", "Reasons:"]
    for p in advice.picks:
        lines.append(f"{p.rank}. {p.variant.name}")
        lines.extend(f"   - {r}" for r in p.reasons)
    if advice.mentions:
        lines.append("")
        lines.append("Not in torchvision (named by the documents, not ranked):")
        lines.extend(f"  - {m['name']}: {m['source']}" for m in advice.mentions)
    if dataset is not None:
        lines.append("")
        size = (f", median image {dataset.median_width_px:.0f}x{dataset.median_height_px:.0f} px"
                if dataset.median_width_px else "")
        lines.append(f"Dataset {dataset.path}: {dataset.n_images} images in {dataset.n_classes} classes{size}"
                     + (f" (sizes from {dataset.sizes_read} sampled headers)" if dataset.sampled else ""))
        lines.extend(f"  warning: {w}" for w in dataset.warnings)
    if guidance is not None:
        lines.append("")
        lines.extend(guidance.lines())
    if advice.after_selection:
        lines.append("")
        lines.extend(f"After selection: {a}" for a in advice.after_selection)
    lines.extend(f"Note: {n}" for n in advice.notes)
    return lines


def _payload(advice, guidance, dataset, metric: str, store_note: str | None) -> dict[str, Any]:
    r = advice.request
    return {
        "request": {k: getattr(r, k) for k in r.__dataclass_fields__},
        "target": None if advice.target is None else {
            "name": advice.target.name, "title": advice.target.title, "rule": advice.target.rule,
            "budgets": [{"kind": b.kind, "value": list(b.value) if isinstance(b.value, tuple) else b.value,
                         "source": b.source} for b in advice.target.budgets_for(r.task)],
        },
        "accuracy_metric": metric,
        "cost_basis": advice.cost_basis,
        "estimated": advice.estimated,
        "hardware": advice.hardware,
        "store_note": store_note,
        "considered": advice.n_candidates,
        "satisfying": len(advice.survivors),
        "excluded_by": advice.excluded,
        "picks": [pick_json(p, metric) for p in advice.picks],
        "not_in_torchvision": advice.mentions,
        "guidance": None if guidance is None else guidance.as_dict(),
        "dataset": None if dataset is None else dataset.as_dict(),
        "after_selection": advice.after_selection,
        "notes": advice.notes,
    }


def parse_request(book, target, task, max_latency_ms, max_params, max_gmacs, max_size_mb, max_memory_mb,
                  min_top1, dataset_size, dataset_path, top_k):
    """The command line as a validated Request (and the dataset scan, when --dataset is given)."""
    from hoot.advisor.recommend import ACCURACY_METRICS, Request
    from hoot.advisor.units import parse_count

    if target is not None:
        book.get(target)
    if task not in ACCURACY_METRICS:
        raise HootError(f"unknown task '{task}'; use one of {', '.join(ACCURACY_METRICS)}")
    if dataset_size is not None and dataset_path is not None:
        raise HootError("give --dataset-size or --dataset, not both (--dataset counts the images itself)")
    try:
        k = int(str(top_k).strip())
    except ValueError:
        raise HootError(f"--top '{top_k}' is not a whole number; give 1 or more") from None
    if k < 1:
        raise HootError(f"--top is {k}; give 1 or more")
    min_acc = None
    if min_top1 is not None:
        try:
            min_acc = float(str(min_top1).strip())
        except ValueError:
            raise HootError(f"--min-top1 '{min_top1}' is not a number; give a percentage like 75") from None
        if not 0 <= min_acc <= 100:
            raise HootError(f"--min-top1 '{min_top1}' must be a percentage between 0 and 100")
    max_params_n = parse_count(max_params, "--max-params") if max_params is not None else None
    if max_params_n == 0:
        raise HootError("--max-params is 0; give a positive count like 5M")
    summary = None
    n_images = parse_count(dataset_size, "--dataset-size") if dataset_size is not None else None
    if dataset_path is not None:
        from hoot.advisor.dataset_scan import scan_dataset

        summary = scan_dataset(dataset_path)
        n_images = summary.n_images
    request = Request(
        task=task, target=target,
        max_latency_ms=parse_positive(max_latency_ms, "--max-latency-ms"),
        max_params=max_params_n,
        max_gmacs=parse_positive(max_gmacs, "--max-gmacs"),
        max_size_mb=parse_positive(max_size_mb, "--max-size-mb"),
        max_memory_mb=parse_positive(max_memory_mb, "--max-memory-mb"),
        min_top1=min_acc, dataset_size=n_images,
        median_short_side_px=summary.median_short_side_px if summary else None,
        top_k=k,
    )
    return request, summary


@click.command("advise")
@click.option("--target", default=None, metavar="NAME",
              help="Deployment target: mobile, edge, cpu-server, gpu-server, research, production (budgets from hoot.advisor/targets.yaml).")
@click.option("--task", default="classification", show_default=True, metavar="TASK",
              help="classification, multilabel, detection or segmentation.")
@click.option("--max-latency-ms", default=None, metavar="MS",
              help="Batch-1 latency limit: measured on --hardware, else estimated from GMACs and this hardware's own "
                   "measurements; models with neither are excluded.")
@click.option("--max-params", default=None, metavar="N", help="Parameter limit, e.g. 5M or 5e6.")
@click.option("--max-gmacs", default=None, metavar="G", help="Multiply-add limit at the native input size (GMACs).")
@click.option("--max-size-mb", default=None, metavar="MB", help="Weights file size limit.")
@click.option("--max-memory-mb", default=None, metavar="MB",
              help="Peak memory limit: measured where the store has it, else the seeds/000 memory tier's upper bound.")
@click.option("--min-top1", default=None, metavar="PCT",
              help="Minimum accuracy: ImageNet top-1 % (classification), box mAP (detection), mIoU (segmentation).")
@click.option("--dataset-size", default=None, metavar="N", help="Number of labelled images (for fine-tuning advice).")
@click.option("--dataset", "dataset_path", default=None, metavar="PATH",
              help="ImageFolder to scan (one folder per class): counts, classes and image sizes.")
@click.option("--similarity", default="similar", show_default=True,
              type=click.Choice(["similar", "somewhat-different", "different"]),
              help="How close your images are to ImageNet (seeds/004 fine-tuning guide).")
@click.option("--top", "top_k", default="5", show_default=True, metavar="K", help="How many picks to show.")
@click.option("--format", "fmt", default="table", show_default=True, type=click.Choice(FORMATS))
@click.option("--hardware", default="this", show_default=True, metavar="this|ID",
              help="Rank on latency measured on this machine or a stored hardware id (`hoot bench show`).")
@click.option("--db", default=None, metavar="PATH", help="Results database (default: the user data directory).")
@click.option("--explain", "explain_names", default=None, metavar="NAME[,NAME]",
              help="Also say why these models are ranked where they are, or which constraints exclude them.")
def advise(target, task, max_latency_ms, max_params, max_gmacs, max_size_mb, max_memory_mb, min_top1,
           dataset_size, dataset_path, similarity, top_k, fmt, hardware, db, explain_names) -> None:
    """Rank catalog models for a target and task, with the reasons for each pick."""
    from hoot.advisor.catalog import load_catalog
    from hoot.advisor.guidance import build_guidance
    from hoot.advisor.recommend import ACCURACY_METRICS, NoModelFits, explain, recommend
    from hoot.advisor.targets import load_targets

    book = load_targets()
    request, summary = parse_request(book, target, task, max_latency_ms, max_params, max_gmacs, max_size_mb,
                                     max_memory_mb, min_top1, dataset_size, dataset_path, top_k)
    wanted = [n.strip() for n in (explain_names or "").split(",") if n.strip()]
    for name in wanted:
        load_catalog().get(name)  # an unknown name is a bad input (exit 2), checked before any work
    from hoot.bench.advice_rows import load_measurements

    hw, measured, store_note = load_measurements(db, hardware)
    guidance = None
    if request.dataset_size is not None:
        guidance = build_guidance(request.dataset_size, similarity, request.median_short_side_px)
    metric = ACCURACY_METRICS[task][0]
    try:
        advice = recommend(request, book=book, measurements=measured, hardware=hw)
    except NoAnswer as exc:
        explained = {name: explain(exc.advice, name) for name in wanted} if isinstance(exc, NoModelFits) else {}
        if fmt == "json":
            click.echo(json.dumps({"picks": [], "no_answer": exc.message, **exc.details,
                                   "explain": explained}, indent=2, default=str))
        else:
            for line in [line for lines in explained.values() for line in lines]:
                click.echo(f"hoot: {line}", err=True)
        raise
    if store_note and fmt != "json":
        click.echo(f"hoot: {store_note}", err=True)
    explained = {name: explain(advice, name) for name in wanted}
    explain_lines = [line for lines in explained.values() for line in lines]
    if fmt == "json":
        payload = _payload(advice, guidance, summary, metric, store_note)
        payload["explain"] = explained
        click.echo(render([], "json", json_payload=payload))
        return
    rows = _rows(advice, metric)
    if fmt == "csv":
        click.echo(render(rows, "csv", [c.format(metric=metric) for c in CSV_COLUMNS]))
        for line in _header(advice)[1:] + (guidance.lines() if guidance else []) + explain_lines:
            click.echo(f"hoot: {line}", err=True)
        return
    table = render(rows, fmt, [c.format(metric=metric) for c in TABLE_COLUMNS], floatfmt=".4g")
    why = ["", "Explain:"] + explain_lines if explain_lines else []
    click.echo("\n".join(_header(advice) + ["", table] + _footer(advice, guidance, summary) + why))
