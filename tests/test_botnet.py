"""Tests of cnnvit_ref.botnet (chapter 06) against real oracles.

Oracles: timm's ``BottleneckAttn`` outputs on fixed weights (tests/fixtures/bottleneck_attn_*.pt, made
with timm 1.0.31, both settings of ``scale_pos_embed``), a naive loop over query/key positions for the
relative logits, timm's ``resnet50`` state_dict layout, BoTNet's Table 1 (sizes at 1024x1024), exact
identities (translation), and a hand count of the parameters.
"""
from __future__ import annotations


import pytest
import torch

from cnnvit_ref import flops, models
from cnnvit_ref.botnet import BoTNet, BoTNetConfig, BottleneckAttn, PosEmbedRel, relative_logits_2d
from helpers import FIXTURES, generator, load_manifest, raises, randomise, state_dict_shapes, train_losses

DT = torch.float64


def _naive_relative_logits(q, rel_h, rel_w):
    """out[b, i*W + j, k*W + l] = q[b, i, j] . (rel_h[k - i + H - 1] + rel_w[l - j + W - 1]), by loops."""
    B, H, W, d = q.shape
    out = torch.zeros(B, H * W, H * W, dtype=q.dtype)
    for i in range(H):
        for j in range(W):
            for k in range(H):
                for l in range(W):
                    r = rel_h[k - i + H - 1] + rel_w[l - j + W - 1]
                    out[:, i * W + j, k * W + l] = q[:, i, j] @ r
    return out


# ------------------------------------------------------------------------------ relative logits
@pytest.mark.parametrize("B,H,W,d", [(2, 3, 3, 4), (1, 4, 6, 2), (3, 5, 2, 3), (1, 1, 4, 2)])
def test_relative_logits_2d_equals_naive_loop_with_gradients(B, H, W, d):
    g = generator(H * 10 + W)
    q = torch.randn(B, H, W, d, generator=g, dtype=DT, requires_grad=True)
    rel_h = torch.randn(2 * H - 1, d, generator=g, dtype=DT, requires_grad=True)
    rel_w = torch.randn(2 * W - 1, d, generator=g, dtype=DT, requires_grad=True)
    ours, ref = relative_logits_2d(q, rel_h, rel_w), _naive_relative_logits(q, rel_h, rel_w)
    assert ours.shape == (B, H * W, H * W)
    torch.testing.assert_close(ours, ref, rtol=1e-12, atol=1e-12)
    w = torch.randn(ours.shape, generator=g, dtype=DT)
    for a, b in zip(torch.autograd.grad((ours * w).sum(), [q, rel_h, rel_w]),
                    torch.autograd.grad((ref * w).sum(), [q, rel_h, rel_w])):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_relative_logits_depend_only_on_the_offset():
    # one query vector at every position: the logit of (query p, key p + delta) is the same for every
    # p where both lie on the map, and it is q . (rel_h[dy + H - 1] + rel_w[dx + W - 1])
    H, W, d = 4, 5, 3
    g = generator(3)
    q = torch.randn(d, generator=g, dtype=DT).expand(1, H, W, d)
    rel_h, rel_w = torch.randn(2 * H - 1, d, generator=g, dtype=DT), torch.randn(2 * W - 1, d, generator=g, dtype=DT)
    logits = relative_logits_2d(q, rel_h, rel_w)[0].view(H, W, H, W)
    for dy in range(-(H - 1), H):
        for dx in range(-(W - 1), W):
            expected = q[0, 0, 0] @ (rel_h[dy + H - 1] + rel_w[dx + W - 1])
            values = [logits[i, j, i + dy, j + dx] for i in range(H) for j in range(W)
                      if 0 <= i + dy < H and 0 <= j + dx < W]
            torch.testing.assert_close(torch.stack(values), expected.expand(len(values)), rtol=1e-12, atol=1e-12)


def test_pos_embed_rel_has_timm_parameter_names():
    pe = PosEmbedRel((3, 5), dim_head=4, scale=0.5)
    assert state_dict_shapes(pe) == {"height_rel": [5, 4], "width_rel": [9, 4]}
    assert "feat_size=(3, 5)" in repr(pe)


# ------------------------------------------------------------------------------ golden: timm BottleneckAttn
@pytest.mark.parametrize("name", ["s1_scaled", "s1_unscaled", "s2_scaled", "s2_unscaled"])
def test_golden_timm_bottleneck_attn(name):
    ref = torch.load(FIXTURES / f"bottleneck_attn_{name}_pos.pt")
    cfg = dict(ref["config"])  # timm's arguments: dim, feat_size, stride, num_heads, scale_pos_embed
    attn = BottleneckAttn(**cfg).to(DT).eval()
    attn.load_state_dict(ref["state_dict"], strict=True)
    with torch.no_grad():
        out = attn(ref["input"])
    assert out.shape == ref["logits"].shape
    torch.testing.assert_close(out, ref["logits"], rtol=0, atol=1e-10)
    # the other scaling gives another layer: the option really decides which logits are scaled
    other = BottleneckAttn(**{**cfg, "scale_pos_embed": not cfg["scale_pos_embed"]}).to(DT).eval()
    other.load_state_dict(ref["state_dict"], strict=True)
    with torch.no_grad():
        assert (other(ref["input"]) - ref["logits"]).abs().max() > 1e-3


