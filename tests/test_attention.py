"""cnnvit_ref.attention against torch's own attention (F.scaled_dot_product_attention,
nn.MultiheadAttention, F.multi_head_attention_forward, nn.TransformerEncoderLayer), the FLOP
counter, the positional-encoding formula evaluated in numpy, and exact identities."""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from cnnvit_ref import attention as A

D = torch.float64


def randn(*shape, seed=0, grad=False):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=D).requires_grad_(grad)


def weighted_grads(out, inputs, seed=99):
    outs = out if isinstance(out, (tuple, list)) else (out,)
    loss = sum((o * randn(*o.shape, seed=seed + i)).sum() for i, o in enumerate(outs) if o is not None)
    return torch.autograd.grad(loss, inputs, allow_unused=True)


def close(a, b, tol=1e-10):
    assert a.shape == b.shape, (a.shape, b.shape)
    torch.testing.assert_close(a, b, atol=tol, rtol=tol)


# ------------------------------------------------------------------------------------------
# scaled_dot_product_attention vs F.scaled_dot_product_attention
# ------------------------------------------------------------------------------------------
SHAPES = [  # (query, key, value)
    ((5, 8), (7, 8), (7, 4)),  # 2-D
    ((2, 5, 8), (2, 7, 8), (2, 7, 8)),  # 3-D
    ((2, 3, 5, 8), (2, 3, 7, 8), (2, 3, 7, 6)),  # 4-D, Ev != E
    ((2, 3, 6, 4), (1, 3, 6, 4), (1, 3, 6, 4)),  # broadcast batch dims
    ((2, 2, 3, 4, 8), (2, 2, 3, 9, 8), (2, 2, 3, 9, 8)),  # 5-D
]


def _masks(L, S, q_shape):
    g = torch.Generator().manual_seed(5)
    bool_2d = torch.rand(L, S, generator=g) > 0.3
    bool_2d[:, 0] = True  # no fully masked row here (tested separately)
    bool_b = torch.rand(q_shape[:-2] + (L, S), generator=g) > 0.3
    bool_b[..., 0] = True
    return [
        {},
        {"is_causal": True},
        {"attn_mask": bool_2d},
        {"attn_mask": bool_b},
        {"attn_mask": randn(L, S, seed=6)},
        {"attn_mask": randn(*(q_shape[:-2] + (1, S)), seed=7)},  # broadcast over queries
        {"scale": 0.37},
        {"is_causal": True, "scale": 2.0},
    ]


@pytest.mark.parametrize("shapes", SHAPES, ids=lambda s: "x".join(map(str, s[0])))
def test_sdpa_matches_torch_outputs_and_gradients(shapes):
    qs, ks, vs = shapes
    for kw in _masks(qs[-2], ks[-2], qs):
        q, k, v = randn(*qs, seed=1, grad=True), randn(*ks, seed=2, grad=True), randn(*vs, seed=3, grad=True)
        got = A.scaled_dot_product_attention(q, k, v, **kw)
        exp = F.scaled_dot_product_attention(q, k, v, **kw)
        close(got, exp)
        for g, e in zip(weighted_grads(got, [q, k, v]), weighted_grads(exp, [q, k, v])):
            close(g, e)


def test_sdpa_float_mask_gradient_matches_torch():
    q, k, v = randn(2, 4, 8, seed=1), randn(2, 6, 8, seed=2), randn(2, 6, 8, seed=3)
    m1, m2 = randn(4, 6, seed=4, grad=True), randn(4, 6, seed=4, grad=True)
    (g1,) = weighted_grads(A.scaled_dot_product_attention(q, k, v, attn_mask=m1), [m1])
    (g2,) = weighted_grads(F.scaled_dot_product_attention(q, k, v, attn_mask=m2), [m2])
    close(g1, g2)


def test_sdpa_enable_gqa_matches_torch():
    q, k, v = randn(2, 6, 5, 8, seed=1, grad=True), randn(2, 2, 7, 8, seed=2, grad=True), randn(2, 2, 7, 4, seed=3, grad=True)
    got = A.scaled_dot_product_attention(q, k, v, enable_gqa=True)
    exp = F.scaled_dot_product_attention(q, k, v, enable_gqa=True)
    close(got, exp)
    for g, e in zip(weighted_grads(got, [q, k, v]), weighted_grads(exp, [q, k, v])):
        close(g, e)


