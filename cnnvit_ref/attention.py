"""Attention: scaled dot-product, multi-head, masks, positional encodings.

Chapter
    03, ``book/03_attention.ipynb`` (exercise: ``exercises/03_attention/``)
Papers
    Vaswani et al., "Attention Is All You Need", NeurIPS 2017. https://arxiv.org/abs/1706.03762
    (Sec. 3.2.1: scaled dot-product attention; Sec. 3.2.2: multi-head attention; Sec. 3.5: sinusoidal
    positional encoding; Table 1: path length and cost per layer)
    Bahdanau, Cho, Bengio, "Neural Machine Translation by Jointly Learning to Align and Translate",
    ICLR 2015. https://arxiv.org/abs/1409.0473 (attention as a soft alignment)
    Xiong et al., "On Layer Normalization in the Transformer Architecture", ICML 2020.
    https://arxiv.org/abs/2002.04745 (the pre-norm block used by ViT)
Official code
    https://github.com/tensorflow/tensor2tensor (the Transformer); torch's ``nn.MultiheadAttention`` and
    ``F.scaled_dot_product_attention`` are the twins mirrored here
Symbols in the shape comments
    B batch, L queries, S keys/values, E = C embedding width, E_k / E_v key / value widths, heads
    attention heads, head_dim = E / heads, P positions, D encoding width, T tokens of a sequence

The formula::

    Attention(Q, K, V) = softmax(Q K^T / sqrt(d_k) + M) V        M: 0 where allowed, -inf where masked

Everything is written with explicit matmuls (``@``), never ``F.scaled_dot_product_attention``'s
fused kernels, so that ``torch.utils.flop_counter`` counts the attention's multiply-accumulates
(its CPU kernel is not counted) and so that the code shows the formula.
Signatures mirror torch: :func:`scaled_dot_product_attention` ~ ``F.scaled_dot_product_attention``
and :class:`MultiheadAttention` ~ ``nn.MultiheadAttention`` (same parameter names, so
``load_state_dict(strict=True)`` works both ways).

Two mask conventions, as in torch (a common source of bugs):

* :func:`scaled_dot_product_attention` / :func:`attention_weights`: boolean ``attn_mask`` True =
  *may attend* (takes part); a float mask is added to the scores.
* :class:`MultiheadAttention` / :func:`multi_head_attention_forward`: boolean ``attn_mask`` and
  ``key_padding_mask`` True = *masked out* (not allowed / padding); a float mask is added.

Fully masked rows (a query that may attend to nothing) give an output of zeros and zero weights,
as torch's ``F.scaled_dot_product_attention`` does, instead of the NaN of a plain softmax (which
``nn.MultiheadAttention`` returns on its ``need_weights=True`` and fast paths).
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from ._validate import check_same_device_dtype, check_tensor, positive_int, positive_ints

__all__ = [
    "scaled_dot_product_attention",
    "attention_weights",
    "causal_mask",
    "sinusoidal_position_encoding",
    "multi_head_attention_forward",
    "attention_macs",
    "MultiheadAttention",
    "FeedForward",
    "TransformerEncoderBlock",
    "TransformerClassifier",
]


# --------------------------------------------------------------------------------------------
# math helpers
# --------------------------------------------------------------------------------------------
def causal_mask(L: int, S: int | None = None, device=None) -> torch.Tensor:
    """Boolean (L, S) mask, True where query i may attend to key j, i.e. j <= i (lower triangle).

    SDPA convention (True = takes part); ``~causal_mask(L)`` is the MultiheadAttention convention.
    It is the mask that ``is_causal=True`` applies (aligned to the top-left corner when L != S).
    """
    L, S = _check_causal_mask(L, S)
    return torch.ones(L, S, dtype=torch.bool, device=device).tril()  # (L, S)


def _attention(query, key, value, mask, scale: float, dropout_p: float, training: bool = True):
    """softmax(Q K^T * scale + mask) V; returns (output, weights). The one implementation.

    ``value=None`` returns ``(None, weights)``.

    ``mask``: None, bool (True = takes part) or float (added), broadcastable to (..., L, S).
    Rows in which every key is masked get zero weights (torch's SDPA does the same): they are
    unmasked before the softmax, so no NaN reaches the forward or the backward pass, and
    zeroed after it. The fix-up works on the mask's own (small) shape, with no data-dependent
    branch, so it also runs on ``meta`` tensors.
    """
    scores = (query * scale) @ key.transpose(-2, -1)  # (..., L, S)
    fully_masked = None
    if mask is not None:
        if mask.dtype == torch.bool:
            fully_masked = ~mask.any(dim=-1, keepdim=True)  # (..., L, 1)
            scores = scores.masked_fill(~(mask | fully_masked), float("-inf"))
        else:
            fully_masked = torch.isneginf(mask).all(dim=-1, keepdim=True)  # (..., L, 1)
            scores = scores + mask.masked_fill(fully_masked, 0.0)
    weights = scores.softmax(dim=-1)  # (..., L, S)
    if fully_masked is not None:
        weights = weights.masked_fill(fully_masked, 0.0)
    if dropout_p > 0.0 and training:
        weights = F.dropout(weights, p=dropout_p, training=True)
    if value is None:  # only the weights were asked for
        return None, weights
    return weights @ value, weights  # (..., L, Ev), (..., L, S)


def _repeat_kv_heads(fn: str, query, key, value, enable_gqa: bool):
    """Grouped-query attention: repeat each K/V head for its group of query heads (dim -3)."""
    if not enable_gqa or query.dim() < 3 or key.shape[-3] == query.shape[-3]:
        return key, value
    Hq, Hkv = query.shape[-3], key.shape[-3]
    if Hq % Hkv or value.shape[-3] != Hkv:
        raise ValueError(
            f"{fn}(): with enable_gqa, the query heads ({Hq}) must be a multiple of the key/value heads "
            f"(key {Hkv}, value {value.shape[-3]}, in dim -3)"
        )
    return key.repeat_interleave(Hq // Hkv, dim=-3), value.repeat_interleave(Hq // Hkv, dim=-3)


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None,
                                 enable_gqa=False):
    """``softmax(Q K^T * scale + mask) V`` with the contract of ``F.scaled_dot_product_attention``.

    ``query`` (..., L, E), ``key`` (..., S, E), ``value`` (..., S, Ev) -> (..., L, Ev); leading
    dims broadcast. ``attn_mask`` broadcastable to (..., L, S): boolean (True = takes part) or
    float (added to the scores). ``is_causal`` masks keys j > i (top-left aligned; not together
    with ``attn_mask``). ``scale`` defaults to ``1/sqrt(E)``. Dropout is applied to the weights
    whenever ``dropout_p > 0`` (as torch: pass 0.0 in eval mode). ``enable_gqa`` lets K/V have
    fewer heads (dim -3) than Q. A query whose every key is masked gets zeros (as torch).
    Built from explicit matmuls so that ``torch.utils.flop_counter`` counts it.
    """
    fn = "scaled_dot_product_attention"
    _check_qkv(fn, query, key, value)
    mask, scale = _prepare_mask(fn, query, key, attn_mask, is_causal, scale, dropout_p)
    key, value = _repeat_kv_heads(fn, query, key, value, enable_gqa)
    out, _ = _attention(query, key, value, mask, scale, float(dropout_p))
    return out  # (..., L, Ev)


def attention_weights(query, key, attn_mask=None, is_causal=False, scale=None):
    """The attention weights ``softmax(Q K^T * scale + mask)``, (..., L, S); rows sum to 1.

    Same arguments and mask convention as :func:`scaled_dot_product_attention`, which returns
    ``attention_weights(q, k, ...) @ v``. For plotting attention maps.
    """
    fn = "attention_weights"
    _check_qkv(fn, query, key, None)
    mask, scale = _prepare_mask(fn, query, key, attn_mask, is_causal, scale, 0.0)
    _, weights = _attention(query, key, None, mask, scale, 0.0)
    return weights  # (..., L, S)


def sinusoidal_position_encoding(num_positions: int, dim: int, *, base: float = 10000.0,
                                 dtype: torch.dtype = torch.float32, device=None) -> torch.Tensor:
    """The fixed positional encoding of Vaswani et al. (2017, sec. 3.5), shape (num_positions, dim).

    ``PE[pos, 2i] = sin(pos / base^(2i/dim))`` and ``PE[pos, 2i+1] = cos(pos / base^(2i/dim))``
    (sines and cosines interleaved; an odd ``dim`` ends with a sine). Each pair (2i, 2i+1) turns
    at its own frequency ``w_i = base^(-2i/dim)``, so ``PE[pos + k]`` is ``PE[pos]`` rotated by the
    angles ``k w_i``: a linear map that depends on the offset k only, which lets attention read
    relative positions.
    """
    P, D = _check_sinusoidal_position_encoding(num_positions, dim, base)
    pos = torch.arange(P, dtype=torch.float64, device=device)[:, None]  # (P, 1)
    two_i = torch.arange(0, D, 2, dtype=torch.float64, device=device)  # (ceil(D/2),)
    freq = base ** (-two_i / D)  # (ceil(D/2),)
    angles = pos * freq  # (P, ceil(D/2))
    pe = torch.zeros(P, D, dtype=torch.float64, device=device)  # (P, D)
    pe[:, 0::2] = torch.sin(angles)
    pe[:, 1::2] = torch.cos(angles[:, : D // 2])
    return pe.to(dtype)


def attention_macs(seq_len: int, embed_dim: int, kv_len: int | None = None) -> dict[str, int]:
    """Multiply-accumulates of one multi-head attention layer (any number of heads), per sample.

    With L queries, S keys and width C: Q projection ``L C^2``, K and V projections ``2 S C^2``,
    scores ``Q K^T`` ``L S C``, weighted sum ``L S C``, output projection ``L C^2``. For
    self-attention (S = L = n) the total is ``4 n C^2 + 2 n^2 C``: linear in n for the
    projections, quadratic in n for the attention itself (Swin's Omega(MSA) with n = hw).
    """
    L, C, S = _check_attention_macs(seq_len, embed_dim, kv_len)
    parts = {
        "q_proj": L * C * C,
        "kv_proj": 2 * S * C * C,
        "scores": L * S * C,
        "weighted_sum": L * S * C,
        "out_proj": L * C * C,
    }
    parts["total"] = sum(parts.values())
    return parts


def _to_additive(mask: torch.Tensor | None, dtype: torch.dtype) -> torch.Tensor | None:
    """MultiheadAttention convention: bool True = masked out -> -inf; a float mask is kept."""
    if mask is None or mask.is_floating_point():
        return mask
    return torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill(mask, float("-inf"))


def multi_head_attention_forward(query, key, value, num_heads, in_proj_weight, in_proj_bias, out_proj_weight,
                                 out_proj_bias, key_padding_mask=None, need_weights=True, attn_mask=None,
                                 average_attn_weights=True, *, dropout_p=0.0, q_proj_weight=None,
                                 k_proj_weight=None, v_proj_weight=None):
    """Multi-head attention on batch-first tensors (the computation of ``nn.MultiheadAttention``).

    ``query`` (B, L, E), ``key`` (B, S, E_k), ``value`` (B, S, E_v); ``in_proj_weight`` (3E, E)
    stacks W_q, W_k, W_v (or pass ``in_proj_weight=None`` and ``q/k/v_proj_weight`` of shapes
    (E, E), (E, E_k), (E, E_v)); ``in_proj_bias`` (3E,) or None; ``out_proj_weight`` (E, E);
    ``out_proj_bias`` (E,) or None.

    Masks, MultiheadAttention convention (bool True = masked out; float = added to the scores):
    ``key_padding_mask`` (B, S); ``attn_mask`` (L, S) or (B * num_heads, L, S).

    Per head h (head_dim = E / num_heads): ``O_h = softmax(Q_h K_h^T / sqrt(head_dim) + M) V_h``;
    the heads are concatenated and projected: ``out = concat_h(O_h) W_o^T + b_o``.

    Returns ``(out (B, L, E), weights)``: weights are (B, L, S) averaged over heads, (B, heads, L, S)
    with ``average_attn_weights=False``, or None with ``need_weights=False``. ``dropout_p`` drops
    attention weights (pass 0.0 in eval mode).
    """
    _check_multi_head_attention_forward(query, key, value, num_heads, in_proj_weight, in_proj_bias, out_proj_weight,
                                        out_proj_bias, key_padding_mask, attn_mask, q_proj_weight, k_proj_weight,
                                        v_proj_weight)
    B, L, E = query.shape
    S = key.shape[1]
    heads = num_heads
    head_dim = E // heads

    # In-projection: one matmul for self-attention (x W^T with W = [W_q; W_k; W_v]).
    if in_proj_weight is not None:
        w_q, w_k, w_v = in_proj_weight.chunk(3)  # 3 x (E, E)
    else:
        w_q, w_k, w_v = q_proj_weight, k_proj_weight, v_proj_weight
    b_q, b_k, b_v = in_proj_bias.chunk(3) if in_proj_bias is not None else (None, None, None)

    if in_proj_weight is not None and query is key and key is value:
        qkv = F.linear(query, in_proj_weight, in_proj_bias)  # (B, L, 3E)
        qkv = qkv.view(B, L, 3, heads, head_dim).permute(2, 0, 3, 1, 4)  # (3, B, heads, L, head_dim)
        q, k, v = qkv.unbind(0)  # 3 x (B, heads, L, head_dim)
    else:
        q = F.linear(query, w_q, b_q).view(B, L, heads, head_dim).transpose(1, 2)  # (B, heads, L, head_dim)
        k = F.linear(key, w_k, b_k).view(B, S, heads, head_dim).transpose(1, 2)  # (B, heads, S, head_dim)
        v = F.linear(value, w_v, b_v).view(B, S, heads, head_dim).transpose(1, 2)  # (B, heads, S, head_dim)

    # One additive mask broadcastable to the scores (B, heads, L, S).
    mask = _to_additive(attn_mask, query.dtype)
    if mask is not None:
        mask = mask.view(1, 1, L, S) if mask.dim() == 2 else mask.view(B, heads, L, S)  # (1 or B, 1 or heads, L, S)
    if key_padding_mask is not None:
        kpm = _to_additive(key_padding_mask, query.dtype).view(B, 1, 1, S)  # (B, 1, 1, S)
        mask = kpm if mask is None else mask + kpm

    out, weights = _attention(q, k, v, mask, 1.0 / math.sqrt(head_dim), float(dropout_p))  # (B, heads, L, head_dim)
    out = out.transpose(1, 2).reshape(B, L, E)  # (B, L, E): heads concatenated
    out = F.linear(out, out_proj_weight, out_proj_bias)  # (B, L, E)
    if not need_weights:
        return out, None
    return out, (weights.mean(dim=1) if average_attn_weights else weights)  # (B, L, S) or (B, heads, L, S)


# --------------------------------------------------------------------------------------------
# blocks
# --------------------------------------------------------------------------------------------
class MultiheadAttention(nn.Module):
    """Multi-head attention with ``nn.MultiheadAttention``'s parameters and forward contract.

    Parameters: ``in_proj_weight`` (3E, E) and ``in_proj_bias`` (3E,) (or ``q_proj_weight``,
    ``k_proj_weight``, ``v_proj_weight`` when ``kdim``/``vdim`` differ from ``embed_dim``) and
    ``out_proj`` (an ``nn.Linear(E, E)``), initialised as torch does (same RNG order: the same
    seed gives the same weights). Not supported: ``add_bias_kv``, ``add_zero_attn``.

    ``forward(query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
    average_attn_weights=True, is_causal=False)``: (L, B, E) tensors, (B, L, E) with
    ``batch_first=True``, or unbatched (L, E). Returns ``(attn_output, attn_weights)`` like
    torch. ``is_causal`` is, as in torch, only a hint that ``attn_mask`` is the causal mask
    (``attn_mask`` is required with it).
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 kdim: int | None = None, vdim: int | None = None, batch_first: bool = False,
                 device=None, dtype=None):
        super().__init__()
        self.embed_dim, self.num_heads, self.kdim, self.vdim = _check_multihead_attention(embed_dim, num_heads, kdim, vdim)
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.head_dim = embed_dim // num_heads
        self.dropout = float(dropout)
        self.batch_first = bool(batch_first)
        kw = {"device": device, "dtype": dtype}
        # Same registration and initialisation order as nn.MultiheadAttention.
        if self._qkv_same_embed_dim:
            self.in_proj_weight = nn.Parameter(torch.empty(3 * embed_dim, embed_dim, **kw))
            self.register_parameter("q_proj_weight", None)
            self.register_parameter("k_proj_weight", None)
            self.register_parameter("v_proj_weight", None)
        else:
            self.q_proj_weight = nn.Parameter(torch.empty(embed_dim, embed_dim, **kw))
            self.k_proj_weight = nn.Parameter(torch.empty(embed_dim, self.kdim, **kw))
            self.v_proj_weight = nn.Parameter(torch.empty(embed_dim, self.vdim, **kw))
            self.register_parameter("in_proj_weight", None)
        if bias:
            self.in_proj_bias = nn.Parameter(torch.empty(3 * embed_dim, **kw))
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = nn.Linear(embed_dim, embed_dim, bias=bias, **kw)
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        """torch's: Xavier-uniform in-projection, zero biases; out_proj keeps nn.Linear's init."""
        if self._qkv_same_embed_dim:
            nn.init.xavier_uniform_(self.in_proj_weight)
        else:
            nn.init.xavier_uniform_(self.q_proj_weight)
            nn.init.xavier_uniform_(self.k_proj_weight)
            nn.init.xavier_uniform_(self.v_proj_weight)
        if self.in_proj_bias is not None:
            nn.init.constant_(self.in_proj_bias, 0.0)
            nn.init.constant_(self.out_proj.bias, 0.0)

    def forward(self, query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
                average_attn_weights=True, is_causal=False):
        _check_multihead_attention_forward(query, key, value, key_padding_mask, attn_mask, is_causal)
        batched = query.dim() == 3
        same = query is key and key is value
        if not batched:  # (L, E) -> (1, L, E)
            query, key, value = query.unsqueeze(0), key.unsqueeze(0), value.unsqueeze(0)
            if key_padding_mask is not None:
                key_padding_mask = key_padding_mask.unsqueeze(0)  # (1, S)
        elif not self.batch_first:  # (L, B, E) -> (B, L, E)
            query, key, value = query.transpose(0, 1), key.transpose(0, 1), value.transpose(0, 1)  # (B, L|S, E)
        if same:
            key = value = query  # keep the identity: self-attention takes the one-matmul path
        out, weights = multi_head_attention_forward(
            query, key, value, self.num_heads, self.in_proj_weight, self.in_proj_bias,
            self.out_proj.weight, self.out_proj.bias, key_padding_mask=key_padding_mask,
            need_weights=need_weights, attn_mask=attn_mask, average_attn_weights=average_attn_weights,
            dropout_p=self.dropout if self.training else 0.0, q_proj_weight=self.q_proj_weight,
            k_proj_weight=self.k_proj_weight, v_proj_weight=self.v_proj_weight,
        )
        if not batched:
            out = out.squeeze(0)  # (L, E)
            weights = weights.squeeze(0) if weights is not None else None
        elif not self.batch_first:
            out = out.transpose(0, 1)  # (L, B, E)
        return out, weights

    def extra_repr(self) -> str:
        s = f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, head_dim={self.head_dim}"
        if not self._qkv_same_embed_dim:
            s += f", kdim={self.kdim}, vdim={self.vdim}"
        if self.dropout:
            s += f", dropout={self.dropout}"
        return s + f", batch_first={self.batch_first}"


class FeedForward(nn.Module):
    """The position-wise MLP of a Transformer block: fc1 -> GELU -> dropout -> fc2."""

    def __init__(self, dim: int, hidden_dim: int, dropout: float = 0.0):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden_dim)
        self.act = nn.GELU()
        self.drop = nn.Dropout(dropout)
        self.fc2 = nn.Linear(hidden_dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.drop(self.act(self.fc1(x))))  # (..., dim)

    def extra_repr(self) -> str:
        return f"dim={self.fc1.in_features}, hidden_dim={self.fc1.out_features}"