def test_default_scaling_is_the_authors():
    # authors: softmax((q k^T + q r^T) / sqrt(d)); timm's default: softmax(q k^T / sqrt(d) + q r^T)
    assert BottleneckAttn(16, feat_size=4).scale_pos_embed is True
    attn = randomise(BottleneckAttn(8, feat_size=(3, 4), num_heads=2).to(DT), seed=4)
    x = torch.randn(2, 8, 3, 4, generator=generator(5), dtype=DT)
    q, k, _ = torch.split(attn.qkv(x), [8, 8, 8], dim=1)
    q = q.reshape(4, 4, 12).transpose(1, 2)  # (B*heads, HW, d)
    k = k.reshape(4, 4, 12)
    pos = _naive_relative_logits(q.reshape(4, 3, 4, 4), attn.pos_embed.height_rel, attn.pos_embed.width_rel)
    expected = ((q @ k + pos) / 2.0).view(2, 2, 12, 12)  # d = 4
    torch.testing.assert_close(attn.attention_logits(x), expected, rtol=1e-12, atol=1e-12)
    attn.scale_pos_embed = False
    torch.testing.assert_close(attn.attention_logits(x), (q @ k / 2.0 + pos).view(2, 2, 12, 12), rtol=1e-12, atol=1e-12)


# ------------------------------------------------------------------------------ translation
def test_circular_shift_keeps_every_logit_whose_offset_it_keeps():
    # Content logits move with the input; relative logits depend on the offset. A circular shift by
    # (sy, sx) keeps the offset of a (query, key) pair unless exactly one of the two wraps around, so
    # exactly those pairs keep their logit. (The softmax then sees different maps near the border:
    # the layer is not exactly shift-equivariant.)
    H, W, sy, sx = 5, 6, 2, 1
    attn = randomise(BottleneckAttn(8, feat_size=(H, W), num_heads=2).to(DT), seed=6, scale=0.5)
    x = torch.randn(1, 8, H, W, generator=generator(7), dtype=DT)
    before = attn.attention_logits(x)[0].view(2, H, W, H, W)
    after = attn.attention_logits(torch.roll(x, (sy, sx), dims=(2, 3)))[0].view(2, H, W, H, W)
    kept = changed = 0
    for i in range(H):
        for j in range(W):
            for k in range(H):
                for l in range(W):
                    i2, j2, k2, l2 = (i + sy) % H, (j + sx) % W, (k + sy) % H, (l + sx) % W
                    same_offset = (k2 - i2, l2 - j2) == (k - i, l - j)
                    diff = (after[:, i2, j2, k2, l2] - before[:, i, j, k, l]).abs().max()
                    if same_offset:
                        assert diff < 1e-12
                        kept += 1
                    else:
                        assert diff > 1e-6
                        changed += 1
    assert kept and changed


def test_without_position_tables_the_layer_is_shift_equivariant():
    attn = randomise(BottleneckAttn(8, feat_size=(4, 5), num_heads=2).to(DT), seed=8)
    with torch.no_grad():
        attn.pos_embed.height_rel.zero_()
        attn.pos_embed.width_rel.zero_()
    x = torch.randn(2, 8, 4, 5, generator=generator(9), dtype=DT)
    with torch.no_grad():
        torch.testing.assert_close(attn(torch.roll(x, (1, 3), (2, 3))), torch.roll(attn(x), (1, 3), (2, 3)),
                                   rtol=1e-12, atol=1e-12)


# ------------------------------------------------------------------------------ BoT50
def _bot50_expected_shapes() -> dict[str, list[int]]:
    """timm's resnet50 keys, with layer4.{i}.conv2.weight replaced by the attention's three tensors."""
    resnet = load_manifest("timm_resnet_state_dict_shapes.json")["resnet50"]
    out = {}
    for key, shape in resnet.items():
        if key.startswith("layer4.") and key.endswith(".conv2.weight"):
            block = int(key.split(".")[1])
            size = 14 if block == 0 else 7  # the strided block attends before it pools
            prefix = key[: -len("weight")]
            out[prefix + "qkv.weight"] = [3 * 512, 512, 1, 1]
            out[prefix + "pos_embed.height_rel"] = [2 * size - 1, 128]
            out[prefix + "pos_embed.width_rel"] = [2 * size - 1, 128]
        else:
            out[key] = shape
    return out


def test_bot50_state_dict_is_resnet50_with_attention_in_c5():
    with torch.device("meta"):
        model = models.create("botnet50")
    assert state_dict_shapes(model) == _bot50_expected_shapes()
    assert list(model.state_dict()) == list(_bot50_expected_shapes())
    assert [type(b.conv2).__name__ for b in model.layer4] == ["BottleneckAttn"] * 3
    assert [b.conv2.num_heads for b in model.layer4] == [4, 4, 4]