def test_sdpa_dropout_matches_torch_with_the_same_seed():
    q, k, v = randn(2, 3, 5, 8, seed=1), randn(2, 3, 7, 8, seed=2), randn(2, 3, 7, 8, seed=3)
    torch.manual_seed(0)
    exp = F.scaled_dot_product_attention(q, k, v, dropout_p=0.4)
    torch.manual_seed(0)
    got = A.scaled_dot_product_attention(q, k, v, dropout_p=0.4)
    close(got, exp)
    assert torch.equal(A.scaled_dot_product_attention(q, k, v, dropout_p=1.0), torch.zeros(2, 3, 5, 8, dtype=D))


@pytest.mark.parametrize("kind", ["bool", "float"])
def test_fully_masked_rows_give_zeros_and_zero_gradients_like_torch(kind):
    q, k, v = randn(2, 4, 8, seed=1, grad=True), randn(2, 6, 8, seed=2, grad=True), randn(2, 6, 8, seed=3, grad=True)
    allowed = torch.ones(2, 4, 6, dtype=torch.bool)
    allowed[0, 1] = False  # query 1 of sample 0 may attend to nothing
    allowed[1, :, 3] = False
    mask = allowed if kind == "bool" else torch.zeros(2, 4, 6, dtype=D).masked_fill(~allowed, float("-inf"))
    got = A.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    exp = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    assert torch.equal(exp[0, 1], torch.zeros(8, dtype=D))  # torch's behaviour, checked
    close(got, exp)
    gg, ge = weighted_grads(got, [q, k, v]), weighted_grads(exp, [q, k, v])
    for g, e in zip(gg, ge):
        assert torch.isfinite(g).all()
        close(g, e)
    w = A.attention_weights(q, k, attn_mask=mask)
    assert torch.equal(w[0, 1], torch.zeros(6, dtype=D))


def test_is_causal_equals_explicit_triangular_mask():
    q, k, v = randn(3, 5, 8, seed=1), randn(3, 7, 8, seed=2), randn(3, 7, 8, seed=3)
    tri = torch.tensor([[j <= i for j in range(7)] for i in range(5)])
    assert torch.equal(A.causal_mask(5, 7), tri)
    assert torch.equal(A.scaled_dot_product_attention(q, k, v, is_causal=True),
                       A.scaled_dot_product_attention(q, k, v, attn_mask=tri))
    # MultiheadAttention's convention is the complement: torch's float causal mask is -inf above the diagonal
    square = nn.Transformer.generate_square_subsequent_mask(6)
    assert torch.equal(A.causal_mask(6), square == 0)


def test_attention_weights_rows_sum_to_one_and_times_v_is_sdpa():
    q, k, v = randn(2, 3, 5, 8, seed=1), randn(2, 3, 7, 8, seed=2), randn(2, 3, 7, 4, seed=3)
    for kw in ({}, {"is_causal": True}, {"attn_mask": randn(5, 7, seed=4)}):
        w = A.attention_weights(q, k, **kw)
        assert w.shape == (2, 3, 5, 7)
        close(w.sum(-1), torch.ones(2, 3, 5, dtype=D), tol=1e-12)
        close(w @ v, F.scaled_dot_product_attention(q, k, v, **kw))


def test_sdpa_matmuls_are_counted_by_the_flop_counter():
    B, H, L, S, E = 2, 3, 5, 7, 8
    q, k, v = torch.randn(B, H, L, E), torch.randn(B, H, S, E), torch.randn(B, H, S, E)
    with FlopCounterMode(display=False) as counter:
        A.scaled_dot_product_attention(q, k, v)
    assert counter.get_total_flops() == 2 * (2 * B * H * L * S * E)


