"""The model zoo: every preset of the course, built by name.

    >>> from cnnvit_ref import models
    >>> model = models.create("resnet50")            # the paper configuration, timm's state_dict layout
    >>> with torch.device("meta"):                    # no memory: for counting parameters and MACs
    ...     big = models.create("swin_base_patch4_window7_224")

Each chapter module registers its presets with :func:`register`; a preset's docstring cites the
table its configuration and published sizes come from. Short aliases (``"swin_t"``) map to the
timm names (``"swin_tiny_patch4_window7_224"``), which are the canonical ones.
"""
from __future__ import annotations

import fnmatch
import importlib
from typing import Callable

import torch.nn as nn

__all__ = ["register", "create", "list_models", "resolve_name"]

# Modules that define presets, imported on the first call of create()/list_models().
_PRESET_MODULES = ("resnet", "mobilenet", "vit", "swin", "hybrid")

_REGISTRY: dict[str, Callable[..., nn.Module]] = {}
_ALIASES: dict[str, str] = {}


def register(fn: Callable[..., nn.Module] | None = None, *, aliases: tuple[str, ...] = ()):
    """Decorator: register a preset under its function name (and optional aliases)."""

    def _do(f: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if getattr(f, "__module__", "").startswith("cnnvit_ref._graded_copy_of_"):
            # grading.reference() re-executes a chapter module privately; its presets must not
            # replace the real ones (create() would then return the copy's classes).
            return f
        _REGISTRY[f.__name__] = f
        for a in aliases:
            _ALIASES[a] = f.__name__
        return f

    return _do(fn) if fn is not None else _do


def _load_presets() -> None:
    for name in _PRESET_MODULES:
        try:
            importlib.import_module(f"cnnvit_ref.{name}")
        except ModuleNotFoundError as e:  # a chapter module that does not exist yet
            if e.name != f"cnnvit_ref.{name}":
                raise


def resolve_name(name: str) -> str:
    """The canonical (timm) name of a preset or alias."""
    _load_presets()
    if not isinstance(name, str):
        raise TypeError(f"create(): argument 'name' must be a str, got {type(name).__name__}")
    canonical = _ALIASES.get(name, name)
    if canonical not in _REGISTRY:
        raise ValueError(
            f"create(): unknown model name {name!r}; available: {', '.join(list_models())}"
        )
    return canonical


def create(name: str, **kwargs) -> nn.Module:
    """Build the preset ``name`` (keyword arguments override its configuration, e.g. ``num_classes``)."""
    return _REGISTRY[resolve_name(name)](**kwargs)


def list_models(pattern: str = "*") -> list[str]:
    """Canonical names of the registered presets matching a glob ``pattern``."""
    _load_presets()
    return sorted(n for n in _REGISTRY if fnmatch.fnmatch(n, pattern))
