"""`hoot advise`: rank catalog models for a target and task, with reasons and guidance.

Reads the catalog, the targets, the results store (plain sqlite3) and optionally scans a
dataset folder; never imports torch, so it answers in a fraction of a second. Data goes
to stdout in the chosen format; an unsatisfiable question exits 1 naming the binding
constraint; a bad input exits 2 with one line.
"""

from __future__ import annotations

import json
from typing import Any

import click

from hoot.advisor.errors import HootError, NoAnswer
from hoot.advisor.render import FORMATS, render
from hoot.cli.options import advisor_limits, positive_count, positive_int

TABLE_COLUMNS = ("rank", "score", "layer", "name", "family", "params_m", "gmacs", "{metric}", "input_px", "latency_ms",
                 "latency_from", "why")
CSV_COLUMNS = ("rank", "score", "pareto_layer", "name", "family", "params", "gmacs", "{metric}", "input_size",
               "latency_ms", "latency_low_ms", "latency_high_ms", "latency_source", "cost_source", "converged", "reasons")


def _latency_from(pick) -> str:
    c = pick.candidate
    if c.latency_source == "measured":
        kind = "measured, quick" if getattr(c.measurement, "quick", False) else "measured"
        return kind if c.measurement is None or c.measurement.converged is not False else f"{kind}, unsettled"
    if c.latency_source == "estimated":
        lo, hi = c.latency_interval
        return f"estimate {lo:.3g}-{hi:.3g}"
    return "-"


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
    m = c.measurement
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
        "latency_low_ms": None if c.latency_interval is None else round(c.latency_interval[0], 4),
        "latency_high_ms": None if c.latency_interval is None else round(c.latency_interval[1], 4),
        "latency_source": c.latency_source,
        "converged": None if m is None else m.converged,
        "cost_source": {"measured": "measured_latency", "estimated": "latency_estimated_from_gmacs"}.get(
            c.latency_source or "", "gmacs_estimate"),
        "peak_memory_mb": None if m is None else m.peak_memory_mb,
        "train_peak_memory_mb": None if c.train_measurement is None else c.train_measurement.peak_memory_mb,
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
        doc = pick_json(p, metric)
        rows.append({**doc, metric: doc["accuracy"], "layer": p.pareto_layer, "input_px": doc["input_size"],
                     "params_m": None if doc["params"] is None else round(doc["params"] / 1e6, 2),
                     "latency_from": _latency_from(p), "why": _why(p), "reasons": " | ".join(p.reasons)})
    return rows


def _header(advice) -> list[str]:
    r = advice.request
    what = f"task {r.task}" + (f", target {advice.target.name} ({advice.target.title})" if advice.target else "")
    lines = [f"hoot advise: {what}: {len(advice.survivors)} of {advice.n_candidates} models meet the constraints"]
    if advice.target:
        lines.append(f"Rule: {advice.target.rule}")
    lines.append(f"Setting: {advice.setting or 'none measured'}; memory limits compare {advice.memory} memory")
    lines.append(f"Cost (ranked in {advice.cost_unit}): {advice.cost_basis}")
    lines.append(f"Figures: {advice.measured} measured, {advice.n_estimated} estimated, "
                 f"{len(advice.survivors) - advice.measured - advice.n_estimated} without a latency figure"
                 + (f", {len(advice.contended)} contended (timed on a busy machine: {', '.join(advice.contended[:5])}"
                    + (" ..." if len(advice.contended) > 5 else "") + ")" if advice.contended else "")
                 + " (table ranked by score: the Pareto layer first, then hoot's weighted score)")
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
            "ranking_rule": advice.target.ranking.rule,
        },
        "setting": advice.setting,
        "memory": advice.memory,
        "accuracy_metric": metric,
        "cost_basis": advice.cost_basis,
        "cost_unit": advice.cost_unit,
        "estimated": advice.estimated,
        "figures": {"measured": advice.measured, "estimated": advice.n_estimated,
                    "unconverged": advice.unconverged, "contended": advice.contended},
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
                  min_top1, dataset_size, dataset_path, top_k, memory=None):
    """The command line (numbers already validated by hoot.cli.options) as a Request, with the dataset scan."""
    from hoot.advisor.recommender.recommend import ACCURACY_METRICS, Request

    if target is not None:
        book.get(target)
    if task not in ACCURACY_METRICS:
        raise HootError(f"unknown task '{task}'; use one of {', '.join(ACCURACY_METRICS)}")
    if dataset_size is not None and dataset_path is not None:
        raise HootError("give --dataset-size or --dataset, not both (--dataset counts the images itself)")
    summary = None
    n_images = dataset_size
    if dataset_path is not None:
        from hoot.advisor.dataset_scan import summarize_dataset

        summary = summarize_dataset(dataset_path)
        n_images = summary.n_images
        if not n_images:
            raise HootError(f"--dataset '{dataset_path}' holds no readable images; give an ImageFolder "
                            "with one folder of images per class")
    request = Request(
        task=task, target=target, max_latency_ms=max_latency_ms, max_params=max_params, max_gmacs=max_gmacs,
        max_size_mb=max_size_mb, max_memory_mb=max_memory_mb, min_top1=min_top1, dataset_size=n_images,
        median_short_side_px=summary.median_short_side_px if summary else None, top_k=top_k, memory=memory,
    )
    return request, summary


@click.command("advise")
@click.option("--target", default=None, metavar="NAME",
              help="Deployment target: mobile, edge, cpu-server, gpu-server, research, production (budgets from hoot.advisor/recommender/targets.yaml).")
@click.option("--task", default="classification", show_default=True, metavar="TASK",
              help="classification, multilabel, detection or segmentation.")
@advisor_limits
@click.option("--memory", type=click.Choice(["inference", "train"]), default=None,
              help="Which memory --max-memory-mb compares: inference (deployment) or train. Default: the target's "
                   "(inference for deployment targets; train for research and no target).")
@click.option("--dataset-size", default=None, type=positive_count(example="5000"), metavar="N",
              help="Number of labelled images (for fine-tuning advice), e.g. 5000 or 5k.")
@click.option("--dataset", "dataset_path", default=None, metavar="PATH",
              help="ImageFolder to scan (one folder per class): counts, classes and image sizes.")
@click.option("--similarity", default="similar", show_default=True,
              type=click.Choice(["similar", "somewhat-different", "different"]),
              help="How close your images are to ImageNet (seeds/004 fine-tuning guide).")
@click.option("--top", "top_k", default=5, show_default=True, type=positive_int(maximum=10_000, example="5"),
              metavar="K", help="How many picks to show.")
@click.option("--format", "fmt", default="table", show_default=True, type=click.Choice(FORMATS))
@click.option("--hardware", default="this", show_default=True, metavar="this|ID",
              help="Rank on latency measured on this machine or a stored hardware id (`hoot bench show`).")
@click.option("--device", default=None, metavar="cpu|cuda",
              help="Rank on rows measured on this device (default: the target's; see docs/advise.md).")
@click.option("--batch-size", default=None, type=positive_int(maximum=65_536, example="32"), metavar="N",
              help="Rank on rows measured at this batch (default: 1; gpu-server: the measured throughput batch).")
@click.option("--dtype", default=None, type=click.Choice(["fp32", "fp16", "bf16"]),
              help="Rank on rows measured in this precision (default: fp32; gpu-server: bf16/fp16).")
@click.option("--runtime", default=None, type=click.Choice(["eager", "cuda_graph", "compile", "onnxruntime", "int8",
                                                            "executorch", "litert", "openvino"]),
              help="Rank on rows measured with this runtime (default: the target's, e.g. mobile: executorch, "
                   "then litert, then eager; see docs/advise.md).")
@click.option("--cuda-graphs", is_flag=True, help="Rank on captured-CUDA-graph rows (same as --runtime cuda_graph).")
@click.option("--threads", default=None, type=positive_int(maximum=4096, example="4"), metavar="T",
              help="Rank on rows measured with this many CPU threads.")
@click.option("--db", default=None, metavar="PATH", help="Results database (default: the user data directory).")
@click.option("--explain", "explain_names", default=None, metavar="NAME[,NAME]",
              help="Also say why these models are ranked where they are, or which constraints exclude them.")
def advise(target, task, max_latency_ms, max_params, max_gmacs, max_size_mb, max_memory_mb, memory, min_top1,
           dataset_size, dataset_path, similarity, top_k, fmt, hardware, device, batch_size, dtype, runtime,
           cuda_graphs, threads, db, explain_names) -> None:
    """Rank catalog models for a target and task, on the stored measurements of one setting."""
    from hoot.advisor.catalog import load_catalog
    from hoot.advisor.guidance import build_guidance
    from hoot.advisor.recommender.recommend import ACCURACY_METRICS, NoModelFits, explain, recommend
    from hoot.advisor.recommender.settings import SettingWish
    from hoot.advisor.recommender.targets import load_targets
    from hoot.bench.advice_inputs import advice_inputs

    book = load_targets()
    request, summary = parse_request(book, target, task, max_latency_ms, max_params, max_gmacs, max_size_mb,
                                     max_memory_mb, min_top1, dataset_size, dataset_path, top_k, memory)
    wanted = [n.strip() for n in (explain_names or "").split(",") if n.strip()]
    if explain_names is not None and not wanted:
        raise HootError(f"--explain '{explain_names}' names no model; give model names separated by commas, "
                        "e.g. --explain resnet18,mobilenet_v3_small")
    for name in wanted:
        load_catalog().get(name)  # an unknown name is a bad input (exit 2), checked before any work
    if cuda_graphs and runtime not in (None, "cuda_graph"):
        raise HootError(f"--cuda-graphs and --runtime {runtime} name two runtimes; give one")
    if device is not None and not (device in ("cpu", "cuda") or device.startswith("cuda:")):
        raise HootError(f"--device '{device}' is not a device; use cpu, cuda or cuda:N")
    wish = SettingWish(device=device, dtype=dtype, batch_size=batch_size,
                       runtime="cuda_graph" if cuda_graphs else runtime, threads=threads)
    inputs = advice_inputs(db, hardware, wish, book, target, task, request.memory)
    guidance = None
    if request.dataset_size is not None:
        guidance = build_guidance(request.dataset_size, similarity, request.median_short_side_px)
    metric = ACCURACY_METRICS[task][0]
    try:
        advice = recommend(request, book=book, measurements=inputs.costs, hardware=inputs.hardware,
                           setting=inputs.setting_label, train_measurements=inputs.train_costs,
                           speedups=inputs.speedups)
    except NoAnswer as exc:
        explained = {name: explain(exc.advice, name) for name in wanted} if isinstance(exc, NoModelFits) else {}
        if fmt == "json":
            click.echo(json.dumps({"picks": [], "no_answer": exc.message, "setting": inputs.setting_label,
                                   **exc.details, "explain": explained}, indent=2, default=str))
        else:
            for line in [line for lines in explained.values() for line in lines]:
                click.echo(f"hoot: {line}", err=True)
        raise
    if inputs.note and fmt != "json":
        click.echo(f"hoot: {inputs.note}", err=True)
    explained = {name: explain(advice, name) for name in wanted}
    explain_lines = [line for lines in explained.values() for line in lines]
    if fmt == "json":
        payload = _payload(advice, guidance, summary, metric, inputs.note)
        payload["explain"] = explained
        payload["training_memory_setting"] = inputs.train_label
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
