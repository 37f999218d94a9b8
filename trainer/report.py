"""Everything a run leaves for people and machines: metrics.json, metrics.csv, PNG plots,
report.md and report.html, rendered only from the JSON files in the run folder so
`hoot report RUN` can re-render any run (also one interrupted or made on another machine).
"""

from __future__ import annotations

import csv
import html
import io
import json
from pathlib import Path
from typing import Any

from hoot.advisor.errors import HootError
from hoot.advisor.paths import existing_folder
from hoot.advisor.render import render
from hoot.trainer.runfiles import atomic_write_json, atomic_write_text


def _read(path: Path) -> Any:
    """A run file's JSON, None when absent; a broken file is a one-line error naming it and the fix."""
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, OSError) as exc:
        raise HootError(f"'{path}' is broken ({type(exc).__name__}); delete it and resume the run with "
                        f"`hoot shortlist --resume {path.parent.name} --output {path.parent.parent}`") from None


def load_run(run_dir: Path) -> dict:
    """The run's JSON pieces; a HootError when the folder is not a run or has nothing to report yet."""
    existing_folder(run_dir, "run folder", "a folder under reports/ (or --output)")
    config = _read(run_dir / "config.json")
    if config is None:
        raise HootError(f"'{run_dir}' is not a hoot run folder (no config.json); pass reports/<run-id>")
    bakeoff = _read(run_dir / "bakeoff.json")
    if not bakeoff:
        raise HootError(f"run '{run_dir}' has no bakeoff.json: it stopped before the bake-off finished a rung; resume it "
                        f"with `hoot shortlist --resume {run_dir.name} --output {run_dir.parent}`")
    return {"config": config, "dataset": _read(run_dir / "dataset.json") or {},
            "bakeoff": bakeoff, "finetune": _read(run_dir / "finetune.json"),
            "optimize": _read(run_dir / "optimize.json")}


def run_answer(run_dir: Path) -> dict:
    """The figure a finished run reports: the kept model on the held-out test split (from finetune.json),
    with how many test images and which model was kept; {} before the fine-tune has finished."""
    ft = _read(Path(run_dir) / "finetune.json") or {}
    test = {k: v for k, v in (ft.get("test") or {}).items() if isinstance(v, float)}
    return {"test": test, "test_images": ft.get("test_images"), "kept": ft.get("kept"),
            **({"metric": ft["metric"]} if ft.get("metric") else {})} if test else {}


def write_metrics(run_dir: Path, run: dict) -> dict:
    """metrics.json (every rung's metrics, the winner, per-epoch and final validation) and metrics.csv."""
    bake, ft = run["bakeoff"], run["finetune"]
    test = (ft or {}).get("test") or {}
    doc = {"run_id": run["config"].get("run_id"), "task": run["dataset"].get("task"),
           "metric": bake.get("metric"), "winner": bake.get("winner") or None,
           "test": {"reported_figure": {k: v for k, v in test.items() if isinstance(v, float)},
                    "images": (ft or {}).get("test_images"), "model_kept": (ft or {}).get("kept"),
                    "note": "the held-out test split: not used to rank the bake-off (validation) nor to select "
                            "the fine-tuned epoch (validation)"} if test else None,
           "bakeoff": {"rungs": bake.get("rungs", []), "table": bake.get("table", []), "complete": bake.get("complete")},
           "finetune": None if ft is None else {k: v for k, v in ft.items()}, "optimize": run.get("optimize")}
    atomic_write_json(run_dir / "metrics.json", doc)
    rows: list[dict] = []
    for results in bake.get("rungs", []):
        for r in results.values():
            rows.append({"phase": "bakeoff", **{k: v for k, v in r.items() if not isinstance(v, (dict, list))}})
    for h in (ft or {}).get("history", []):
        rows.append({"phase": "finetune", "candidate": ft["winner"], **h})
    cols: list[str] = []
    for r in rows:
        cols.extend(k for k in r if k not in cols)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols or ["phase"], lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    atomic_write_text(run_dir / "metrics.csv", buf.getvalue())
    return doc


