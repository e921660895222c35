"""Argument checks shared by every public function of ``cnnvit_ref``.

Every message names the function, the argument, what was expected and what was given, so
that a student who passes a wrong shape reads *what* is wrong instead of a stack trace from
inside a matmul. Where the torch twin raises for the same mistake we raise the same
exception class (``TypeError`` for a wrong type, ``ValueError`` or ``RuntimeError``-free
``ValueError`` for a wrong value or shape).
"""
from __future__ import annotations

from typing import Sequence

import torch

__all__ = [
    "fmt_shape",
    "check_tensor",
    "check_same_device_dtype",
    "pair",
    "positive_int",
    "positive_ints",
    "check_image_size",
    "non_negative_int",
]


def fmt_shape(x: torch.Tensor) -> str:
    """``(2, 3, 4)``: a tensor's shape as messages print it."""
    return "(" + ", ".join(str(s) for s in x.shape) + ")"


def check_tensor(
    fn: str,
    name: str,
    x,
    *,
    ndim: int | Sequence[int] | None = None,
    layout: str | None = None,
    floating: bool = False,
    optional: bool = False,
) -> None:
    """Raise unless ``x`` is a tensor of the expected rank.

    ``layout`` is the human-readable axis names, e.g. ``"(N, C_in, H, W)"``, used in the message.
    """
    if x is None and optional:
        return
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{fn}(): argument '{name}' must be a torch.Tensor, got {type(x).__name__}")
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if x.dim() not in allowed:
            want = " or ".join(f"{d}-D" for d in allowed)
            what = f" {layout}" if layout else ""
            raise ValueError(
                f"{fn}(): argument '{name}' must be {want}{what}, got {x.dim()}-D tensor of shape {fmt_shape(x)}"
            )
    if floating and not x.is_floating_point():
        raise TypeError(f"{fn}(): argument '{name}' must be a floating-point tensor, got dtype {x.dtype}")


def check_same_device_dtype(fn: str, reference_name: str, reference: torch.Tensor, **others) -> None:
    """Raise unless every tensor in ``others`` has the dtype and device of ``reference``."""
    for name, t in others.items():
        if t is None:
            continue
        if t.device != reference.device:
            raise ValueError(
                f"{fn}(): argument '{name}' is on {t.device} but '{reference_name}' is on {reference.device}"
            )
        if t.dtype != reference.dtype:
            raise TypeError(
                f"{fn}(): argument '{name}' has dtype {t.dtype} but '{reference_name}' has dtype {reference.dtype}"
            )


def pair(fn: str, name: str, value, *, minimum: int = 0) -> tuple[int, int]:
    """An int or a pair of ints, as torch's conv functions accept, returned as a pair."""
    if isinstance(value, bool):
        raise TypeError(f"{fn}(): argument '{name}' must be an int or a pair of ints, got bool")
    if isinstance(value, int):
        out = (value, value)
    elif isinstance(value, (tuple, list)) and len(value) == 2 and all(
        isinstance(v, int) and not isinstance(v, bool) for v in value
    ):
        out = (int(value[0]), int(value[1]))
    elif isinstance(value, (tuple, list)) and len(value) == 1 and isinstance(value[0], int):
        out = (int(value[0]), int(value[0]))
    else:
        raise TypeError(f"{fn}(): argument '{name}' must be an int or a pair of ints, got {value!r}")
    if min(out) < minimum:
        raise ValueError(f"{fn}(): argument '{name}' must be >= {minimum}, got {value!r}")
    return out


def positive_int(fn: str, name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{fn}(): argument '{name}' must be an int, got {type(value).__name__} {value!r}")
    if value < 1:
        raise ValueError(f"{fn}(): argument '{name}' must be a positive int, got {value}")
    return value


def non_negative_int(fn: str, name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{fn}(): argument '{name}' must be an int, got {type(value).__name__} {value!r}")
    if value < 0:
        raise ValueError(f"{fn}(): argument '{name}' must be >= 0, got {value}")
    return value


def positive_ints(fn: str, **values) -> tuple[int, ...]:
    """:func:`positive_int` for each keyword, in order: ``H, W = positive_ints(fn, H=H, W=W)``."""
    return tuple(positive_int(fn, name, v) for name, v in values.items())


def check_image_size(fn: str, x, in_chans: int, img_size: int) -> None:
    """Images of the one size a model was built for: (B, in_chans, img_size, img_size)."""
    check_tensor(fn, "x", x, ndim=4, layout="(B, C, H, W)")
    want = (in_chans, img_size, img_size)
    if tuple(x.shape[1:]) != want:
        raise ValueError(
            f"{fn}(): argument 'x' must have shape (B, {want[0]}, {want[1]}, {want[2]}): the model was built for "
            f"img_size = {img_size}, got {fmt_shape(x)}"
        )

