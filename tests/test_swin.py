"""Tests of cnnvit_ref.swin (chapter 05) against real oracles and exact identities.

Oracles: naive loops (window order, relative position index, the official code's region
slices for the mask), the paper's "naive" shifted partition (windows displaced by s, smaller at
the borders) evaluated with torch's F.scaled_dot_product_attention, nn.MultiheadAttention,
the official PatchMerging concatenation, timm's outputs on a tiny Swin
(tests/fixtures/swin_tiny_cfg.pt), timm's state_dict layout (manifest), the paper's Table 1 and
its cost formulas (eq. 1-2) checked against torch.utils.flop_counter.
"""
from __future__ import annotations

import math
import subprocess
import sys
import textwrap

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from cnnvit_ref import flops, models
from helpers import FIXTURES, generator, load_manifest, raises, randomise, state_dict_shapes, train_losses
from cnnvit_ref.swin import (
    PatchMerging,
    SwinConfig,
    SwinTransformer,
    SwinTransformerBlock,
    WindowAttention,
    msa_macs,
    relative_position_index,
    shifted_window_attention_mask,
    swin_macs_by_stage,
    window_partition,
    window_reverse,
    wmsa_macs,
)
from cnnvit_ref.vit import Attention

MANIFEST = load_manifest("timm_manifest_vit_swin.json")
DT = torch.float64
SWIN_PRESETS = ["swin_tiny_patch4_window7_224", "swin_small_patch4_window7_224", "swin_base_patch4_window7_224"]


