"""cnnvit_ref.flops against independent counts: the conv/linear/matmul formulas, module sums, memory."""
from __future__ import annotations

import gc
import time
from pathlib import Path

import pytest
import torch
import torch.nn as nn

from cnnvit_ref import models
from cnnvit_ref.attention import scaled_dot_product_attention
from cnnvit_ref.flops import count_macs, count_macs_by_module, count_params


def _conv_out(size: int, k: int, stride: int, padding: int, dilation: int) -> int:
    return (size + 2 * padding - dilation * (k - 1) - 1) // stride + 1


class SmallNet(nn.Module):
    """Convs with stride, padding, dilation, groups and bias, a pool, then two linears."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 5, stride=2, padding=2, bias=True),
            nn.BatchNorm2d(8),
            nn.ReLU(),
            nn.Conv2d(8, 12, 3, padding=2, dilation=2, groups=4, bias=False),
            nn.Conv2d(12, 12, 3, stride=2, padding=1, groups=12),
            nn.Conv2d(12, 16, 1),
            nn.MaxPool2d(2),
        )
        self.fc1 = nn.Linear(16 * 2 * 2, 32)
        self.fc2 = nn.Linear(32, 5)

    def forward(self, x):
        x = self.features(x).flatten(1)
        return self.fc2(torch.relu(self.fc1(x)))

    @staticmethod
    def analytic_macs(B: int, H: int, W: int) -> dict[str, int]:
        """sum over convs of C_out * C_in/groups * k * k * Ho * Wo, plus in * out per linear, times B."""
        out = {}
        for name, (cin, cout, k, s, p, d, g) in {
            "features.0": (3, 8, 5, 2, 2, 1, 1),
            "features.3": (8, 12, 3, 1, 2, 2, 4),
            "features.4": (12, 12, 3, 2, 1, 1, 12),
            "features.5": (12, 16, 1, 1, 0, 1, 1),
        }.items():
            H, W = _conv_out(H, k, s, p, d), _conv_out(W, k, s, p, d)
            out[name] = B * cout * (cin // g) * k * k * H * W
        out["fc1"] = B * 64 * 32
        out["fc2"] = B * 32 * 5
        return out


def test_count_macs_equals_the_conv_and_linear_formulas():
    for B in (1, 3):
        expected = SmallNet.analytic_macs(B, 16, 16)
        assert count_macs(SmallNet(), (B, 3, 16, 16)) == sum(expected.values())
        by_module = count_macs_by_module(SmallNet(), (B, 3, 16, 16))
        for name, macs in expected.items():
            assert by_module[name] == macs, name


def test_count_macs_sees_explicit_matmul_attention():
    """Q K^T and A V: 2 * B * heads * L * S * E MACs; softmax and scaling count nothing."""
    B, heads, L, S, E = 2, 3, 5, 7, 4

    class Attn(nn.Module):
        def forward(self, q):
            k = v = q.new_zeros(B, heads, S, E)
            return scaled_dot_product_attention(q, k, v)

    assert count_macs(Attn(), (B, heads, L, E)) == 2 * B * heads * L * S * E


def test_linear_on_tokens_and_norm_activation_are_counted_as_in_the_papers():
    tokens = nn.Sequential(nn.LayerNorm(8), nn.Linear(8, 24), nn.GELU(), nn.Softmax(-1))
    assert count_macs(tokens, (2, 10, 8)) == 2 * 10 * 8 * 24
    assert count_macs(nn.Sequential(nn.BatchNorm2d(4), nn.ReLU()), (1, 4, 8, 8)) == 0


def _resnet50_v15_macs_by_hand() -> int:
    """ResNet-50 v1.5 (timm's layout: stride in the 3x3 conv) at 224, one image, conv by conv."""
    macs = 64 * 3 * 7 * 7 * 112 * 112  # stem
    c_in, res = 64, 56  # after the max-pool
    for stage, (width, blocks) in enumerate([(64, 3), (128, 4), (256, 6), (512, 3)]):
        out = res if stage == 0 else res // 2
        for b in range(blocks):
            first = b == 0
            macs += (res if first else out) ** 2 * c_in * width  # 1x1 reduce (at the input resolution)
            macs += out * out * width * width * 9  # 3x3, strided in the first block
            macs += out * out * width * 4 * width  # 1x1 expand
            macs += out * out * c_in * 4 * width if first else 0  # projection shortcut
            c_in = 4 * width
        res = out
    return macs + 2048 * 1000  # fc


RESNET50_MACS = 4_089_184_256  # = _resnet50_v15_macs_by_hand(); torchvision's card: 4.09 GFLOPS


def test_resnet50_by_hand():
    assert _resnet50_v15_macs_by_hand() == RESNET50_MACS


def test_by_module_sums_are_consistent_on_resnet50():
    with torch.device("meta"):
        model = models.create("resnet50")
    by_module = count_macs_by_module(model, (2, 3, 224, 224))
    assert by_module[""] == 2 * RESNET50_MACS
    # every MAC happens in a Conv2d or the fc, and every container's count is the sum of its children's
    leaves = {n for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))}
    assert sum(by_module[n] for n in leaves) == by_module[""]
    for name, module in model.named_modules():
        children = [f"{name}.{c}" if name else c for c, _ in module.named_children()]
        if children and name in by_module:
            assert by_module[name] == sum(by_module.get(c, 0) for c in children), name
    # and a leaf's count is its formula: conv1 is 64 * 3 * 7 * 7 on a 112 x 112 map, per image
    assert by_module["conv1"] == 2 * 64 * 3 * 7 * 7 * 112 * 112
    assert by_module["fc"] == 2 * 2048 * 1000


def _rss_bytes() -> int | None:
    status = Path("/proc/self/status")
    if not status.exists():
        return None
    for line in status.read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return None


def test_meta_counting_of_resnet50_needs_no_memory_and_is_fast():
    if _rss_bytes() is None:
        pytest.skip("needs /proc/self/status (Linux)")
    gc.collect()
    before = _rss_bytes()
    t0 = time.perf_counter()
    macs = count_macs("resnet50", (8, 3, 224, 224))  # by name: built on the meta device
    elapsed = time.perf_counter() - t0
    grown = _rss_bytes() - before
    assert macs == 8 * RESNET50_MACS  # linear in the batch size
    assert elapsed < 60, elapsed  # a bound, not the budget (tools/benchmark.py measures that)
    # real fp32 weights alone would be 102 MB and the activations of 8 images several GB
    assert grown < 50e6, f"RSS grew by {grown / 1e6:.0f} MB"
    # the probe itself can see an allocation of that size
    before = _rss_bytes()
    real = torch.ones(25_557_032)  # resnet50's parameter count, in fp32
    assert _rss_bytes() - before > 80e6
    del real


def test_count_params():
    net = SmallNet()
    by_hand = (8 * 3 * 25 + 8) + 16 + (12 * 2 * 9) + (12 * 9 + 12) + (16 * 12 + 16) + (64 * 32 + 32) + (32 * 5 + 5)
    assert count_params(net) == by_hand
    net.fc1.requires_grad_(False)
    assert count_params(net, trainable_only=True) == by_hand - (64 * 32 + 32)
    tied = nn.Sequential(nn.Linear(4, 4, bias=False), nn.Linear(4, 4, bias=False))
    tied[1].weight = tied[0].weight
    assert count_params(tied) == 16  # a shared parameter is counted once


def test_counting_restores_training_mode_and_uses_eval():
    net = SmallNet().train()
    count_macs(net, (1, 3, 16, 16))
    assert net.training and all(m.training for m in net.modules())
    bn = net.features[1]
    assert bn.num_batches_tracked.item() == 0  # eval: the BN running statistics were not updated


def test_bad_input_messages():
    with pytest.raises(TypeError, match=r"count_macs\(\): argument 'model' must be an nn.Module or a preset name, got int"):
        count_macs(3, (1, 3, 8, 8))
    with pytest.raises(TypeError, match=r"count_macs_by_module\(\): argument 'model' must be an nn.Module or a preset name, got list"):
        count_macs_by_module([], (1, 3, 8, 8))
    for bad in [(1, 3, 0, 8), 224, (1, 3, 8.0, 8), (), (True, 3, 8, 8)]:
        with pytest.raises(ValueError, match=r"count_macs\(\): argument 'input_size' must be a tuple of positive ints, e.g. \(1, 3, 224, 224\), got"):
            count_macs(SmallNet(), bad)
    with pytest.raises(ValueError, match=r"count_macs_by_module\(\): argument 'input_size'"):
        count_macs_by_module(SmallNet(), [1, -3, 8, 8])
    with pytest.raises(ValueError, match=r"create\(\): unknown model name 'resnet_5O'; available: .*resnet50"):
        count_macs("resnet_5O", (1, 3, 224, 224))
    with pytest.raises(TypeError, match=r"count_params\(\): argument 'model' must be an nn.Module, got str"):
        count_params("resnet50")
