"""`hoot optimize`'s on-device variants: ExecuTorch/XNNPACK, LiteRT and OpenVINO, each in fp32 and INT8
(and, on request, quantisation-aware INT8: `*-int8-qat`, trained by qat.QatFinetune).

Each builds the runtime's shippable file from the run's winner through its adapter
(`hoot.bench.ondevice`) and times it through that runtime's own Python API, by the same rule as
every other variant. The file is built at batch 1 and the run's image size (what a phone runs);
the throughput figure is that file called on each image of the batch in turn. INT8 calibrates on
the run's training images (`BuildContext.calibration`). A missing package is a skipped row naming
the extra; a model the runtime cannot take is an error row with the converter's reason.
Importing this module registers its builders in `variants.BUILDERS` (variants.py cannot import
it back without a cycle).
"""

from __future__ import annotations

import copy
from typing import Any, Callable

import torch

from hoot.bench.ondevice import RUNTIMES
from hoot.trainer.deploy.optimize.variants import BUILDERS, ONDEVICE, ONDEVICE_QAT, BuildContext, Built, Skip

#: variant name -> (adapter name, file stem, int8?, quantisation-aware?)
ONDEVICE_VARIANTS: dict[str, tuple[str, str, bool, bool]] = {
    "executorch-xnnpack": ("executorch-xnnpack", "model", False, False),
    "executorch-xnnpack-int8": ("executorch-xnnpack", "model.int8", True, False),
    "litert": ("litert", "model", False, False),
    "litert-int8": ("litert", "model.int8", True, False),
    "openvino": ("openvino", "model.openvino", False, False),
    "openvino-int8": ("openvino", "model.openvino.int8", True, False),
    "executorch-xnnpack-int8-qat": ("executorch-xnnpack", "model.int8.qat", True, True),
    "litert-int8-qat": ("litert", "model.int8.qat", True, True),
    "openvino-int8-qat": ("openvino", "model.openvino.int8.qat", True, True),
}
#: the post-training INT8 route of each runtime, as its row's details say it
PTQ_ROUTES = {"executorch-xnnpack": "PT2E + XNNPACKQuantizer (per-channel, symmetric)",
              "litert": "PT2E + litert-torch PT2EQuantizer (per-channel), fully int8",
              "openvino": "nncf.quantize (post-training, overflow fix on every layer)"}
QAT_ROUTES = {"executorch-xnnpack": "QAT: PT2E prepare_qat_pt2e + XNNPACKQuantizer (per-channel, symmetric), trained",
              "litert": "QAT: PT2E prepare_qat_pt2e + litert-torch PT2EQuantizer (per-channel), trained, fully int8",
              "openvino": "QAT: nncf.quantize on the torch module (overflow fix on every layer), trained, convert_model"}


def _qat(ctx: BuildContext, variant: str) -> Any:
    """A fresh fine-tune for one QAT variant, or Skip saying why this run cannot have one."""
    if ctx.task is not None and not ctx.task.trains_exported_graph:
        raise Skip(f"quantisation-aware training needs the {ctx.task.name} model's training losses, which its "
                   f"exported graph does not give; {variant[:-len('-qat')]} is the post-training INT8 row")
    if ctx.qat is None:
        raise Skip("quantisation-aware training needs the run's training split, which could not be read")
    return ctx.qat()


def _builder(variant: str) -> Callable[[BuildContext], Built]:
    runtime_name, stem, int8, aware = ONDEVICE_VARIANTS[variant]

    def build(ctx: BuildContext) -> Built:
        runtime = RUNTIMES[runtime_name]
        reason = runtime.unavailable_reason()
        if reason:
            raise Skip(reason)
        finetune = _qat(ctx, variant) if aware else None
        model = copy.deepcopy(ctx.model).cpu().eval()  # the others keep theirs on ctx.device
        example = torch.from_numpy(ctx.calibration[:1])
        guarded = int8 and not aware and runtime.guards_accuracy and ctx.guard is not None
        path = runtime.convert(model, example, ctx.out_dir / f"{stem}{runtime.suffix}",
                               int8_calibration=[ctx.calibration] if int8 else None,
                               int8_guard=ctx.guard if guarded else None, int8_finetune=finetune)
        runner = runtime.load(path, ctx.threads)
        details = {**runner.details, "file_batch": runner.batch, "input_px": ctx.image_size,
                   "throughput": "the batch-1 file called once per image"}
        if int8:
            details.update({"calibration_images": int(len(ctx.calibration)),
                            "route": (QAT_ROUTES if aware else PTQ_ROUTES)[runtime_name]})
            if aware:
                details["qat"] = finetune.record
            if guarded:
                details["route"] = ("nncf.quantize_with_accuracy_control (overflow fix on every layer; the layers that "
                                    f"cost the most kept in fp32 until within {100 * ctx.guard.max_drop:g} point(s) of fp32 "
                                    f"on the {len(ctx.guard)} validation images)")
        return Built(runner, runtime_name, "int8" if int8 else "fp32", "cpu", file=path, details=details)

    return build


ONDEVICE_BUILDERS: dict[str, Callable[[BuildContext], Built]] = {name: _builder(name) for name in ONDEVICE + ONDEVICE_QAT}
BUILDERS.update(ONDEVICE_BUILDERS)  # registration: variants.py names them, run.py imports this module