def test_self_attention_without_positions_is_permutation_equivariant():
    torch.manual_seed(0)
    mha = A.MultiheadAttention(16, 4, batch_first=True).double()
    x = randn(2, 9, 16, seed=1)
    perm = torch.randperm(9, generator=torch.Generator().manual_seed(2))
    out, w = mha(x, x, x)
    out_p, w_p = mha(x[:, perm], x[:, perm], x[:, perm])
    close(out_p, out[:, perm], tol=1e-12)  # f(P x) = P f(x)
    close(w_p, w[:, perm][:, :, perm], tol=1e-12)  # weights permute on both axes
    # positional encodings break the symmetry
    pe = A.sinusoidal_position_encoding(9, 16, dtype=D)
    y, _ = mha(x + pe, x + pe, x + pe)
    xp = x[:, perm] + pe
    y_p, _ = mha(xp, xp, xp)
    assert not torch.allclose(y_p, y[:, perm], atol=1e-6)


# ------------------------------------------------------------------------------------------
# MultiheadAttention vs nn.MultiheadAttention
# ------------------------------------------------------------------------------------------
def _mha_pair(E=16, H=4, seed=3, **kw):
    torch.manual_seed(seed)
    ours = A.MultiheadAttention(E, H, **kw).double()
    torch.manual_seed(seed)
    theirs = nn.MultiheadAttention(E, H, **kw).double()
    return ours, theirs


@pytest.mark.parametrize("kw", [{}, {"bias": False}, {"kdim": 6, "vdim": 10}, {"batch_first": True}],
                         ids=["default", "nobias", "kdim_vdim", "batch_first"])
def test_mha_parameters_init_and_state_dict_match_torch(kw):
    ours, theirs = _mha_pair(**kw)
    sd_o, sd_t = ours.state_dict(), theirs.state_dict()
    assert sorted(sd_o) == sorted(sd_t)
    for k, v in sd_t.items():
        assert torch.equal(sd_o[k], v), k  # same names, shapes and (same RNG order) values
    theirs.load_state_dict(sd_o, strict=True)
    ours.load_state_dict(sd_t, strict=True)


def _mha_case_inputs(batch_first, cross, kdim=16, vdim=16, B=2, L=5, S=7, E=16, seed=1):
    S = S if cross else L
    def shape(n, e):
        return (B, n, e) if batch_first else (n, B, e)
    q = randn(*shape(L, E), seed=seed, grad=True)
    if not cross:
        return q, q, q, L, S
    return q, randn(*shape(S, kdim), seed=seed + 1, grad=True), randn(*shape(S, vdim), seed=seed + 2, grad=True), L, S


def _masks_mha(B, H, L, S):
    g = torch.Generator().manual_seed(8)
    kpm = torch.zeros(B, S, dtype=torch.bool)
    kpm[0, -2:] = True
    am_bool = torch.rand(L, S, generator=g) > 0.7
    am_bool[:, 0] = False
    am3 = torch.rand(B * H, L, S, generator=g) > 0.7
    am3[..., 0] = False
    return [
        {},
        {"key_padding_mask": kpm},
        {"key_padding_mask": torch.zeros(B, S, dtype=D).masked_fill(kpm, -1e4) + randn(B, S, seed=3) * 0.1},
        {"attn_mask": am_bool},
        {"attn_mask": randn(L, S, seed=4)},
        {"attn_mask": am3, "key_padding_mask": kpm},
        {"attn_mask": randn(B * H, L, S, seed=5)},
    ]


# (batch_first, cross-attention, (kdim, vdim)); kdim/vdim != embed_dim only makes sense for cross-attention
MHA_GRID = [(bf, cross, dims) for bf, cross, dims in itertools.product([False, True], [False, True], [(16, 16), (6, 10)])
            if cross or dims == (16, 16)]


@pytest.mark.parametrize("batch_first, cross, kv_dims", MHA_GRID,
                         ids=[f"{'bf' if b else 'sf'}-{'cross' if c else 'self'}-k{d[0]}v{d[1]}" for b, c, d in MHA_GRID])
