"""`hoot catalog`: list, filter, show and check the model catalog.

    hoot catalog                       # the whole catalog as a table (same as `hoot catalog list`)
    hoot catalog list --target mobile --task classification --max-params 5M --format csv
    hoot catalog show efficientnet_b2  # every field, the documents' figures beside torchvision's
    hoot catalog check [FILE]          # validate + hold the facts to each source's metadata (torchvision, timm, smp)

No torch import except in `check` (which needs torchvision's metadata).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import click

from hoot.advisor.catalog import KINDS, TARGETS, TASKS, Catalog, Variant, load_catalog
from hoot.advisor.errors import HootError, NoAnswer
from hoot.advisor.render import FORMATS, render
from hoot.cli.options import positive_count

#: columns of the table/markdown view (csv and json get every field)
TABLE_COLUMNS = ("name", "family", "kind", "params_m", "gmacs", "input_px", "top1", "metric",
                 "weights_file_mb", "memory_tier", "speed_class", "targets", "provided")
#: `hoot catalog show` wraps long values (notes, paper) at this many characters in table format
SHOW_WRAP = 100
SORT_KEYS = ("catalog", "name", "params", "gmacs", "top1", "size")
_DENSE_METRICS = ("box_map", "mask_map", "kp_map", "miou", "pixel_acc")


def _list_options(func: Callable) -> Callable:
    """The filter options, shared by `hoot catalog` and `hoot catalog list`."""
    options = [
        click.option("--family", help="Only this family (case-insensitive), e.g. MobileNet."),
        click.option("--task", type=click.Choice(TASKS), help="Only variants that support this task."),
        click.option("--target", type=click.Choice(TARGETS), help="Only variants the documents recommend for this target."),
        click.option("--kind", type=click.Choice(KINDS), help="Only builders of this kind."),
        click.option("--seed-only", is_flag=True, default=None, help="Only the 28 variants of seeds/000."),
        click.option("--provided-only", is_flag=True, default=None, help="Hide models no package hoot builds from provides."),
        click.option("--max-params", type=positive_count(), metavar="COUNT",
                     help="At most this many parameters: 5M, 5e6, 500k."),
        click.option("--sort", "sort_by", type=click.Choice(SORT_KEYS), help="Order rows (default: catalog order)."),
        click.option("--format", "fmt", type=click.Choice(FORMATS), help="Output format (default: table)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


@click.group("catalog", invoke_without_command=True)
@_list_options
@click.pass_context
def catalog(ctx: click.Context, **filters: Any) -> None:
    """List, show, filter and check the model catalog (default: list)."""
    ctx.meta["catalog_filters"] = filters
    if ctx.invoked_subcommand is None:
        _print_list(load_catalog(), **filters)


@catalog.command("list")
@_list_options
@click.pass_context
def list_cmd(ctx: click.Context, **filters: Any) -> None:
    """List catalog variants, filtered; options may also be given before `list`."""
    outer = ctx.meta.get("catalog_filters", {})
    merged = {k: (v if v is not None else outer.get(k)) for k, v in filters.items()}
    _print_list(load_catalog(), **merged)


def _print_list(cat: Catalog, family: str | None = None, task: str | None = None, target: str | None = None,
                kind: str | None = None, seed_only: bool | None = None, provided_only: bool | None = None,
                max_params: int | None = None, sort_by: str | None = None, fmt: str | None = None) -> None:
    fmt = fmt or "table"
    limit = max_params
    chosen = filter_variants(cat, family=family, task=task, target=target, kind=kind,
                             seed_only=bool(seed_only), provided_only=bool(provided_only), max_params=limit)
    if not chosen:
        given = {"--family": family, "--task": task, "--target": target, "--kind": kind,
                 "--seed-only": seed_only, "--provided-only": provided_only, "--max-params": max_params}
        said = " ".join(k if v is True else f"{k} {v}" for k, v in given.items() if v)
        raise NoAnswer(f"no catalog variant matches {said}; relax a filter (`hoot catalog` lists all)")
    chosen = sort_variants(chosen, sort_by or "catalog")
    rows = [variant_row(v) for v in chosen]
    payload = [variant_record(v) for v in chosen] if fmt == "json" else None
    columns = TABLE_COLUMNS if fmt in ("table", "markdown") else None
    click.echo(render(rows, fmt, columns=columns, floatfmt=".6g", json_payload=payload))


def filter_variants(cat: Catalog, family: str | None = None, task: str | None = None, target: str | None = None,
                    kind: str | None = None, seed_only: bool = False, provided_only: bool = False,
                    max_params: int | None = None) -> list[Variant]:
    """Variants passing every given filter (an unknown family is a HootError naming the known ones)."""
    chosen = cat.select(family=family)
    if task:
        chosen = [v for v in chosen if v.supports(task)]
    if target:
        chosen = [v for v in chosen if target in v.targets]
    if kind:
        chosen = [v for v in chosen if v.kind == kind]
    if seed_only:
        chosen = [v for v in chosen if v.seed_variant]
    if provided_only:
        chosen = [v for v in chosen if v.provided]
    if max_params is not None:
        chosen = [v for v in chosen if v.params is not None and v.params <= max_params]
    return chosen


def sort_variants(variants: list[Variant], key: str) -> list[Variant]:
    """Catalog order, or by a figure (unknown figures last); accuracy sorts best first."""
    if key == "catalog":
        return list(variants)
    if key == "name":
        return sorted(variants, key=lambda v: v.name)
    attr = {"params": "params", "gmacs": "gmacs", "top1": "top1", "size": "weights_file_mb"}[key]
    known = [v for v in variants if getattr(v, attr) is not None]
    unknown = [v for v in variants if getattr(v, attr) is None]
    return sorted(known, key=lambda v: getattr(v, attr), reverse=(key == "top1")) + unknown


def headline_figure(v: Variant) -> str | None:
    """Detection/segmentation headline figure as text, e.g. 'box_map 37.0' (COCO val2017)."""
    for key in _DENSE_METRICS:
        if key in v.metrics:
            return f"{key} {v.metrics[key]:g}"
    return None


def variant_row(v: Variant) -> dict[str, Any]:
    """One flat row (table, csv): figures with units in their names."""
    row: dict[str, Any] = {
        "name": v.name, "family": v.family, "display_name": v.display_name, "kind": v.kind,
        "provided": v.provided, "seed_variant": v.seed_variant,
        "params_m": None if v.params is None else round(v.params / 1e6, 2),
        "params": v.params, "gmacs": v.gmacs, "gflops": v.flops_g,
        "input_px": v.crop_size or v.resize_size, "crop_size": v.crop_size, "resize_size": v.resize_size,
        "top1": v.top1, "top5": v.top5, "metric": headline_figure(v),
    }
    for key in _DENSE_METRICS:
        row[key] = v.metrics.get(key)
    row.update({
        "weights_file_mb": v.weights_file_mb, "weights": v.weights, "weights_dataset": v.weights_dataset,
        "memory_tier": v.memory_tier, "speed_class": v.speed_class,
        "tasks": [t for t in TASKS if v.supports(t)], "targets": list(v.targets),
        "dataset_sizes": list(v.dataset_sizes), "year": v.year, "sources": list(v.sources),
    })
    return row


def variant_record(v: Variant) -> dict[str, Any]:
    """Every field of a variant, plus the derived params_m and gflops (json)."""
    record = dataclasses.asdict(v)
    record["seed_figures"] = [{k: x for k, x in f.items() if x is not None} for f in record["seed_figures"]]
    for key in ("targets", "dataset_sizes", "sources"):
        record[key] = list(record[key])
    record["basis"] = {k: {"by": b.by, **{f: x for f, x in dataclasses.asdict(b).items() if x is not None}}
                       for k, b in v.basis.items()}
    record["params_m"] = v.params_m
    record["gflops"] = v.flops_g
    return record


def judgement_rows(v: Variant) -> list[dict[str, Any]]:
    """One row per judgement: its value, whether the documents or hoot's rule make it, and the quote or rule."""
    rows = []
    for key, b in v.basis.items():
        field, _, value = key.partition(".")
        rows.append({"judgement": field, "value": value or getattr(v, field), "by": b.by, "basis": b.text()})
    return rows


