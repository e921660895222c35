"""cnnvit_ref.resnet against timm (state_dict layout, golden outputs) and the papers' tables.

Fixtures (tests/fixtures/, copied from /work/shared/reference/timm, made with timm 1.0.31):
``timm_resnet_state_dict_shapes.json`` (key -> shape of timm's resnet50 / seresnet50) and
``timm_{se,}resnet50_tiny.pt`` (config, float64 weights with non-trivial BN statistics, input,
timm's forward_features and logits in eval mode).
"""
from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from helpers import FIXTURES, state_dict_shapes, train_losses
from cnnvit_ref import models
from cnnvit_ref.flops import count_macs, count_params
from cnnvit_ref.resnet import Bottleneck, BasicBlock, ResNet, ResNetConfig, make_divisible

IMAGENET = (1, 3, 224, 224)


def _meta(name: str, **kwargs):
    with torch.device("meta"):
        return models.create(name, **kwargs)


# ---------------------------------------------------------------------------------------------
# timm compatibility
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["resnet50", "seresnet50"])
@pytest.mark.parametrize("stride_in_1x1", [False, True])
def test_state_dict_keys_and_shapes_equal_timm(name, stride_in_1x1):
    timm = json.loads((FIXTURES / "timm_resnet_state_dict_shapes.json").read_text())[name]
    ours = state_dict_shapes(_meta(name, stride_in_1x1=stride_in_1x1))
    assert set(ours) == set(timm), (sorted(set(ours) - set(timm))[:5], sorted(set(timm) - set(ours))[:5])
    assert ours == timm
    assert list(ours) == list(timm)  # same registration order too


@pytest.mark.parametrize(
    "fixture, preset", [("timm_resnet50_tiny", "resnet50_tiny"), ("timm_seresnet50_tiny", "seresnet50_tiny")]
)
def test_golden_outputs_of_timm(fixture, preset):
    ref = torch.load(FIXTURES / f"{fixture}.pt")
    # The fixture's config is in timm's argument names; timm's seresnet adds SE through
    # block_args=dict(attn_layer="se"), which the stored config leaves out (see its "family").
    se = "excitation" in ref["config"]["family"]
    cfg = ResNetConfig.from_timm(ref["config"], se=se)
    for model in (ResNet(cfg), models.create(preset)):
        model = model.double().eval()
        model.load_state_dict(ref["state_dict"], strict=True)
        with torch.no_grad():
            features = model.forward_features(ref["input"])
            logits = model.forward_head(features)
            assert features.shape == ref["features"].shape  # NCHW
            torch.testing.assert_close(features, ref["features"], atol=1e-10, rtol=1e-10)
            torch.testing.assert_close(logits, ref["logits"], atol=1e-10, rtol=1e-10)
            torch.testing.assert_close(model(ref["input"]), ref["logits"], atol=1e-10, rtol=1e-10)


def test_golden_fixture_fails_without_se_and_with_stride_in_1x1():
    """The golden test can fail: the wrong SE setting or stride placement does not reproduce timm."""
    ref = torch.load(FIXTURES / "timm_resnet50_tiny.pt")
    with pytest.raises(RuntimeError, match=r"Missing key\(s\) in state_dict: \"layer1.0.se.fc1.weight\""):
        ResNet(ResNetConfig.from_timm(ref["config"], se=True)).load_state_dict(ref["state_dict"], strict=True)
    v1 = ResNet(ResNetConfig.from_timm(ref["config"], stride_in_1x1=True)).double().eval()
    v1.load_state_dict(ref["state_dict"], strict=True)  # same parameters ...
    with torch.no_grad():
        assert (v1(ref["input"]) - ref["logits"]).abs().max() > 1e-3  # ... different function


