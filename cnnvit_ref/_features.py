"""Which intermediate features a model's ``forward_intermediates`` returns, as timm decides it.

Chapter
    07, ``book/07_representations.ipynb`` (exercise: ``exercises/07_representations/``)
Official code
    timm's ``timm/models/_features.py`` (``feature_take_indices``), used by every timm model's
    ``forward_intermediates(x, indices=None, norm=False, stop_early=False, output_fmt='NCHW',
    intermediates_only=False)``.

``indices`` means what it means in timm: ``None`` takes every feature, an int ``n`` the last ``n``,
a sequence takes those positions (negative ones count from the end). The checks raise ``ValueError``
naming the model's method, the argument, what was expected and what was given.
"""
from __future__ import annotations

from typing import Sequence

import torch

from ._validate import check_tensor, fmt_shape

__all__ = ["feature_take_indices", "check_forward_intermediates"]


def feature_take_indices(
    fn: str, num_features: int, indices: int | Sequence[int] | None = None
) -> tuple[list[int], int]:
    """``(take, max_index)``: the absolute positions (0 .. num_features - 1) that ``indices`` selects.

    ``None`` -> all; ``n`` -> the last ``n``; ``[0, -1]`` -> the first and the last.
    """
    if indices is None:
        indices = num_features
    if isinstance(indices, bool):
        raise TypeError(f"{fn}(): argument 'indices' must be None, an int or a sequence of ints, got bool")
    if isinstance(indices, int):
        if not 0 < indices <= num_features:
            raise ValueError(
                f"{fn}(): argument 'indices' as an int takes the last n features and must be in "
                f"1..{num_features}, got {indices}"
            )
        take = list(range(num_features - indices, num_features))
    elif isinstance(indices, (list, tuple)):
        take = []
        for i in indices:
            if isinstance(i, bool) or not isinstance(i, int):
                raise TypeError(f"{fn}(): argument 'indices' must hold ints, got {i!r}")
            j = num_features + i if i < 0 else i
            if not 0 <= j < num_features:
                raise ValueError(
                    f"{fn}(): argument 'indices' holds {i}, outside -{num_features}..{num_features - 1} "
                    f"for a model with {num_features} features"
                )
            take.append(j)
        if not take:
            raise ValueError(f"{fn}(): argument 'indices' must not be empty")
    else:
        raise TypeError(
            f"{fn}(): argument 'indices' must be None, an int or a sequence of ints, got {type(indices).__name__}"
        )
    return take, max(take)


def check_forward_intermediates(
    fn: str,
    x,
    in_chans: int,
    output_fmt: str,
    formats: tuple[str, ...],
    num_features: int,
    indices: int | Sequence[int] | None,
    img_size: int | None = None,
) -> tuple[list[int], int]:
    """Check the images and ``output_fmt`` of a ``forward_intermediates`` call; return
    :func:`feature_take_indices` of ``indices`` (the one guard statement of that method)."""
    check_tensor(fn, "x", x, ndim=4, layout="(B, C, H, W)", floating=True)
    B, C, H, W = x.shape
    if C != in_chans:
        raise ValueError(f"{fn}(): argument 'x' must have {in_chans} channels (dim 1), got shape {fmt_shape(x)}")
    if img_size is not None and (H, W) != (img_size, img_size):
        raise ValueError(
            f"{fn}(): argument 'x' must have shape (B, {in_chans}, {img_size}, {img_size}), got {fmt_shape(x)}"
        )
    if output_fmt not in formats:
        raise ValueError(f"{fn}(): argument 'output_fmt' must be one of {list(formats)}, got {output_fmt!r}")
    return feature_take_indices(fn, num_features, indices)
