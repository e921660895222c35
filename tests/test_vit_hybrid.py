"""Tests of cnnvit_ref.vit_hybrid (chapter 06) against real oracles.

Oracles: timm's outputs for its R50+ViT construction on a small configuration
(tests/fixtures/vit_hybrid_small_cfg.pt, timm 1.0.31), timm's state_dict layout and parameter count of
``vit_base_r50_s16_224`` (manifest), timm's published MACs, TensorFlow's "SAME" rule by hand, and the
torch twins (F.batch_norm for weight standardization, nn.GroupNorm, F.unfold via vit.patchify).
"""
from __future__ import annotations


import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from cnnvit_ref import flops, models
from cnnvit_ref.vit import patchify
from cnnvit_ref.vit_hybrid import (
    GroupNormAct,
    HybridViTConfig,
    HybridVisionTransformer,
    MaxPool2dSame,
    StdConv2dSame,
    hybrid_tokens,
    same_padding,
    standardize_weight,
)
from helpers import FIXTURES, generator, load_manifest, raises, state_dict_shapes, train_losses

MANIFEST = load_manifest("hybrids_manifest_convit_botnet_vithybrid.json")
DT = torch.float64


# ------------------------------------------------------------------------------ golden: timm
def test_golden_timm_hybrid_small_cfg():
    ref = torch.load(FIXTURES / "vit_hybrid_small_cfg.pt")
    assert ref["config"]["embed_dim"] == 48 and "layers=(1, 1), channels=(128, 128), stem_chs=32" in ref["config"]["backbone"]
    model = models.create("vit_tiny_r2_s8_32").to(DT).eval()
    model.load_state_dict(ref["state_dict"], strict=True)
    assert state_dict_shapes(model) == MANIFEST["vit_hybrid_small_cfg"]["state_dict"]
    with torch.no_grad():
        features = model.forward_features(ref["input"])
        torch.testing.assert_close(features, ref["features"], rtol=0, atol=1e-10)
        torch.testing.assert_close(model.forward_head(features), ref["logits"], rtol=0, atol=1e-10)
    # the fixture's StdConv2dSame used its default eps 1e-6; timm's hybrid presets pass 1e-8, which
    # changes the output by ~1e-6: the eps is part of the layout
    other = models.create("vit_tiny_r2_s8_32", std_eps=1e-8).to(DT).eval()
    other.load_state_dict(ref["state_dict"], strict=True)
    with torch.no_grad():
        assert (other.forward_features(ref["input"]) - ref["features"]).abs().max() > 1e-8


def test_full_preset_keys_shapes_order_and_params_match_timm():
    with torch.device("meta"):
        model = models.create("vit_base_r50_s16_224")
    expected = MANIFEST["vit_base_r50_s16_224"]
    assert state_dict_shapes(model) == expected["state_dict"]
    assert list(model.state_dict()) == list(expected["state_dict"])
    assert flops.count_params(model) == expected["params"] == 97_890_112
    assert isinstance(model.head, nn.Identity)  # timm's model of that name has no classifier
    assert model.patch_embed.num_patches == 196


def test_full_preset_macs():
    with torch.device("meta"):
        model = models.create("vit_base_r50_s16_224")
    macs = flops.count_macs_by_module(model, (1, 3, 224, 224))
    N, D = 197, 768  # 14 x 14 tokens + class token
    per_block = 4 * N * D * D + 2 * N * N * D + 8 * N * D * D  # qkv + proj, q k^T + A v, MLP 4x
    assert macs["blocks"] == 12 * per_block
    # the 1x1 projection of the stride-16 map, counted on patch_embed.proj (hooks see it)
    assert macs["patch_embed"] - macs["patch_embed.backbone"] == 196 * 1024 * 768
    assert macs["patch_embed.proj"] == 196 * 1024 * 768
    # timm's figure (results/benchmark-infer-amp-nchw-pt240-cu124-rtx3090.csv): 21.66 GMACs, 97.89M params
    assert abs(macs[""] / 21.66e9 - 1) < 0.03, macs[""]


# ------------------------------------------------------------------------------ pieces
@pytest.mark.parametrize("size,k,s,expected", [(224, 7, 2, (2, 3)), (112, 3, 2, (0, 1)), (56, 3, 1, (1, 1)),
                                               (7, 1, 1, (0, 0)), (15, 3, 2, (1, 1)), (28, 1, 2, (0, 0))])
def test_same_padding_by_hand(size, k, s, expected):
    # TensorFlow SAME: output ceil(size / s); total padding (out - 1) s + k - size, the odd pixel after
    assert same_padding(size, k, s) == expected


def test_standardize_weight_equals_batch_norm_twin():
    w = torch.randn(6, 3, 3, 3, generator=generator(1), dtype=DT) * 2 + 0.5
    twin = F.batch_norm(w.reshape(1, 6, -1), None, None, training=True, momentum=0.0, eps=1e-8).reshape_as(w)
    torch.testing.assert_close(standardize_weight(w, 1e-8), twin, rtol=1e-12, atol=1e-12)
    flat = standardize_weight(w, 0.0).reshape(6, -1)
    torch.testing.assert_close(flat.mean(1), torch.zeros(6, dtype=DT), rtol=0, atol=1e-12)
    torch.testing.assert_close(flat.pow(2).mean(1), torch.ones(6, dtype=DT), rtol=0, atol=1e-12)