def test_se_width_follows_timm_rounding():
    # timm's SEModule: make_divisible(C / 16, 8); Hu et al. use C / 16, equal at ResNet-50's widths.
    assert [make_divisible(c / 16, 8) for c in (32, 64, 128, 256, 2048)] == [8, 8, 8, 16, 128]
    assert all(make_divisible(c / 16, 8) == c // 16 for c in (256, 512, 1024, 2048))


# ---------------------------------------------------------------------------------------------
# published sizes: He et al. 2016 Table 1, Hu et al. 2018 Table 2, torchvision's model cards
# ---------------------------------------------------------------------------------------------
# name -> (parameters published by torchvision/timm, FLOPs (= MACs) in He et al. Table 1)
HE_TABLE_1 = {
    "resnet18": (11_689_512, 1.8e9),
    "resnet34": (21_797_672, 3.6e9),
    "resnet50": (25_557_032, 3.8e9),
    "resnet101": (44_549_160, 7.6e9),
    "resnet152": (60_192_808, 11.3e9),
}
# name -> (parameters, GFLOPs (= MACs)) in Hu et al. 2018 Table 2
HU_TABLE_2 = {"seresnet50": (28.09e6, 3.87e9), "seresnet101": (49.33e6, 7.60e9), "seresnet152": (66.82e6, 11.32e9)}


@pytest.mark.parametrize("name", list(HE_TABLE_1))
def test_resnet_sizes_match_he_table_1(name):
    params, flops = HE_TABLE_1[name]
    model = _meta(name, stride_in_1x1=True)  # the paper's block
    assert count_params(model) == params
    macs = count_macs(model, IMAGENET)
    assert abs(macs / flops - 1) < 0.03, f"{name}: {macs / 1e9:.3f} GMACs vs {flops / 1e9} in He et al. Table 1"


def test_resnet50_v15_default_costs_more_than_the_paper():
    """The timm/torchvision layout ("v1.5") strides the 3x3 conv: torchvision's card says 4.09 GFLOPS,
    8 % above He et al.'s 3.8; same parameters as the paper's v1 (25.6M, torchvision card)."""
    v15 = count_macs(_meta("resnet50"), IMAGENET)
    assert abs(v15 / 4.09e9 - 1) < 0.005
    assert v15 / 3.8e9 - 1 > 0.05
    assert abs(count_params(_meta("resnet50")) / 25.6e6 - 1) < 0.01


@pytest.mark.parametrize("name", list(HU_TABLE_2))
def test_seresnet_sizes_match_hu_table_2(name):
    params, flops = HU_TABLE_2[name]
    v1 = _meta(name, stride_in_1x1=True)
    assert abs(count_params(v1) / params - 1) < 0.001
    macs = count_macs(v1, IMAGENET)
    assert abs(macs / flops - 1) < 0.03, f"{name}: {macs / 1e9:.3f} GMACs vs {flops / 1e9} in Hu et al. Table 2"


def test_seresnet50_paper_flops_belong_to_stride_in_1x1():
    """Hu et al.'s 3.87 G is matched by the paper's placement (within 0.5 %), not by timm's default (+5.7 %)."""
    v1 = count_macs(_meta("seresnet50", stride_in_1x1=True), IMAGENET)
    v15 = count_macs(_meta("seresnet50"), IMAGENET)
    assert abs(v1 / 3.87e9 - 1) < 0.005
    assert v15 / 3.87e9 - 1 > 0.04
    # SE costs 0.26 % of ResNet-50 in the paper ("3.86 -> 3.87 GFLOPs")
    base = count_macs(_meta("resnet50", stride_in_1x1=True), IMAGENET)
    assert 0 < v1 / base - 1 < 0.005


# ---------------------------------------------------------------------------------------------
# behaviour
# ---------------------------------------------------------------------------------------------
def test_stride_placement_changes_where_the_resolution_halves():
    v15 = Bottleneck(8, 4, stride=2)
    v1 = Bottleneck(8, 4, stride=2, stride_in_1x1=True)
    assert (v15.conv1.stride, v15.conv2.stride) == ((1, 1), (2, 2))
    assert (v1.conv1.stride, v1.conv2.stride) == ((2, 2), (1, 1))
    # MACs of the residual branch from the conv formula C_out * C_in * k * k * Ho * Wo (BN/ReLU: none)
    H, h = 16, 8
    expected_v15 = 4 * 8 * H * H + 4 * 4 * 9 * h * h + 16 * 4 * h * h
    expected_v1 = 4 * 8 * h * h + 4 * 4 * 9 * h * h + 16 * 4 * h * h
    branch = lambda b: torch.nn.Sequential(b.conv1, b.bn1, b.act1, b.conv2, b.bn2, b.act2, b.conv3, b.bn3)
    assert count_macs(branch(v15), (1, 8, H, H)) == expected_v15
    assert count_macs(branch(v1), (1, 8, H, H)) == expected_v1
    assert branch(v15)(torch.randn(1, 8, H, H)).shape == branch(v1)(torch.randn(1, 8, H, H)).shape == (1, 16, h, h)


@pytest.mark.parametrize("block_cls", [BasicBlock, Bottleneck])
def test_zero_init_last_makes_each_block_start_as_relu_of_its_shortcut(block_cls):
    torch.manual_seed(0)
    model = ResNet(layers=(1, 1), channels=(4, 8), block="basic" if block_cls is BasicBlock else "bottleneck",
                   stem="cifar", stem_width=8, num_classes=3, se=True).double().eval()
    x = torch.randn(2, 8, 8, 8, dtype=torch.float64)
    for name in ("layer1", "layer2"):
        block = getattr(model, name)[0]
        shortcut = x if block.downsample is None else block.downsample(x)
        torch.testing.assert_close(block(x), F.relu(shortcut), rtol=0, atol=0)
        x = block(x)
    untouched = ResNet(layers=(1,), channels=(4,), stem="cifar", stem_width=8, zero_init_last=False)
    assert untouched.layer1[0].bn3.weight.abs().min() > 0


def test_forward_features_head_and_presets():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 32, 32)
    for name, C, hw in [("resnet_tiny", 128, 4), ("seresnet_tiny", 128, 4), ("resnet50_tiny", 256, 1)]:
        model = models.create(name).eval()
        f = model.forward_features(x)
        assert f.shape == (2, C, hw, hw) and model.num_features == C
        assert model.forward_head(f, pre_logits=True).shape == (2, C)
        # the head by hand: global average pool, then fc (timm's ClassifierHead)
        torch.testing.assert_close(model(x), f.mean(dim=(2, 3)) @ model.fc.weight.T + model.fc.bias)
        assert model(x).shape == (2, 10)
    assert models.resolve_name("resnet_50") == "resnet50"
    assert models.resolve_name("se_resnet50") == "seresnet50"
    assert "stride=2" in repr(models.create("resnet50_tiny").layer2[0])


