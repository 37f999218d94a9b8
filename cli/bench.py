"""`hoot bench`: measure catalog variants on this machine; show, compare, export, import, report.

`hoot bench [OPTIONS]` measures; the subcommands read the results store. Data goes to
stdout (table | json | csv), progress to stderr. This module imports no torch: the
measuring happens in child processes (see bench.runner).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from hoot.advisor.catalog import load_catalog
from hoot.advisor.errors import HootError, NoAnswer
from hoot.advisor.paths import default_db_path
from hoot.advisor.render import render
from hoot.bench.hardware import current_hardware_id, this_machine
from hoot.bench.records import EXPORTED_RUNTIMES, ONDEVICE_RUNTIMES, RUNTIMES, THROUGHPUT_BATCH
from hoot.bench.store import DTYPES, MODES, STATUSES, ResultStore
from hoot.cli.bench_select import parse_batch_sizes, select_variants
from hoot.cli.options import Number, Threads, positive_int

FORMATS = ("table", "json", "csv")
RESULT_COLUMNS = [
    "variant", "mode", "device", "dtype", "batch_size", "input_size", "status", "latency_ms", "latency_p10_ms",
    "latency_p90_ms", "latency_cv", "iterations", "throughput_ips", "gmacs", "params", "peak_memory_mb",
    "auto_batch_size", "runtime", "latency_spread_ms", "converged", "stopped_by", "auto_batch_s", "contended",
    "busy_other_cores", "load_1min", "gpu_other_processes", "error",
]
#: what `bench show` prints: every column that tells two rows of one model apart, and convergence
SHOW_COLUMNS = ["hardware_id", "variant", "mode", "device", "dtype", "batch_size", "input_size", "threads", "runtime",
                "channels_last", "quick", "status", "converged", "stopped_by", "contended", "busy_other_cores", "load_1min",
                "gpu_other_processes", "latency_ms", "latency_p10_ms",
                "latency_p90_ms", "latency_spread_ms", "latency_cv", "iterations", "throughput_ips", "gmacs", "params",
                "peak_memory_mb", "auto_batch_size", "auto_batch_s", "eager_over_graph", "launch_bound", "measured_at",
                "error"]


def _store(db: str | None, create: bool = True, readonly: bool = False) -> ResultStore:
    return ResultStore(db, create=create, readonly=readonly)


def _emit(rows: list[dict[str, Any]], fmt: str, columns: list[str]) -> None:
    if fmt == "table":
        columns = [c for c in columns if any(r.get(c) not in (None, "") for r in rows)] or columns
    click.echo(render(rows, fmt, columns))




@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--all", "all_", is_flag=True, help="Every provided variant (torchvision, timm, segmentation-models-pytorch).")
@click.option("--models", help="Comma-separated variant names, e.g. resnet18,mobilenet_v3_small.")
@click.option("--family", help="Every variant of one family, e.g. EfficientNet.")
@click.option("--target", help="The variants the advisor keeps for a deployment target (mobile, edge, cpu-server, gpu-server, ...).")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option("--batch-size", "batch_size", default="1", show_default=True,
              help="One or more batch sizes, e.g. 1,32 (1 for latency, larger for throughput). "
                   f"On CUDA the default is 1,{THROUGHPUT_BATCH}.")
@click.option("--dtype", type=click.Choice(DTYPES), default="fp32", show_default=True,
              help="Autocast precision (fp16/bf16 on CUDA; bf16 on CPUs that support it). "
                   "On CUDA the default is bf16 where supported, else fp16.")
@click.option("--channels-last", is_flag=True, help="NHWC memory format for model and input.")
@click.option("--runtime", type=click.Choice(("eager", "compile", "onnxruntime", "int8") + ONDEVICE_RUNTIMES),
              default="eager", show_default=True,
              help="How the model runs: eager PyTorch, torch.compile, ONNX Runtime fp32, ONNX Runtime INT8 (static "
                   "quantisation on seeded random inputs; speed only), or an on-device runtime in fp32: executorch "
                   "(XNNPACK), litert, openvino (pip install 'hoot[ondevice]').")
@click.option("--compile", "compile_", is_flag=True, help="Same as --runtime compile (warm-up absorbs compile time).")
@click.option("--cuda-graphs", "cuda_graphs", is_flag=True,
              help="Also measure the inference call captured as a CUDA graph (rows with runtime cuda_graph).")
@click.option("--calibration-batches", type=positive_int(maximum=1024, example="8"), default=8, show_default=True,
              help="--runtime int8: seeded random inputs to calibrate on.")
@click.option("--threads", type=Threads(),
              help="CPU threads for torch (default: all cores this process may use; never more; recorded).")
@click.option("--input-size", type=Number(integer=True, minimum=16, maximum=4096, example="224"),
              help="Square input side in pixels (default: each model's native size).")
@click.option("--train", is_flag=True, help="Also time a training step (forward + backward + SGD step); on a GPU, find the auto batch size.")
@click.option("--quick", is_flag=True, help="Fewer repeats: a first look, not a final figure.")
@click.option("--fvcore", is_flag=True,
              help="Also cross-check torch's FLOP count with fvcore (traces each model once per input size: "
                   "about a forward pass more per model; stored and reused).")
@click.option("--db", type=click.Path(dir_okay=False), help="Results database (default: the user's data directory).")
@click.option("--force", is_flag=True, help="Measure again even when these settings are stored.")
@click.option("--wait-quiet", "wait_quiet_s", type=Number(minimum=0, maximum=86400, example="60"), default=0,
              help="Before each model, wait up to SECONDS for a quiet machine (other processes off the cores and "
                   "the GPU); says what it waited for. 0: do not wait.")
@click.option("--contended", type=click.Choice(("keep", "skip", "fail")), default="keep", show_default=True,
              help="A row timed while other processes held the cores or the GPU: keep it (marked contended; a "
                   "re-run measures it again), skip it (not stored) or fail (stop the run, exit 2).")
@click.option("--timeout", "timeout_s", type=Number(minimum=1, maximum=86400, example="600"),
              help="Seconds per model before it is stopped (an error row).")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
@click.pass_context
def bench(ctx: click.Context, all_: bool, models: str | None, family: str | None, target: str | None, device: str,
          batch_size: str, dtype: str, channels_last: bool, runtime: str, compile_: bool, cuda_graphs: bool,
          calibration_batches: int, threads: int | None, input_size: int | None, train: bool, quick: bool,
          fvcore: bool, db: str | None, force: bool, wait_quiet_s: float, contended: str, timeout_s: float | None,
          fmt: str) -> None:
    """Measure latency, throughput, FLOPs and memory of catalog variants on this machine.

    Each model is measured in a child process; each result is stored as soon as it exists, and a
    re-run measures only what is missing (use --force to measure again).
    Subcommands read the results: show, compare, export, import, report.
    """
    ctx.ensure_object(dict)
    ctx.obj["db"] = db
    if ctx.invoked_subcommand is not None:
        return
    import logging

    from hoot.bench.phases import Phases, log_phases
    from hoot.bench.session import BenchRequest, run_bench

    log, phases = logging.getLogger("hoot.cli.bench"), Phases()
    log_phases(log, "cli_entered", {})
    if compile_ and runtime not in ("eager", "compile"):
        raise HootError(f"--compile and --runtime {runtime} name two runtimes; pass one")
    runtimes = ("compile" if compile_ else runtime,) + (("cuda_graph",) if cuda_graphs else ())
    with phases.time("select"):
        variants = select_variants(load_catalog(), all_, models, family, target)
    request = BenchRequest(variants=tuple(variants), device=device, batch_sizes=parse_batch_sizes(batch_size),
                           dtype=dtype, channels_last=channels_last, runtimes=runtimes,
                           calibration_batches=calibration_batches, threads=threads, input_size=input_size,
                           train=train, quick=quick, fvcore=fvcore, db=db, force=force, timeout_s=timeout_s,
                           contended=contended, wait_quiet_s=float(wait_quiet_s or 0))
    outcome = run_bench(request, lambda *args: _gpu_defaults(ctx, *args),
                        on_note=lambda note: click.echo(f"hoot: {note}", err=True))
    rows = outcome.rows
    with phases.time("emit"):
        _emit(rows, fmt, RESULT_COLUMNS)
    log_phases(log, "cli", {**outcome.phases.as_dict(), **phases.as_dict(),
                            "seconds": {**outcome.phases.seconds, **phases.seconds}})
    failed = [r for r in rows if r["status"] != "ok"]
    if failed:
        click.echo(f"hoot: {len(failed)} of {len(rows)} measurement(s) did not succeed (status oom/error above)", err=True)
    capped = [r for r in rows if r["status"] == "ok" and r.get("converged") is False]
    if capped:
        click.echo(f"hoot: {len(capped)} timing(s) did not converge before the budget ran out "
                   "(see latency_spread_ms / stopped_by); a plain re-run keeps them: pass --force to measure "
                   "them again", err=True)
    _say_contended(rows, rerun=True)


def _say_contended(rows: list[dict[str, Any]], rerun: bool = False) -> None:
    """One stderr line naming the rows timed on a busy machine, and what to do about them."""
    busy = [r for r in rows if r.get("status") == "ok" and r.get("contended")]
    if not busy:
        return
    names = sorted({r["variant"] for r in busy})
    shown = ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")
    fix = ("a plain re-run measures them again (--wait-quiet SECONDS waits for a quiet machine first)" if rerun
           else "re-run `hoot bench` with the same settings on a quiet machine to measure them again")
    click.echo(f"hoot: {len(busy)} of {len(rows)} timing(s) contended: other processes held the cores or the GPU "
               f"while they were timed (column contended, busy_other_cores): {shown}; {fix}", err=True)


def _gpu_defaults(ctx: click.Context, device: str, probe: dict[str, Any], batches: tuple[int, ...], dtype: str,
                  runtimes: tuple[str, ...]) -> tuple[tuple[int, ...], str]:
    """The session's GPU defaults for what the user left at its default (said on stderr)."""
    from click.core import ParameterSource

    from hoot.bench.session import gpu_defaults

    batches, dtype, note = gpu_defaults(device, probe, batches, dtype, runtimes,
                                        ctx.get_parameter_source("batch_size") != ParameterSource.DEFAULT,
                                        ctx.get_parameter_source("dtype") != ParameterSource.DEFAULT)
    if note:
        click.echo(f"hoot: {note}", err=True)
    return batches, dtype


