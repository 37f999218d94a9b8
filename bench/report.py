"""`hoot bench report`: one machine's results as Markdown + HTML pages with matplotlib plots.

Plots: ImageNet top-1 against measured latency with the Pareto front marked (the
variants no other variant beats on both), latency against GMACs by family (how far
FLOPs predict speed on this machine), and peak memory by model. Every plot and table
holds ONE setting (`bench.selection`): the plots the default setting the advisor ranks
on (named in each title), the tables one per setting, with the columns that tell two rows
of one model apart (threads, runtime, dtype, batch, input size, quick, converged).
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from hoot.advisor.catalog import Catalog
from hoot.advisor.render import render
from hoot.bench.records import Measurement, Setting
from hoot.bench.launch import LAUNCH_BOUND_RATIO, launch_checks, launch_fields, pair_key
from hoot.bench.selection import choose_rows, group_by_setting

TABLE_COLUMNS = ["variant", "family", "mode", "device", "dtype", "batch_size", "input_size", "threads", "runtime",
                 "quick", "status", "converged", "contended", "busy_other_cores", "latency_ms", "latency_p10_ms", "latency_p90_ms", "latency_spread_ms",
                 "latency_cv", "iterations", "throughput_ips", "gmacs", "params", "peak_memory_mb",
                 "auto_batch_size", "top1", "flag", "error"]


def pareto_front(points: list[tuple[float, float, str]]) -> list[tuple[float, float, str]]:
    """(latency, top1, name) points no other point beats on both (lower latency, higher top-1)."""
    front: list[tuple[float, float, str]] = []
    best_top1 = float("-inf")
    for lat, top1, name in sorted(points, key=lambda p: (p[0], -p[1])):
        if top1 > best_top1:
            front.append((lat, top1, name))
            best_top1 = top1
    return front


def _plots(chosen: list[dict[str, Any]], out: Path, title: str, setting: Setting) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written: list[Path] = []
    device = setting.label()
    batch = f"batch {setting.batch_size}"

    points = [(r["latency_ms"], r["top1"], r["variant"]) for r in chosen if r.get("top1") is not None]
    if points:
        fig, ax = plt.subplots(figsize=(8, 5.5))
        front = pareto_front(points)
        front_names = {p[2] for p in front}
        ax.scatter([p[0] for p in points if p[2] not in front_names], [p[1] for p in points if p[2] not in front_names],
                   color="0.6", label="dominated")
        ax.plot([p[0] for p in front], [p[1] for p in front], "o-", color="tab:red", label="Pareto front")
        for lat, top1, name in points:
            ax.annotate(name, (lat, top1), fontsize=7, xytext=(3, 2), textcoords="offset points")
        ax.set_xscale("log")
        ax.set_xlabel(f"measured latency, {batch} (ms, log scale; {device})")
        ax.set_ylabel("ImageNet-1K top-1 (%)")
        ax.set_title(f"Accuracy against measured latency: {title}")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
        path = out / "top1_vs_latency.png"
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        plt.close(fig)
        written.append(path)

    with_gmacs = [r for r in chosen if r.get("gmacs")]
    if with_gmacs:
        fig, ax = plt.subplots(figsize=(8, 5.5))
        families = sorted({r.get("family") or "?" for r in with_gmacs})
        for fam in families:
            rs = [r for r in with_gmacs if (r.get("family") or "?") == fam]
            ax.scatter([r["gmacs"] for r in rs], [r["latency_ms"] for r in rs], label=fam)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("GMACs per image (log scale)")
        ax.set_ylabel(f"latency, {batch} (ms, log scale; {device})")
        ax.set_title(f"Latency against GMACs by family: {title}")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
        path = out / "latency_vs_gmacs.png"
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        plt.close(fig)
        written.append(path)

    with_mem = sorted((r for r in chosen if r.get("peak_memory_mb") is not None), key=lambda r: r["peak_memory_mb"])
    if with_mem:
        fig, ax = plt.subplots(figsize=(8, max(3.0, 0.28 * len(with_mem) + 1)))
        ax.barh([r["variant"] for r in with_mem], [r["peak_memory_mb"] for r in with_mem], color="tab:blue")
        kind = {r.get("memory_kind") for r in with_mem}
        what = "CUDA allocator peak allocated" if kind == {"cuda_allocator"} else "peak memory (CPU: RSS over baseline)"
        ax.set_xlabel(f"{what}, {batch} {setting.mode} (MiB)")
        ax.set_title(f"Peak memory by model: {title}")
        ax.tick_params(axis="y", labelsize=7)
        path = out / "peak_memory.png"
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        plt.close(fig)
        written.append(path)
    return written


def _flag(r: dict[str, Any]) -> str | None:
    flags = []
    if r.get("status") == "ok" and r.get("converged") is False:
        flags.append(f"not converged ({r.get('stopped_by') or 'budget spent'})")
    if r.get("status") == "ok" and r.get("contended"):
        flags.append(f"contended ({r.get('busy_other_cores') or 0:.1f} other cores busy)")
    return "; ".join(flags) or None


def write_report(rows: list[dict[str, Any]], hardware: dict[str, Any], out: Path, catalog: Catalog) -> list[Path]:
    """Write index.md, index.html and the plots into `out`; returns the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    known = {v.name: v for v in catalog}
    for r in rows:
        v = known.get(r["variant"])
        r["top1"] = v.top1 if v else None
        r.setdefault("family", v.family if v else None)
        r["flag"] = _flag(r)
    checks = launch_checks(rows)  # eager vs its CUDA-graph twin, where both are stored
    for r in rows:
        r.update(launch_fields(checks.get(pair_key(r))))
    hid = hardware.get("hardware_id", "?")
    measured = [Measurement.from_row(r) for r in rows]
    by_id = {id(m): r for m, r in zip(measured, rows)}
    pick = choose_rows(measured, None, allow_quick=True)
    chosen = [by_id[id(m)] for m in pick.rows.values() if m.status == "ok"]
    plots = _plots(chosen, out, hid, pick.setting) if pick.setting is not None else []
    tables = [(s, sorted((by_id[id(m)] for m in ms), key=lambda r: (r["variant"] if r.get("latency_ms") is None else "",
                                                                     r.get("latency_ms") or 0.0, r["variant"])))
              for s, ms in group_by_setting(measured).items()]

    machine = [
        ("hardware id", hid), ("CPU", hardware.get("cpu_model")), ("cores", hardware.get("cpu_cores")),
        ("memory (GB)", hardware.get("memory_gb")), ("OS", hardware.get("os")), ("GPU", hardware.get("gpu_name")),
        ("GPU memory (MiB)", hardware.get("gpu_memory_mb")), ("GPU driver", hardware.get("gpu_driver")),
        ("compute capability", hardware.get("gpu_compute_capability")),
    ]
    software = sorted({(r.get("torch_version"), r.get("torchvision_version"), r.get("cuda_version")) for r in rows
                       if r.get("torch_version")}, key=str)
    failed = [r for r in rows if r["status"] != "ok"]
    unsettled = [r for r in rows if r["status"] == "ok" and r.get("converged") is False]
    contended = [r for r in rows if r["status"] == "ok" and r.get("contended")]
    front = pareto_front([(r["latency_ms"], r["top1"], r["variant"]) for r in chosen if r.get("top1") is not None])
    plotted = pick.setting.label() if pick.setting is not None else "none (no ok rows)"

    md = [f"# Benchmark: {hid}", "", "## Machine", "", render([{"field": k, "value": v} for k, v in machine if v is not None],
                                                                "markdown"), ""]
    if software:
        md += ["Software: " + "; ".join(f"torch {t}, torchvision {tv}, CUDA {c or 'none'}" for t, tv, c in software), ""]
    md += [f"{len(rows)} measurement(s) in {len(tables)} setting(s), {len(failed)} not ok, {len(unsettled)} not "
           f"converged (the timing hit its budget before the spread settled), {len(contended)} contended (timed "
           "while other processes held the cores or the GPU: doubtful; re-run `hoot bench` on a quiet machine). Latency is the median time of one "
           "batch; p10/p90, the spread of the timed blocks' medians and the coefficient of variation give the "
           "spread; peak memory is the CUDA allocator's peak allocated on a GPU and the peak resident memory over "
           "the process baseline on the CPU. Rows of different settings are never set side by side.", "",
           f"Plots and the Pareto front use one setting: **{plotted}**.", ""]
    if front:
        md += ["## Pareto front (nothing else is both faster and more accurate)", "",
               render([{"variant": n, "latency_ms": lat, "top1": t} for lat, t, n in front], "markdown"), ""]
    bound = sorted(checks.values(), key=lambda c: (-c.eager_over_graph, c.variant))
    if bound:
        md += [f"## Launch-bound (eager latency over {LAUNCH_BOUND_RATIO}x its CUDA graph replay, same setting)", "",
               "Where eager is far slower than the graphed call, the CPU launching kernels sets the eager figure, "
               "not the GPU.", "",
               render([{"variant": c.variant, "batch_size": c.batch_size, "dtype": c.dtype, "eager_ms": c.eager_ms,
                        "graph_ms": c.graph_ms, "eager_over_graph": round(c.eager_over_graph, 2),
                        "launch_bound": c.launch_bound} for c in bound], "markdown"), ""]
    md += ["## Plots", ""] + [f"![{p.stem}]({p.name})" for p in plots] + [""]
    for setting, table in tables:
        md += [f"## Measurements: {setting.label()}", "", render(table, "markdown", TABLE_COLUMNS), ""]
    (out / "index.md").write_text("\n".join(md), encoding="utf-8")

    def table_html(data: list[dict[str, Any]], cols: list[str]) -> str:
        head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(_fmt(r.get(c)))}</td>" for c in cols) + "</tr>" for r in data)
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

    page = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>hoot bench: {html.escape(hid)}</title>",
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;font-size:13px}"
        "td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}th{background:#eee}img{max-width:900px;display:block}</style>",
        "</head><body>", f"<h1>Benchmark: {html.escape(hid)}</h1>", "<h2>Machine</h2>",
        table_html([{"field": k, "value": v} for k, v in machine if v is not None], ["field", "value"]),
    ]
    if front:
        page += ["<h2>Pareto front</h2>",
                 table_html([{"variant": n, "latency_ms": lat, "top1": t} for lat, t, n in front], ["variant", "latency_ms", "top1"])]
    page += [f"<p>Plots and the Pareto front use one setting: <b>{html.escape(plotted)}</b>.</p>", "<h2>Plots</h2>"]
    page += [f"<img src='{p.name}' alt='{p.stem}'>" for p in plots]
    for setting, table in tables:
        page += [f"<h2>Measurements: {html.escape(setting.label())}</h2>", table_html(table, TABLE_COLUMNS)]
    page += ["</body></html>"]
    (out / "index.html").write_text("\n".join(page), encoding="utf-8")
    return [out / "index.md", out / "index.html", *plots]


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return format(value, ".4g")
    return str(value)
