"""Counting parameters and multiply-accumulates (MACs).

Unit: papers report multiply-accumulates and call them "FLOPs" (ResNet-50 "3.8 x 10^9 FLOPs",
Swin-T "4.5G FLOPs"). ``torch.utils.flop_counter.FlopCounterMode`` counts 2 FLOPs per MAC for
matmuls and convolutions, and nothing for norms, softmax, activations or element-wise ops.
:func:`count_macs` returns MACs = FlopCounterMode's total / 2, i.e. the papers' unit.

Counting runs on the ``meta`` device when the model's parameters are there, so even Swin-B
costs no memory: build it under ``with torch.device("meta"):`` or pass the preset's name.
Attention in ``cnnvit_ref`` is written with explicit matmuls, which the counter sees (the CPU
kernel of ``F.scaled_dot_product_attention`` is not counted by torch; COURSE.md §9).
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn
from torch.utils.flop_counter import FlopCounterMode

__all__ = ["count_params", "count_macs", "count_macs_by_module"]


def count_params(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (shared parameters counted once)."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"count_params(): argument 'model' must be an nn.Module, got {type(model).__name__}")
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def _prepare(model, input_size: Sequence[int], fn: str = "count_macs"):
    if isinstance(model, str):
        from . import models

        with torch.device("meta"):
            model = models.create(model)
    if not isinstance(model, nn.Module):
        raise TypeError(f"{fn}(): argument 'model' must be an nn.Module or a preset name, got {type(model).__name__}")
    if not (
        isinstance(input_size, (tuple, list))
        and len(input_size) > 0
        and all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in input_size)
    ):
        raise ValueError(
            f"{fn}(): argument 'input_size' must be a tuple of positive ints, e.g. (1, 3, 224, 224), got {input_size!r}"
        )
    p = next(iter(model.parameters()), None)
    dev = p.device if p is not None else torch.device("meta")
    dtype = p.dtype if p is not None and p.is_floating_point() else torch.float32
    x = torch.zeros(tuple(input_size), device=dev, dtype=dtype)
    return model, x


def _run(model: nn.Module, x: torch.Tensor) -> FlopCounterMode:
    was_training = model.training
    model.eval()
    counter = FlopCounterMode(display=False)
    try:
        with torch.no_grad(), counter:
            model(x)
    finally:
        model.train(was_training)
    return counter


def count_macs(model: nn.Module | str, input_size: Sequence[int]) -> int:
    """Multiply-accumulates of one forward pass on an input of ``input_size`` (papers' "FLOPs")."""
    model, x = _prepare(model, input_size)
    return _run(model, x).get_total_flops() // 2


def count_macs_by_module(model: nn.Module | str, input_size: Sequence[int]) -> dict[str, int]:
    """MACs per module (dotted names as in ``named_modules``; ``""`` is the whole model)."""
    model, x = _prepare(model, input_size, "count_macs_by_module")
    counts = _run(model, x).get_flop_counts()
    out = {}
    for name, per_op in counts.items():
        key = "" if name == "Global" else name.split(".", 1)[1] if "." in name else ""
        out[key] = sum(per_op.values()) // 2
    return out