@catalog.command("show")
@click.argument("name")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True,
              help="Output format.")
def show(name: str, fmt: str) -> None:
    """Every field of one variant, and the documents' figures beside torchvision's."""
    v = load_catalog().get(name)
    if fmt == "json":
        click.echo(render([], "json", json_payload=variant_record(v)))
        return
    fields_rows = [{"field": k, "value": _text(x)} for k, x in variant_record(v).items()
                   if k not in ("seed_figures", "basis")]
    if fmt == "table":  # long notes wrap inside their cell instead of stretching the terminal
        import textwrap

        for row in fields_rows:
            if isinstance(row["value"], str) and len(row["value"]) > SHOW_WRAP:
                row["value"] = textwrap.fill(row["value"], SHOW_WRAP)
    compare = figure_comparison(v)
    click.echo(render(fields_rows, fmt, columns=("field", "value")))
    judged = judgement_rows(v)
    if judged:
        if fmt == "table":
            import textwrap

            for row in judged:
                row["basis"] = textwrap.fill(row["basis"], SHOW_WRAP)
        click.echo("")
        if fmt in ("table", "markdown"):
            click.echo("Judgements (by documents: a quote of the seed file; by hoot_rule: hoot's own rule):")
        click.echo(render(judged, fmt, columns=("judgement", "value", "by", "basis")))
    if compare:
        click.echo("")
        if fmt in ("table", "markdown"):
            click.echo("Figures by source (torchvision = the DEFAULT weights' metadata; seed files as the documents state them):")
        click.echo(render(compare, fmt, columns=list(compare[0]), floatfmt=".6g"))


