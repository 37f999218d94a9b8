"""A small valid catalog text for the catalog tests to mutate."""

from __future__ import annotations

import textwrap

VALID_ENTRY = """\
- name: resnet18
  family: ResNet
  display_name: ResNet-18
  kind: classification
  provided: true
  year: 2015
  paper: Deep Residual Learning for Image Recognition
  weights: ResNet18_Weights.IMAGENET1K_V1
  params: 11689512
  gmacs: 1.814
  crop_size: 224
  top1: 69.758
  memory_tier: medium
  speed_class: balanced
  task_builders: {classification: resnet18, multilabel: resnet18, detection: null}
  targets: [cpu-server]
  dataset_sizes: [medium, large]
"""


def catalog_text(*entries: str) -> str:
    """A schema_version 1 catalog holding `entries` (YAML list items)."""
    body = "".join(textwrap.indent(e, "  ") for e in entries)
    return f"schema_version: 1\nvariants:\n{body}"
