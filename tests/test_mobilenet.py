"""cnnvit_ref.mobilenet against the tables of Howard et al. 2017 (https://arxiv.org/abs/1704.04861)."""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from helpers import train_losses
from cnnvit_ref import models
from cnnvit_ref.flops import count_macs, count_macs_by_module, count_params
from cnnvit_ref.mobilenet import DepthwiseSeparableConv, MobileNetV1, MobileNetV1Config


def _meta(**kwargs):
    with torch.device("meta"):
        return models.create("mobilenet_v1", **kwargs)


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
    sep = DepthwiseSeparableConv(M, N, kernel_size=k)
    full = nn.Conv2d(M, N, k, padding=k // 2, bias=False)
    ratio = count_macs(sep, (1, M, H, H)) / count_macs(full, (1, M, H, H))
    assert ratio == pytest.approx(1 / N + 1 / k**2, rel=1e-12)
    conv_weights = sep.conv_dw.weight.numel() + sep.conv_pw.weight.numel()
    assert conv_weights / full.weight.numel() == pytest.approx(1 / N + 1 / k**2, rel=1e-12)


def test_depthwise_conv_filters_each_channel_alone():
    """The depthwise conv equals one single-channel F.conv2d per channel, then the 1x1 mixes them."""
    torch.manual_seed(0)
    block = DepthwiseSeparableConv(4, 6, stride=2).double().eval()
    x = torch.randn(2, 4, 9, 9, dtype=torch.float64)
    per_channel = torch.cat(
        [F.conv2d(x[:, c : c + 1], block.conv_dw.weight[c : c + 1], stride=2, padding=1) for c in range(4)], dim=1
    )
    y = F.relu(block.bn1(per_channel))
    expected = F.relu(block.bn2(F.conv2d(y, block.conv_pw.weight)))
    torch.testing.assert_close(block(x), expected, rtol=1e-12, atol=1e-12)
    assert "in_chs=4, out_chs=6, kernel_size=3, stride=2" in repr(block)


def test_shapes_and_presets():
    model = _meta()
    assert model.forward_features(torch.zeros(1, 3, 224, 224, device="meta")).shape == (1, 1024, 7, 7)
    tiny = models.create("mobilenet_v1_tiny").eval()
    x = torch.randn(2, 3, 32, 32)
    f = tiny.forward_features(x)
    assert f.shape == (2, 256, 4, 4) and tiny.num_features == 256
    assert tiny.forward_head(f, pre_logits=True).shape == (2, 256)
    torch.testing.assert_close(tiny(x), tiny.forward_head(f))
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