# ------------------------------------------------------------------------------ windows
@pytest.mark.parametrize("B,H,W,C,M", [(2, 8, 12, 3, 4), (1, 6, 6, 2, 3), (3, 14, 7, 1, 7), (2, 4, 6, 5, (2, 3))])
def test_window_partition_order_and_inverse(B, H, W, C, M):
    Mh, Mw = (M, M) if isinstance(M, int) else M
    x = torch.randn(B, H, W, C, generator=generator(1), dtype=DT)
    windows = window_partition(x, M)
    nW = (H // Mh) * (W // Mw)
    assert windows.shape == (B * nW, Mh, Mw, C)
    k = 0
    for b in range(B):  # the naive double loop: row-major windows inside each image
        for i in range(H // Mh):
            for j in range(W // Mw):
                assert torch.equal(windows[k], x[b, i * Mh:(i + 1) * Mh, j * Mw:(j + 1) * Mw])
                k += 1
    assert torch.equal(window_reverse(windows, M, H, W), x)
    w = torch.randn(windows.shape, generator=generator(2), dtype=DT)
    assert torch.equal(window_partition(window_reverse(w, M, H, W), M), w)


@pytest.mark.parametrize("M", [1, 2, 3, 7, (2, 3)])
def test_relative_position_index_brute_force(M):
    Mh, Mw = (M, M) if isinstance(M, int) else M
    idx = relative_position_index(M)
    assert idx.shape == (Mh * Mw, Mh * Mw) and idx.dtype == torch.int64
    expected = torch.empty(Mh * Mw, Mh * Mw, dtype=torch.int64)
    for i in range(Mh * Mw):
        for j in range(Mh * Mw):
            dy = i // Mw - j // Mw
            dx = i % Mw - j % Mw
            expected[i, j] = (dy + Mh - 1) * (2 * Mw - 1) + (dx + Mw - 1)
    assert torch.equal(idx, expected)
    assert idx.min() == 0 and idx.max() == (2 * Mh - 1) * (2 * Mw - 1) - 1


def _official_mask(H, W, M, s):
    """The official code's construction: label 9 regions with slices, compare labels per window."""
    img = torch.zeros(H, W)
    cnt = 0
    for h in (slice(0, -M), slice(-M, -s), slice(-s, None)):
        for w in (slice(0, -M), slice(-M, -s), slice(-s, None)):
            img[h, w] = cnt
            cnt += 1
    masks = []
    for i in range(H // M):
        for j in range(W // M):
            labels = img[i * M:(i + 1) * M, j * M:(j + 1) * M].reshape(-1)
            m = torch.zeros(M * M, M * M)
            for p in range(M * M):
                for q in range(M * M):
                    if labels[p] != labels[q]:
                        m[p, q] = -100.0
            masks.append(m)
    return torch.stack(masks)


@pytest.mark.parametrize("H,W,M,s", [(8, 8, 4, 2), (12, 8, 4, 2), (14, 14, 7, 3), (6, 9, 3, 1)])
def test_shifted_window_mask_matches_official_construction(H, W, M, s):
    mask = shifted_window_attention_mask(H, W, M, s)
    ref = _official_mask(H, W, M, s)
    assert mask.shape == ref.shape == ((H // M) * (W // M), M * M, M * M)
    assert torch.equal(mask, ref.to(mask.dtype))
    # Only the windows of the last window-row or window-column mix wrapped-around regions.
    masked = (mask != 0).flatten(1).any(1).view(H // M, W // M)
    expected = torch.zeros(H // M, W // M, dtype=torch.bool)
    expected[-1, :] = True
    expected[:, -1] = True
    assert torch.equal(masked, expected)


def test_shift_zero_is_plain_window_attention():
    assert torch.equal(shifted_window_attention_mask(8, 12, 4, 0), torch.zeros(6, 16, 16))
    wa = randomise(WindowAttention(8, 2, 4).to(DT), seed=3)
    x = torch.randn(6, 16, 8, generator=generator(4), dtype=DT)
    torch.testing.assert_close(wa(x, mask=torch.zeros(3, 16, 16, dtype=DT)), wa(x), rtol=0, atol=1e-14)
    blk = SwinTransformerBlock(8, (8, 8), 2, window_size=4, shift_size=0)
    assert blk.attn_mask is None and blk.shift_size == (0, 0)


# ------------------------------------------------------------------------------ attention vs oracles
def _naive_shifted_block(blk: SwinTransformerBlock, x: torch.Tensor) -> torch.Tensor:
    """The block computed the paper's naive way: windows displaced by s (smaller ones at the
    borders, Fig. 2), attention among tokens of the same window with the bias looked up from
    the true (dy, dx), using torch's F.scaled_dot_product_attention over all tokens."""
    B, H, W, C = x.shape
    (M, _), (s, _) = blk.window_size, blk.shift_size
    heads, hd = blk.attn.num_heads, C // blk.attn.num_heads
    ys, xs = torch.meshgrid(torch.arange(H), torch.arange(W), indexing="ij")
    ys, xs = ys.reshape(-1), xs.reshape(-1)
    group = ((ys + M - s) // M) * (W + 1) + (xs + M - s) // M  # window id in the displaced grid
    same = group[:, None] == group[None, :]  # (L, L)
    dy, dx = ys[:, None] - ys[None, :], xs[:, None] - xs[None, :]
    dy_ok, dx_ok = dy.clamp(-(M - 1), M - 1), dx.clamp(-(M - 1), M - 1)
    table = blk.attn.relative_position_bias_table  # ((2M-1)^2, heads)
    bias = table[(dy_ok + M - 1) * (2 * M - 1) + (dx_ok + M - 1)].permute(2, 0, 1)  # (heads, L, L)
    attn_mask = bias.masked_fill(~same, float("-inf"))

    h = F.layer_norm(x, (C,), blk.norm1.weight, blk.norm1.bias, 1e-5).reshape(B, H * W, C)
    qkv = F.linear(h, blk.attn.qkv.weight, blk.attn.qkv.bias).reshape(B, H * W, 3, heads, hd).permute(2, 0, 3, 1, 4)
    out = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2], attn_mask=attn_mask)
    out = F.linear(out.transpose(1, 2).reshape(B, H * W, C), blk.attn.proj.weight, blk.attn.proj.bias)
    y = x + out.reshape(B, H, W, C)
    h = F.layer_norm(y, (C,), blk.norm2.weight, blk.norm2.bias, 1e-5)
    h = F.linear(F.gelu(F.linear(h, blk.mlp.fc1.weight, blk.mlp.fc1.bias)), blk.mlp.fc2.weight, blk.mlp.fc2.bias)
    return y + h


@pytest.mark.parametrize("H,W,M,s", [(8, 8, 4, 2), (8, 12, 4, 2), (8, 8, 4, 0), (9, 6, 3, 1), (4, 4, 4, 2)])
def test_swin_block_equals_naive_displaced_windows(H, W, M, s):
    C, heads = 8, 2
    blk = randomise(SwinTransformerBlock(C, (H, W), heads, window_size=M, shift_size=s).to(DT), seed=H + W + s)
    x = torch.randn(2, H, W, C, generator=generator(5), dtype=DT)
    with torch.no_grad():
        torch.testing.assert_close(blk(x), _naive_shifted_block(blk, x), rtol=1e-10, atol=1e-10)


def test_window_attention_matches_multihead_attention_per_window():
    C, heads, M, nW, B = 8, 2, 3, 4, 2
    wa = randomise(WindowAttention(C, heads, M).to(DT), seed=6)
    mask = torch.zeros(nW, M * M, M * M, dtype=DT)
    mask[1, :4, 4:] = -100.0
    mask[3, 2:, :2] = -100.0
    x = torch.randn(B * nW, M * M, C, generator=generator(7), dtype=DT)
    mha = nn.MultiheadAttention(C, heads, batch_first=True, dtype=DT).eval()
    with torch.no_grad():
        mha.in_proj_weight.copy_(wa.qkv.weight)
        mha.in_proj_bias.copy_(wa.qkv.bias)
        mha.out_proj.weight.copy_(wa.proj.weight)
        mha.out_proj.bias.copy_(wa.proj.bias)
        bias = wa.relative_position_bias()  # (heads, N, N)
        for k in range(B * nW):  # window k of the batch uses mask k % nW
            float_mask = bias + mask[k % nW]  # (heads, N, N), the layout MHA expects for 1 sequence
            ref, _ = mha(x[k:k + 1], x[k:k + 1], x[k:k + 1], attn_mask=float_mask)
            torch.testing.assert_close(wa(x, mask)[k:k + 1], ref, rtol=1e-10, atol=1e-10)


def test_window_as_big_as_the_image_is_global_attention():
    C, heads, H, W = 12, 3, 4, 4
    wa = randomise(WindowAttention(C, heads, (H, W)).to(DT), seed=8)
    with torch.no_grad():
        wa.relative_position_bias_table.zero_()
    ga = Attention(C, heads, qkv_bias=True).to(DT)
    ga.load_state_dict({k: v for k, v in wa.state_dict().items() if k.split(".")[0] in ("qkv", "proj")})
    x = torch.randn(2, H, W, C, generator=generator(9), dtype=DT)
    windows = window_partition(x, (H, W)).reshape(2, H * W, C)  # one window per image
    with torch.no_grad():
        torch.testing.assert_close(wa(windows), ga(x.reshape(2, H * W, C)), rtol=1e-12, atol=1e-12)


def test_patch_merging_matches_official_concatenation():
    pm = randomise(PatchMerging(3).to(DT), seed=10)
    x = torch.randn(2, 6, 4, 3, generator=generator(11), dtype=DT)
    cat = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], dim=-1)
    ref = F.linear(F.layer_norm(cat, (12,), pm.norm.weight, pm.norm.bias, 1e-5), pm.reduction.weight)
    with torch.no_grad():
        torch.testing.assert_close(pm(x), ref, rtol=1e-12, atol=1e-12)
    assert pm(x).shape == (2, 3, 2, 6)


def test_block_repr_and_timm_window_rule():
    blk = SwinTransformerBlock(96, (56, 56), 3, window_size=7, shift_size=3)
    text = repr(blk)
    for part in ("dim=96", "num_heads=3", "window_size=(7, 7)", "shift_size=(3, 3)"):
        assert part in text
    assert "window_size=(7, 7)" in repr(blk.attn)
    # timm: a map no larger than the window is one window and is not shifted (Swin-T stage 4)
    last = SwinTransformerBlock(768, (7, 7), 24, window_size=7, shift_size=3)
    assert last.shift_size == (0, 0) and last.attn_mask is None
    small = SwinTransformerBlock(8, (4, 4), 2, window_size=7, shift_size=3)
    assert small.window_size == (4, 4) and small.shift_size == (0, 0)


# ------------------------------------------------------------------------------ golden: timm
def test_golden_timm_swin_tiny_cfg():
    ref = torch.load(FIXTURES / "swin_tiny_cfg.pt")
    cfg = {k: v for k, v in ref["config"].items() if k != "family"}
    model = SwinTransformer(SwinConfig(**cfg)).to(DT).eval()
    model.load_state_dict(ref["state_dict"], strict=True)
    with torch.no_grad():
        features = model.forward_features(ref["input"])
        torch.testing.assert_close(features, ref["features"], rtol=0, atol=1e-10)
        torch.testing.assert_close(model.forward_head(features), ref["logits"], rtol=0, atol=1e-10)
        torch.testing.assert_close(model(ref["input"]), ref["logits"], rtol=0, atol=1e-10)


@pytest.mark.parametrize("name", SWIN_PRESETS + ["swin_tiny_cfg"])
def test_state_dict_keys_and_shapes_match_timm(name):
    with torch.device("meta"):
        if name == "swin_tiny_cfg":
            model = SwinTransformer(**{k: v for k, v in MANIFEST[name]["config"].items() if k != "family"})
        else:
            model = models.create(name)
    assert state_dict_shapes(model) == MANIFEST[name]["state_dict"]
    assert list(model.state_dict()) == list(MANIFEST[name]["state_dict"])
    buffers = dict(model.named_buffers())  # recomputed, not saved (persistent=False, as timm)
    assert "layers.0.blocks.0.attn.relative_position_index" in buffers
    assert "layers.0.blocks.1.attn_mask" in buffers


# ------------------------------------------------------------------------------ published sizes
# Liu et al. 2021, Table 1(a): params (M), FLOPs (G, = MACs) at 224x224.
PUBLISHED = {
    "swin_tiny_patch4_window7_224": (28, 4.5),
    "swin_small_patch4_window7_224": (50, 8.7),
    "swin_base_patch4_window7_224": (88, 15.4),
}


@pytest.mark.parametrize("name", SWIN_PRESETS)
def test_published_sizes(name):
    with torch.device("meta"):
        model = models.create(name)
    n = flops.count_params(model)
    assert n == sum(math.prod(s) for s in MANIFEST[name]["state_dict"].values())  # timm's exact total
    paper_params, paper_macs = PUBLISHED[name]
    # The table rounds to whole millions (Swin-T: 28.29M -> 28M, 1.03% away): within 1% or the rounding.
    assert abs(n / 1e6 - paper_params) <= max(0.01 * paper_params, 0.5), f"{name}: {n / 1e6:.2f}M"
    macs = flops.count_macs(model, (1, 3, 224, 224))
    assert abs(macs / 1e9 - paper_macs) <= 0.03 * paper_macs, f"{name}: {macs / 1e9:.3f}G"


def test_aliases():
    assert models.resolve_name("swin_t") == "swin_tiny_patch4_window7_224"
    assert models.resolve_name("swin_s") == "swin_small_patch4_window7_224"
    assert models.resolve_name("swin_b") == "swin_base_patch4_window7_224"


# ------------------------------------------------------------------------------ FLOPs formulas
@pytest.mark.parametrize("h,w,C,M", [(56, 56, 96, 7), (28, 28, 192, 7), (14, 14, 384, 7), (8, 12, 32, 4), (7, 7, 768, 7)])
def test_cost_formulas_equal_the_flop_counter(h, w, C, M):
    heads = C // 32
    with torch.device("meta"):
        wa = WindowAttention(C, heads, M)
        ga = Attention(C, heads, qkv_bias=True)
        shifted = SwinTransformerBlock(C, (h, w), heads, window_size=M, shift_size=M // 2)
    nW = (h // M) * (w // M)
    assert flops.count_macs(wa, (nW, M * M, C)) == wmsa_macs(h, w, C, M)
    assert flops.count_macs(ga, (1, h * w, C)) == msa_macs(h, w, C)
    by_module = flops.count_macs_by_module(shifted, (1, h, w, C))  # SW-MSA costs the same as W-MSA
    assert by_module["attn"] == wmsa_macs(h, w, C, M)
    assert by_module[""] == wmsa_macs(h, w, C, M) + 8 * h * w * C * C  # + MLP with ratio 4



def test_cost_formulas_at_swin_t_stage_1_by_hand():
    # Swin-T's first stage: a 56 x 56 map, C = 96, M = 7 (Liu et al. 2021, Eq. 1-2), worked by hand:
    # MSA   = 4 * 3136 * 96^2 + 2 * 3136^2 * 96 = 115,605,504 + 1,888,223,232
    # W-MSA = 4 * 3136 * 96^2 + 2 * 49 * 3136 * 96 = 115,605,504 + 29,503,488
    assert msa_macs(56, 56, 96) == 2_003_828_736
    assert wmsa_macs(56, 56, 96, 7) == 145_108_992
    assert round(msa_macs(56, 56, 96) / wmsa_macs(56, 56, 96, 7), 1) == 13.8  # the chapter's "13.8x"


def _swin_stage_formula(cfg: SwinConfig) -> dict[str, int]:
    g = cfg.img_size // cfg.patch_size
    out = {"patch_embed": g * g * cfg.embed_dim * cfg.in_chans * cfg.patch_size**2}
    r = int(cfg.mlp_ratio)
    for i, (depth, C) in enumerate(zip(cfg.depths, cfg.dims)):
        h = g >> i
        M = min(cfg.window_size, h)
        merge = h * h * (4 * C // 2) * C if i > 0 else 0  # 4 C_prev -> C on the h x h output grid
        attention = 4 * h * h * C * C + 2 * M * M * h * h * C  # Eq. 2, written out (not wmsa_macs)
        out[f"stage{i + 1}"] = merge + depth * (attention + 2 * r * h * h * C * C)
    out["head"] = cfg.dims[-1] * cfg.num_classes
    return out


@pytest.mark.parametrize("name", ["swin_tiny_patch4_window7_224", "swin_tiny_patch2_window4_32"])
def test_macs_by_stage_equals_the_formulas(name):
    stages = swin_macs_by_stage(name)
    with torch.device("meta"):
        cfg = models.create(name).config
    assert stages == _swin_stage_formula(cfg)
    assert sum(stages.values()) == flops.count_macs(name, (1, 3, cfg.img_size, cfg.img_size))


def test_counting_swin_b_is_fast_and_small():
    # A fresh interpreter, so that the peak RSS is this count's (and torch's), not pytest's.
    code = textwrap.dedent(
        r"""
        import re, time
        import torch
        from cnnvit_ref import flops
        t = time.perf_counter()
        macs = flops.count_macs("swin_b", (1, 3, 224, 224))
        # VmHWM is this process's own peak RSS; getrusage's ru_maxrss can carry the parent's peak
        # into a child started with vfork/exec (it read 618 MB under pytest-xdist, 328 MB alone).
        hwm_kb = re.search(r"VmHWM:\s+(\d+) kB", open("/proc/self/status").read()).group(1)
        print(macs, time.perf_counter() - t, hwm_kb)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    macs, seconds, maxrss_kb = out.stdout.split()
    # Swin-B at 224 summed by hand with _swin_stage_formula's terms (Liu et al. 2021, Table 1(a): 15.4G)
    assert int(macs) == 15_430_946_816
    # The budget (< 10 s) is measured by tools/benchmark.py; here only a bound that real
    # (non-meta) weights and activations would break on a busy CI machine.
    assert float(seconds) < 60.0, f"counting Swin-B took {float(seconds):.1f} s"
    assert int(maxrss_kb) / 1024 < 500, f"peak RSS {int(maxrss_kb) / 1024:.0f} MB"


# ------------------------------------------------------------------------------ tiny preset
def test_tiny_preset_hierarchy_and_training():
    torch.manual_seed(0)
    model = models.create("swin_tiny_patch2_window4_32")
    x = torch.randn(8, 3, 32, 32, generator=generator(12))
    shapes = [tuple(f.shape) for f in model.stage_features(x)]
    assert shapes == [(8, 16, 16, 32), (8, 8, 8, 64), (8, 4, 4, 128)]
    y = torch.arange(8) % 10
    losses = train_losses(model, x, y, 15, torch.optim.AdamW(model.parameters(), lr=3e-3))
    assert losses[-1] < 0.5 * losses[0], (losses[0], losses[-1])


# ------------------------------------------------------------------------------ ablation switches
def test_ablation_defaults_keep_the_paper_model():
    cfg = SwinConfig()
    assert cfg.shift is True and cfg.relative_position_bias is True
    model = models.create("swin_tiny_patch2_window4_32")
    assert [b.shift_size for s in model.layers for b in s.blocks] == [(0, 0), (2, 2), (0, 0), (2, 2), (0, 0), (0, 0)]
    assert all(b.attn.has_relative_position_bias for s in model.layers for b in s.blocks)


def _stage1_support(model: SwinTransformer) -> torch.Tensor:
    """Tokens of the stage-1 input whose gradient is non-zero for stage-1 output token (5, 6)."""
    x = torch.randn(1, 16, 16, 32, generator=generator(13), dtype=DT, requires_grad=True)
    model.layers[0](x)[0, 5, 6].sum().backward()
    return x.grad[0].abs().sum(-1) != 0  # (16, 16)


def test_shift_false_has_no_shift():
    torch.manual_seed(0)
    shifted = models.create("swin_tiny_patch2_window4_32").to(DT)
    unshifted = models.create("swin_tiny_patch2_window4_32", shift=False).to(DT)
    for stage in unshifted.layers:
        for blk in stage.blocks:
            assert blk.shift_size == (0, 0) and blk.attn_mask is None
    # same parameters, same keys: only the windows differ
    assert state_dict_shapes(unshifted) == state_dict_shapes(shifted)
    # behaviour: two unshifted blocks still see exactly the 4x4 window of the probed token
    # (rows 4..7, cols 4..7 for token (5, 6)); with the shift the field crosses window borders
    window = torch.zeros(16, 16, dtype=torch.bool)
    window[4:8, 4:8] = True
    assert torch.equal(_stage1_support(unshifted), window)
    support = _stage1_support(shifted)
    assert support.sum() > 16 and bool(support[window].all())


def test_relative_position_bias_false_has_no_bias():
    torch.manual_seed(0)
    with_bias = models.create("swin_tiny_patch2_window4_32")
    without = models.create("swin_tiny_patch2_window4_32", relative_position_bias=False)
    keys, keys_off = set(with_bias.state_dict()), set(without.state_dict())
    tables = {k for k in keys if k.endswith("relative_position_bias_table")}
    assert len(tables) == 6 and keys_off == keys - tables
    # by hand: 2 blocks per stage, windows 4x4 -> (2*4-1)^2 = 49 offsets, heads 2, 4, 8
    assert flops.count_params(with_bias) - flops.count_params(without) == 2 * 49 * (2 + 4 + 8)
    assert not any("relative_position_index" in name for name, _ in without.named_buffers())
    assert "relative_position_bias=False" in repr(without.layers[0].blocks[0].attn)
    # oracle: no bias == the same layer with a zero table
    wa_off = randomise(WindowAttention(8, 2, 4, relative_position_bias=False).to(DT), seed=14)
    wa_zero = WindowAttention(8, 2, 4).to(DT)
    wa_zero.load_state_dict({**wa_off.state_dict(), "relative_position_bias_table": torch.zeros(49, 2, dtype=DT)})
    x = torch.randn(6, 16, 8, generator=generator(15), dtype=DT)
    mask = shifted_window_attention_mask(8, 12, 4, 2).to(DT)  # (6, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(wa_off(x), wa_zero(x), rtol=0, atol=1e-14)
        torch.testing.assert_close(wa_off(x, mask), wa_zero(x, mask), rtol=0, atol=1e-14)
        # without a bias, attention in a window is blind to where its tokens are: permuting the
        # tokens permutes the output exactly; a (random) bias breaks this
        perm = torch.randperm(16, generator=generator(16))
        torch.testing.assert_close(wa_off(x[:, perm]), wa_off(x)[:, perm], rtol=0, atol=1e-12)
        wa_on = randomise(WindowAttention(8, 2, 4).to(DT), seed=14)
        assert (wa_on(x[:, perm]) - wa_on(x)[:, perm]).abs().max() > 1e-3
    raises(TypeError, SwinConfig, shift=1, must=("SwinConfig", "'shift'", "bool"))
    raises(TypeError, SwinConfig, relative_position_bias="no", must=("SwinConfig", "'relative_position_bias'", "bool"))
    raises(TypeError, WindowAttention, 8, 2, 4, relative_position_bias=None,
           must=("WindowAttention", "'relative_position_bias'", "bool"))


# ------------------------------------------------------------------------------ bad input
def test_bad_input_messages():
    raises(ValueError, window_partition, torch.zeros(1, 8, 10, 2), 4, must=("window_partition", "W=10", "(1, 8, 10, 2)"))
    raises(ValueError, window_partition, torch.zeros(8, 8, 2), 4, must=("window_partition", "'x'", "(B, H, W, C)"))
    raises(ValueError, window_reverse, torch.zeros(3, 4, 4, 2), 4, 8, 8, must=("window_reverse", "(B * 4, 4, 4, C)", "(3, 4, 4, 2)"))
    raises(ValueError, shifted_window_attention_mask, 8, 8, 4, 4, must=("shifted_window_attention_mask", "shift_size"))
    raises(ValueError, wmsa_macs, 8, 8, 0, 4, must=("wmsa_macs", "'C'"))
    raises(TypeError, msa_macs, 8.0, 8, 4, must=("msa_macs", "'h'"))
    raises(ValueError, SwinConfig, depths=(2, 2), num_heads=(2,), must=("SwinConfig", "depths", "num_heads"))
    raises(ValueError, SwinConfig, img_size=40, patch_size=4, window_size=7, depths=(2,), num_heads=(3,),
            must=("SwinConfig", "window_size=7", "padding"))
    raises(ValueError, SwinConfig, img_size=12, patch_size=2, window_size=3, depths=(1, 1, 1), num_heads=(1, 1, 1),
            must=("SwinConfig", "6x6", "halved 2 times"))
    raises(ValueError, SwinTransformerBlock, 8, (10, 10), 2, 4, must=("SwinTransformerBlock", "window_size", "padding"))
    model = models.create("swin_tiny_patch2_window4_32")
    raises(ValueError, model, torch.zeros(1, 3, 16, 16), must=("PatchEmbed.forward", "(B, 3, 32, 32)"))
    raises(ValueError, model.layers[0].blocks[0], torch.zeros(1, 16, 16, 8),
            must=("SwinTransformerBlock.forward", "(B, 16, 16, 32)", "(1, 16, 16, 8)"))
    wa = WindowAttention(8, 2, 4)
    raises(ValueError, wa, torch.zeros(6, 16, 8), torch.zeros(4, 16, 16), must=("WindowAttention.forward", "'mask'"))
    raises(TypeError, swin_macs_by_stage, "deit_tiny_patch16_224", must=("swin_macs_by_stage", "VisionTransformer"))
    raises(ValueError, swin_macs_by_stage, model, 64, must=("swin_macs_by_stage", "img_size=32", "img_size=64"))