def test_bot50_parameters_by_hand():
    with torch.device("meta"):
        n = flops.count_params(models.create("botnet50"))
    resnet50 = 25_557_032  # timm / torchvision
    # three 3x3 convs 512->512 out, three 1x1 qkv convs 512->1536 in, tables of 27, 13, 13 rows x 128
    assert n == resnet50 - 3 * 512 * 512 * 9 + 3 * 1536 * 512 + 2 * (27 + 13 + 13) * 128


def test_bot50_published_sizes():
    # Srinivas et al. 2021, Table 1, at 1024x1024: BoT50 20.8M parameters, 102.98G M.Adds
    # (ResNet-50: 25.5M, 85.4G). The paper quotes no 224x224 figure for BoT50.
    with torch.device("meta"):
        big = models.create("botnet50", img_size=1024)
        bot224 = models.create("botnet50")
    assert abs(flops.count_params(big) / 20.8e6 - 1) < 0.01
    assert abs(flops.count_params(bot224) / 20.8e6 - 1) < 0.01
    macs = flops.count_macs(big, (1, 3, 1024, 1024))
    assert abs(macs / 102.98e9 - 1) < 0.03, macs
    assert abs(flops.count_macs(bot224, (1, 3, 224, 224)) / 4.025e9 - 1) < 0.001


def test_bot50_input_size_and_forward_shapes():
    model = models.create("botnet_tiny").eval()
    x = torch.randn(2, 3, 32, 32, generator=generator(10))
    assert model.forward_features(x).shape == (2, 128, 4, 4)
    assert model(x).shape == (2, 10)
    assert model.layer4[0].conv2.pos_embed.height == 8


def test_tiny_preset_learns_a_batch():
    torch.manual_seed(0)
    model = models.create("botnet_tiny")
    assert isinstance(model, BoTNet) and flops.count_params(model) < 100_000
    x = torch.randn(16, 3, 32, 32, generator=generator(11))
    y = torch.arange(16) % 10
    losses = train_losses(model, x, y, 25, torch.optim.AdamW(model.parameters(), lr=1e-2))
    assert losses[-1] < 0.5 * losses[0], (losses[0], losses[-1])


def test_aliases():
    assert models.resolve_name("bot50") == "botnet50"


# ------------------------------------------------------------------------------ bad input
def test_bad_input_messages():
    q = torch.zeros(2, 5, 6, 4)
    raises(ValueError, relative_logits_2d, q, torch.zeros(9, 4), torch.zeros(9, 4),
           must=("relative_logits_2d", "'rel_w'", "2*W-1 = 11", "W = 6", "got 9"))
    raises(ValueError, relative_logits_2d, q, torch.zeros(7, 4), torch.zeros(11, 4),
           must=("'rel_h'", "2*H-1 = 9", "H = 5", "got 7"))
    raises(ValueError, relative_logits_2d, q, torch.zeros(9, 3), torch.zeros(11, 4), must=("'rel_h'", "d = 4", "(9, 3)"))
    raises(ValueError, relative_logits_2d, torch.zeros(5, 6, 4), torch.zeros(9, 4), torch.zeros(11, 4),
           must=("'q'", "(B, H, W, d)", "(5, 6, 4)"))
    raises(TypeError, relative_logits_2d, q.numpy(), torch.zeros(9, 4), torch.zeros(11, 4), must=("'q'", "torch.Tensor"))
    attn = BottleneckAttn(16, feat_size=(6, 6), num_heads=4)
    raises(ValueError, attn, torch.zeros(1, 16, 7, 6), must=("BottleneckAttn.forward", "(B, 16, 6, 6)", "(1, 16, 7, 6)"))
    raises(ValueError, BottleneckAttn, 16, 10, (6, 6), 1, 4, must=("BottleneckAttn", "'num_heads'", "dim_out = 10", "4"))
    raises(ValueError, BottleneckAttn, 16, must=("BottleneckAttn", "'feat_size'"))
    raises(ValueError, BottleneckAttn, 16, feat_size=5, stride=2, must=("'feat_size'", "even"))
    model = models.create("botnet_tiny")
    raises(ValueError, model, torch.zeros(1, 3, 64, 64), must=("BoTNet.forward", "(B, 3, 32, 32)", "(1, 3, 64, 64)", "img_size=32"))
    raises(ValueError, BoTNetConfig, img_size=100, must=("BoTNetConfig", "'img_size'", "32", "100"))
    raises(ValueError, BoTNetConfig, num_heads=3, must=("BoTNetConfig", "'num_heads'", "512", "3"))
    raises(ValueError, BoTNetConfig, stride_in_1x1=True, must=("BoTNetConfig", "'stride_in_1x1'"))
    raises(TypeError, BoTNet, {"num_heads": 4}, must=("BoTNet", "BoTNetConfig"))
