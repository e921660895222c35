"""cnnvit_ref.mobilenet against the tables of Howard et al. 2017 (https://arxiv.org/abs/1704.04861)."""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from helpers import randomise, state_dict_shapes, train_losses
from cnnvit_ref import models
from cnnvit_ref.conv import DepthwiseSeparableConv2d
from cnnvit_ref.flops import count_macs, count_macs_by_module, count_params
from cnnvit_ref.mobilenet import MobileNetV1, MobileNetV1Config


def _meta(**kwargs):
    with torch.device("meta"):
        return models.create("mobilenet_v1", **kwargs)


def _bn(prefix, c):
    return {f"{prefix}.{k}": [c] for k in ("weight", "bias", "running_mean", "running_var")} | {
        f"{prefix}.num_batches_tracked": []}


def timm_mobilenetv1_100_layout():
    """Keys and shapes of timm's ``mobilenetv1_100``, written out by hand from its architecture definition
    (timm/models/efficientnet.py, ``_gen_mobilenet_v1``: stem 32; stages ``dsa_r1_k3_s1_c64``,
    ``dsa_r2_k3_s2_c128``, ``dsa_r2_k3_s2_c256``, ``dsa_r6_k3_s2_c512``, ``dsa_r2_k3_s2_c1024``; a 'dsa' block is
    ``DepthwiseSeparableConv``: conv_dw, bn1, conv_pw, bn2; no head conv; classifier 1024 -> 1000)."""
    layout = {"conv_stem.weight": [32, 3, 3, 3], **_bn("bn1", 32)}
    c_in = 32
    for stage, (c, repeats) in enumerate([(64, 1), (128, 2), (256, 2), (512, 6), (1024, 2)]):
        for i in range(repeats):
            p = f"blocks.{stage}.{i}"
            layout |= {f"{p}.conv_dw.weight": [c_in, 1, 3, 3], **_bn(f"{p}.bn1", c_in)}
            layout |= {f"{p}.conv_pw.weight": [c, c_in, 1, 1], **_bn(f"{p}.bn2", c)}
            c_in = c
    return layout | {"classifier.weight": [1000, 1024], "classifier.bias": [1000]}


def test_state_dict_is_timm_mobilenetv1_100_layout():
    """Same keys, shapes and key order as timm's model, so that its checkpoints load with strict=True."""
    expected = timm_mobilenetv1_100_layout()
    got = state_dict_shapes(_meta())
    assert len(expected) == 164
    assert list(got) == list(expected)
    assert got == expected


def test_sizes_match_table_8():
    """1.0 MobileNet-224: 4.2M parameters, 569M Mult-Adds (Table 8, and Tables 6/7's first rows)."""
    model = _meta()
    assert abs(count_params(model) / 4.2e6 - 1) < 0.01
    assert abs(count_macs(model, (1, 3, 224, 224)) / 569e6 - 1) < 0.03


# width multiplier alpha -> (Mult-Adds, parameters) of Table 6, printed to 1M and 0.1M
TABLE_6 = {0.75: (325e6, 2.6e6), 0.5: (149e6, 1.3e6), 0.25: (41e6, 0.5e6)}


@pytest.mark.parametrize("alpha", list(TABLE_6))
def test_width_multiplier_matches_table_6(alpha):
    mult_adds, params = TABLE_6[alpha]
    model = _meta(width_mult=alpha)
    assert abs(count_macs(model, (1, 3, 224, 224)) / mult_adds - 1) < 0.03
    assert abs(count_params(model) - params) <= 0.05e6  # the table rounds to 0.1M


@pytest.mark.parametrize("size, mult_adds", [(192, 418e6), (160, 290e6), (128, 186e6)])
def test_resolution_matches_table_7(size, mult_adds):
    assert abs(count_macs(_meta(), (1, 3, size, size)) / mult_adds - 1) < 0.03