def figure_comparison(v: Variant) -> list[dict[str, Any]]:
    """Rows quantity x source: the catalog's torchvision facts beside each seed document's figures."""
    if not v.seed_figures:
        return []
    tv_label = f"{v.source} ({v.weights})" if v.weights else v.source
    quantities = [("params_m", v.params_m and round(v.params_m, 3), "params_m"),
                  ("input_px", v.crop_size, "input_size"),
                  ("top1", v.top1, "top1"),
                  ("gmacs (documents: 'FLOPs')", v.gmacs, "gflops")]
    rows = []
    for label, ours, attr in quantities:
        row: dict[str, Any] = {"quantity": label, tv_label: ours}
        for i, fig in enumerate(v.seed_figures):
            row[_source_label(fig.source, i, v)] = getattr(fig, attr)
        rows.append(row)
    notes = {_source_label(f.source, i, v): f.note for i, f in enumerate(v.seed_figures) if f.note}
    if notes:
        row = {"quantity": "note", tv_label: None}
        row.update({label: notes.get(label) for label in rows[0] if label not in ("quantity", tv_label)})
        rows.append(row)
    return rows


def _source_label(source: str, index: int, v: Variant) -> str:
    label = f"seeds/{source}"
    same = [f for f in v.seed_figures if f.source == source]
    return label if len(same) == 1 else f"{label} #{index + 1}"


def _text(value: Any) -> Any:
    if isinstance(value, dict):
        return ", ".join(f"{k}={'none' if x is None else _text(x)}" for k, x in value.items()) or "-"
    if isinstance(value, (list, tuple)):
        return ", ".join(str(x) for x in value) or "-"
    if isinstance(value, float):
        return format(value, ".6g")
    return value


@catalog.command("check")
@click.argument("file", required=False)
def check(file: str | None) -> None:
    """Validate a catalog (default: the shipped one) and hold its facts to its sources' metadata (offline).

    Exit 0: all facts match; 1: mismatches (listed on stdout); 2: the file is missing or malformed.
    """
    cat = load_catalog(file)
    try:
        from hoot.advisor.truth import check_catalog
        from hoot.bench.sources import all_sources

        sources = all_sources()
        problems = check_catalog(cat, sources)
        used = sorted({v.source for v in cat}, key=list(sources).index)
        version = ", ".join(sources[s].label() for s in used)
    except ImportError as exc:
        raise HootError(f"`hoot catalog check` needs the model packages ({exc}); install it with `pip install {exc.name}`") from None
    where = file or cat.path
    if problems:
        for line in problems:
            click.echo(line)
        raise NoAnswer(f"{len(problems)} problem(s) in {where} against {version}; "
                       "fix the judgement by hand, or regenerate the facts with tools/regen_catalog.py")
    click.echo(f"ok: {len(cat.provided())} variants match {version} "
               f"({len(cat)} entries, {len(cat) - len(cat.provided())} named but not provided)")