class TransformerEncoderBlock(nn.Module):
    """A pre-norm Transformer encoder block (as in ViT), batch-first (B, N, dim)::

        x = x + dropout(MHA(LN(x)))
        x = x + dropout(MLP(LN(x)))

    The computation of ``nn.TransformerEncoderLayer(dim, num_heads, int(dim * mlp_ratio), dropout,
    activation="gelu", batch_first=True, norm_first=True)``; its weights map one-to-one
    (``self_attn`` -> ``attn``, ``linear1``/``linear2`` -> ``mlp.fc1``/``mlp.fc2``, ``norm1``/``norm2``).
    ``forward(x, attn_mask=None, key_padding_mask=None, return_attention=False)`` takes masks in
    the MultiheadAttention convention (True = masked out); with ``return_attention`` it also
    returns the per-head attention weights (B, heads, N, N) for plotting.
    """

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 4.0, dropout: float = 0.0, *,
                 layer_norm_eps: float = 1e-5):
        super().__init__()
        _check_transformer_encoder_block(dim, num_heads, mlp_ratio)
        self.dim, self.num_heads, self.mlp_ratio = dim, num_heads, mlp_ratio
        self.norm1 = nn.LayerNorm(dim, eps=layer_norm_eps)
        self.attn = MultiheadAttention(dim, num_heads, dropout=dropout, batch_first=True)
        self.drop1 = nn.Dropout(dropout)
        self.norm2 = nn.LayerNorm(dim, eps=layer_norm_eps)
        self.mlp = FeedForward(dim, int(dim * mlp_ratio), dropout)
        self.drop2 = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, attn_mask=None, key_padding_mask=None, return_attention: bool = False):
        check_tensor("TransformerEncoderBlock.forward", "x", x, ndim=3, layout="(B, N, dim)", floating=True)
        h = self.norm1(x)  # (B, N, dim)
        h, weights = self.attn(h, h, h, key_padding_mask=key_padding_mask, attn_mask=attn_mask,
                               need_weights=return_attention, average_attn_weights=False)  # (B, N, dim)
        x = x + self.drop1(h)
        x = x + self.drop2(self.mlp(self.norm2(x)))  # (B, N, dim)
        return (x, weights) if return_attention else x

    def extra_repr(self) -> str:
        return f"dim={self.dim}, num_heads={self.num_heads}, mlp_ratio={self.mlp_ratio}"


