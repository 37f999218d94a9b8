"""What `hoot optimize` leaves in the run folder: optimize.json (the source), optimize.md, an
accuracy-against-latency plot, and the numbers under metrics.json's "optimize" key (written
atomically). `report_section` lets trainer/report.py add the same table to the run's report.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from hoot.advisor.render import render

log = logging.getLogger(__name__)

TABLE_COLUMNS = ("variant", "status", "runtime", "precision", "device", "latency_ms", "latency_p10_ms", "latency_p90_ms",
                 "speedup", "throughput_ips", "file_mb", "peak_mem_mb", "score", "score_delta_pts", "contended",
                 "busy_other_cores", "reason")
PLOT_NAME = "optimize.png"


def atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def columns(doc: dict) -> tuple[str, ...]:
    """The table's columns, the score named for what it is (test_top1, test_miou, ...)."""
    metric = doc.get("metric", "test_top1")
    return tuple(metric if c == "score" else f"{metric}_delta_pts" if c == "score_delta_pts" else c for c in TABLE_COLUMNS)


def table_rows(doc: dict) -> list[dict]:
    return [{name: r.get(c) for c, name in zip(TABLE_COLUMNS, columns(doc))} for r in doc.get("rows", [])]


def summary_lines(doc: dict) -> list[str]:
    """Plain sentences: what was measured, how, and the fastest variant and INT8's cost."""
    lines = [f"{doc['variant_name']} from run {Path(doc['run_dir']).name}: batch-1 latency at {doc['timing_px']} px "
             f"(median of timed blocks after warm-up, p10-p90 spread), throughput at batch "
             f"{next((r['batch_size'] for r in doc['rows'] if r.get('batch_size')), '-')}, {doc['threads']} threads. "
             f"Accuracy on the held-out split ({doc['held_out']}, {doc['held_out_images']} images, at "
             f"{doc['image_size']} px); INT8 calibrated on {doc['calibration_images']} seeded training images."]
    ok = [r for r in doc["rows"] if r["status"] == "ok" and r.get("latency_ms")]
    if ok:
        best = min(ok, key=lambda r: r["latency_ms"])
        lines.append(f"Fastest: {best['variant']} ({best['runtime']} {best['precision']}) at {best['latency_ms']:.2f} ms, "
                     f"{best.get('speedup') or 1:.2f}x eager fp32, {doc.get('metric', 'test_top1')} change "
                     f"{best.get('score_delta_pts') or 0:+.2f} points.")
    ort = next((r for r in ok if r["variant"] == "onnxruntime"), None)
    for q in (r for r in ok if r["precision"] == "int8" and r["runtime"] == "onnxruntime"):
        if ort:
            lines.append(f"{q['variant']}: {ort['latency_ms'] / q['latency_ms']:.2f}x ONNX Runtime fp32 in the same runtime; "
                         f"ops {q.get('details', {}).get('ops')}.")
    from hoot.trainer.deploy.optimize.variants import ONDEVICE_QAT

    ran = {r["variant"] for r in doc["rows"]}
    for r in ok:  # post-training INT8 that cost more than a point: name the remedy hoot has
        qat = f"{r['variant']}-qat"
        if qat in ONDEVICE_QAT and qat not in ran and (r.get("score_delta_pts") or 0) < -1:
            lines.append(f"{r['variant']} lost {-r['score_delta_pts']:.2f} points on the held-out split: "
                         f"`--variants {qat}` trains it quantisation-aware (a few epochs on the training split).")
    busy = [r["variant"] for r in ok if r.get("contended")]
    if busy:
        lines.append(f"Contended: {', '.join(busy)} timed while other processes held the cores or the GPU "
                     "(column busy_other_cores): those latencies and speed-ups are doubtful; measure again on a quiet "
                     "machine.")
    for r in doc["rows"]:
        if r["status"] != "ok":
            lines.append(f"{r['variant']}: {r['status']} ({r['reason']}).")
    return lines


def render_markdown(doc: dict, plot: str | None) -> str:
    out = ["# hoot optimize", ""] + [line + "\n" for line in summary_lines(doc)]
    out += [render(table_rows(doc), "markdown", list(columns(doc)), floatfmt=".4g"), ""]
    if plot:
        out += [f"![accuracy against latency]({plot})", ""]
    files = [r["file"] for r in doc["rows"] if r.get("file")]
    if files:
        out += ["Files ready to ship: " + ", ".join(f"`{Path(f).name}`" for f in dict.fromkeys(files)), ""]
    return "\n".join(out)


def write_plot(out_dir: Path, doc: dict) -> str | None:
    """The held-out score against batch-1 latency, one point per variant that ran (log latency axis)."""
    ok = [r for r in doc["rows"] if r["status"] == "ok" and r.get("latency_ms") and r.get("score") is not None]
    if not ok:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for r in ok:
        ax.errorbar(r["latency_ms"], r["score"], xerr=[[r["latency_ms"] - r["latency_p10_ms"]], [r["latency_p90_ms"] - r["latency_ms"]]],
                    fmt="o", color="tab:red" if r["variant"] == "eager" else "tab:blue", capsize=3)
        ax.annotate(r["variant"], (r["latency_ms"], r["score"]), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.set_xscale("log")
    ax.set_xlabel(f"latency_ms (batch 1, {doc['timing_px']} px, {doc['threads']} threads)")
    ax.set_ylabel(f"{doc.get('metric', 'test_top1')} (held-out)")
    ax.set_title(f"{doc['variant_name']}: deployment variants")
    fig.tight_layout()
    fig.savefig(out_dir / PLOT_NAME, dpi=110)
    plt.close(fig)
    return PLOT_NAME


def update_metrics(run_dir: Path, doc: dict) -> Path:
    """metrics.json keeps everything it had; the "optimize" key is replaced (atomic rename)."""
    path = run_dir / "metrics.json"
    try:
        metrics: Any = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    except ValueError:
        log.warning("metrics.json in %s is not JSON; writing a fresh one", run_dir)
        metrics = {}
    if not isinstance(metrics, dict):
        metrics = {}
    metrics["optimize"] = doc
    atomic_write_text(path, json.dumps(metrics, indent=2, default=str))
    return path


def write_outputs(run_dir: Path, doc: dict, out_dir: Path | None = None) -> dict[str, Path]:
    """optimize.json, optimize.md and the plot into `out_dir` (default the run folder); metrics.json in the run."""
    out_dir = Path(out_dir or run_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    plot = write_plot(out_dir, doc)
    atomic_write_text(out_dir / "optimize.json", json.dumps(doc, indent=2, default=str))
    atomic_write_text(out_dir / "optimize.md", render_markdown(doc, plot))
    paths = {"optimize_json": out_dir / "optimize.json", "optimize_md": out_dir / "optimize.md",
             "metrics_json": update_metrics(run_dir, doc)}
    if plot:
        paths["plot"] = out_dir / plot
    return paths


def report_section(doc: dict) -> tuple[str, list[tuple[str, Any]]]:
    """(title, items) in trainer/report.py's section shape: summary, the table, the plot."""
    items: list[tuple[str, Any]] = [("text", line) for line in summary_lines(doc)]
    items.append(("table", (table_rows(doc), list(columns(doc)))))
    items.append(("image", PLOT_NAME))
    return "Deployment variants (hoot optimize)", items