def test_mha_matches_torch_outputs_weights_and_gradients(batch_first, cross, kv_dims):
    kdim, vdim = kv_dims
    ours, theirs = _mha_pair(batch_first=batch_first, kdim=kdim, vdim=vdim)
    B, H = 2, 4
    L, S = 5, (7 if cross else 5)
    # every mask case, with the three return modes taking turns (each mode meets several masks)
    modes = itertools.cycle([(True, True), (True, False), (False, True)])
    for masks, (need, avg) in zip(_masks_mha(B, H, L, S), modes):
        q, k, v, _, _ = _mha_case_inputs(batch_first, cross, kdim, vdim)
        got = ours(q, k, v, need_weights=need, average_attn_weights=avg, **masks)
        exp = theirs(q, k, v, need_weights=need, average_attn_weights=avg, **masks)
        close(got[0], exp[0])
        if need:
            close(got[1], exp[1])
        else:
            assert got[1] is None and exp[1] is None
        inputs = [t for t in dict.fromkeys([q, k, v])]
        wrt_o, wrt_t = inputs + list(ours.parameters()), inputs + list(theirs.parameters())
        names = [n for n, _ in ours.named_parameters()]
        assert names == [n for n, _ in theirs.named_parameters()]
        for g, e in zip(weighted_grads(got, wrt_o), weighted_grads(exp, wrt_t)):
            close(g, e)


def test_mha_unbatched_and_causal_hint():
    ours, theirs = _mha_pair()
    x = randn(6, 16, seed=1)
    for kw in ({}, {"key_padding_mask": torch.tensor([False] * 4 + [True] * 2)}, {"average_attn_weights": False}):
        got, exp = ours(x, x, x, **kw), theirs(x, x, x, **kw)
        close(got[0], exp[0])
        close(got[1], exp[1])
    causal = nn.Transformer.generate_square_subsequent_mask(6, dtype=D)
    for need in (True, False):
        got = ours(x, x, x, attn_mask=causal, is_causal=True, need_weights=need)
        exp = theirs(x, x, x, attn_mask=causal, is_causal=True, need_weights=need)
        close(got[0], exp[0])


def test_mha_eval_fast_path_matches():
    """torch takes its fused kernel in eval mode without grad; the results still agree."""
    ours, theirs = _mha_pair(batch_first=True)
    ours.eval()
    theirs.eval()
    x = randn(3, 6, 16, seed=1)
    kpm = torch.zeros(3, 6, dtype=torch.bool)
    kpm[1, 4:] = True
    with torch.no_grad():
        for kw in ({"need_weights": False}, {"need_weights": False, "key_padding_mask": kpm}, {}):
            close(ours(x, x, x, **kw)[0], theirs(x, x, x, **kw)[0])


def test_mha_dropout_matches_torch_in_training_with_the_same_seed():
    ours, theirs = _mha_pair(dropout=0.3, batch_first=True)
    x = randn(2, 6, 16, seed=1)
    for need in (True, False):
        torch.manual_seed(4)
        exp = theirs(x, x, x, need_weights=need)
        torch.manual_seed(4)
        got = ours(x, x, x, need_weights=need)
        close(got[0], exp[0])
        if need:  # torch returns the weights after dropout
            close(got[1], exp[1])
    ours.eval()
    theirs.eval()
    close(ours(x, x, x)[0], theirs(x, x, x)[0])


def test_mha_fully_padded_sample_gives_zeros_not_nan():
    """Documented choice: torch's SDPA path (need_weights=False) gives the same zeros;
    its need_weights=True path gives NaN."""
    ours, theirs = _mha_pair(batch_first=True)
    x = randn(2, 5, 16, seed=1)
    kpm = torch.zeros(2, 5, dtype=torch.bool)
    kpm[1] = True
    got, w = ours(x, x, x, key_padding_mask=kpm)
    exp, _ = theirs(x, x, x, key_padding_mask=kpm, need_weights=False)
    close(got, exp)
    assert torch.equal(w[1], torch.zeros(5, 5, dtype=D))
    assert torch.isnan(theirs(x, x, x, key_padding_mask=kpm)[0][1]).all()