# --------------------------------------------------------------------------------------------
# a small model for the chapter's experiments
# --------------------------------------------------------------------------------------------
class TransformerClassifier(nn.Module):
    """Token embedding + positional encoding + pre-norm encoder blocks + LayerNorm + mean-pool + linear.

    ``pos_encoding``: ``"sinusoidal"`` (fixed, Vaswani et al.), ``"learned"`` (a trained table, as in
    ViT) or ``"none"``. Without positional encoding every block is permutation-equivariant and the
    mean-pool is permutation-invariant, so the model cannot tell ``A ... B`` from ``B ... A``:
    the chapter's demonstration on :func:`cnnvit_ref.data.text_order`. Padding tokens
    (``padding_idx``) are left out of the attention and of the mean.
    ``forward(tokens)``: int64 (B, T), T <= max_len -> logits (B, num_classes).
    """

    def __init__(self, vocab_size: int, num_classes: int, dim: int = 64, depth: int = 2, num_heads: int = 4,
                 mlp_ratio: float = 2.0, max_len: int = 512, pos_encoding: str = "sinusoidal",
                 dropout: float = 0.0, padding_idx: int | None = 0):
        super().__init__()
        self.max_len = _check_transformer_classifier(pos_encoding, max_len)
        self.pos_encoding = pos_encoding
        self.padding_idx = padding_idx
        self.embedding = nn.Embedding(vocab_size, dim, padding_idx=padding_idx)
        if pos_encoding == "learned":
            self.pos_embed = nn.Parameter(torch.randn(max_len, dim) * 0.02)
        elif pos_encoding == "sinusoidal":
            self.register_buffer("pos_embed", sinusoidal_position_encoding(max_len, dim), persistent=False)
        else:
            self.pos_embed = None
        self.blocks = nn.ModuleList(TransformerEncoderBlock(dim, num_heads, mlp_ratio, dropout) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        _check_tokens(tokens, self.max_len)
        B, T = tokens.shape
        x = self.embedding(tokens)  # (B, T, dim)
        if self.pos_embed is not None:
            x = x + self.pos_embed[:T]  # (B, T, dim)
        padding = tokens == self.padding_idx if self.padding_idx is not None else None  # (B, T) True = pad
        for block in self.blocks:
            x = block(x, key_padding_mask=padding)  # (B, T, dim)
        x = self.norm(x)
        if padding is None:
            pooled = x.mean(dim=1)  # (B, dim)
        else:
            keep = (~padding).unsqueeze(-1).to(x.dtype)  # (B, T, 1)
            pooled = (x * keep).sum(dim=1) / keep.sum(dim=1).clamp_min(1.0)  # (B, dim)
        return self.head(pooled)  # (B, num_classes)

    def extra_repr(self) -> str:
        return f"pos_encoding={self.pos_encoding!r}, max_len={self.max_len}"


# --------------------------------------------------------------------------------------------
# argument checks
# --------------------------------------------------------------------------------------------
def _check_causal_mask(L, S) -> tuple[int, int]:
    L = positive_int("causal_mask", "L", L)
    return L, L if S is None else positive_int("causal_mask", "S", S)


def _check_mask(fn: str, name: str, mask, query: torch.Tensor) -> None:
    if mask is None:
        return
    if not isinstance(mask, torch.Tensor):
        raise TypeError(f"{fn}(): argument '{name}' must be a torch.Tensor or None, got {type(mask).__name__}")
    if mask.dtype != torch.bool and not mask.is_floating_point():
        raise TypeError(f"{fn}(): argument '{name}' must be a bool or floating-point tensor, got dtype {mask.dtype}")
    if mask.device != query.device:
        raise ValueError(f"{fn}(): argument '{name}' is on {mask.device} but 'query' is on {query.device}")


def _check_qkv(fn: str, query, key, value) -> None:
    for name, t, layout in (("query", query, "(..., L, E)"), ("key", key, "(..., S, E)"), ("value", value, "(..., S, Ev)")):
        if t is None and name == "value":
            continue
        check_tensor(fn, name, t, layout=layout, floating=True)
        if t.dim() < 2:
            raise ValueError(f"{fn}(): argument '{name}' must be at least 2-D {layout}, got {t.dim()}-D tensor of shape {tuple(t.shape)}")
    check_same_device_dtype(fn, "query", query, key=key, value=value)
    if query.shape[-1] != key.shape[-1]:
        raise ValueError(
            f"{fn}(): query and key must have the same last dim E, got query {tuple(query.shape)} and key {tuple(key.shape)}"
        )
    if value is not None and key.shape[-2] != value.shape[-2]:
        raise ValueError(
            f"{fn}(): key and value must have the same length S (dim -2), got key {tuple(key.shape)} and value {tuple(value.shape)}"
        )


def _prepare_mask(fn: str, query, key, attn_mask, is_causal: bool, scale, dropout_p):
    """Validate the SDPA-style arguments; return (mask, scale)."""
    _check_mask(fn, "attn_mask", attn_mask, query)
    if is_causal and attn_mask is not None:
        raise ValueError(f"{fn}(): pass either 'attn_mask' or is_causal=True, not both (torch's rule)")
    if not isinstance(dropout_p, (int, float)) or isinstance(dropout_p, bool) or not 0.0 <= dropout_p <= 1.0:
        raise ValueError(f"{fn}(): argument 'dropout_p' must be a number in [0, 1], got {dropout_p!r}")
    L, S = query.shape[-2], key.shape[-2]
    if attn_mask is not None:
        try:
            torch.broadcast_shapes(attn_mask.shape, query.shape[:-2] + (L, S))
        except RuntimeError:
            raise ValueError(
                f"{fn}(): argument 'attn_mask' of shape {tuple(attn_mask.shape)} does not broadcast to the "
                f"scores' shape (..., L, S) = {tuple(query.shape[:-2]) + (L, S)}"
            ) from None
    mask = causal_mask(L, S, device=query.device) if is_causal else attn_mask
    scale = 1.0 / math.sqrt(query.shape[-1]) if scale is None else float(scale)
    return mask, scale


def _check_sinusoidal_position_encoding(num_positions, dim, base) -> tuple[int, int]:
    fn = "sinusoidal_position_encoding"
    if not isinstance(base, (int, float)) or isinstance(base, bool) or base <= 1.0:
        raise ValueError(f"{fn}(): argument 'base' must be a number > 1, got {base!r}")
    return positive_ints(fn, num_positions=num_positions, dim=dim)


def _check_attention_macs(seq_len, embed_dim, kv_len) -> tuple[int, int, int]:
    L, C = positive_ints("attention_macs", seq_len=seq_len, embed_dim=embed_dim)
    return L, C, L if kv_len is None else positive_int("attention_macs", "kv_len", kv_len)


def _check_multi_head_attention_forward(query, key, value, num_heads, in_proj_weight, in_proj_bias, out_proj_weight,
                                        out_proj_bias, key_padding_mask, attn_mask, q_proj_weight, k_proj_weight,
                                        v_proj_weight) -> None:
    fn = "multi_head_attention_forward"
    check_tensor(fn, "query", query, ndim=3, layout="(B, L, E)", floating=True)
    check_tensor(fn, "key", key, ndim=3, layout="(B, S, E_k)", floating=True)
    check_tensor(fn, "value", value, ndim=3, layout="(B, S, E_v)", floating=True)
    B, L, E = query.shape
    S = key.shape[1]
    heads = positive_int(fn, "num_heads", num_heads)
    if E % heads:
        raise ValueError(f"{fn}(): embed_dim E = {E} must be divisible by num_heads = {heads}")
    if key.shape[0] != B or value.shape[0] != B or value.shape[1] != S:
        raise ValueError(
            f"{fn}(): query (B, L, E), key (B, S, E_k) and value (B, S, E_v) must agree on B and S, got "
            f"query {tuple(query.shape)}, key {tuple(key.shape)}, value {tuple(value.shape)}"
        )
    check_same_device_dtype(fn, "query", query, key=key, value=value, in_proj_weight=in_proj_weight,
                            in_proj_bias=in_proj_bias, out_proj_weight=out_proj_weight, out_proj_bias=out_proj_bias)
    _check_mask(fn, "key_padding_mask", key_padding_mask, query)
    _check_mask(fn, "attn_mask", attn_mask, query)
    if key_padding_mask is not None and tuple(key_padding_mask.shape) != (B, S):
        raise ValueError(
            f"{fn}(): argument 'key_padding_mask' must have shape (B, S) = {(B, S)}, got {tuple(key_padding_mask.shape)}"
        )
    if attn_mask is not None and tuple(attn_mask.shape) not in ((L, S), (B * heads, L, S)):
        raise ValueError(
            f"{fn}(): argument 'attn_mask' must have shape (L, S) = {(L, S)} or (B * num_heads, L, S) = "
            f"{(B * heads, L, S)}, got {tuple(attn_mask.shape)}"
        )
    if in_proj_weight is not None:
        check_tensor(fn, "in_proj_weight", in_proj_weight, ndim=2, layout="(3E, E)")
        if tuple(in_proj_weight.shape) != (3 * E, E) or key.shape[2] != E or value.shape[2] != E:
            raise ValueError(
                f"{fn}(): argument 'in_proj_weight' must have shape (3E, E) = {(3 * E, E)} with key and value of "
                f"width E (else pass q/k/v_proj_weight), got {tuple(in_proj_weight.shape)}, key width "
                f"{key.shape[2]}, value width {value.shape[2]}"
            )
    else:
        for name, w, width in (("q_proj_weight", q_proj_weight, E), ("k_proj_weight", k_proj_weight, key.shape[2]),
                               ("v_proj_weight", v_proj_weight, value.shape[2])):
            check_tensor(fn, name, w, ndim=2, layout="(E, E_in)")
            if tuple(w.shape) != (E, width):
                raise ValueError(f"{fn}(): argument '{name}' must have shape {(E, width)}, got {tuple(w.shape)}")
    if in_proj_bias is not None and tuple(in_proj_bias.shape) != (3 * E,):
        raise ValueError(
            f"{fn}(): argument 'in_proj_bias' must have shape (3E,) = {(3 * E,)}, got {tuple(in_proj_bias.shape)}"
        )


def _check_multihead_attention(embed_dim, num_heads, kdim, vdim) -> tuple[int, int, int, int]:
    fn = "MultiheadAttention"
    embed_dim, num_heads = positive_ints(fn, embed_dim=embed_dim, num_heads=num_heads)
    if embed_dim % num_heads:
        raise ValueError(f"{fn}(): embed_dim = {embed_dim} must be divisible by num_heads = {num_heads}")
    kdim = embed_dim if kdim is None else positive_int(fn, "kdim", kdim)
    vdim = embed_dim if vdim is None else positive_int(fn, "vdim", vdim)
    return embed_dim, num_heads, kdim, vdim


def _check_multihead_attention_forward(query, key, value, key_padding_mask, attn_mask, is_causal) -> None:
    fn = "MultiheadAttention.forward"
    for name, t in (("query", query), ("key", key), ("value", value)):
        check_tensor(fn, name, t, ndim=(2, 3), layout="(B, L, E) / (L, B, E) or unbatched (L, E)")
    if key.dim() != query.dim() or value.dim() != query.dim():
        raise ValueError(f"{fn}(): query, key and value must all be batched (3-D) or all unbatched (2-D), got "
                         f"{query.dim()}-D, {key.dim()}-D, {value.dim()}-D")
    if is_causal and attn_mask is None:
        raise ValueError(f"{fn}(): is_causal=True is only a hint that attn_mask is causal; pass attn_mask too "
                         "(as nn.MultiheadAttention requires)")
    if query.dim() == 2 and key_padding_mask is not None:
        check_tensor(fn, "key_padding_mask", key_padding_mask, ndim=1, layout="(S,) for unbatched input")


def _check_transformer_encoder_block(dim, num_heads, mlp_ratio) -> None:
    fn = "TransformerEncoderBlock"
    positive_ints(fn, dim=dim, num_heads=num_heads)
    if not isinstance(mlp_ratio, (int, float)) or mlp_ratio <= 0:
        raise ValueError(f"{fn}(): argument 'mlp_ratio' must be a positive number, got {mlp_ratio!r}")


def _check_transformer_classifier(pos_encoding, max_len) -> int:
    fn = "TransformerClassifier"
    if pos_encoding not in ("sinusoidal", "learned", "none"):
        raise ValueError(
            f"{fn}(): argument 'pos_encoding' must be 'sinusoidal', 'learned' or 'none', got {pos_encoding!r}"
        )
    return positive_int(fn, "max_len", max_len)


def _check_tokens(tokens, max_len: int) -> None:
    fn = "TransformerClassifier.forward"
    check_tensor(fn, "tokens", tokens, ndim=2, layout="(B, T) token ids")
    if tokens.shape[1] > max_len:
        raise ValueError(f"{fn}(): sequences must be at most max_len = {max_len} long, got T = {tokens.shape[1]}")
