"""Model builders that misbehave on purpose, loaded by path into the bench child process.

The runner is told `builder="<this file>:build"`; which misbehaviour a variant gets is
chosen by its name, so one run exercises every failure path.
"""

from __future__ import annotations

import os
import signal

import torch
from torch import nn

BEHAVIOUR = {
    "resnet34": "crash",  # the child dies (SIGABRT) while building
    "resnet50": "raise",  # the builder raises
    "resnet101": "oom",  # the forward pass runs out of memory
    "resnet152": "killed",  # the child is SIGKILLed, as the OOM killer does
    "efficientnet_b7": "slow",  # each forward sleeps, for interrupt tests
    "resnext50_32x4d": "unexportable",  # an op ONNX (opset 17) has no export for
}


class Tiny(nn.Module):
    """A small real network (conv, BN, pool, linear)."""

    def __init__(self, behaviour: str = "ok"):
        super().__init__()
        self.behaviour = behaviour
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.AdaptiveAvgPool2d(1))
        self.fc = nn.Linear(8, 10)

    def forward(self, x):
        if self.behaviour == "oom":
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB (fake)")
        if self.behaviour == "slow":
            import time

            time.sleep(0.2)
        if self.behaviour == "unexportable":
            return torch.linalg.svdvals(self.body(x).flatten(1).unsqueeze(0))
        return self.fc(self.body(x).flatten(1))


def build(name, task="classification", num_classes=None, pretrained=False, catalog=None):
    behaviour = BEHAVIOUR.get(name, "ok")
    if behaviour == "crash":
        os.abort()
    if behaviour == "raise":
        raise ValueError(f"cannot build {name} (fake)")
    if behaviour == "killed":
        os.kill(os.getpid(), signal.SIGKILL)
    return Tiny(behaviour)