def test_where_the_cost_is_matches_table_2():
    """Table 2: share of Mult-Adds / parameters by layer type (conv/FC weights, no BN, no biases).

    Seven of the table's eight entries are reproduced to its two decimals. The full 3x3 stem conv's
    Mult-Adds are checked against the conv formula instead (3*32*9*112*112 = 10.8M = 1.91 %); the
    printed entry for that cell is not used here.
    """
    model = _meta()
    by_module = count_macs_by_module(model, (1, 3, 224, 224))
    macs = {"conv": 0, "dw": 0, "pw": 0, "fc": 0}
    params = dict(macs)
    for name, m in model.named_modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            kind = "conv" if name == "conv_stem" else "fc" if isinstance(m, nn.Linear) else name.rsplit("_", 1)[-1]
            macs[kind] += by_module[name]
            params[kind] += m.weight.numel()
    assert sum(macs.values()) == by_module[""]
    share_macs = {k: 100 * v / by_module[""] for k, v in macs.items()}
    share_params = {k: 100 * v / sum(params.values()) for k, v in params.items()}
    for kind, published in [("pw", 94.86), ("dw", 3.06), ("fc", 0.18)]:
        assert abs(share_macs[kind] - published) < 0.006, (kind, share_macs[kind])
    for kind, published in [("pw", 74.59), ("dw", 1.06), ("conv", 0.02), ("fc", 24.33)]:
        assert abs(share_params[kind] - published) < 0.006, (kind, share_params[kind])
    assert macs["conv"] == 3 * 32 * 9 * 112 * 112