def _plots(run_dir: Path, run: dict) -> dict[str, str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    out: dict[str, str] = {}
    ft, metric = run["finetune"], run["bakeoff"].get("metric", "val_top1")
    hist = (ft or {}).get("history") or []
    if hist:
        ep = [h["epoch"] for h in hist]
        fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.4))
        a.plot(ep, [h["train_loss"] for h in hist], marker="o", label="train loss")
        a.plot(ep, [h["val_loss"] for h in hist], marker="o", label="val loss")
        a.set_xlabel("epoch"); a.set_title("loss"); a.legend()
        b.plot(ep, [h.get(metric) for h in hist], marker="o", color="tab:green")
        b.set_xlabel("epoch"); b.set_title(f"{metric} (validation split)"); b.set_ylim(0, 1)
        fig.tight_layout(); fig.savefig(run_dir / "learning_curves.png", dpi=110); plt.close(fig)
        out["learning_curves"] = "learning_curves.png"
    per_class, split = per_class_source(run)
    cm = per_class.get("confusion_matrix")
    classes = run["dataset"].get("classes", [])
    if cm and len(cm) <= 60:
        m = np.array(cm)
        fig, ax = plt.subplots(figsize=(min(12, 2 + 0.45 * len(m)),) * 2)
        ax.imshow(m, cmap="Blues")
        ax.set_xticks(range(len(m)), classes, rotation=90, fontsize=7); ax.set_yticks(range(len(m)), classes, fontsize=7)
        ax.set_xlabel("predicted"); ax.set_ylabel("true"); ax.set_title(f"confusion matrix ({split} split)")
        if len(m) <= 20:
            for i in range(len(m)):
                for j in range(len(m)):
                    ax.text(j, i, int(m[i, j]), ha="center", va="center", fontsize=7,
                            color="white" if m[i, j] > m.max() / 2 else "black")
        fig.tight_layout(); fig.savefig(run_dir / "confusion_matrix.png", dpi=110); plt.close(fig)
        out["confusion_matrix"] = "confusion_matrix.png"
    table = run["bakeoff"].get("table") or []
    ok = [r for r in table if r.get(metric) is not None and r.get("latency_ms")]
    if ok:
        fig, ax = plt.subplots(figsize=(5.5, 3.6))
        for r in ok:
            ax.scatter(r["latency_ms"], r[metric], color="tab:red" if r.get("winner") else "tab:blue")
            ax.annotate(r["candidate"], (r["latency_ms"], r[metric]), fontsize=7, xytext=(3, 3), textcoords="offset points")
        ax.set_xlabel("latency_ms (batch 1)"); ax.set_ylabel(metric); ax.set_title("bake-off: validation accuracy against latency")
        fig.tight_layout(); fig.savefig(run_dir / "bakeoff.png", dpi=110); plt.close(fig)
        out["bakeoff"] = "bakeoff.png"
    return out


def per_class_source(run: dict) -> tuple[dict, str]:
    """(the evaluation the per-class table and confusion matrix come from, its split's name): the held-out
    test split, as the headline; validation only for runs that recorded no per-class test figures."""
    ft = run["finetune"] or {}
    test = ft.get("test") or {}
    if test.get("per_class") or test.get("confusion_matrix"):
        return test, "held-out test"
    return ft.get("final") or {}, "validation"


def _per_class_rows(run: dict) -> list[dict]:
    per = per_class_source(run)[0].get("per_class")
    classes = run["dataset"].get("classes", [])
    if not per:
        return []
    # whatever the task reports per class (precision/recall/F1/support, AP, IoU/Dice/pixels), in its order
    return [{"class": c, **{k: v[i] for k, v in per.items() if isinstance(v, list) and i < len(v)}}
            for i, c in enumerate(classes)]


def deployment_notes(variant_name: str | None) -> list[str]:
    """What the catalog says about deploying the winner, plus seeds/002's after-selection steps."""
    if not variant_name:
        return []
    notes = []
    try:
        from hoot.advisor.catalog import load_catalog

        v = load_catalog().get(variant_name)
        facts = [f"{v.display_name} ({v.family})"]
        if v.params:
            facts.append(f"{v.params / 1e6:.1f} M parameters")
        if v.gmacs:
            facts.append(f"{v.gmacs:.2f} GMACs at {v.crop_size} px")
        if v.weights_file_mb:
            facts.append(f"{v.weights_file_mb:.1f} MB weights file")
        notes.append(", ".join(facts))
        if v.targets:
            notes.append(f"deployment targets (catalog): {', '.join(v.targets)}")
        if v.memory_tier or v.speed_class:
            notes.append(f"memory tier {v.memory_tier or '-'}, speed class {v.speed_class or '-'} (seeds/000)")
        if v.notes:
            notes.append(v.notes)
    except HootError:
        pass
    notes.append("after selection (seeds/002): export with `hoot export RUN --format onnx` for ONNX Runtime/TensorRT; "
                 "consider quantisation, pruning or distillation if latency or size must shrink further")
    return notes


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return "-" if v is None else str(v)


