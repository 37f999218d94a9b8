"""Quantisation-aware training (QAT) for `hoot optimize`'s on-device INT8 variants (`*-int8-qat`).

Post-training INT8 rounds the trained weights and activations onto an 8-bit grid once; on the
depthwise mobile models that cost up to 2.5 points of top-1 here (docs/measurements.md). QAT lets the
weights learn the grid: the runtime's own quantiser inserts fake quantisers (the adapter does that,
`hoot.bench.ondevice.base.Int8Finetune`), calibration sets their ranges, and `QatFinetune` trains the
result a few epochs on the run's training split with the run's loss and augmentation, from the
trained weights at a small learning rate (PyTorch's QAT recipe: SGD, momentum 0.9, lr 1e-4).

- BatchNorm statistics and dropout stay frozen (the graph is exported in eval mode): the run's
  statistics were re-estimated on its training images (trainer.training.loop.recalibrate_bn), and
  a few hundred steps at a small batch would only add noise to them.
- The epoch kept is the best on the validation split, epoch 0 being the calibrated quantisers before
  any step, so training that makes the model worse on validation is not shipped (it can: nncf's
  trainable quantiser scales took shufflenet_v2_x1_0 from 0.78 to 0.47 in two epochs at lr 1e-4).
  Epoch 0 is not the post-training file (QAT observers are moving averages), so optimize shows both
  rows. The validation split already chose the winner and its epoch; the held-out test split still
  gives the row's figure.
- Part of a QAT row's change can be the extra training rather than int8: the record keeps the
  validation score per epoch, and benchmarks/ondevice_speed.py --qat measures an fp32 control that
  takes the same steps.
"""

from __future__ import annotations

import copy
import logging
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch

from hoot.trainer.data.pipeline import Normalizer, SeededSampler, epoch_batches, mix_seed, train_batch

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class QatOptions:
    """How long and how fast the quantised model trains (`hoot optimize --qat-epochs/--qat-lr`)."""

    epochs: int = 2
    lr: float = 1e-4
    batch_size: int = 32
    seed: int = 0


class QatFinetune:
    """The `Int8Finetune` an on-device adapter calls: trains the fake-quantised module in place and keeps the
    epoch best on validation. `record` says what it did, for the row's details."""

    def __init__(self, task: Any, train: Any, loss: torch.nn.Module, norm: Normalizer,
                 score_validation: Callable[[Callable[[np.ndarray], np.ndarray]], float] | None,
                 options: QatOptions = QatOptions()) -> None:
        self.task, self.train, self.loss, self.norm = task, train, loss, norm
        self.score_validation, self.options = score_validation, options
        self.record: dict = {}

    def _predict(self, module: torch.nn.Module) -> Callable[[np.ndarray], np.ndarray]:
        def predict(x: np.ndarray) -> np.ndarray:
            with torch.no_grad():
                return self.task.export_outputs(module, torch.from_numpy(x)).float().numpy()
        return predict

    def _score(self, module: torch.nn.Module) -> float | None:
        return None if self.score_validation is None else round(float(self.score_validation(self._predict(module))), 4)

    def __call__(self, module: torch.nn.Module) -> None:
        opts = self.options
        t0 = time.perf_counter()
        params = [p for p in module.parameters() if p.requires_grad]
        optimizer = torch.optim.SGD(params, lr=opts.lr, momentum=0.9)
        sampler = SeededSampler(len(self.train), opts.seed)
        scores = [self._score(module)]
        best = (scores[0], 0, copy.deepcopy(module.state_dict()))
        steps = 0
        for epoch in range(1, opts.epochs + 1):
            for idx in epoch_batches(sampler, epoch, min(opts.batch_size, len(self.train))):
                x, y = train_batch(self.train, np.sort(idx), mix_seed(opts.seed, 7_000_003, steps), self.norm,
                                   torch.device("cpu"), augment_fn=self.task.augment)
                loss = self.loss(module, x, y)
                if not torch.isfinite(loss):
                    raise FloatingPointError(f"QAT loss became {float(loss.detach())} at step {steps}; lower --qat-lr "
                                             f"(now {opts.lr:g})")
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                steps += 1
            scores.append(self._score(module))
            log.info("QAT epoch %d/%d: validation %s", epoch, opts.epochs, scores[-1])
            if scores[-1] is None or best[0] is None or scores[-1] > best[0]:
                best = (scores[-1], epoch, copy.deepcopy(module.state_dict()))
        module.load_state_dict(best[2])
        self.record = {"epochs": opts.epochs, "lr": opts.lr, "optimizer": "SGD momentum 0.9", "batch_size": opts.batch_size,
                       "steps": steps, "train_images": len(self.train), "validation_by_epoch": scores,
                       "kept_epoch": best[1], "batchnorm": "frozen (the run's statistics)", "seconds": round(time.perf_counter() - t0, 1)}