def test_functional_mha_matches_torch_functional():
    B, L, S, E, H = 2, 5, 7, 12, 3
    q, k, v = randn(B, L, E, seed=1, grad=True), randn(B, S, E, seed=2, grad=True), randn(B, S, E, seed=3, grad=True)
    w_in, b_in = randn(3 * E, E, seed=4, grad=True), randn(3 * E, seed=5, grad=True)
    w_out, b_out = randn(E, E, seed=6, grad=True), randn(E, seed=7, grad=True)
    kpm = torch.zeros(B, S, dtype=torch.bool)
    kpm[1, 5:] = True
    am = randn(L, S, seed=8) > 1.0  # bool, like kpm (torch warns when the two kinds are mixed)
    am[:, 0] = False
    got = A.multi_head_attention_forward(q, k, v, H, w_in, b_in, w_out, b_out, key_padding_mask=kpm, attn_mask=am,
                                         average_attn_weights=False)
    exp = F.multi_head_attention_forward(
        q.transpose(0, 1), k.transpose(0, 1), v.transpose(0, 1), E, H, w_in, b_in, None, None, False, 0.0,
        w_out, b_out, training=False, key_padding_mask=kpm, attn_mask=am, average_attn_weights=False,
    )
    close(got[0], exp[0].transpose(0, 1))
    close(got[1], exp[1])
    wrt = [q, k, v, w_in, b_in, w_out, b_out]
    for g, e in zip(weighted_grads(got[0], wrt), weighted_grads(exp[0].transpose(0, 1), wrt)):
        close(g, e)


# ------------------------------------------------------------------------------------------
# Positional encoding
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("P, dim", [(50, 16), (7, 5), (128, 64)])
def test_sinusoidal_position_encoding_matches_the_formula(P, dim):
    pe = A.sinusoidal_position_encoding(P, dim, dtype=D).numpy()
    ref = np.zeros((P, dim))
    for pos in range(P):
        for j in range(dim):
            i = j // 2
            angle = pos / 10000 ** (2 * i / dim)
            ref[pos, j] = math.sin(angle) if j % 2 == 0 else math.cos(angle)
    np.testing.assert_allclose(pe, ref, atol=1e-12)
    assert A.sinusoidal_position_encoding(P, dim).dtype == torch.float32


def test_sinusoidal_offset_is_a_rotation():
    """PE[pos + k] = R_k PE[pos] for every pos, with R_k block-diagonal rotations by k * w_i."""
    P, dim, k = 40, 16, 7
    pe = A.sinusoidal_position_encoding(P + k, dim, dtype=D).numpy()
    w = 1.0 / 10000 ** (np.arange(0, dim, 2) / dim)
    R = np.zeros((dim, dim))
    for i, wi in enumerate(w):
        c, s = math.cos(k * wi), math.sin(k * wi)
        # (sin(a + b), cos(a + b)) = [[cos b, sin b], [-sin b, cos b]] (sin a, cos a)
        R[2 * i: 2 * i + 2, 2 * i: 2 * i + 2] = [[c, s], [-s, c]]
    np.testing.assert_allclose(pe[k:k + P], pe[:P] @ R.T, atol=1e-10)
    # and the dot product of two encodings depends on the offset only
    g = pe @ pe.T
    np.testing.assert_allclose(np.diag(g, k)[:-1], np.full(P + k - k - 1, g[0, k]), atol=1e-10)


# ------------------------------------------------------------------------------------------
# Transformer encoder block vs nn.TransformerEncoderLayer(norm_first=True)
# ------------------------------------------------------------------------------------------
LAYER_NAMES = {  # TransformerEncoderBlock name -> nn.TransformerEncoderLayer name
    "norm1.weight": "norm1.weight", "norm1.bias": "norm1.bias",
    "attn.in_proj_weight": "self_attn.in_proj_weight", "attn.in_proj_bias": "self_attn.in_proj_bias",
    "attn.out_proj.weight": "self_attn.out_proj.weight", "attn.out_proj.bias": "self_attn.out_proj.bias",
    "norm2.weight": "norm2.weight", "norm2.bias": "norm2.bias",
    "mlp.fc1.weight": "linear1.weight", "mlp.fc1.bias": "linear1.bias",
    "mlp.fc2.weight": "linear2.weight", "mlp.fc2.bias": "linear2.bias",
}