def _html_table(rows: list[dict], cols: list[str]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_fmt(r.get(c)))}</td>" for c in cols) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def sections(run: dict, plots: dict[str, str]) -> list[tuple[str, list[tuple[str, Any]]]]:
    """The report as (title, [(kind, payload)]) so Markdown and HTML say the same things."""
    cfg, ds, bake, ft = run["config"], run["dataset"], run["bakeoff"], run["finetune"]
    metric = bake.get("metric", "val_top1")
    out: list[tuple[str, list[tuple[str, Any]]]] = []
    out.append(("Dataset", [
        ("text", f"{ds.get('root')} — {ds.get('task')} ({ds.get('layout')}), {ds.get('num_classes')} classes, "
                 f"{ds.get('train_images')} training, {ds.get('val_images')} validation and {ds.get('test_images', 0)} "
                 f"held-out test images ({ds.get('split_rule') or 'split rule not recorded'}), "
                 f"median image size {ds.get('median_image_size_px')} px, trained at {ds.get('image_size')} px; "
                 f"cache {ds.get('cache_bytes', 0) / 2**20:.1f} MiB (uint8)."),
        ("table", (ds.get("class_counts", []), ["class", "train", "val", "test"])),
    ] + [("text", f"Warning: {w}") for w in ds.get("warnings", [])]))
    skipped = ds.get("skipped_files", [])
    out.append((f"Skipped files ({len(skipped)})", [("table", (skipped, ["path", "reason"]))] if skipped else [("text", "None.")]))
    items: list[tuple[str, Any]] = [("text", f"Candidates: {', '.join(cfg.get('candidates', []))}. Same data, order, seed "
                                             f"({cfg.get('seed')}) and budget for each; eta {cfg.get('eta')}; BatchNorm statistics "
                                             "re-estimated on training images before every evaluation.")]
    if bake.get("table"):
        items.append(("table", (bake["table"], ["rank", "candidate", "rung", metric, "val_loss", "train_images_per_s",
                                                "latency_ms", "params", "steps", "status"])))
    if "bakeoff" in plots:
        items.append(("image", plots["bakeoff"]))
    out.append(("Bake-off", items))
    if ft:
        out = _finetune_sections(run, plots, out)
    if run.get("optimize"):  # hoot optimize's section (trainer/deploy/optimize/report.py)
        from hoot.trainer.deploy.optimize.report import report_section
        out.append(report_section(run["optimize"]))
    if run.get("heatmaps"):
        out.append(("Where the model looks (Grad-CAM, held-out test images)", run["heatmaps"]))
    out.append(("Deployment notes", [("text", n) for n in deployment_notes(bake.get("winner") or None)]))
    return out


def heatmap_items(run_dir: Path, run: dict) -> list[tuple[str, Any]]:
    """Grad-CAM overlays of a few held-out test images, right and wrong (hoot.trainer.health.explain).
    Optional: when the model cannot be explained the section says why instead of failing the report."""
    if not run.get("finetune") or not (run_dir / "best.pt").is_file():
        return []
    try:
        from hoot.trainer.training.context import run_splits
        from hoot.trainer.deploy.trained import load_trained
        from hoot.trainer.health.explain import right_and_wrong

        model, meta = load_trained(run_dir)
        test = run_splits(run_dir).test
        found = right_and_wrong(model, meta, [s.path for s in test], [s.label for s in test], run_dir / "heatmaps")
    except Exception as exc:  # noqa: BLE001 - an optional section: say why, keep the report
        return [("text", f"Heatmaps not drawn: {exc}")]
    items: list[tuple[str, Any]] = []
    for heat, correct in found:
        items.append(("text", f"{'right' if correct else 'wrong'}: {Path(heat.image).name} predicted "
                              f"{heat.predicted_class} ({heat.probability:.2f})"))
        items.append(("image", str(Path(heat.overlay_png).relative_to(run_dir))))
    return items or [("text", "No held-out test images to explain.")]