def test_std_conv_same_output_size_and_padding():
    conv = StdConv2dSame(3, 4, 3, stride=2).to(DT)
    x = torch.randn(2, 3, 9, 10, generator=generator(2), dtype=DT)
    out = conv(x)
    assert out.shape == (2, 4, 5, 5)  # ceil(9/2), ceil(10/2)
    # 9: total 2 -> (1, 1); 10: total 1 -> (0, 1)
    ref = F.conv2d(F.pad(x, (0, 1, 1, 1)), standardize_weight(conv.weight, 1e-8), None, stride=2)
    torch.testing.assert_close(out, ref, rtol=0, atol=0)


def test_max_pool_same_pads_with_minus_infinity():
    x = -1 - torch.rand(1, 2, 7, 7, generator=generator(3), dtype=DT)  # all negative
    out = MaxPool2dSame(3, 2)(x)
    assert out.shape == (1, 2, 4, 4) and bool((out < -1 + 1e-12).all())  # a zero pad would show up as 0


def test_group_norm_act_equals_torch_twin():
    gn = GroupNormAct(64).to(DT)
    with torch.no_grad():
        gn.weight.copy_(torch.randn(64, generator=generator(4), dtype=DT))
        gn.bias.copy_(torch.randn(64, generator=generator(5), dtype=DT))
    twin = nn.GroupNorm(32, 64, eps=1e-5).to(DT)
    twin.load_state_dict(gn.state_dict())
    x = torch.randn(2, 64, 3, 3, generator=generator(6), dtype=DT)
    torch.testing.assert_close(gn(x), F.relu(twin(x)), rtol=0, atol=1e-14)
    assert "apply_act=True" in repr(gn)


@pytest.mark.parametrize("p", [1, 2])
def test_hybrid_tokens_are_projected_patches_with_gradients(p):
    fmap = torch.randn(2, 5, 4, 6, generator=generator(7), dtype=DT, requires_grad=True)
    weight = torch.randn(8, 5, p, p, generator=generator(8), dtype=DT, requires_grad=True)
    bias = torch.randn(8, generator=generator(9), dtype=DT, requires_grad=True)
    tokens = hybrid_tokens(fmap, weight, bias)
    ref = patchify(fmap, p) @ weight.flatten(1).T + bias  # (B, N, C p p) @ (C p p, D)
    assert tokens.shape == (2, (4 // p) * (6 // p), 8)
    torch.testing.assert_close(tokens, ref, rtol=1e-12, atol=1e-12)
    w = torch.randn(tokens.shape, generator=generator(10), dtype=DT)
    for a, b in zip(torch.autograd.grad((tokens * w).sum(), [fmap, weight, bias]),
                    torch.autograd.grad((ref * w).sum(), [fmap, weight, bias])):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


# ------------------------------------------------------------------------------ tiny preset
def test_tiny_preset_learns_a_batch():
    torch.manual_seed(0)
    model = models.create("vit_tiny_r2_s8_32")
    assert isinstance(model, HybridVisionTransformer) and flops.count_params(model) < 200_000
    x = torch.randn(16, 3, 32, 32, generator=generator(12))
    y = torch.arange(16) % 10
    losses = train_losses(model, x, y, 20, torch.optim.AdamW(model.parameters(), lr=3e-3))
    assert losses[-1] < 0.5 * losses[0], (losses[0], losses[-1])


def test_aliases():
    assert models.resolve_name("r50_vit_b16") == "vit_base_r50_s16_224"


# ------------------------------------------------------------------------------ bad input
def test_bad_input_messages():
    model = models.create("vit_tiny_r2_s8_32")
    raises(ValueError, model, torch.zeros(1, 3, 64, 64),
           must=("HybridVisionTransformer.forward", "'x'", "(B, 3, 32, 32)", "(1, 3, 64, 64)", "img_size=32"))
    raises(ValueError, HybridViTConfig, embed_dim=48, num_heads=5, must=("HybridViTConfig", "'num_heads'", "embed_dim = 48", "5"))
    raises(ValueError, HybridViTConfig, img_size=200, must=("HybridViTConfig", "'img_size'", "16", "200"))
    raises(ValueError, hybrid_tokens, torch.zeros(1, 5, 4, 4), torch.zeros(8, 6, 1, 1),
           must=("hybrid_tokens", "'weight'", "C = 5", "(8, 6, 1, 1)"))
    raises(ValueError, hybrid_tokens, torch.zeros(1, 5, 5, 4), torch.zeros(8, 5, 2, 2), must=("hybrid_tokens", "p = 2", "H = 5"))
    raises(ValueError, hybrid_tokens, torch.zeros(1, 5, 4, 4), torch.zeros(8, 5, 1, 1), torch.zeros(7),
           must=("'bias'", "(8,)", "(7)"))
    raises(ValueError, same_padding, 0, 3, 1, must=("same_padding", "'size'"))
    raises(TypeError, HybridVisionTransformer, {"depth": 2}, must=("HybridVisionTransformer", "HybridViTConfig"))


def test_patch_embed_equals_hybrid_tokens_of_the_backbone_map():
    torch.manual_seed(0)
    model = models.create("vit_tiny_r2_s8_32").double().eval()
    x = torch.randn(2, 3, 32, 32, dtype=torch.float64)
    fmap = model.patch_embed.backbone(x)
    expected = hybrid_tokens(fmap, model.patch_embed.proj.weight, model.patch_embed.proj.bias)
    torch.testing.assert_close(model.patch_embed(x), expected, rtol=0, atol=1e-12)