def _copy_encoder_layer(block: A.TransformerEncoderBlock, layer: nn.TransformerEncoderLayer) -> None:
    src = layer.state_dict()
    assert sorted(LAYER_NAMES) == sorted(block.state_dict())
    assert sorted(LAYER_NAMES.values()) == sorted(src)
    block.load_state_dict({ours: src[theirs] for ours, theirs in LAYER_NAMES.items()}, strict=True)


def test_encoder_block_matches_torch_encoder_layer():
    dim, heads = 16, 4
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(dim, heads, dim_feedforward=int(dim * 2.5), dropout=0.0, activation="gelu",
                                       batch_first=True, norm_first=True).double()
    with torch.no_grad():  # non-trivial LayerNorm parameters
        for p in (layer.norm1.weight, layer.norm1.bias, layer.norm2.weight, layer.norm2.bias):
            p.add_(0.1 * torch.randn_like(p))
    block = A.TransformerEncoderBlock(dim, heads, mlp_ratio=2.5).double()
    _copy_encoder_layer(block, layer)
    kpm = torch.zeros(2, 7, dtype=torch.bool)
    kpm[1, 5:] = True
    causal = ~A.causal_mask(7)  # MHA convention: True = masked out
    for kw_block, kw_layer in (({}, {}), ({"key_padding_mask": kpm}, {"src_key_padding_mask": kpm}),
                               ({"attn_mask": causal}, {"src_mask": causal})):
        x1, x2 = randn(2, 7, dim, seed=1, grad=True), randn(2, 7, dim, seed=1, grad=True)
        got, exp = block(x1, **kw_block), layer(x2, **kw_layer)
        close(got, exp)
        params_b = dict(block.named_parameters())
        params_l = dict(layer.named_parameters())
        keys = sorted(LAYER_NAMES)
        g_b = weighted_grads(got, [x1] + [params_b[k] for k in keys])
        g_l = weighted_grads(exp, [x2] + [params_l[LAYER_NAMES[k]] for k in keys])
        for g, e in zip(g_b, g_l):
            close(g, e)
    out, w = block(randn(2, 7, dim, seed=1), return_attention=True)
    assert w.shape == (2, heads, 7, 7)
    close(w.sum(-1), torch.ones(2, heads, 7, dtype=D), tol=1e-12)


# ------------------------------------------------------------------------------------------
# Cost: the O(n^2) term, checked against the FLOP counter on torch's own module
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("L, S, E, H", [(10, 10, 32, 4), (6, 15, 24, 3), (49, 49, 96, 3)])
def test_attention_macs_formula_matches_flop_counter(L, S, E, H):
    parts = A.attention_macs(L, E, kv_len=S if S != L else None)
    q, kv = torch.randn(1, L, E), torch.randn(1, S, E)
    theirs = nn.MultiheadAttention(E, H, batch_first=True)
    with FlopCounterMode(display=False) as c_t:  # need_weights=True: torch's explicit bmm path, which is counted
        theirs(q, kv, kv, need_weights=True)
    ours = A.MultiheadAttention(E, H, batch_first=True)
    with FlopCounterMode(display=False) as c_o:
        ours(q, kv, kv, need_weights=False)
    assert c_t.get_total_flops() == 2 * parts["total"]
    assert c_o.get_total_flops() == 2 * parts["total"]
    if S == L:
        assert parts["total"] == 4 * L * E * E + 2 * L * L * E  # Swin's Omega(MSA) with n = hw


# ------------------------------------------------------------------------------------------
# The small classifier
# ------------------------------------------------------------------------------------------
def test_transformer_classifier_needs_positions_to_see_order():
    tokens = torch.randint(1, 20, (3, 12), generator=torch.Generator().manual_seed(0))
    perm = torch.randperm(12, generator=torch.Generator().manual_seed(1))
    torch.manual_seed(0)
    no_pos = A.TransformerClassifier(20, 2, dim=16, depth=2, num_heads=2, pos_encoding="none").double().eval()
    close(no_pos(tokens[:, perm]), no_pos(tokens), tol=1e-12)  # a bag of tokens
    torch.manual_seed(0)
    sin = A.TransformerClassifier(20, 2, dim=16, depth=2, num_heads=2, pos_encoding="sinusoidal").double().eval()
    assert not torch.allclose(sin(tokens[:, perm]), sin(tokens), atol=1e-6)