def _finetune_sections(run: dict, plots: dict[str, str], out: list) -> list:
    """The test result first (the run's answer), then the fine-tune and the per-class rows."""
    ft = run["finetune"]
    final = ft.get("final") or {}
    test = {k: v for k, v in (ft.get("test") or {}).items() if isinstance(v, float)}
    if test:
        out.insert(0, ("Result (held-out test split)", [
            ("text", f"**{ft['winner']}** on {ft.get('test_images')} held-out test images, which neither the bake-off "
                     f"(ranked on validation) nor the fine-tune (kept {ft.get('kept')}, selected on validation) saw:"),
            ("table", ([test], list(test)))]))
    rates = ", ".join(f"{g} {r:g}" for g, r in (ft.get("lr_groups") or {"all": ft["lr"]}).items())
    fin = [("text", f"Winner **{ft['winner']}**: strategy {ft['strategy']} ({ft.get('strategy_reason')}), "
                    f"{ft['optimizer']} peak lr per group: {rates} (seeds/004 range {ft['lr_range'][0]:g}–{ft['lr_range'][1]:g}), "
                    f"batch {ft['batch_size']}, {ft['epochs_run']} of {ft['epochs_planned']} epochs"
                    f"{' (early stop)' if ft.get('stopped_early') else ''}, best epoch {ft['best_epoch']}, "
                    f"{ft['seconds']:.0f} s, autocast {ft.get('autocast') or 'off (fp32)'}; model kept: "
                    f"{ft.get('kept', 'best epoch')} (starting point {_fmt(ft.get('start_value'))} on validation). "
                    "Validation metrics of the kept model:"),
           ("table", ([{k: v for k, v in final.items() if isinstance(v, float)}],
                      [k for k, v in final.items() if isinstance(v, float)]))]
    if "learning_curves" in plots:
        fin.append(("image", plots["learning_curves"]))
    out.append(("Fine-tune and final metrics", fin))
    pc = _per_class_rows(run)
    cls_items: list[tuple[str, Any]] = []
    if pc:
        cls_items.append(("table", (pc, list(pc[0].keys()))))
    if "confusion_matrix" in plots:
        cls_items.append(("image", plots["confusion_matrix"]))
    names = ", ".join(k for k in (pc[0] if pc else {}) if k != "class") or "n/a"
    out.append((f"Per-class {names} ({per_class_source(run)[1]} split)".replace("precision, recall, f1", "precision, recall, F1"),
                cls_items or [("text", "n/a")]))
    pictures = [("image", p["path"]) for p in ft.get("pictures") or []]
    if pictures:
        titles = "; ".join(p["title"] for p in ft["pictures"])
        out.append(("Pictures (held-out test split)", [("text", titles)] + pictures))
    return out


def render_markdown(run: dict, plots: dict[str, str]) -> str:
    lines = [f"# hoot shortlist run {run['config'].get('run_id')}", ""]
    for title, items in sections(run, plots):
        lines += [f"## {title}", ""]
        for kind, payload in items:
            if kind == "text":
                lines += [payload, ""]
            elif kind == "table":
                rows, cols = payload
                lines += [render(rows, "markdown", cols, floatfmt=".4g"), ""]
            elif kind == "image":
                lines += [f"![{payload}]({payload})", ""]
    lines += [f"run id: {run['config'].get('run_id')}", ""]
    return "\n".join(lines)


def render_html(run: dict, plots: dict[str, str]) -> str:
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>hoot run {html.escape(str(run['config'].get('run_id')))}</title>",
             "<style>body{font-family:sans-serif;max-width:1000px;margin:2em auto}table{border-collapse:collapse;margin:1em 0}"
             "td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px}th{background:#eee}</style></head><body>",
             f"<h1>hoot shortlist run {html.escape(str(run['config'].get('run_id')))}</h1>"]
    for title, items in sections(run, plots):
        parts.append(f"<h2>{html.escape(title)}</h2>")
        for kind, payload in items:
            if kind == "text":
                text = html.escape(payload).replace("**", "")
                parts.append(f"<p>{text}</p>")
            elif kind == "table":
                parts.append(_html_table(*payload))
            elif kind == "image":
                parts.append(f"<img src='{html.escape(payload)}' alt='{html.escape(payload)}'>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(run_dir: Path) -> dict[str, Path]:
    """(Re-)render every output of a run from its JSON files."""
    run_dir = Path(run_dir)
    run = load_run(run_dir)
    write_metrics(run_dir, run)
    plots = _plots(run_dir, run)
    run["heatmaps"] = heatmap_items(run_dir, run)
    atomic_write_text(run_dir / "report.md", render_markdown(run, plots))
    atomic_write_text(run_dir / "report.html", render_html(run, plots))
    return {"report_md": run_dir / "report.md", "report_html": run_dir / "report.html",
            "metrics_json": run_dir / "metrics.json", "metrics_csv": run_dir / "metrics.csv"}
