"""Chapter 03: attention. (Being written; the function below is the stable contract.)

Vaswani et al., "Attention Is All You Need", NeurIPS 2017. https://arxiv.org/abs/1706.03762
"""
from __future__ import annotations

import math

import torch

from ._validate import check_tensor


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None):
    """softmax(Q K^T * scale + mask) V with the contract of ``F.scaled_dot_product_attention``.

    Built from explicit matmuls so that ``torch.utils.flop_counter`` counts it.
    ``attn_mask``: boolean (True = take part) or additive float, broadcastable to (..., L, S).
    """
    fn = "scaled_dot_product_attention"
    check_tensor(fn, "query", query, ndim=(2, 3, 4, 5), layout="(..., L, E)")
    check_tensor(fn, "key", key, ndim=(2, 3, 4, 5), layout="(..., S, E)")
    check_tensor(fn, "value", value, ndim=(2, 3, 4, 5), layout="(..., S, Ev)")
    if query.shape[-1] != key.shape[-1]:
        raise ValueError(f"{fn}(): query and key must have the same last dim E, got {query.shape[-1]} and {key.shape[-1]}")
    if key.shape[-2] != value.shape[-2]:
        raise ValueError(f"{fn}(): key and value must have the same length S, got {key.shape[-2]} and {value.shape[-2]}")
    L, S = query.shape[-2], key.shape[-2]
    scale = 1.0 / math.sqrt(query.shape[-1]) if scale is None else scale
    attn = (query * scale) @ key.transpose(-2, -1)  # (..., L, S)
    if is_causal:
        causal = torch.ones(L, S, dtype=torch.bool, device=query.device).tril()
        attn = attn.masked_fill(~causal, float("-inf"))
    if attn_mask is not None:
        if attn_mask.dtype == torch.bool:
            attn = attn.masked_fill(~attn_mask, float("-inf"))
        else:
            attn = attn + attn_mask
    attn = attn.softmax(dim=-1)  # (..., L, S)
    if dropout_p > 0.0:
        attn = torch.nn.functional.dropout(attn, p=dropout_p)
    return attn @ value  # (..., L, Ev)