@pytest.mark.parametrize("pos", ["none", "sinusoidal", "learned"])
def test_transformer_classifier_ignores_trailing_padding(pos):
    torch.manual_seed(0)
    m = A.TransformerClassifier(20, 3, dim=16, depth=2, num_heads=4, pos_encoding=pos).double().eval()
    tokens = torch.randint(1, 20, (2, 8), generator=torch.Generator().manual_seed(0))
    padded = torch.cat([tokens, torch.zeros(2, 5, dtype=torch.long)], dim=1)
    close(m(padded), m(tokens), tol=1e-12)


# ------------------------------------------------------------------------------------------
# Bad input
# ------------------------------------------------------------------------------------------
def test_bad_input_messages():
    q, k, v = torch.randn(2, 5, 8), torch.randn(2, 7, 8), torch.randn(2, 7, 4)
    sdpa = A.scaled_dot_product_attention
    with pytest.raises(ValueError, match=r"scaled_dot_product_attention\(\): query and key must have the same last dim E"):
        sdpa(q, torch.randn(2, 7, 6), v)
    with pytest.raises(ValueError, match=r"key and value must have the same length S .* value \(2, 6, 4\)"):
        sdpa(q, k, torch.randn(2, 6, 4))
    with pytest.raises(ValueError, match=r"argument 'query' must be at least 2-D"):
        sdpa(torch.randn(8), k, v)
    with pytest.raises(TypeError, match=r"argument 'key' must be a torch.Tensor, got list"):
        sdpa(q, [1.0], v)
    with pytest.raises(ValueError, match=r"pass either 'attn_mask' or is_causal=True"):
        sdpa(q, k, v, attn_mask=torch.ones(5, 7, dtype=torch.bool), is_causal=True)
    with pytest.raises(ValueError, match=r"'attn_mask' of shape \(4, 7\) does not broadcast .* \(2, 5, 7\)"):
        sdpa(q, k, v, attn_mask=torch.ones(4, 7, dtype=torch.bool))
    with pytest.raises(TypeError, match=r"'attn_mask' must be a bool or floating-point tensor, got dtype torch.int64"):
        sdpa(q, k, v, attn_mask=torch.ones(5, 7, dtype=torch.long))
    with pytest.raises(TypeError, match=r"'key' has dtype torch.float64 but 'query' has dtype torch.float32"):
        sdpa(q, k.double(), v)
    with pytest.raises(ValueError, match=r"MultiheadAttention\(\): embed_dim = 10 must be divisible by num_heads = 4"):
        A.MultiheadAttention(10, 4)
    mha = A.MultiheadAttention(8, 2, batch_first=True)
    with pytest.raises(ValueError, match=r"'key_padding_mask' must have shape \(B, S\) = \(2, 7\), got \(2, 5\)"):
        mha(q, k, k, key_padding_mask=torch.zeros(2, 5, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"'attn_mask' must have shape \(L, S\) = \(5, 7\) or \(B \* num_heads, L, S\) = \(4, 5, 7\)"):
        mha(q, k, k, attn_mask=torch.zeros(7, 5, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"is_causal=True is only a hint"):
        mha(q, q, q, is_causal=True)
    with pytest.raises(ValueError, match=r"'in_proj_weight' must have shape \(3E, E\) = \(24, 8\)"):
        A.multi_head_attention_forward(q, k, k, 2, torch.randn(24, 6), None, torch.randn(8, 8), None)
    with pytest.raises(ValueError, match=r"sinusoidal_position_encoding\(\): argument 'dim' must be a positive int, got 0"):
        A.sinusoidal_position_encoding(4, 0)
    with pytest.raises(ValueError, match=r"TransformerClassifier\(\): argument 'pos_encoding'"):
        A.TransformerClassifier(10, 2, pos_encoding="rope")