def test_tiny_resnet_learns():
    """resnet_tiny and seresnet_tiny fit 8 random 32x32 images with random labels in 12 Adam steps."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(8, 3, 32, 32, generator=g)
    y = torch.randint(0, 10, (8,), generator=g)
    for name in ("resnet_tiny", "seresnet_tiny"):
        torch.manual_seed(0)
        model = models.create(name)
        losses = train_losses(model, x, y, 12, torch.optim.Adam(model.parameters(), lr=1e-2))
        assert losses[-1] < 0.3 * losses[0], (name, [round(v, 3) for v in losses])


# ---------------------------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------------------------
def test_bad_input_messages():
    model = models.create("resnet_tiny")
    with pytest.raises(ValueError, match=r"ResNet.forward\(\): argument 'x' must be 4-D .*got 3-D"):
        model(torch.zeros(3, 32, 32))
    with pytest.raises(ValueError, match=r"ResNet.forward\(\): argument 'x' must have 3 channels .*\(1, 1, 32, 32\)"):
        model(torch.zeros(1, 1, 32, 32))
    with pytest.raises(TypeError, match=r"ResNet.forward\(\): argument 'x' must be a floating-point tensor"):
        model(torch.zeros(1, 3, 32, 32, dtype=torch.long))
    with pytest.raises(ValueError, match=r"ResNetConfig\(\): 'layers' and 'channels' must have one entry per stage, got 2 and 3"):
        ResNetConfig(layers=(1, 1), channels=(8, 16, 32))
    with pytest.raises(ValueError, match=r"ResNetConfig\(\): argument 'block' must be one of \['basic', 'bottleneck'\], got 'wide'"):
        ResNetConfig(block="wide")
    with pytest.raises(ValueError, match=r"ResNetConfig\(\): argument 'layers' must be a positive int, got 0"):
        ResNetConfig(layers=(3, 0, 6, 3))
    with pytest.raises(ValueError, match=r"ResNetConfig\(\): argument 'stem' must be 'imagenet' or 'cifar', got 'deep'"):
        ResNetConfig(stem="deep")
    with pytest.raises(ValueError, match=r"from_timm\(\): only timm's default 7x7 stem .* got stem_type='deep'"):
        ResNetConfig.from_timm({"layers": [1, 1, 1, 1], "stem_type": "deep"})
    with pytest.raises(TypeError, match=r"ResNet\(\): argument 'config' must be a ResNetConfig, got dict"):
        ResNet({"layers": (1,)})
    with pytest.raises(TypeError, match=r"resnet50\(\): unknown argument\(s\) \['depth'\]; the ResNetConfig fields are \['layers'"):
        models.create("resnet50", depth=50)