def _filters(ctx: click.Context, store: ResultStore, hardware: str | None, models: str | None, family: str | None,
             device: str | None, dtype: str | None, mode: str | None, batch_size: str | None,
             status: str | None, threads: int | None = None, runtime: str | None = None) -> dict[str, Any]:
    filters: dict[str, Any] = {"threads": threads, "runtime": runtime}
    if hardware and hardware != "all":
        filters["hardware_id"] = store.resolve_hardware(hardware)
    if models:
        filters["variant"] = [m.strip() for m in models.split(",") if m.strip()]
    if family:
        filters["family"] = [v.family for v in load_catalog().select(None, family)][:1] or [family]
    if device:
        filters["device"] = device
    if dtype:
        filters["dtype"] = dtype
    if mode:
        filters["mode"] = mode
    if batch_size:
        filters["batch_size"] = list(parse_batch_sizes(batch_size))
    if status:
        filters["status"] = status
    return filters


def _filter_options(f: Any) -> Any:
    for opt in reversed([
        click.option("--hardware", default="all", show_default=True, help="'this', a hardware id (or prefix), or 'all'."),
        click.option("--models", help="Comma-separated variant names."),
        click.option("--family", help="One family, e.g. ResNet."),
        click.option("--device", help="cpu, cuda:0, ..."),
        click.option("--dtype", type=click.Choice(DTYPES)),
        click.option("--mode", type=click.Choice(MODES)),
        click.option("--batch-size", "batch_size", help="e.g. 1 or 1,32."),
        click.option("--status", type=click.Choice(STATUSES)),
        click.option("--threads", type=click.IntRange(min=1), help="Only rows measured with this many threads."),
        click.option("--runtime", type=click.Choice(RUNTIMES), help="Only rows of this runtime."),
        click.option("--db", type=click.Path(dir_okay=False), help="Results database."),
    ]):
        f = opt(f)
    return f


