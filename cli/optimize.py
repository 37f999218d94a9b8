"""`hoot optimize RUN`: the fine-tuned winner's deployment variants (eager, torch.compile, ONNX
Runtime, INT8, half precision, TensorRT) measured side by side; a table on stdout, optimize.md,
a plot, the shippable files and metrics.json's "optimize" key in the run folder.
"""

from __future__ import annotations

import click

from hoot.advisor.errors import HootError
from hoot.advisor.render import FORMATS
from hoot.cli.options import Threads, non_negative_int, positive_float, positive_int

DEFAULT_VARIANTS = "eager,compile,onnxruntime,int8,fp16,bf16,tensorrt,executorch-xnnpack,executorch-xnnpack-int8,litert,litert-int8,openvino,openvino-int8"


@click.command(context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.argument("run")
@click.option("--output", default="reports", help="Where run folders are.")
@click.option("--out", "out_dir", default=None, metavar="DIR", help="Where the files go (default: the run folder).")
@click.option("--variants", default=DEFAULT_VARIANTS, metavar="A,B",
              help="Any of eager,compile,onnxruntime,int8,int8-qdq,int8-pt2e,fp16,bf16,tensorrt, the on-device "
                   "runtimes executorch-xnnpack,litert,openvino (each also -int8) and their quantisation-aware INT8 "
                   "executorch-xnnpack-int8-qat,litert-int8-qat,openvino-int8-qat (train --qat-epochs each; not by "
                   "default). eager is the reference, always run.")
@click.option("--calibration-images", default=128, type=positive_int(100_000, "128"),
              help="Training images (seeded) that calibrate INT8.")
@click.option("--batch-size", default=32, type=positive_int(4096, "32"), help="Batch for the throughput figure.")
@click.option("--threads", default=None, type=Threads(), help="CPU threads (default: all cores this process may use; never more); recorded.")
@click.option("--image-size", "image_size", default=None, type=positive_int(2048, "224"), metavar="PX",
              help="Input size for the timings (default: the run's training size; accuracy is always at the training size).")
@click.option("--device", default="auto", help="auto | cpu | cuda | cuda:N.")
@click.option("--seed", default=0, type=non_negative_int(2**32 - 1, "0"), help="Seed for picking the calibration images.")
@click.option("--qat-epochs", default=2, type=positive_int(1000, "2"),
              help="Epochs of quantisation-aware training on the run's training split for the *-int8-qat variants "
                   "(the epoch best on validation is kept).")
@click.option("--qat-lr", default=1e-4, type=positive_float(1.0, "1e-4"),
              help="SGD learning rate (momentum 0.9) of quantisation-aware training.")
@click.option("--quick", is_flag=True, help="Rough timings (hoot bench --quick's budget): a smoke check, not a measurement.")
@click.option("--format", "fmt", default="table", type=click.Choice(FORMATS))
def optimize(run, output, out_dir, variants, calibration_images, batch_size, threads, image_size, device, seed, qat_epochs,
             qat_lr, quick, fmt) -> None:
    """Build and measure RUN's deployment variants: latency, throughput, size, memory, accuracy change."""
    from pathlib import Path

    from hoot.advisor.render import render
    from hoot.trainer.deploy.optimize.report import columns, table_rows, write_outputs
    from hoot.trainer.deploy.optimize.run import OptimizeOptions, optimize_run
    from hoot.trainer.deploy.optimize.variants import parse_variants
    from hoot.trainer.runfiles import locate_run

    names = parse_variants(variants)
    if image_size is not None and image_size < 32:
        raise HootError(f"--image-size {image_size} is too small; use 32 px or more (e.g. 224)")
    run_dir = locate_run(run, output, trained=True)
    if out_dir:  # checked before anything is built: a file or an unwritable folder is one line
        from hoot.trainer.runfiles import ensure_writable_dir

        ensure_writable_dir(Path(out_dir), "--out folder")
    opts = OptimizeOptions(variants=tuple(names), calibration_images=calibration_images, batch_size=batch_size,
                           threads=threads or 0, seed=seed, timing_px=image_size, device=device,
                           out_dir=Path(out_dir) if out_dir else None, quick=quick, qat_epochs=qat_epochs,
                           qat_lr=qat_lr)
    result = optimize_run(run_dir, opts)
    doc = result.to_dict()
    paths = write_outputs(run_dir, doc, opts.out_dir)
    click.echo(render(table_rows(doc), fmt, list(columns(doc)), floatfmt=".4g", json_payload=doc))
    click.echo(f"hoot: wrote {', '.join(str(p) for p in paths.values())}", err=True)
    busy = [r for r in result.rows if r.status == "ok" and r.contended]
    if busy:
        click.echo(f"hoot: {len(busy)} variant(s) contended: other processes held the cores or the GPU while they "
                   f"were timed ({', '.join(f'{r.variant}: {r.busy_other_cores or 0:.1f} cores' for r in busy)}); "
                   "their latencies and speed-ups are doubtful: run `hoot optimize` again on a quiet machine", err=True)