@pytest.mark.parametrize("M, N, k", [(32, 64, 3), (128, 256, 3), (16, 24, 5)])
def test_depthwise_separable_cost_ratio_is_eq_5(M, N, k):
    """Howard et al. Eq. 5: (k^2 M + M N) / (k^2 M N) = 1/N + 1/k^2, for Mult-Adds and for weights."""
    H = 14
    sep = DepthwiseSeparableConv2d(M, N, k, padding=k // 2, norm_act=True)
    full = nn.Conv2d(M, N, k, padding=k // 2, bias=False)
    ratio = count_macs(sep, (1, M, H, H)) / count_macs(full, (1, M, H, H))
    assert ratio == pytest.approx(1 / N + 1 / k**2, rel=1e-12)
    conv_weights = sep.conv_dw.weight.numel() + sep.conv_pw.weight.numel()
    assert conv_weights / full.weight.numel() == pytest.approx(1 / N + 1 / k**2, rel=1e-12)


def test_depthwise_conv_filters_each_channel_alone():
    """The depthwise conv equals one single-channel F.conv2d per channel, then the 1x1 mixes them."""
    torch.manual_seed(0)
    block = DepthwiseSeparableConv2d(4, 6, 3, stride=2, padding=1, norm_act=True).double()
    randomise(block, seed=1)
    with torch.no_grad():
        block.bn1.running_var.uniform_(0.5, 2.0)
        block.bn2.running_mean.normal_()
    block.eval()
    x = torch.randn(2, 4, 9, 9, dtype=torch.float64)
    per_channel = torch.cat(
        [F.conv2d(x[:, c : c + 1], block.conv_dw.weight[c : c + 1], stride=2, padding=1) for c in range(4)], dim=1
    )
    y = F.relu(block.bn1(per_channel))
    expected = F.relu(block.bn2(F.conv2d(y, block.conv_pw.weight)))
    torch.testing.assert_close(block(x), expected, rtol=1e-12, atol=1e-12)
    want = "in_channels=4, out_channels=6, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), norm_act=True"
    assert want in repr(block)


def tiny_twin() -> nn.Sequential:
    """``mobilenet_v1_tiny`` assembled by hand from torch layers: width 0.5 gives stem 16 and stage widths
    32, 64, 128, 256 (strides 1, 2, 2, 2; stride-1 stem); each block is
    3x3 depthwise -> BN -> ReLU -> 1x1 -> BN -> ReLU."""
    layers = [nn.Conv2d(3, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU()]
    c_in = 16
    for c, stride in [(32, 1), (64, 2), (128, 2), (256, 2)]:
        layers += [nn.Conv2d(c_in, c_in, 3, stride=stride, padding=1, groups=c_in, bias=False), nn.BatchNorm2d(c_in),
                   nn.ReLU(), nn.Conv2d(c_in, c, 1, bias=False), nn.BatchNorm2d(c), nn.ReLU()]
        c_in = c
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(256, 10))


def test_tiny_matches_a_twin_from_torch_layers():
    """forward = stem -> blocks -> pool -> classifier, checked against the hand-assembled twin (weights copied
    in state_dict order; BN statistics randomised so that eval-mode BN is not the identity)."""
    torch.manual_seed(0)
    tiny = randomise(models.create("mobilenet_v1_tiny").double(), seed=3)
    with torch.no_grad():
        for m in tiny.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.normal_()
                m.running_var.uniform_(0.5, 2.0)
    twin = tiny_twin().double()
    twin.load_state_dict(dict(zip(twin.state_dict(), tiny.state_dict().values())), strict=True)
    tiny.eval()
    twin.eval()
    x = torch.randn(2, 3, 32, 32, dtype=torch.float64)
    expected = twin(x)
    torch.testing.assert_close(tiny(x), expected, rtol=1e-12, atol=1e-12)
    f = tiny.forward_features(x)
    torch.testing.assert_close(f, twin[:-3](x), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(tiny.forward_head(f), expected, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(tiny.forward_head(f, pre_logits=True), twin[-3:-1](f), rtol=1e-12, atol=1e-12)


def test_shapes_and_presets():
    model = _meta()
    assert model.forward_features(torch.zeros(1, 3, 224, 224, device="meta")).shape == (1, 1024, 7, 7)
    tiny = models.create("mobilenet_v1_tiny").eval()
    x = torch.randn(2, 3, 32, 32)
    f = tiny.forward_features(x)
    assert f.shape == (2, 256, 4, 4) and tiny.num_features == 256
    assert tiny.forward_head(f, pre_logits=True).shape == (2, 256)
    assert tiny(x).shape == (2, 10)
    assert models.resolve_name("mobilenetv1_100") == "mobilenet_v1"
    assert isinstance(MobileNetV1(MobileNetV1Config(), num_classes=7).classifier, nn.Linear)


def test_tiny_mobilenet_learns():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(8, 3, 32, 32, generator=g)
    y = torch.randint(0, 10, (8,), generator=g)
    torch.manual_seed(0)
    model = models.create("mobilenet_v1_tiny")
    losses = train_losses(model, x, y, 15, torch.optim.Adam(model.parameters(), lr=1e-2))
    assert losses[-1] < 0.3 * losses[0], [round(v, 3) for v in losses]


def test_bad_input_messages():
    model = models.create("mobilenet_v1_tiny")
    with pytest.raises(ValueError, match=r"MobileNetV1.forward\(\): argument 'x' must be 4-D .*got 2-D"):
        model(torch.zeros(3, 32))
    with pytest.raises(ValueError, match=r"MobileNetV1.forward\(\): argument 'x' must have 3 channels .*\(1, 4, 32, 32\)"):
        model(torch.zeros(1, 4, 32, 32))
    with pytest.raises(ValueError, match=r"MobileNetV1Config\(\): argument 'width_mult' must be a positive number, got 0"):
        MobileNetV1Config(width_mult=0)
    with pytest.raises(TypeError, match=r"MobileNetV1Config\(\): every entry of 'stages' must be \(channels, blocks, stride\), got \(64, 1\)"):
        MobileNetV1Config(stages=((64, 1),))
    with pytest.raises(ValueError, match=r"MobileNetV1Config\(\): argument 'stages' must be a positive int, got 0"):
        MobileNetV1Config(stages=((64, 0, 1),))
    with pytest.raises(TypeError, match=r"MobileNetV1\(\): argument 'config' must be a MobileNetV1Config, got str"):
        MobileNetV1("mobilenet_v1")
    with pytest.raises(TypeError, match=r"mobilenet_v1\(\): unknown argument\(s\) \['alpha'\]; the MobileNetV1Config fields are"):
        models.create("mobilenet_v1", alpha=0.5)