def _db(ctx: click.Context, db: str | None) -> str | None:
    return db or (ctx.obj or {}).get("db")


@bench.command("show")
@_filter_options
@click.option("--history", is_flag=True, help="Every stored row, not only the latest per settings.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
@click.pass_context
def show(ctx: click.Context, hardware: str, models: str | None, family: str | None, device: str | None,
         dtype: str | None, mode: str | None, batch_size: str | None, status: str | None, threads: int | None,
         runtime: str | None, db: str | None, history: bool, fmt: str) -> None:
    """Stored measurements, filtered (latest per settings unless --history); says which did not converge."""
    with _store(_db(ctx, db), create=False, readonly=True) as store:
        filters = _filters(ctx, store, hardware, models, family, device, dtype, mode, batch_size, status, threads,
                           runtime)
        rows = store.rows(filters, latest=not history)
    if not rows:
        raise NoAnswer("no stored measurements match; run `hoot bench --models ...` or relax the filters")
    from hoot.bench.launch import LAUNCH_BOUND_RATIO, annotate

    rows = annotate(rows)  # eager vs its CUDA-graph twin (--cuda-graphs), where both are stored
    _emit(rows, fmt, SHOW_COLUMNS)
    bound = sorted({r["variant"] for r in rows if r.get("launch_bound")})
    if bound:
        click.echo(f"hoot: launch-bound (eager over {LAUNCH_BOUND_RATIO}x its CUDA graph): {', '.join(bound)}", err=True)
    unsettled = [r for r in rows if r["status"] == "ok" and r.get("converged") is False]
    if unsettled:
        click.echo(f"hoot: {len(unsettled)} of {len(rows)} row(s) not converged: the timing hit its budget before "
                   "the spread settled (column converged, stopped_by); `hoot bench --force` measures them again",
                   err=True)
    _say_contended(rows)


@bench.command("hardware")
@click.option("--db", type=click.Path(dir_okay=False), help="Results database.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
@click.pass_context
def hardware_cmd(ctx: click.Context, db: str | None, fmt: str) -> None:
    """Machines in the results store (and this machine's id)."""
    path = _db(ctx, db)
    rows: list[dict[str, Any]] = []
    if Path(path or default_db_path()).exists():  # reading: no file is created
        with _store(path, readonly=True) as store:
            rows = store.hardware()
    this = current_hardware_id()
    for r in rows:
        r["this"] = r["hardware_id"] == this
    if not any(r["this"] for r in rows):
        rows.append({**{k: v for k, v in this_machine().items() if k != "gpus"}, "rows": 0, "this": True})
    _emit(rows, fmt, ["hardware_id", "this", "rows", "cpu_model", "cpu_cores", "memory_gb", "gpu_name",
                      "gpu_memory_mb", "gpu_driver", "os"])


@bench.command("compare")
@click.argument("a")
@click.argument("b")
@click.option("--models", help="Comma-separated variant names.")
@click.option("--db", type=click.Path(dir_okay=False), help="Results database.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
@click.pass_context
def compare_cmd(ctx: click.Context, a: str, b: str, models: str | None, db: str | None, fmt: str) -> None:
    """Two machines or two settings side by side, with ratios B/A.

    A and B are 'HARDWARE[,key=value...]' where HARDWARE is 'this', an id or a prefix, and
    keys are device, dtype, batch, size, threads, mode, channels_last, runtime, quick, e.g.
    `hoot bench compare this,dtype=fp32 this,dtype=bf16` or `hoot bench compare this nvidia-h100`.
    """
    from hoot.bench.compare import compare

    with _store(_db(ctx, db), create=False, readonly=True) as store:
        rows, label_a, label_b = compare(store, a, b,
                                         [m.strip() for m in models.split(",")] if models else None)
    click.echo(f"hoot: A = {label_a}; B = {label_b}; ratio = B / A (below 1: B is faster/smaller)", err=True)
    _emit(rows, fmt, list(rows[0]))


@bench.command("export")
@_filter_options
@click.option("--format", "fmt", type=click.Choice(("csv", "json")), default="json", show_default=True)
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="File to write (default: stdout).")
@click.pass_context
def export_cmd(ctx: click.Context, hardware: str, models: str | None, family: str | None, device: str | None,
               dtype: str | None, mode: str | None, batch_size: str | None, status: str | None, threads: int | None,
               runtime: str | None, db: str | None, fmt: str, output: str | None) -> None:
    """Every stored row (with its machine's description) as CSV or JSON, for `hoot bench import`."""
    from hoot.bench.exchange import export_text, write_export

    with _store(_db(ctx, db), create=False, readonly=True) as store:
        filters = _filters(ctx, store, hardware, models, family, device, dtype, mode, batch_size, status, threads,
                           runtime)
        rows = store.export_rows(filters)
    if not rows:
        raise NoAnswer("no stored measurements match; nothing to export")
    text = export_text(rows, fmt)
    if output:
        write_export(output, text)
        click.echo(f"hoot: wrote {len(rows)} row(s) to {output}", err=True)
    else:
        click.echo(text)


@bench.command("import")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--db", type=click.Path(dir_okay=False), help="Results database.")
@click.pass_context
def import_cmd(ctx: click.Context, file: str, db: str | None) -> None:
    """Bring in rows exported elsewhere (CSV or JSON); every row is validated (a model outside the
    catalog is refused), all or nothing."""
    from hoot.bench.exchange import read_rows

    rows = read_rows(file)
    variants = {v.name for v in load_catalog()}
    with _store(_db(ctx, db)) as store:
        added, present = store.import_rows(rows, source=Path(file).name, variants=variants)
    click.echo(f"hoot: imported {added} row(s) from {file}; {present} already present")


@bench.command("report")
@click.option("--hardware", default="this", show_default=True, help="'this' or a hardware id (or prefix).")
@click.option("--output", "-o", type=click.Path(file_okay=False), help="Folder (default: reports/bench-<hardware>/).")
@click.option("--db", type=click.Path(dir_okay=False), help="Results database.")
@click.pass_context
def report_cmd(ctx: click.Context, hardware: str, output: str | None, db: str | None) -> None:
    """Markdown + HTML report with plots: top-1 vs latency (Pareto front), latency vs GMACs, peak memory."""
    from hoot.bench.report import write_report

    with _store(_db(ctx, db), create=False, readonly=True) as store:
        hid = store.resolve_hardware(hardware)
        rows = store.rows({"hardware_id": hid})
        info = store.hardware_info(hid) or {"hardware_id": hid}
    if not rows:
        raise NoAnswer(f"no measurements for hardware '{hid}'; run `hoot bench` first")
    out = Path(output) if output else Path("reports") / f"bench-{hid}"
    written = write_report(rows, info, out, load_catalog())
    for path in written:
        click.echo(str(path))
