"""Helpers shared by the model tests (test_resnet, test_mobilenet, test_vit, test_swin)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

FIXTURES = Path(__file__).parent / "fixtures"


def load_manifest(name: str) -> dict:
    """A JSON manifest copied from shared/reference/timm (keys -> shapes, configs)."""
    return json.loads((FIXTURES / name).read_text())


def generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def randomise(module: nn.Module, seed: int = 0, scale: float = 0.3) -> nn.Module:
    """Overwrite every parameter with seeded normal values (so that nothing is accidentally zero)."""
    g = generator(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) * scale)
    return module


def state_dict_shapes(model: nn.Module) -> dict[str, list[int]]:
    """``{key: shape}`` of a state_dict, in its order: the form the timm manifests use."""
    return {k: list(v.shape) for k, v in model.state_dict().items()}


def raises(exc, fn, *args, must=(), **kwargs) -> None:
    """``fn(*args, **kwargs)`` raises ``exc`` whose message contains every word of ``must``."""
    with pytest.raises(exc) as info:
        fn(*args, **kwargs)
    for word in must:
        assert word in str(info.value), str(info.value)


def train_losses(model: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int, opt: torch.optim.Optimizer) -> list[float]:
    """Cross-entropy losses of ``steps`` optimiser steps on one batch (a tiny model must memorise it)."""
    losses = []
    for _ in range(steps):
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses
