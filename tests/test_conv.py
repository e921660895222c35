"""Tests of cnnvit_ref.conv against torch's own ops (F.conv2d, F.conv_transpose2d, F.conv1d,
F.grid_sample, autograd), timm's SE-ResNet-50 state_dict layout, the FLOP counter and exact identities."""
from __future__ import annotations

import itertools
import json
import math
from fractions import Fraction
from pathlib import Path

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from cnnvit_ref import conv
from cnnvit_ref.conv import (
    DeformConv2d,
    DepthwiseSeparableConv2d,
    SqueezeExcitation,
    conv1d,
    conv2d,
    conv_transpose2d,
    deform_conv2d,
    depthwise_separable_cost,
    make_divisible,
    ngram_features,
    receptive_field,
    spatially_separable_kernel,
    squeeze_excitation,
)
from cnnvit_ref.flops import count_macs, count_params

FIXTURES = Path(__file__).parent / "fixtures"
DT = torch.float64


def randn(*shape, seed=0, requires_grad=False, device="cpu"):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=DT).to(device).requires_grad_(requires_grad)


def grads(out, inputs, seed=99):
    """Gradients of <out, g> for a fixed random g (a full vector-Jacobian product)."""
    g = randn(*out.shape, seed=seed, device=out.device)
    return torch.autograd.grad((out * g).sum(), inputs)


def assert_same(got, expected, atol=1e-10, rtol=1e-9):
    assert got.shape == expected.shape, f"shape {tuple(got.shape)} != {tuple(expected.shape)}"
    torch.testing.assert_close(got, expected, atol=atol, rtol=rtol)


# --------------------------------------------------------------------------------------------
# conv2d == F.conv2d
# --------------------------------------------------------------------------------------------

# (C_in, C_out, groups): im2col path (<= 4 channels per group), shift-and-matmul path, depthwise
CHANNELS = [(3, 4, 1), (4, 6, 2), (6, 6, 3), (8, 6, 1), (12, 8, 2), (6, 6, 6), (4, 8, 4)]
GEOMETRY = [  # kernel, stride, padding, dilation
    ((3, 3), 1, 0, 1),
    ((3, 3), 1, 1, 1),
    ((3, 3), 2, 1, 1),
    ((3, 3), 1, 2, 2),
    ((2, 4), (2, 1), (1, 2), (1, 2)),
    ((1, 1), 1, 0, 1),
    ((1, 1), 2, 0, 1),
    ((5, 3), 3, (2, 0), 1),
    ((4, 4), 2, 1, (2, 1)),
]


@pytest.mark.parametrize("channels", CHANNELS, ids=lambda c: f"cin{c[0]}-cout{c[1]}-g{c[2]}")
@pytest.mark.parametrize("geometry", GEOMETRY, ids=lambda g: f"k{g[0]}-s{g[1]}-p{g[2]}-d{g[3]}")
def test_conv2d_matches_torch(channels, geometry):
    C_in, C_out, groups = channels
    kernel, stride, padding, dilation = geometry
    x = randn(2, C_in, 9, 11, seed=1, requires_grad=True)  # non-square
    w = randn(C_out, C_in // groups, *kernel, seed=2, requires_grad=True)
    b = randn(C_out, seed=3, requires_grad=True)
    got = conv2d(x, w, b, stride, padding, dilation, groups)
    expected = F.conv2d(x, w, b, stride, padding, dilation, groups)
    assert_same(got, expected)
    for g_got, g_exp in zip(grads(got, (x, w, b)), grads(expected, (x, w, b))):
        assert_same(g_got, g_exp)


@pytest.mark.parametrize("core", ["_conv2d_im2col", "_conv2d_shift_matmul"])
@pytest.mark.parametrize("groups", [1, 2, 6])
def test_both_conv2d_algorithms_match_torch(core, groups):
    """Each algorithm on its own, whatever the dispatch rule picks."""
    x = randn(2, 6, 10, 7, seed=4)
    w = randn(6, 6 // groups, 3, 2, seed=5)
    fn = getattr(conv, core)
    for stride, pad, dil in [((1, 1), (0, 0, 0, 0), (1, 1)), ((2, 3), (1, 1, 2, 2), (2, 1))]:
        expected = F.conv2d(x, w, None, stride, (pad[0], pad[2]), dil, groups)
        got = fn(x, w, stride, pad, dil, groups, tuple(expected.shape[-2:]))
        assert_same(got, expected)


@pytest.mark.parametrize("padding", ["same", "valid"])
@pytest.mark.parametrize("kernel,dilation", [((3, 3), 1), ((4, 2), (1, 3)), ((2, 5), 2)])
def test_conv2d_string_padding(padding, kernel, dilation):
    x = randn(2, 5, 8, 9, seed=6)
    w = randn(7, 5, *kernel, seed=7)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch warns that even kernels need an asymmetric copy
        expected = F.conv2d(x, w, padding=padding, dilation=dilation)
    assert_same(conv2d(x, w, padding=padding, dilation=dilation), expected)


def test_conv2d_unbatched_noncontiguous_and_float32():
    x = randn(2, 9, 8, 5, seed=8).permute(0, 3, 1, 2)  # (2, 5, 9, 8), not contiguous
    w = randn(6, 8, 3, 3, seed=9)[:, ::2]  # (6, 4, 3, 3), not contiguous
    x = x[:, :4]
    assert_same(conv2d(x, w, padding=1), F.conv2d(x, w, padding=1))
    assert_same(conv2d(x[0], w, stride=2), F.conv2d(x[0], w, stride=2))  # (C, H, W) input
    xf, wf = x.float(), w.float()
    got = conv2d(xf, wf, padding=1)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, F.conv2d(xf, wf, padding=1), atol=1e-4, rtol=1e-4)


def test_conv2d_does_not_call_torch_convolution():
    from torch.utils._python_dispatch import TorchDispatchMode

    seen = []

    class Watch(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            seen.append(func.overloadpacket.__name__)
            return func(*args, **(kwargs or {}))

    x, w = randn(1, 8, 6, 6, requires_grad=True), randn(8, 8, 3, 3)
    wt = randn(8, 4, 3, 3)
    off = randn(1, 18, 4, 4)
    with Watch():
        conv2d(x, w, padding=1).sum().backward()
        conv2d(x[:, :3], w[:, :3])  # im2col path
        conv1d(x[:, :, 0], w[:, :, 0])
        conv_transpose2d(x, wt, stride=2)
        deform_conv2d(x, off, w)
    assert seen, "the dispatch watcher saw nothing"
    assert not [op for op in seen if "conv" in op], sorted(set(seen))


# --------------------------------------------------------------------------------------------
# conv1d == F.conv1d
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "C_in,C_out,groups,k,stride,padding,dilation",
    [(3, 5, 1, 3, 1, 0, 1), (4, 6, 2, 2, 2, 1, 1), (8, 8, 8, 3, 1, 2, 2), (10, 4, 2, 5, 3, 2, 1),
     (6, 6, 1, 3, 1, "same", 2), (6, 4, 1, 4, 1, "same", 1), (6, 4, 1, 4, 1, "valid", 1)],
)
def test_conv1d_matches_torch(C_in, C_out, groups, k, stride, padding, dilation):
    x = randn(3, C_in, 17, seed=10, requires_grad=True)
    w = randn(C_out, C_in // groups, k, seed=11, requires_grad=True)
    b = randn(C_out, seed=12, requires_grad=True)
    got = conv1d(x, w, b, stride, padding, dilation, groups)
    expected = F.conv1d(x, w, b, stride, padding, dilation, groups)
    assert_same(got, expected)
    for g_got, g_exp in zip(grads(got, (x, w, b)), grads(expected, (x, w, b))):
        assert_same(g_got, g_exp)
    assert_same(conv1d(x[0], w, b, stride, padding, dilation, groups),
                 F.conv1d(x[0], w, b, stride, padding, dilation, groups))


# --------------------------------------------------------------------------------------------
# conv_transpose2d == F.conv_transpose2d == d conv2d / d input
# --------------------------------------------------------------------------------------------

TRANSPOSED = [  # kernel, stride, padding, output_padding, dilation, (C_in, C_out, groups)
    ((3, 3), 1, 0, 0, 1, (4, 6, 1)),
    ((3, 3), 2, 1, 1, 1, (4, 6, 2)),
    ((4, 4), 2, 1, 0, 1, (6, 4, 1)),
    ((3, 2), (2, 3), (1, 0), (1, 2), 1, (4, 4, 4)),
    ((3, 3), 1, 2, 1, 2, (4, 6, 2)),  # output_padding < dilation (stride 1)
    ((2, 3), 3, (0, 2), (2, 1), (2, 1), (3, 6, 3)),
    ((1, 1), 2, 0, 1, 1, (5, 3, 1)),
]


@pytest.mark.parametrize("case", TRANSPOSED, ids=lambda c: f"k{c[0]}-s{c[1]}-p{c[2]}-op{c[3]}-d{c[4]}-g{c[5][2]}")
def test_conv_transpose2d_matches_torch(case):
    kernel, stride, padding, output_padding, dilation, (C_in, C_out, groups) = case
    x = randn(2, C_in, 5, 6, seed=13, requires_grad=True)
    w = randn(C_in, C_out // groups, *kernel, seed=14, requires_grad=True)
    b = randn(C_out, seed=15, requires_grad=True)
    got = conv_transpose2d(x, w, b, stride, padding, output_padding, groups, dilation)
    expected = F.conv_transpose2d(x, w, b, stride, padding, output_padding, groups, dilation)
    assert_same(got, expected)
    for g_got, g_exp in zip(grads(got, (x, w, b)), grads(expected, (x, w, b))):
        assert_same(g_got, g_exp)
    assert_same(conv_transpose2d(x[1], w, b, stride, padding, output_padding, groups, dilation),
                 F.conv_transpose2d(x[1], w, b, stride, padding, output_padding, groups, dilation))


@pytest.mark.parametrize("case", TRANSPOSED, ids=lambda c: f"k{c[0]}-s{c[1]}-p{c[2]}-d{c[4]}-g{c[5][2]}")
def test_conv_transpose2d_is_the_input_gradient_of_conv2d(case):
    """conv_transpose2d(g, W) = d<conv2d(x, W), g>/dx, for the x size that output_padding selects."""
    kernel, stride, padding, _, dilation, (C_in, C_out, groups) = case
    s, p, d = (torch.nn.modules.utils._pair(v) for v in (stride, padding, dilation))
    w = randn(C_in, C_out // groups, *kernel, seed=16)  # conv2d weight (C_out', C_in'/groups) = (C_in, C_out/groups)
    for H, W in [(11, 9), (12, 10)]:
        x = randn(1, C_out, H, W, seed=17, requires_grad=True)
        y = F.conv2d(x, w, None, s, p, d, groups)  # torch's conv: the oracle of the identity
        g = randn(*y.shape, seed=18)
        (dx,) = torch.autograd.grad(y, x, g)
        op = tuple((n + 2 * pi - di * (k - 1) - 1) % si for n, pi, di, k, si in zip((H, W), p, d, kernel, s))
        assert_same(conv_transpose2d(g, w, None, s, p, op, groups, d), dx)
        # and our own conv2d has the same input-gradient
        x2 = x.detach().requires_grad_(True)
        (dx2,) = torch.autograd.grad(conv2d(x2, w, None, s, p, d, groups), x2, g)
        assert_same(dx2, dx)


def test_conv_transpose2d_checkerboard():
    """Odena et al. 2016: kernel 3, stride 2 covers output pixels unevenly (1, 2, 4 overlaps);
    kernel 4, stride 2 (divisible) covers the interior evenly."""
    x = torch.ones(1, 1, 6, 6, dtype=DT)
    uneven = conv_transpose2d(x, torch.ones(1, 1, 3, 3, dtype=DT), stride=2)[0, 0, 2:-2, 2:-2]
    even = conv_transpose2d(x, torch.ones(1, 1, 4, 4, dtype=DT), stride=2)[0, 0, 2:-2, 2:-2]
    assert set(uneven.unique().tolist()) == {1.0, 2.0, 4.0}
    assert uneven[0, 0] == 4.0 and uneven[0, 1] == 2.0 and uneven[1, 1] == 1.0  # a checkerboard
    assert set(even.unique().tolist()) == {4.0}


# --------------------------------------------------------------------------------------------
# deform_conv2d: the torchvision contract, checked without torchvision
# --------------------------------------------------------------------------------------------


def deform_oracle(x, offset, weight, bias, stride, padding, dilation, mask):
    """torchvision's deform_conv2d written with F.grid_sample (bilinear, zeros, align_corners=True)."""
    B, C_in, H, W = x.shape
    C_out, C_in_g, kh, kw = weight.shape
    groups = C_in // C_in_g
    K = kh * kw
    Ho, Wo = offset.shape[-2:]
    G_off = offset.shape[1] // (2 * K)
    samples = []  # per channel group of the offsets: (B, C_in/G_off, K, Ho, Wo)
    for g in range(G_off):
        taps = []
        for i, j in itertools.product(range(kh), range(kw)):
            k = i * kw + j
            dy = offset[:, g * 2 * K + 2 * k]
            dx = offset[:, g * 2 * K + 2 * k + 1]
            py = (torch.arange(Ho, dtype=DT) * stride[0] - padding[0] + i * dilation[0]).view(1, Ho, 1) + dy
            px = (torch.arange(Wo, dtype=DT) * stride[1] - padding[1] + j * dilation[1]).view(1, 1, Wo) + dx
            grid = torch.stack([2 * px / (W - 1) - 1, 2 * py / (H - 1) - 1], dim=-1)  # (B, Ho, Wo, 2) as (x, y)
            xs = x[:, g * C_in // G_off:(g + 1) * C_in // G_off]
            s = F.grid_sample(xs, grid, mode="bilinear", padding_mode="zeros", align_corners=True)
            if mask is not None:
                s = s * mask[:, g * K + k].unsqueeze(1)
            taps.append(s)
        samples.append(torch.stack(taps, dim=2))
    cols = torch.cat(samples, dim=1)  # (B, C_in, K, Ho, Wo)
    cols = cols.view(B, groups, C_in_g * K, Ho * Wo)
    out = torch.matmul(weight.view(groups, C_out // groups, C_in_g * K), cols).view(B, C_out, Ho, Wo)
    return out if bias is None else out + bias.view(1, -1, 1, 1)


DEFORM = [  # C_in, C_out, groups, offset_groups, kernel, stride, padding, dilation
    (3, 4, 1, 1, (3, 3), (1, 1), (1, 1), (1, 1)),
    (4, 6, 2, 2, (3, 2), (2, 1), (1, 0), (1, 2)),
    (6, 3, 3, 1, (2, 2), (1, 2), (0, 1), (2, 1)),
    (4, 4, 1, 4, (1, 3), (1, 1), (0, 2), (1, 1)),
]


@pytest.mark.parametrize("case", DEFORM)
@pytest.mark.parametrize("modulated", [False, True])
def test_deform_conv2d_matches_grid_sample_oracle(case, modulated):
    """Random fractional offsets large enough to leave the image: values and every gradient."""
    C_in, C_out, groups, G_off, kernel, stride, padding, dilation = case
    B, H, W = 2, 6, 7
    x = randn(B, C_in, H, W, seed=20, requires_grad=True)
    w = randn(C_out, C_in // groups, *kernel, seed=21, requires_grad=True)
    b = randn(C_out, seed=22, requires_grad=True)
    Ho = (H + 2 * padding[0] - dilation[0] * (kernel[0] - 1) - 1) // stride[0] + 1
    Wo = (W + 2 * padding[1] - dilation[1] * (kernel[1] - 1) - 1) // stride[1] + 1
    K = kernel[0] * kernel[1]
    off = (2.5 * randn(B, 2 * G_off * K, Ho, Wo, seed=23)).requires_grad_(True)
    m = torch.rand(B, G_off * K, Ho, Wo, generator=torch.Generator().manual_seed(24), dtype=DT).requires_grad_(True)
    m_arg = m if modulated else None
    got = deform_conv2d(x, off, w, b, stride, padding, dilation, mask=m_arg)
    expected = deform_oracle(x, off, w, b, stride, padding, dilation, m_arg)
    assert_same(got, expected)
    inputs = (x, off, w, b, m) if modulated else (x, off, w, b)
    for name, g_got, g_exp in zip("x offset weight bias mask".split(), grads(got, inputs), grads(expected, inputs)):
        torch.testing.assert_close(g_got, g_exp, atol=1e-10, rtol=1e-9, msg=lambda m: f"grad {name}: {m}")


def test_deform_conv2d_rim_and_outside_follow_torchvision():
    """A point in the one-pixel rim (-1, 0) blends only its valid corner; at or beyond -1 / H it is 0."""
    x = randn(1, 1, 4, 5, seed=25)
    w = torch.ones(1, 1, 1, 1, dtype=DT)
    off = torch.zeros(1, 2, 4, 5, dtype=DT)
    off[:, 0] = -0.25  # every sample 0.25 rows up: row 0 mixes the zero row -1 (weight 0.25)
    got = deform_conv2d(x, off, w)
    expected = x.clone()
    expected[..., 1:, :] = 0.75 * x[..., 1:, :] + 0.25 * x[..., :-1, :]
    expected[..., 0, :] = 0.75 * x[..., 0, :]
    assert_same(got, expected)
    off[:, 0] = -5.0  # everything far above the image
    assert_same(deform_conv2d(x, off, w), torch.zeros_like(x))
    off[:, 0] = 4.0 - torch.arange(4, dtype=DT).view(4, 1)  # exactly y = H for every output row
    assert_same(deform_conv2d(x, off, w), torch.zeros_like(x))


@pytest.mark.parametrize("case", DEFORM)
def test_deform_conv2d_zero_offset_is_conv2d(case):
    C_in, C_out, groups, G_off, kernel, stride, padding, dilation = case
    x = randn(2, C_in, 7, 6, seed=26)
    w = randn(C_out, C_in // groups, *kernel, seed=27)
    b = randn(C_out, seed=28)
    expected = F.conv2d(x, w, b, stride, padding, dilation, groups)
    off = torch.zeros(2, 2 * G_off * kernel[0] * kernel[1], *expected.shape[-2:], dtype=DT)
    assert_same(deform_conv2d(x, off, w, b, stride, padding, dilation), expected)
    ones = torch.ones(2, G_off * kernel[0] * kernel[1], *expected.shape[-2:], dtype=DT)
    assert_same(deform_conv2d(x, off, w, b, stride, padding, dilation, mask=ones), expected)  # mask 1 = no mask
    bias_only = b.view(1, -1, 1, 1).expand_as(expected)
    assert_same(deform_conv2d(x, off, w, b, stride, padding, dilation, mask=0 * ones), bias_only)  # mask 0


@pytest.mark.parametrize("dy,dx", [(1, 0), (0, -2), (-1, 3), (2, 2)])
def test_deform_conv2d_integer_offset_is_conv_of_shifted_input(dy, dx):
    """The same integer offset (dy, dx) at every tap = a plain conv of the zero-padded input moved by (-dy, -dx)."""
    x = randn(2, 3, 7, 8, seed=29)
    w = randn(4, 3, 3, 3, seed=30)
    # pad by 1 (the conv's padding) and shift in one go: shifted[y, x] = x[y - 1 + dy, x - 1 + dx], zeros outside
    shifted = F.pad(x, (1 - dx, 1 + dx, 1 - dy, 1 + dy))  # negative pads crop
    expected = F.conv2d(shifted, w)
    off = torch.zeros(2, 18, 7, 8, dtype=DT)
    off[:, 0::2], off[:, 1::2] = dy, dx  # channel 2k is dy, 2k + 1 is dx
    assert_same(deform_conv2d(x, off, w, padding=1), expected)


def test_deform_conv2d_per_tap_offsets_make_a_dilated_conv():
    """Offsets (i (dh - 1), j (dw - 1)) on tap (i, j) turn a conv into a dilated one: checks the
    row-major tap order and the (dy, dx) order with a non-square kernel and unequal rates."""
    x = randn(2, 3, 9, 10, seed=31)
    w = randn(5, 3, 3, 2, seed=32)
    # deform's output grid is that of the undilated 3x2 kernel with padding 1; pad the dilated conv's
    # input by (d - 1)(k - 1) more at the bottom/right so that it has the same grid
    expected = F.conv2d(F.pad(x, (1, 1 + 2 * 1, 1, 1 + 1 * 2)), w, dilation=(2, 3))
    off = torch.zeros(2, 2 * 6, *expected.shape[-2:], dtype=DT)
    assert expected.shape[-2:] == (9, 11)
    for i, j in itertools.product(range(3), range(2)):
        off[:, 2 * (i * 2 + j)] = i * (2 - 1)
        off[:, 2 * (i * 2 + j) + 1] = j * (3 - 1)
    assert_same(deform_conv2d(x, off, w, padding=1), expected)


def test_deform_conv2d_offset_groups_move_their_own_channels():
    x = randn(1, 4, 6, 6, seed=33)
    w = randn(2, 4, 3, 3, seed=34)
    off = torch.zeros(1, 2 * 2 * 9, 4, 4, dtype=DT)
    off[:, 18 + 1::2] = 1.0  # offset group 1 (channels 2, 3): dx = +1
    shifted = torch.cat([x[:, :2], F.pad(x[:, 2:], (-1, 1, 0, 0))], dim=1)
    assert_same(deform_conv2d(x, off, w), F.conv2d(shifted, w))


def test_deform_conv2d_fractional_offset_is_a_bilinear_blend():
    """A 1x1 identity kernel with one fractional offset returns F.grid_sample's bilinear sample."""
    x = randn(1, 2, 4, 5, seed=35)
    w = torch.eye(2, dtype=DT).view(2, 2, 1, 1)
    dy, dx = 0.3, -0.6
    off = torch.tensor([dy, dx], dtype=DT).view(1, 2, 1, 1).expand(1, 2, 4, 5).contiguous()
    ys = torch.arange(4, dtype=DT).view(4, 1).expand(4, 5) + dy
    xs = torch.arange(5, dtype=DT).view(1, 5).expand(4, 5) + dx
    grid = torch.stack([2 * xs / 4 - 1, 2 * ys / 3 - 1], dim=-1)[None]
    expected = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=True)
    assert_same(deform_conv2d(x, off, w), expected)
    # by hand at pixel (1, 2): rows 1, 2 and columns 1, 2 blended with weights 0.7/0.3 and 0.6/0.4
    hand = 0.7 * (0.6 * x[0, :, 1, 1] + 0.4 * x[0, :, 1, 2]) + 0.3 * (0.6 * x[0, :, 2, 1] + 0.4 * x[0, :, 2, 2])
    assert_same(deform_conv2d(x, off, w)[0, :, 1, 2], hand)


def test_deform_conv2d_gradcheck():
    x = randn(1, 2, 4, 4, seed=36, requires_grad=True)
    w = randn(2, 1, 2, 2, seed=37, requires_grad=True)  # groups = 2
    b = randn(2, seed=38, requires_grad=True)
    off = (0.7 * randn(1, 2 * 2 * 4, 5, 4, seed=39)).requires_grad_(True)  # offset_groups = 2
    m = torch.rand(1, 2 * 4, 5, 4, generator=torch.Generator().manual_seed(40), dtype=DT).requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda x, off, w, b, m: deform_conv2d(x, off, w, b, padding=1, dilation=(1, 2), mask=m),
        (x, off, w, b, m),
    )


def test_deform_conv_module_at_init_is_a_plain_conv():
    torch.manual_seed(0)
    layer = DeformConv2d(4, 6, 3, stride=2, padding=1, dilation=1, groups=2, offset_groups=2).double()
    assert layer.conv_offset.out_channels == 2 * 2 * 9
    assert not layer.conv_offset.weight.any() and not layer.conv_offset.bias.any()
    x = randn(2, 4, 9, 8, seed=41)
    assert_same(layer(x), F.conv2d(x, layer.weight, layer.bias, 2, 1, 1, 2))
    # DCNv2: masks start at sigmoid(0) = 0.5, so the layer starts as the conv with half the weights
    mod = DeformConv2d(4, 6, (3, 2), padding=(1, 0), modulated=True).double()
    assert mod.conv_offset.out_channels == 3 * 6
    assert_same(mod(x), F.conv2d(x, 0.5 * mod.weight, mod.bias, 1, (1, 0)))
    # the offset branch gets a gradient, so the offsets can learn
    mod(x).square().sum().backward()
    assert mod.conv_offset.weight.grad.abs().sum() > 0
    assert "modulated=True" in repr(mod)


# --------------------------------------------------------------------------------------------
# squeeze-and-excitation
# --------------------------------------------------------------------------------------------


def test_se_module_has_timm_state_dict_layout():
    """Every SE block of timm's seresnet50 (fixture from its manifest) has our keys and shapes."""
    ref = json.loads((FIXTURES / "conv_seresnet50_se_keys.json").read_text())["state_dict"]
    blocks = sorted({k.rsplit(".", 2)[0] for k in ref})
    assert len(blocks) == 16  # 3 + 4 + 6 + 3 bottlenecks
    for block in blocks:
        C, rd = ref[f"{block}.fc1.weight"][1], ref[f"{block}.fc1.weight"][0]
        se = SqueezeExcitation(C, rd)
        ours = {f"{block}.{k}": list(v.shape) for k, v in se.state_dict().items()}
        assert ours == {k: v for k, v in ref.items() if k.startswith(block + ".")}


def test_make_divisible_hand_derived():
    """timm's rule: round(v / 8) * 8, at least 8, bumped by 8 if that lost more than 10 % of v."""
    assert make_divisible(10) == 16  # round(10 / 8) * 8 = 8 < 0.9 * 10, so 8 + 8
    assert make_divisible(12) == 16  # int(12 + 4) // 8 * 8 = 16
    assert make_divisible(100) == 104  # int(104) // 8 * 8 = 104 >= 90
    assert make_divisible(3) == 8  # the minimum, one divisor
    assert make_divisible(2048 / 16) == 128 and make_divisible(0.75 * 32) == 24  # SE width; MobileNet alpha
    assert make_divisible(30, 4, min_value=16) == 32  # int(32) // 4 * 4


def test_se_module_loads_timm_weights_and_equals_functional():
    sd = torch.load(FIXTURES / "conv_seresnet50_tiny_se.pt")["state_dict"]  # timm layer1.0.se of a tiny SE-ResNet
    C, rd = sd["fc1.weight"].shape[1], sd["fc1.weight"].shape[0]
    se = SqueezeExcitation(C, rd).double()
    se.load_state_dict(sd, strict=True)
    x = randn(2, C, 5, 4, seed=42)
    got = se(x)
    functional = squeeze_excitation(x, sd["fc1.weight"].view(rd, C), sd["fc1.bias"], sd["fc2.weight"].view(C, rd),
                                    sd["fc2.bias"])
    assert_same(got, functional)
    # independent composition from torch ops: avg pool -> linear -> relu -> linear -> sigmoid -> scale
    s = F.adaptive_avg_pool2d(x, 1).flatten(1)
    gate = torch.sigmoid(F.linear(F.relu(F.linear(s, sd["fc1.weight"].flatten(1), sd["fc1.bias"])),
                                  sd["fc2.weight"].flatten(1), sd["fc2.bias"]))
    assert_same(got, x * gate[:, :, None, None])
    assert "rd_channels=8" in repr(se)


# --------------------------------------------------------------------------------------------
# receptive fields, costs, separable kernels
# --------------------------------------------------------------------------------------------


def empirical_receptive_field(kernels, strides, dilations):
    """Build the real stack (all weights 1), backprop from the centre output pixel and measure the
    extent of the non-zero input gradient along each axis."""
    layers = [nn.Conv2d(1, 1, k, stride=s, dilation=d, bias=False) for k, s, d in zip(kernels, strides, dilations)]
    for layer in layers:
        nn.init.ones_(layer.weight)
    net = nn.Sequential(*layers).double()
    # sized by hand, not by receptive_field(): the sum of the dilated kernel extents bounds the receptive field
    # (each jump is at most the product of all strides), plus room for several output pixels
    size = 4 * sum(d * (k - 1) + 1 for k, d in zip(kernels, dilations)) * math.prod(strides) + 8 * math.prod(strides)
    x = torch.zeros(1, 1, size, size, dtype=DT, requires_grad=True)
    y = net(x)
    Ho, Wo = y.shape[-2:]
    y[0, 0, Ho // 2, Wo // 2].backward()
    rows = x.grad[0, 0].abs().sum(1).nonzero().flatten()
    cols = x.grad[0, 0].abs().sum(0).nonzero().flatten()
    return int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1)


@pytest.mark.parametrize(
    "kernels,strides,dilations,known",
    [
        ([3], [1], [2], 5),  # a 3x3 kernel of rate 2 sees 5x5 with 9 weights
        ([3, 3, 3], [1, 1, 1], [1, 2, 4], 15),  # Yu & Koltun: rates 1, 2, 4 -> 15
        ([3, 3, 3, 3], [1, 1, 1, 1], [1, 2, 4, 8], 31),
        ([3, 3], [1, 1], [1, 1], 5),  # two 3x3 = one 5x5
        ([7, 3, 3], [2, 2, 1], [1, 1, 1], None),  # a stem with strides
        ([5, 2, 3, 1], [2, 3, 1, 2], [1, 1, 2, 1], None),
    ],
)
def test_receptive_field_matches_backprop(kernels, strides, dilations, known):
    rf = receptive_field(kernels, strides, dilations)
    assert empirical_receptive_field(kernels, strides, dilations) == (rf, rf)
    if known is not None:
        assert rf == known
    if set(strides) == {1} and set(dilations) == {1}:
        assert receptive_field(kernels) == rf  # defaults


@pytest.mark.parametrize("C_in,C_out,k,H", [(32, 64, 3, 56), (3, 16, 5, 17), (64, 128, 7, 14), (8, 8, 1, 9)])
def test_depthwise_separable_cost_matches_counters(C_in, C_out, k, H):
    cost = depthwise_separable_cost(C_in, C_out, k, H, H)
    standard = nn.Conv2d(C_in, C_out, k, padding=k // 2, bias=False)
    separable = DepthwiseSeparableConv2d(C_in, C_out, k, padding=k // 2)
    size = (1, C_in, H, H)
    assert cost["standard_params"] == count_params(standard)
    assert cost["separable_params"] == count_params(separable)
    assert cost["standard_macs"] == count_macs(standard, size)
    assert cost["separable_macs"] == count_macs(separable, size)
    assert all(type(v) is int for v in cost.values())
    ratio = Fraction(cost["separable_macs"], cost["standard_macs"])
    assert ratio == Fraction(1, C_out) + Fraction(1, k * k)  # MobileNets, section 3.1
    assert Fraction(cost["separable_params"], cost["standard_params"]) == ratio


def test_depthwise_separable_module_is_depthwise_then_pointwise():
    m = DepthwiseSeparableConv2d(4, 6, 3, stride=2, padding=1, bias=True).double()
    assert m.conv_dw.groups == 4 and m.conv_pw.kernel_size == (1, 1)
    assert list(m.state_dict()) == ["conv_dw.weight", "conv_dw.bias", "conv_pw.weight", "conv_pw.bias"]  # no BN
    x = randn(2, 4, 7, 6, seed=43)
    dw = F.conv2d(x, m.conv_dw.weight, m.conv_dw.bias, 2, 1, groups=4)
    assert_same(m(x), F.conv2d(dw, m.conv_pw.weight, m.conv_pw.bias))
    # our own conv2d computes the same depthwise and pointwise steps
    ours = conv2d(conv2d(x, m.conv_dw.weight, m.conv_dw.bias, 2, 1, groups=4), m.conv_pw.weight, m.conv_pw.bias)
    assert_same(ours, m(x))
    assert "kernel_size=(3, 3)" in repr(m) and "norm_act=False" in repr(m)


def test_spatially_separable_kernel_is_two_1d_convs():
    col = torch.tensor([1.0, 2.0, 1.0], dtype=DT)
    row = torch.tensor([-1.0, 0.0, 1.0, 2.0], dtype=DT)
    k = spatially_separable_kernel(col, row)
    assert k.shape == (3, 4) and torch.linalg.matrix_rank(k) == 1
    assert_same(k, torch.outer(col, row))
    x = randn(2, 1, 8, 9, seed=44)
    full = F.conv2d(x, k.view(1, 1, 3, 4))
    two_steps = F.conv2d(F.conv2d(x, col.view(1, 1, 3, 1)), row.view(1, 1, 1, 4))
    assert_same(full, two_steps)
    assert_same(conv2d(x, k.view(1, 1, 3, 4)), two_steps)


# --------------------------------------------------------------------------------------------
# text CNN n-gram features
# --------------------------------------------------------------------------------------------


def test_ngram_features_matches_conv1d_relu_max():
    emb = randn(3, 11, 5, seed=45, requires_grad=True)
    w = randn(7, 5, 3, seed=46, requires_grad=True)
    b = randn(7, seed=47, requires_grad=True)
    got = ngram_features(emb, w, b)
    expected = F.relu(F.conv1d(emb.transpose(1, 2), w, b)).amax(dim=2)
    assert got.shape == (3, 7)
    assert_same(got, expected)
    for g_got, g_exp in zip(grads(got, (emb, w, b)), grads(expected, (emb, w, b))):
        assert_same(g_got, g_exp)
    assert_same(ngram_features(emb, w), F.relu(F.conv1d(emb.transpose(1, 2), w)).amax(dim=2))


def test_ngram_detector_fires_on_its_ngram_wherever_it_is():
    """A filter equal to an n-gram's (unit-norm, orthogonal) embeddings scores highest where the
    n-gram is; max-pooling over time gives the same feature wherever the n-gram sits."""
    vocab = torch.eye(10, dtype=DT)  # orthonormal word embeddings, E = 10
    ngram = [3, 7, 1]
    filt = vocab[ngram].t().unsqueeze(0)  # (1, E, 3): the trigram itself
    sentences = []
    for pos in range(0, 6):
        tokens = [0, 2, 4, 5, 6, 8, 9, 2, 4]
        tokens[pos:pos + 3] = ngram
        sentences.append(vocab[tokens])
    emb = torch.stack(sentences)  # (6, 9, E)
    scores = F.relu(F.conv1d(emb.transpose(1, 2), filt))[:, 0]  # (6, 7) per position
    for pos in range(6):
        assert int(scores[pos].argmax()) == pos and scores[pos, pos] == 3.0
    features = ngram_features(emb, filt)  # (6, 1)
    assert torch.equal(features, torch.full((6, 1), 3.0, dtype=DT))  # position thrown away
    no_ngram = vocab[[0, 2, 4, 5, 6, 8, 9, 2, 4]][None]
    assert ngram_features(no_ngram, filt).item() < 3.0


# --------------------------------------------------------------------------------------------
# bad input: messages name the function, the argument, the expected and the actual
# --------------------------------------------------------------------------------------------


def _raises(exc, fn, *args, match_all=(), **kwargs):
    with pytest.raises(exc) as info:
        fn(*args, **kwargs)
    msg = str(info.value)
    for part in match_all:
        assert part in msg, f"{part!r} not in {msg!r}"
    return msg


def test_bad_input_messages_conv2d():
    x, w = torch.randn(1, 4, 5, 5), torch.randn(8, 3, 3, 3)
    _raises(ValueError, conv2d, x, w, match_all=("conv2d()", "expected input with 3 channels (weight (8, 3, 3, 3), groups=1), got 4"))
    _raises(ValueError, conv2d, torch.randn(4, 5), w, match_all=("conv2d()", "'input'", "3-D or 4-D", "(4, 5)"))
    _raises(ValueError, conv2d, torch.randn(1, 3, 5, 5), torch.randn(8, 3, 3), match_all=("'weight'", "4-D", "(8, 3, 3)"))
    _raises(ValueError, conv2d, torch.randn(1, 6, 5, 5), torch.randn(8, 2, 3, 3), groups=3,
            match_all=("'groups'=3", "must divide", "8"))
    _raises(ValueError, conv2d, torch.randn(1, 3, 5, 5), w, padding=-1, match_all=("'padding'", ">= 0", "-1"))
    _raises(ValueError, conv2d, torch.randn(1, 3, 5, 5), w, stride=0, match_all=("'stride'", ">= 1"))
    _raises(ValueError, conv2d, torch.randn(1, 3, 5, 5), w, torch.randn(7), match_all=("'bias'", "(8,)", "(7,)"))
    _raises(ValueError, conv2d, torch.randn(1, 3, 2, 5), w, match_all=("height", "smaller than the dilated kernel"))
    _raises(ValueError, conv2d, torch.randn(1, 3, 5, 5), w, stride=2, padding="same", match_all=("'same'", "strided"))
    _raises(ValueError, conv2d, torch.randn(1, 3, 5, 5), w, padding="full", match_all=("'padding'", "'full'"))
    _raises(TypeError, conv2d, torch.randn(1, 3, 5, 5).numpy(), w, match_all=("'input'", "torch.Tensor", "ndarray"))
    _raises(TypeError, conv2d, torch.randn(1, 3, 5, 5).double(), w, match_all=("'weight'", "float32", "float64"))
    _raises(TypeError, conv2d, torch.ones(1, 3, 5, 5, dtype=torch.long), w.long(), match_all=("floating-point",))


def test_bad_input_messages_other_convs():
    _raises(ValueError, conv1d, torch.randn(2, 4, 9), torch.randn(6, 3, 3), match_all=("conv1d()", "expected input with 3 channels", "got 4"))
    _raises(ValueError, conv1d, torch.randn(2, 3, 9), torch.randn(6, 3, 3), padding=-2, match_all=("conv1d()", "'padding'"))
    _raises(ValueError, conv_transpose2d, torch.randn(1, 3, 5, 5), torch.randn(4, 2, 3, 3),
            match_all=("conv_transpose2d()", "expected input with 4 channels (weight (4, 2, 3, 3)", "got 3"))
    _raises(ValueError, conv_transpose2d, torch.randn(1, 4, 5, 5), torch.randn(4, 2, 3, 3), stride=2, output_padding=2,
            match_all=("'output_padding'", "smaller than either stride or dilation"))
    _raises(ValueError, conv_transpose2d, torch.randn(1, 6, 5, 5), torch.randn(6, 2, 3, 3), groups=4,
            match_all=("'groups'=4", "must divide"))
    _raises(ValueError, conv_transpose2d, torch.randn(1, 4, 5, 5), torch.randn(4, 2, 3, 3), padding=-1, match_all=("'padding'", ">= 0"))


def test_bad_input_messages_deform():
    x, w = torch.randn(2, 4, 6, 6), torch.randn(5, 4, 3, 3)
    off = torch.zeros(2, 18, 4, 4)
    _raises(ValueError, deform_conv2d, x, torch.zeros(2, 18, 5, 4), w,
            match_all=("deform_conv2d()", "'offset'", "(2, 18, 4, 4)", "(2, 18, 5, 4)"))
    _raises(ValueError, deform_conv2d, x, torch.zeros(2, 17, 4, 4), w, match_all=("'offset'", "multiple of", "18"))
    _raises(ValueError, deform_conv2d, x, torch.zeros(2, 54, 4, 4), w, match_all=("offset groups", "must divide", "4 input"))
    _raises(ValueError, deform_conv2d, x, off, w, mask=torch.ones(2, 8, 4, 4),
            match_all=("'mask'", "(2, 9, 4, 4)", "(2, 8, 4, 4)"))
    _raises(ValueError, deform_conv2d, x, off, w, mask=torch.ones(2, 9, 4), match_all=("'mask'", "4-D"))
    _raises(ValueError, deform_conv2d, torch.randn(2, 5, 6, 6), off, w, match_all=("multiple of weight.shape[1]=4", "5 channels"))
    _raises(ValueError, deform_conv2d, x, off, w, padding=-1, match_all=("'padding'",))
    _raises(ValueError, deform_conv2d, torch.randn(4, 6, 6), off, w, match_all=("'input'", "4-D"))


def test_bad_input_messages_helpers():
    x = torch.randn(2, 8, 3, 3)
    _raises(ValueError, squeeze_excitation, x, torch.randn(2, 8), torch.randn(2), torch.randn(8, 3), torch.randn(8),
            match_all=("squeeze_excitation()", "'fc2_weight'", "(8, 2)", "(8, 3)"))
    _raises(ValueError, squeeze_excitation, x, torch.randn(2, 7), torch.randn(2), torch.randn(7, 2), torch.randn(7),
            match_all=("'fc1_weight'", "(2, 8)", "(2, 7)"))
    _raises(ValueError, ngram_features, torch.randn(2, 5, 4), torch.randn(3, 6, 2), match_all=("ngram_features()", "E=4", "got 6"))
    _raises(ValueError, ngram_features, torch.randn(2, 2, 4), torch.randn(3, 4, 3), match_all=("shorter", "3-gram"))
    _raises(ValueError, receptive_field, [3, 3], [1], match_all=("receptive_field()", "'strides'", "2 entries", "got 1"))
    _raises(ValueError, receptive_field, [3, 0], match_all=("receptive_field()", "positive"))
    _raises(TypeError, receptive_field, 3, match_all=("'kernel_sizes'",))
    _raises(ValueError, depthwise_separable_cost, 0, 4, 3, 5, 5, match_all=("depthwise_separable_cost()", "'in_channels'"))
    _raises(ValueError, spatially_separable_kernel, torch.ones(3, 1), torch.ones(3), match_all=("'col'", "1-D"))
    _raises(ValueError, DeformConv2d, 6, 4, 3, offset_groups=4, match_all=("DeformConv2d()", "'in_channels'=6", "offset_groups=4"))
    _raises(ValueError, SqueezeExcitation, 0, 4, match_all=("SqueezeExcitation()", "'channels'"))


# --------------------------------------------------------------------------------------------
# CUDA (skipped without a GPU)
# --------------------------------------------------------------------------------------------


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_torch():
    dev = "cuda"
    x = randn(2, 8, 9, 10, seed=50, device=dev, requires_grad=True)
    w = randn(6, 4, 3, 3, seed=51, device=dev, requires_grad=True)
    got, expected = conv2d(x, w, None, 2, 1, 1, 2), F.conv2d(x, w, None, 2, 1, 1, 2)
    assert got.device.type == "cuda"
    assert_same(got, expected, atol=1e-8, rtol=1e-7)
    for g_got, g_exp in zip(grads(got, (x, w)), grads(expected, (x, w))):
        assert_same(g_got, g_exp, atol=1e-8, rtol=1e-7)
    wt = randn(8, 3, 3, 3, seed=52, device=dev)
    assert_same(conv_transpose2d(x, wt, None, 2, 1, 1, 1), F.conv_transpose2d(x, wt, None, 2, 1, 1, 1), atol=1e-8, rtol=1e-7)
    off = torch.zeros(2, 18, 5, 5, dtype=DT, device=dev)
    assert_same(deform_conv2d(x, off, w, stride=2, padding=1), F.conv2d(x, w, None, 2, 1, 1, 2), atol=1e-8, rtol=1e-7)
    off = 1.7 * randn(2, 18, 5, 5, seed=53, device=dev)
    assert_same(deform_conv2d(x, off, w, stride=2, padding=1).cpu(),
                deform_conv2d(x.cpu(), off.cpu(), w.cpu(), stride=2, padding=1), atol=1e-8, rtol=1e-7)
