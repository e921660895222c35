"""Convolution variants written from tensor operations, each with the signature of its torch/torchvision twin.

Chapter
    01, ``book/01_convolutions.ipynb`` (exercise: ``exercises/01_convolutions/``)
Papers
    Krizhevsky, Sutskever & Hinton, "ImageNet Classification with Deep Convolutional Neural Networks",
    NeurIPS 2012. https://papers.nips.cc/paper/4824-imagenet-classification-with-deep-convolutional-neural-networks
    (Sec. 3.2 and Fig. 2: grouped convolution across two GPUs)
    Kim, "Convolutional Neural Networks for Sentence Classification", EMNLP 2014.
    https://arxiv.org/abs/1408.5882 (Sec. 2 and Fig. 1: n-gram filters, max-over-time pooling)
    Yu & Koltun, "Multi-Scale Context Aggregation by Dilated Convolutions", ICLR 2016.
    https://arxiv.org/abs/1511.07122 (Sec. 2: dilated convolution, exponential receptive-field growth)
    Dumoulin & Visin, "A guide to convolution arithmetic for deep learning", 2016.
    https://arxiv.org/abs/1603.07285 (Ch. 2: output sizes; Ch. 4: transposed convolution)
    Odena, Dumoulin & Olah, "Deconvolution and Checkerboard Artifacts", Distill 2016.
    https://distill.pub/2016/deconv-checkerboard/ (uneven overlap of transposed convolutions)
    Chollet, "Xception: Deep Learning with Depthwise Separable Convolutions", CVPR 2017.
    https://arxiv.org/abs/1610.02357 (Sec. 1.2: depthwise separable convolution)
    Howard et al., "MobileNets: Efficient Convolutional Neural Networks for Mobile Vision Applications", 2017.
    https://arxiv.org/abs/1704.04861 (Sec. 3.1 and Eq. 5: depthwise-separable cost ratio 1/N + 1/k^2)
    Dai et al., "Deformable Convolutional Networks", ICCV 2017.
    https://arxiv.org/abs/1703.06211 (Sec. 2.1, Eq. 2-4: offsets and bilinear sampling)
    Zhu et al., "Deformable ConvNets v2: More Deformable, Better Results", CVPR 2019.
    https://arxiv.org/abs/1811.11168 (Sec. 3.2, Eq. 1: the modulation mask)
    Hu, Shen & Sun, "Squeeze-and-Excitation Networks", CVPR 2018.
    https://arxiv.org/abs/1709.01507 (Sec. 3, Eq. 2-4: squeeze, excitation, scale)
Official code
    torch ``F.conv2d`` / ``F.conv1d`` / ``F.conv_transpose2d`` (the twins of the functional ops);
    https://github.com/pytorch/vision/blob/main/torchvision/ops/deform_conv.py (``deform_conv2d``);
    https://github.com/msracver/Deformable-ConvNets; https://github.com/hujie-frank/SENet;
    https://github.com/yoonkim/CNN_sentence; timm's ``timm/layers/squeeze_excite.py`` (``SEModule``),
    ``timm/layers/helpers.py`` (``make_divisible``), ``timm/models/_efficientnet_blocks.py``
    (``DepthwiseSeparableConv``)
Symbols in the shape comments
    B batch, C_in / C_out input / output channels, C channels of the tensor at hand, H x W height x width
    of the input, Ho x Wo (H_out x W_out) of the output, kh x kw kernel, K = kh * kw kernel taps, G groups,
    C_in_g = C_in / G and C_out_g = C_out / G channels per group, G_off offset groups, Hp x Wp the padded
    input, sh x sw strides, Hq x Wq one polyphase component (Hp / sh x Wp / sw, rounded up), M = B * Hq * Wq
    pixel rows, L / Lo input / output length of a 1-D signal (tokens of a sentence), E embedding dims,
    F filters (n-gram detectors), C_r the SE bottleneck width

Every function mirrors the signature of its torch/torchvision twin, so that the twin is the oracle in
the tests and in the exercise checker: ``conv2d`` (strides, padding incl. "same", dilation, groups; no
torch convolution inside), ``conv1d`` (a 2-D convolution of height 1), ``conv_transpose2d`` (the gradient
of ``conv2d`` with respect to its input), ``deform_conv2d`` (torchvision's offset layout, DCNv2's
``mask``), ``squeeze_excitation`` (the SE gate, functional). ``SqueezeExcitation`` has timm's ``SEModule``
state_dict (``fc1``/``fc2`` 1x1 convs) so that SE-ResNet checkpoints load strict;
``DepthwiseSeparableConv2d`` has the key names of timm's ``DepthwiseSeparableConv`` (``conv_dw``, ``bn1``,
``conv_pw``, ``bn2``), which MobileNet v1 (:mod:`cnnvit_ref.mobilenet`) stacks. Units: MACs.

How ``conv2d`` computes (no loop over output pixels). A convolution is a sum over the ``kh * kw`` kernel
taps of a 1x1 convolution (a matrix product over channels) applied to a shifted copy of the input. With
the padded image stored channels-last and flattened to rows ``(B * Hp * Wp, C_in)``, "shift by (i, j)" is
just "start reading at row ``i * Wp + j``", a contiguous slice: each tap is one ``(M, C_in) @ (C_in, C_out)``
matrix product that is added into the output, and the output rows that fall on the padding border are
cropped at the end. A stride ``s`` first splits the image into its ``s x s`` polyphase components
(``x[..., a::s, c::s]``); tap ``i`` then reads component ``(i * d) % s`` shifted by ``(i * d) // s``.
Unlike im2col (``F.unfold`` + one matmul) this never materialises the ``kh * kw`` times larger column
matrix. With at most 4 input channels per group (an RGB stem) the per-tap products are too thin to be
efficient, and ``conv2d`` uses im2col instead; a depthwise tap (one channel per group) is a broadcast
multiply. Both algorithms are exact; ``tests/test_conv.py`` checks each against ``F.conv2d``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from ._validate import check_same_device_dtype, check_tensor, pair, positive_int, positive_ints

__all__ = [
    "conv2d",
    "conv1d",
    "conv_transpose2d",
    "deform_conv2d",
    "squeeze_excitation",
    "ngram_features",
    "receptive_field",
    "depthwise_separable_cost",
    "spatially_separable_kernel",
    "make_divisible",
    "SqueezeExcitation",
    "DepthwiseSeparableConv2d",
    "DeformConv2d",
    "DeformConv2dConfig",
]


# --------------------------------------------------------------------------------------------
# math helpers: sizes and costs
# --------------------------------------------------------------------------------------------


def _conv_out_len(size: int, pad: int, k: int, s: int, d: int) -> int:
    """Output length along one axis: ``floor((size + pad - d (k - 1) - 1) / s) + 1`` (pad: both sides)."""
    return (size + pad - d * (k - 1) - 1) // s + 1


def receptive_field(kernel_sizes: Sequence[int], strides: Sequence[int] | None = None,
                    dilations: Sequence[int] | None = None) -> int:
    """Receptive field (pixels along one axis) of a stack of convolutions.

    The standard recurrence: ``r = 1``, then layer by layer ``r += (k - 1) * d * j`` where ``j`` is
    the product of the strides of the layers below (the distance, in input pixels, between two
    neighbouring positions of the layer's input). A 3x3 kernel of rate 2 sees 5 pixels; three 3x3
    layers of rates 1, 2, 4 see 15 (Yu & Koltun 2016: exponential growth, linear parameters).
    """
    strides, dilations = _check_receptive_field(kernel_sizes, strides, dilations)
    r, jump = 1, 1
    for k, s, d in zip(kernel_sizes, strides, dilations):
        r += (k - 1) * d * jump
        jump *= s
    return r


def depthwise_separable_cost(in_channels: int, out_channels: int, kernel_size, out_height: int,
                             out_width: int) -> dict[str, int]:
    """Parameters and multiply-accumulates of a standard vs a depthwise-separable convolution.

    Biases are not counted. Standard: ``C_in * C_out * kh * kw`` weights, each used once per
    output pixel. Separable (MobileNets, Xception): a depthwise ``kh x kw`` filter per input
    channel, then a pointwise ``1x1`` map ``C_in -> C_out``. For a square kernel the ratio
    separable / standard is exactly ``1 / C_out + 1 / k**2``.
    """
    C_in, C_out, (kh, kw), Ho, Wo = _check_depthwise_separable_cost(in_channels, out_channels, kernel_size,
                                                                    out_height, out_width)
    standard = C_in * C_out * kh * kw
    separable = C_in * kh * kw + C_in * C_out
    return {
        "standard_params": standard,
        "standard_macs": standard * Ho * Wo,
        "separable_params": separable,
        "separable_macs": separable * Ho * Wo,
    }


def spatially_separable_kernel(col: torch.Tensor, row: torch.Tensor) -> torch.Tensor:
    """The rank-1 ``(kh, kw)`` kernel ``col[:, None] * row[None, :]``.

    Convolving with it equals convolving with the ``(kh, 1)`` column and then the ``(1, kw)`` row,
    at ``kh + kw`` instead of ``kh * kw`` multiplications per pixel (e.g. Sobel = [1, 2, 1]^T [-1, 0, 1]).
    """
    _check_spatially_separable_kernel(col, row)
    return col[:, None] * row[None, :]  # (kh, kw)


# --------------------------------------------------------------------------------------------
# functional ops
# --------------------------------------------------------------------------------------------
def _conv2d_shift_matmul(x: torch.Tensor, weight: torch.Tensor, stride: tuple[int, int],
                         padding: tuple[int, int, int, int], dilation: tuple[int, int], groups: int,
                         out_size: tuple[int, int]) -> torch.Tensor:
    """The core of :func:`conv2d` (arguments already checked); see the module docstring."""
    B, C_in, H, W = x.shape
    C_out, C_in_g, kh, kw = weight.shape
    G, C_out_g = groups, C_out // groups
    (sh, sw), (dh, dw), (pt, pb, pl, pr) = stride, dilation, padding
    Ho, Wo = out_size
    Hp, Wp = H + pt + pb, W + pl + pr
    Hq, Wq = -(-Hp // sh), -(-Wp // sw)  # rows and columns of each polyphase component
    M = B * Hq * Wq  # output rows computed per tap (the valid Ho x Wo of each image among them)

    x = x.permute(0, 2, 3, 1)  # (B, H, W, C_in)  channels last, a view
    x = F.pad(x, (0, 0, pl, pr + Wq * sw - Wp, pt, pb + Hq * sh - Hp))  # (B, Hq*sh, Wq*sw, C_in)  the one copy
    x = x.view(B, Hq, sh, Wq, sw, C_in).permute(2, 4, 0, 1, 3, 5)  # (sh, sw, B, Hq, Wq, C_in)  polyphase
    x = x.reshape(sh, sw, M, G, C_in_g)  # (sh, sw, M, G, C_in_g)  pixel rows (a view when stride is 1)
    x = x.permute(0, 1, 3, 2, 4).contiguous()  # (sh, sw, G, M, C_in_g)  (a no-op when groups is 1)
    w = weight.reshape(G, C_out_g, C_in_g, kh, kw).permute(3, 4, 0, 2, 1).contiguous()  # (kh, kw, G, C_in_g, C_out_g)

    out = None
    for i in range(kh):
        qi, a = divmod(i * dh, sh)  # tap row i reads phase a, shifted by qi rows
        for j in range(kw):
            qj, c = divmod(j * dw, sw)
            start = qi * Wq + qj  # the shift, in pixel rows
            tap = x[a, c, :, start:]  # (G, M - start, C_in_g)
            # output row r needs input row r + start: the last `start` output rows would read past
            # the end, but they all lie on the cropped border (a valid output never leaves its image)
            if out is None:  # tap (0, 0): no shift
                out = tap * w[i, j] if C_in_g == 1 else torch.bmm(tap, w[i, j])  # (G, M, C_out_g)
            elif C_in_g == 1:  # depthwise: a product over one channel is a broadcast multiply
                out[:, :M - start].addcmul_(tap, w[i, j])  # (G, M - start, C_out_g)
            else:
                out[:, :M - start].baddbmm_(tap, w[i, j])  # (G, M - start, C_out_g)
    out = out.view(G, B, Hq, Wq, C_out_g)[:, :, :Ho, :Wo]  # (G, B, Ho, Wo, C_out_g)  crop the border rows
    return out.permute(1, 0, 4, 2, 3).reshape(B, C_out, Ho, Wo)  # (B, C_out, Ho, Wo)


def _conv2d_im2col(x: torch.Tensor, weight: torch.Tensor, stride: tuple[int, int],
                   padding: tuple[int, int, int, int], dilation: tuple[int, int], groups: int,
                   out_size: tuple[int, int]) -> torch.Tensor:
    """im2col: every receptive field becomes a column (``F.unfold``), then one matmul per group.

    Used by :func:`conv2d` when there are few input channels per group (e.g. an RGB stem), where the
    ``kh * kw`` matrix products of the shift-and-matmul loop would each be too thin to be efficient.
    """
    B, C_in, H, W = x.shape
    C_out, C_in_g, kh, kw = weight.shape
    G, (Ho, Wo) = groups, out_size
    pt, pb, pl, pr = padding
    x = F.pad(x, (pl, pr, pt, pb))  # (B, C_in, Hp, Wp)
    cols = F.unfold(x, (kh, kw), dilation=dilation, stride=stride)  # (B, C_in*kh*kw, Ho*Wo)
    cols = cols.view(B, G, C_in_g * kh * kw, Ho * Wo)  # (B, G, C_in_g*kh*kw, Ho*Wo)
    w = weight.reshape(G, C_out // G, C_in_g * kh * kw)  # (G, C_out_g, C_in_g*kh*kw)
    out = torch.matmul(w, cols)  # (B, G, C_out_g, Ho*Wo)
    return out.reshape(B, C_out, Ho, Wo)  # (B, C_out, Ho, Wo)


def _conv2d_core(x, weight, stride, padding, dilation, groups, out_size) -> torch.Tensor:
    """Pick the algorithm (both exact): im2col when each group has at most 4 input channels
    (the kh * kw products of the shift loop would be too thin), else shift-and-matmul."""
    C_in_g = weight.shape[1]
    if 1 < C_in_g <= 4 or (C_in_g == 1 and groups == 1):
        return _conv2d_im2col(x, weight, stride, padding, dilation, groups, out_size)
    return _conv2d_shift_matmul(x, weight, stride, padding, dilation, groups, out_size)



def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D convolution (cross-correlation), the contract of ``torch.nn.functional.conv2d``.

    input ``(B, C_in, H, W)`` or unbatched ``(C_in, H, W)``; weight ``(C_out, C_in / groups, kh, kw)``;
    bias ``(C_out,)``; ``stride``, ``dilation``: int or pair; ``padding``: int, pair, ``"valid"`` or
    ``"same"``. Output ``(B, C_out, H_out, W_out)`` with
    ``H_out = floor((H + 2 p - d (kh - 1) - 1) / s) + 1``. Differentiable; no torch convolution inside.
    """
    stride, padding, dilation = _check_conv2d(input, weight, bias, stride, padding, dilation, groups)
    unbatched = input.dim() == 3
    x = input.unsqueeze(0) if unbatched else input  # (B, C_in, H, W)
    B, C_in, H, W = x.shape
    kh, kw = weight.shape[-2:]
    (sh, sw), (pt, pb, pl, pr), (dh, dw) = stride, padding, dilation
    Ho, Wo = _conv_out_len(H, pt + pb, kh, sh, dh), _conv_out_len(W, pl + pr, kw, sw, dw)
    out = _conv2d_core(x, weight, stride, padding, dilation, groups, (Ho, Wo))  # (B, C_out, Ho, Wo)
    if bias is not None:
        out = out + bias.view(1, -1, 1, 1)  # (B, C_out, Ho, Wo)
    return out[0] if unbatched else out


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """1-D convolution, the contract of ``torch.nn.functional.conv1d``: a :func:`conv2d` of height 1.

    input ``(B, C_in, L)`` or ``(C_in, L)``; weight ``(C_out, C_in / groups, k)``; ``padding``: int,
    ``"valid"`` or ``"same"``.
    """
    stride, padding, dilation = _check_conv1d(input, weight, bias, stride, padding, dilation, groups)
    unbatched = input.dim() == 2
    x = (input.unsqueeze(0) if unbatched else input).unsqueeze(2)  # (B, C_in, 1, L)
    k = weight.shape[-1]
    Lo = _conv_out_len(x.shape[-1], padding[2] + padding[3], k, stride, dilation)
    w = weight.unsqueeze(2)  # (C_out, C_in_g, 1, k)
    out = _conv2d_core(x, w, (1, stride), padding, (1, dilation), groups, (1, Lo))  # (B, C_out, 1, Lo)
    out = out.squeeze(2)  # (B, C_out, Lo)
    if bias is not None:
        out = out + bias.view(1, -1, 1)  # (B, C_out, Lo)
    return out[0] if unbatched else out


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """Transposed convolution, the contract of ``torch.nn.functional.conv_transpose2d``.

    input ``(B, C_in, H, W)`` or ``(C_in, H, W)``; weight ``(C_in, C_out / groups, kh, kw)`` (the
    layout of the ``conv2d`` whose input-gradient this is). Each input pixel scatters
    ``x[b, :, h, w] @ W`` -- a ``(C_out, kh, kw)`` patch -- onto the output at
    ``(h * s - p + i * d, w * s - p + j * d)``; overlapping patches add (where ``k`` is not a multiple
    of ``s`` they overlap unevenly: the checkerboard of Odena et al. 2016). Computed as one matmul
    (the columns) and ``F.fold`` (col2im, the adjoint of the ``F.unfold`` of im2col).
    ``H_out = (H - 1) s - 2 p + d (kh - 1) + output_padding + 1``.
    """
    stride, padding, output_padding, dilation = _check_conv_transpose2d(input, weight, bias, stride, padding,
                                                                        output_padding, groups, dilation)
    unbatched = input.dim() == 3
    x = input.unsqueeze(0) if unbatched else input  # (B, C_in, H, W)
    B, C_in, H, W = x.shape
    _, C_out_g, kh, kw = weight.shape
    G = groups
    C_in_g, C_out = C_in // G, C_out_g * G
    (sh, sw), (ph, pw), (oph, opw), (dh, dw) = stride, padding, output_padding, dilation
    Hfull, Wfull = (H - 1) * sh + dh * (kh - 1) + 1, (W - 1) * sw + dw * (kw - 1) + 1

    x = x.reshape(B, G, C_in_g, H * W)  # (B, G, C_in_g, H*W)
    w = weight.reshape(G, C_in_g, C_out_g * kh * kw).transpose(1, 2)  # (G, C_out_g*kh*kw, C_in_g)
    cols = torch.matmul(w, x)  # (B, G, C_out_g*kh*kw, H*W)
    cols = cols.reshape(B, C_out * kh * kw, H * W)  # (B, C_out*kh*kw, H*W)
    out = F.fold(cols, (Hfull, Wfull), (kh, kw), dilation=dilation, stride=stride)  # (B, C_out, Hfull, Wfull)
    # negative pads crop: drop `padding` rows/cols on both sides, then add `output_padding` at the end
    out = F.pad(out, (-pw, -pw + opw, -ph, -ph + oph))  # (B, C_out, Ho, Wo)
    if bias is not None:
        out = out + bias.view(1, -1, 1, 1)  # (B, C_out, Ho, Wo)
    return out[0] if unbatched else out


def _bilinear_sample(img: torch.Tensor, py: torch.Tensor, px: torch.Tensor, scale: torch.Tensor | None) -> torch.Tensor:
    """Sample ``img`` (B, G, C, H, W) at real positions ``py, px`` (B, G, K, Ho, Wo), zeros outside.

    torchvision's rule: the four integer neighbours of (y, x) are blended with the bilinear weights
    and a neighbour outside the image contributes 0, so a point outside (-1, H) x (-1, W) gives 0
    and a point in the one-pixel rim blends only its valid corners. ``scale`` (B, G, K, Ho, Wo), the
    DCNv2 mask, multiplies each sample (folded into the four weights). Returns (B, G, K, Ho*Wo, C):
    channels last, so that each corner is fetched as whole rows of C values (``index_select``).
    """
    B, G, C, H, W = img.shape
    _, _, K, Ho, Wo = py.shape
    rows = img.reshape(B, G, C, H * W).transpose(2, 3).reshape(B * G * H * W, C)  # (B*G*H*W, C) pixel rows
    first_row = torch.arange(B * G, device=img.device) * (H * W)  # (B*G,) where image (b, g) starts in rows
    first_row = first_row.view(B, G, 1, 1, 1)  # (B, G, 1, 1, 1)
    y0, x0 = py.floor(), px.floor()
    ly, lx = py - y0, px - x0  # (B, G, K, Ho, Wo) fractional parts
    y0, x0 = y0.long(), x0.long()
    out = None
    for dy, wy in ((0, 1 - ly), (1, ly)):
        for dx, wx in ((0, 1 - lx), (1, lx)):
            yi, xi = y0 + dy, x0 + dx
            inside = (yi >= 0) & (yi < H) & (xi >= 0) & (xi < W)  # corners outside the image count 0
            index = first_row + yi.clamp(0, H - 1) * W + xi.clamp(0, W - 1)  # (B, G, K, Ho, Wo)
            value = rows.index_select(0, index.reshape(-1)).view(B, G, K, Ho * Wo, C)  # (B, G, K, Ho*Wo, C)
            weight = wy * wx * inside if scale is None else wy * wx * inside * scale  # (B, G, K, Ho, Wo)
            weight = weight.view(B, G, K, Ho * Wo, 1)  # (B, G, K, Ho*Wo, 1)
            out = value * weight if out is None else out.addcmul_(value, weight)  # (B, G, K, Ho*Wo, C)
    return out


def deform_conv2d(input, offset, weight, bias=None, stride=1, padding=0, dilation=1, mask=None):
    """Deformable convolution, the contract of ``torchvision.ops.deform_conv2d`` (DCNv1, DCNv2 with ``mask``).

    input ``(B, C_in, H, W)``; weight ``(C_out, C_in / groups, kh, kw)`` (groups inferred);
    offset ``(B, 2 * offset_groups * kh * kw, H_out, W_out)``: for offset group ``g`` and kernel tap
    ``k = i * kw + j`` (row-major), channel ``g * 2 * kh * kw + 2 * k`` is ``dy`` and the next one
    ``dx``; ``offset_groups`` is inferred and splits the input channels into equal consecutive groups.
    Tap ``(i, j)`` of output ``(oy, ox)`` samples the input bilinearly at
    ``(oy * sh - ph + i * dh + dy, ox * sw - pw + j * dw + dx)`` (zeros outside the image).
    mask ``(B, offset_groups * kh * kw, H_out, W_out)`` multiplies each sample (DCNv2's modulation).
    With zero offsets and no mask this is exactly :func:`conv2d`.
    """
    stride, padding, dilation = _check_deform_conv2d(input, offset, weight, bias, stride, padding, dilation, mask)
    B, C_in, H, W = input.shape
    C_out, C_in_g, kh, kw = weight.shape
    Ho, Wo = offset.shape[-2:]
    K, G = kh * kw, C_in // C_in_g
    G_off = offset.shape[1] // (2 * K)
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation

    # sampling positions: the regular grid of a plain convolution plus the learned offsets
    kw_args = dict(device=input.device, dtype=offset.dtype)
    tap_y = (torch.arange(kh, **kw_args) * dh).view(kh, 1, 1, 1)  # (kh, 1, 1, 1)  i * dh
    tap_x = (torch.arange(kw, **kw_args) * dw).view(1, kw, 1, 1)  # (1, kw, 1, 1)  j * dw
    out_y = (torch.arange(Ho, **kw_args) * sh - ph).view(1, 1, Ho, 1)  # (1, 1, Ho, 1)  oy * sh - ph
    out_x = (torch.arange(Wo, **kw_args) * sw - pw).view(1, 1, 1, Wo)  # (1, 1, 1, Wo)  ox * sw - pw
    base_y = (tap_y + out_y).expand(kh, kw, Ho, Wo).reshape(K, Ho, Wo)  # (K, Ho, Wo)  row-major taps
    base_x = (tap_x + out_x).expand(kh, kw, Ho, Wo).reshape(K, Ho, Wo)  # (K, Ho, Wo)
    offset = offset.reshape(B, G_off, K, 2, Ho, Wo)  # (B, G_off, K, (dy, dx), Ho, Wo)
    py = base_y + offset[:, :, :, 0]  # (B, G_off, K, Ho, Wo)
    px = base_x + offset[:, :, :, 1]  # (B, G_off, K, Ho, Wo)

    scale = None if mask is None else mask.reshape(B, G_off, K, Ho, Wo)  # (B, G_off, K, Ho, Wo)
    img = input.reshape(B, G_off, C_in // G_off, H, W)  # (B, G_off, C_in/G_off, H, W)
    cols = _bilinear_sample(img, py, px, scale)  # (B, G_off, K, Ho*Wo, C_in/G_off)
    # im2col of the deformed grid, one row per output pixel, in the (C_in, kh, kw) order of the weight
    cols = cols.permute(0, 3, 1, 4, 2).reshape(B * Ho * Wo, G, C_in_g * K)  # (B*Ho*Wo, G, C_in_g*K)
    w = weight.reshape(G, C_out // G, C_in_g * K).transpose(1, 2)  # (G, C_in_g*K, C_out_g)
    out = torch.matmul(cols.transpose(0, 1), w)  # (G, B*Ho*Wo, C_out_g)
    out = out.view(G, B, Ho, Wo, C_out // G).permute(1, 0, 4, 2, 3).reshape(B, C_out, Ho, Wo)  # (B, C_out, Ho, Wo)
    if bias is not None:
        out = out + bias.view(1, -1, 1, 1)  # (B, C_out, Ho, Wo)
    return out


def squeeze_excitation(input, fc1_weight, fc1_bias, fc2_weight, fc2_bias):
    """Squeeze-and-excitation (Hu et al. 2018), functional, with ``nn.Linear``-shaped weights.

    input ``(B, C, H, W)``; fc1_weight ``(C_r, C)``, fc1_bias ``(C_r,)``; fc2_weight ``(C, C_r)``,
    fc2_bias ``(C,)``. Squeeze: global average pool to ``(B, C)``; excite:
    ``sigmoid(W2 relu(W1 s + b1) + b2)``; output: ``input`` scaled channel by channel.
    """
    _check_squeeze_excitation(input, fc1_weight, fc1_bias, fc2_weight, fc2_bias)
    B, C, H, W = input.shape
    s = input.mean(dim=(2, 3))  # (B, C)  squeeze
    z = torch.relu(s @ fc1_weight.t() + fc1_bias)  # (B, C_r)
    gate = torch.sigmoid(z @ fc2_weight.t() + fc2_bias)  # (B, C)  excite
    return input * gate.view(B, C, 1, 1)  # (B, C, H, W)


def ngram_features(embeddings, weight, bias=None):
    """Text-CNN features (Kim 2014): max over positions of ReLU(conv1d over time).

    embeddings ``(B, L, E)`` (batch-first token embeddings); weight ``(F, E, n)``: ``F`` filters,
    each an ``n``-gram detector; bias ``(F,)``. Returns ``(B, F)``: how strongly each n-gram
    detector fired *anywhere* in the sentence -- max-pooling over time keeps the score and throws
    the position away.
    """
    _check_ngram_features(embeddings, weight)
    x = embeddings.transpose(1, 2)  # (B, E, L)  channels = embedding dims, time = tokens
    h = torch.relu(conv1d(x, weight, bias))  # (B, F, L - n + 1)
    return h.amax(dim=2)  # (B, F)


# --------------------------------------------------------------------------------------------
# blocks
# --------------------------------------------------------------------------------------------


def make_divisible(v: float, divisor: int = 8, min_value: int | None = None, round_limit: float = 0.9) -> int:
    """Round ``v`` to the nearest multiple of ``divisor`` (at least ``min_value``, default ``divisor``),
    without going more than 10 % below ``v``: timm's rule for SE reduction widths and channel multipliers."""
    min_value = min_value or divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < round_limit * v:
        new_v += divisor
    return new_v


class SqueezeExcitation(nn.Module):
    """SE block with timm's ``SEModule`` layout, so SE-ResNet checkpoints load with ``strict=True``.

    ``fc1``: 1x1 conv ``channels -> rd_channels`` (bias), ReLU, ``fc2``: 1x1 conv back (bias), sigmoid
    gate; state_dict keys ``fc1.weight, fc1.bias, fc2.weight, fc2.bias``. Same values as
    :func:`squeeze_excitation` with the 1x1 kernels viewed as matrices. timm's reduction width is
    ``rd_channels = make_divisible(channels / 16, 8)``.
    """

    def __init__(self, channels: int, rd_channels: int):
        super().__init__()
        self.channels, self.rd_channels = positive_ints("SqueezeExcitation", channels=channels, rd_channels=rd_channels)
        self.fc1 = nn.Conv2d(channels, rd_channels, kernel_size=1, bias=True)
        self.act = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(rd_channels, channels, kernel_size=1, bias=True)
        self.gate = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.mean(dim=(2, 3), keepdim=True)  # (B, C, 1, 1)
        s = self.act(self.fc1(s))  # (B, C_r, 1, 1)
        return x * self.gate(self.fc2(s))  # (B, C, H, W)

    def extra_repr(self) -> str:
        return f"channels={self.channels}, rd_channels={self.rd_channels}"


class DepthwiseSeparableConv2d(nn.Module):
    """Depthwise ``k x k`` conv (one filter per input channel, ``groups=in_channels``), then a pointwise 1x1.

    MobileNets / Xception. Parameters ``C_in k^2 + C_in C_out`` instead of ``C_in C_out k^2``.
    ``norm_act=True`` puts BatchNorm + ReLU after each of the two convs: MobileNet v1's layer
    (Howard et al. 2017, Fig. 3), with the key names of timm's ``DepthwiseSeparableConv``
    (``conv_dw``, ``bn1``, ``conv_pw``, ``bn2``). Without it ``bn1``/``act1``/``bn2``/``act2`` are
    identities (no parameters), and the layer is the bare factorisation of a convolution.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, bias: bool = False,
                 norm_act: bool = False):
        super().__init__()
        positive_ints("DepthwiseSeparableConv2d", in_channels=in_channels, out_channels=out_channels)
        self.norm_act = bool(norm_act)
        self.conv_dw = nn.Conv2d(in_channels, in_channels, kernel_size, stride=stride, padding=padding,
                                 groups=in_channels, bias=bias)
        self.bn1 = nn.BatchNorm2d(in_channels) if norm_act else nn.Identity()
        self.act1 = nn.ReLU(inplace=True) if norm_act else nn.Identity()
        self.conv_pw = nn.Conv2d(in_channels, out_channels, kernel_size=1, bias=bias)
        self.bn2 = nn.BatchNorm2d(out_channels) if norm_act else nn.Identity()
        self.act2 = nn.ReLU(inplace=True) if norm_act else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act1(self.bn1(self.conv_dw(x)))  # (B, C_in, H_out, W_out): each channel filtered alone
        return self.act2(self.bn2(self.conv_pw(x)))  # (B, C_out, H_out, W_out): channels mixed

    def extra_repr(self) -> str:
        d = self.conv_dw
        return (f"in_channels={d.in_channels}, out_channels={self.conv_pw.out_channels}, "
                f"kernel_size={d.kernel_size}, stride={d.stride}, padding={d.padding}, norm_act={self.norm_act}")


@dataclass(frozen=True)
class DeformConv2dConfig:
    """Hyper-parameters of :class:`DeformConv2d` (the names of ``torchvision.ops.DeformConv2d``)."""

    in_channels: int
    out_channels: int
    kernel_size: tuple[int, int]
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1
    offset_groups: int = 1
    bias: bool = True
    modulated: bool = False


class DeformConv2d(nn.Module):
    """Deformable convolution layer: offsets (and, if ``modulated``, masks) predicted by a plain conv.

    ``conv_offset`` is an ``nn.Conv2d`` with the layer's kernel, stride, padding and dilation that
    outputs ``2 * offset_groups * kh * kw`` offset channels (DCNv1), or ``3 * offset_groups * kh * kw``
    when ``modulated`` (DCNv2: the first ``2 * offset_groups * kh * kw`` are offsets, the rest go
    through a sigmoid to give the mask). It is initialised to zero, as in both papers, so that at
    initialisation the layer is a plain convolution (DCNv1), or one with all masks 0.5 (DCNv2).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, dilation=1,
                 groups: int = 1, offset_groups: int = 1, bias: bool = True, modulated: bool = False):
        super().__init__()
        kernel_size, stride, padding, dilation = _check_deform_conv2d_layer(
            in_channels, out_channels, kernel_size, stride, padding, dilation, groups, offset_groups)
        self.config = c = DeformConv2dConfig(in_channels, out_channels, kernel_size, stride, padding, dilation,
                                             groups, offset_groups, bias=bool(bias), modulated=bool(modulated))
        kh, kw = c.kernel_size
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels // groups, kh, kw))
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        n_offset = (3 if modulated else 2) * offset_groups * kh * kw
        self.conv_offset = nn.Conv2d(in_channels, n_offset, c.kernel_size, stride=c.stride, padding=c.padding,
                                     dilation=c.dilation, bias=True)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))  # as nn.Conv2d
        if self.bias is not None:
            fan_in = self.weight[0].numel()
            nn.init.uniform_(self.bias, -1 / math.sqrt(fan_in), 1 / math.sqrt(fan_in))
        nn.init.zeros_(self.conv_offset.weight)
        nn.init.zeros_(self.conv_offset.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = self.config
        n = 2 * c.offset_groups * c.kernel_size[0] * c.kernel_size[1]
        out = self.conv_offset(x)  # (B, n or 3n/2, H_out, W_out)
        offset = out[:, :n]  # (B, 2 * offset_groups * kh * kw, H_out, W_out)
        mask = torch.sigmoid(out[:, n:]) if c.modulated else None  # (B, offset_groups * kh * kw, H_out, W_out)
        return deform_conv2d(x, offset, self.weight, self.bias, c.stride, c.padding, c.dilation, mask=mask)

    def extra_repr(self) -> str:
        c = self.config
        return (f"{c.in_channels}, {c.out_channels}, kernel_size={c.kernel_size}, stride={c.stride}, "
                f"padding={c.padding}, dilation={c.dilation}, groups={c.groups}, "
                f"offset_groups={c.offset_groups}, bias={c.bias}, modulated={c.modulated}")


# --------------------------------------------------------------------------------------------
# argument checks
# --------------------------------------------------------------------------------------------


def _fmt(shape) -> str:
    """A shape as Python writes a tuple: (8, 3, 3, 3), (7,)."""
    return str(tuple(int(s) for s in shape))


def _check_weight_and_bias(fn: str, input, weight, bias, groups, *, transposed: bool = False) -> None:
    """Channel bookkeeping of a (transposed) convolution, with torch's meaning of each axis."""
    groups = positive_int(fn, "groups", groups)
    C_in = input.shape[-weight.dim() + 1]  # channels axis of the (possibly unbatched) input
    if transposed:  # weight (C_in, C_out / groups, *kernel)
        if weight.shape[0] % groups != 0:
            raise ValueError(
                f"{fn}(): argument 'groups'={groups} must divide the input channels of weight {_fmt(weight.shape)}"
            )
        if C_in != weight.shape[0]:
            raise ValueError(
                f"{fn}(): expected input with {weight.shape[0]} channels (weight {_fmt(weight.shape)}, "
                f"groups={groups}), got {C_in}"
            )
        C_out = weight.shape[1] * groups
    else:  # weight (C_out, C_in / groups, *kernel)
        if weight.shape[0] % groups != 0:
            raise ValueError(
                f"{fn}(): argument 'groups'={groups} must divide the output channels {weight.shape[0]} "
                f"of weight {_fmt(weight.shape)}"
            )
        if C_in != weight.shape[1] * groups:
            raise ValueError(
                f"{fn}(): expected input with {weight.shape[1] * groups} channels (weight {_fmt(weight.shape)}, "
                f"groups={groups}), got {C_in}"
            )
        C_out = weight.shape[0]
    if bias is not None:
        check_tensor(fn, "bias", bias, ndim=1, layout="(C_out,)")
        if bias.shape[0] != C_out:
            raise ValueError(f"{fn}(): argument 'bias' must have shape ({C_out},) = (C_out,), got {_fmt(bias.shape)}")
    check_same_device_dtype(fn, "input", input, weight=weight, bias=bias)


def _conv_padding(fn: str, padding, kernel: tuple[int, int], dilation: tuple[int, int], stride: tuple[int, int]):
    """``padding`` as (top, bottom, left, right); accepts an int, a pair, "valid" or "same" (as torch)."""
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0, 0, 0)
        if padding == "same":
            if stride != (1, 1):
                raise ValueError(
                    f"{fn}(): padding='same' is not supported for strided convolutions, got stride={stride}"
                )
            out = []
            for k, d in zip(kernel, dilation):
                total = d * (k - 1)
                out += [total // 2, total - total // 2]  # torch puts the odd pixel at the bottom/right
            return tuple(out)
        raise ValueError(f"{fn}(): argument 'padding' must be 'valid', 'same', an int or a pair, got {padding!r}")
    ph, pw = pair(fn, "padding", padding, minimum=0)
    return (ph, ph, pw, pw)


def _check_output_size(fn: str, size: int, pad: int, k: int, s: int, d: int, axis: str) -> None:
    """Raise if the dilated kernel does not fit into the padded input along ``axis``."""
    if _conv_out_len(size, pad, k, s, d) < 1:
        raise ValueError(
            f"{fn}(): the padded input {axis} {size + pad} is smaller than the dilated kernel {d * (k - 1) + 1} "
            f"(kernel {k}, dilation {d}); the output would be empty"
        )


def _int_or_1tuple(fn: str, name: str, value, minimum: int) -> int:
    """An int, or a 1-tuple as torch's conv1d accepts, at least ``minimum``."""
    if isinstance(value, (tuple, list)) and len(value) == 1:
        value = value[0]
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{fn}(): argument '{name}' must be an int, got {value!r}")
    if value < minimum:
        raise ValueError(f"{fn}(): argument '{name}' must be >= {minimum}, got {value}")
    return value


def _check_receptive_field(kernel_sizes, strides, dilations) -> tuple[list[int], list[int]]:
    """``strides`` and ``dilations`` as lists (default all 1), one positive int per kernel."""
    fn = "receptive_field"
    if not isinstance(kernel_sizes, (list, tuple)) or len(kernel_sizes) == 0:
        raise TypeError(f"{fn}(): argument 'kernel_sizes' must be a non-empty list of ints, got {kernel_sizes!r}")
    n = len(kernel_sizes)
    strides = [1] * n if strides is None else list(strides)
    dilations = [1] * n if dilations is None else list(dilations)
    for name, seq in (("strides", strides), ("dilations", dilations)):
        if len(seq) != n:
            raise ValueError(f"{fn}(): argument '{name}' must have {n} entries (one per kernel), got {len(seq)}")
    for k, s, d in zip(kernel_sizes, strides, dilations):
        positive_int(fn, "kernel_sizes[i]", k)
        positive_int(fn, "strides[i]", s)
        positive_int(fn, "dilations[i]", d)
    return strides, dilations


def _check_depthwise_separable_cost(in_channels, out_channels, kernel_size, out_height, out_width):
    """``(C_in, C_out, (kh, kw), H_out, W_out)``, each checked positive."""
    fn = "depthwise_separable_cost"
    C_in, C_out = positive_ints(fn, in_channels=in_channels, out_channels=out_channels)
    kernel = pair(fn, "kernel_size", kernel_size, minimum=1)
    Ho, Wo = positive_ints(fn, out_height=out_height, out_width=out_width)
    return C_in, C_out, kernel, Ho, Wo


def _check_spatially_separable_kernel(col, row) -> None:
    fn = "spatially_separable_kernel"
    check_tensor(fn, "col", col, ndim=1, layout="(kh,)")
    check_tensor(fn, "row", row, ndim=1, layout="(kw,)")
    check_same_device_dtype(fn, "col", col, row=row)


def _check_conv2d(input, weight, bias, stride, padding, dilation, groups):
    """``stride``, ``padding`` as (top, bottom, left, right), ``dilation``; the output must not be empty."""
    fn = "conv2d"
    check_tensor(fn, "input", input, ndim=(3, 4), layout="(B, C_in, H, W)", floating=True)
    check_tensor(fn, "weight", weight, ndim=4, layout="(C_out, C_in / groups, kh, kw)", floating=True)
    _check_weight_and_bias(fn, input, weight, bias, groups)
    stride = pair(fn, "stride", stride, minimum=1)
    dilation = pair(fn, "dilation", dilation, minimum=1)
    kh, kw = weight.shape[-2:]
    pad = _conv_padding(fn, padding, (kh, kw), dilation, stride)
    H, W = input.shape[-2:]
    _check_output_size(fn, H, pad[0] + pad[1], kh, stride[0], dilation[0], "height")
    _check_output_size(fn, W, pad[2] + pad[3], kw, stride[1], dilation[1], "width")
    return stride, pad, dilation


def _check_conv1d(input, weight, bias, stride, padding, dilation, groups):
    """``stride`` (int), ``padding`` as (0, 0, left, right), ``dilation`` (int); the output must not be empty."""
    fn = "conv1d"
    check_tensor(fn, "input", input, ndim=(2, 3), layout="(B, C_in, L)", floating=True)
    check_tensor(fn, "weight", weight, ndim=3, layout="(C_out, C_in / groups, k)", floating=True)
    _check_weight_and_bias(fn, input, weight, bias, groups)
    stride = _int_or_1tuple(fn, "stride", stride, 1)
    dilation = _int_or_1tuple(fn, "dilation", dilation, 1)
    k = weight.shape[-1]
    if isinstance(padding, str):
        pad = _conv_padding(fn, padding, (1, k), (1, dilation), (1, stride))
    else:
        p = _int_or_1tuple(fn, "padding", padding, 0)
        pad = (0, 0, p, p)
    _check_output_size(fn, input.shape[-1], pad[2] + pad[3], k, stride, dilation, "length")
    return stride, pad, dilation


def _check_conv_transpose2d(input, weight, bias, stride, padding, output_padding, groups, dilation):
    """``stride``, ``padding``, ``output_padding``, ``dilation`` as pairs; the output must not be empty."""
    fn = "conv_transpose2d"
    check_tensor(fn, "input", input, ndim=(3, 4), layout="(B, C_in, H, W)", floating=True)
    check_tensor(fn, "weight", weight, ndim=4, layout="(C_in, C_out / groups, kh, kw)", floating=True)
    _check_weight_and_bias(fn, input, weight, bias, groups, transposed=True)
    stride = pair(fn, "stride", stride, minimum=1)
    padding = pair(fn, "padding", padding, minimum=0)
    output_padding = pair(fn, "output_padding", output_padding, minimum=0)
    dilation = pair(fn, "dilation", dilation, minimum=1)
    for op, s, d in zip(output_padding, stride, dilation):
        if op >= s and op >= d:
            raise ValueError(
                f"{fn}(): argument 'output_padding' must be smaller than either stride or dilation, "
                f"got output_padding={output_padding}, stride={stride}, dilation={dilation}"
            )
    batched_shape = input.shape if input.dim() == 4 else (1, *input.shape)
    H, W = input.shape[-2:]
    kh, kw = weight.shape[-2:]
    Ho = (H - 1) * stride[0] + dilation[0] * (kh - 1) + 1 - 2 * padding[0] + output_padding[0]
    Wo = (W - 1) * stride[1] + dilation[1] * (kw - 1) + 1 - 2 * padding[1] + output_padding[1]
    if Ho < 1 or Wo < 1:
        raise ValueError(
            f"{fn}(): the output would be empty: ({Ho}, {Wo}) for input {_fmt(batched_shape)}, padding {padding}"
        )
    return stride, padding, output_padding, dilation


def _check_deform_conv2d(input, offset, weight, bias, stride, padding, dilation, mask):
    """``stride``, ``padding``, ``dilation`` as pairs; offset and mask shaped for the output grid."""
    fn = "deform_conv2d"
    check_tensor(fn, "input", input, ndim=4, layout="(B, C_in, H, W)", floating=True)
    check_tensor(fn, "offset", offset, ndim=4, layout="(B, 2 * offset_groups * kh * kw, H_out, W_out)", floating=True)
    check_tensor(fn, "weight", weight, ndim=4, layout="(C_out, C_in / groups, kh, kw)", floating=True)
    check_tensor(fn, "mask", mask, ndim=4, layout="(B, offset_groups * kh * kw, H_out, W_out)", floating=True,
                 optional=True)
    B, C_in, H, W = input.shape
    C_out, C_in_g, kh, kw = weight.shape
    if C_in % C_in_g != 0:
        raise ValueError(
            f"{fn}(): expected the input channels to be a multiple of weight.shape[1]={C_in_g} "
            f"(weight {_fmt(weight.shape)}), got input with {C_in} channels"
        )
    _check_weight_and_bias(fn, input, weight, bias, C_in // C_in_g)
    check_same_device_dtype(fn, "input", input, offset=offset, mask=mask)
    stride = pair(fn, "stride", stride, minimum=1)
    padding = pair(fn, "padding", padding, minimum=0)
    dilation = pair(fn, "dilation", dilation, minimum=1)
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    _check_output_size(fn, H, 2 * ph, kh, sh, dh, "height")
    _check_output_size(fn, W, 2 * pw, kw, sw, dw, "width")
    Ho, Wo = _conv_out_len(H, 2 * ph, kh, sh, dh), _conv_out_len(W, 2 * pw, kw, sw, dw)
    K = kh * kw
    if offset.shape[1] % (2 * K) != 0 or offset.shape[1] == 0:
        raise ValueError(
            f"{fn}(): argument 'offset' must have 2 * offset_groups * kh * kw channels, a multiple of "
            f"2 * {kh} * {kw} = {2 * K}, got offset of shape {_fmt(offset.shape)}"
        )
    G_off = offset.shape[1] // (2 * K)
    if C_in % G_off != 0:
        raise ValueError(
            f"{fn}(): the {G_off} offset groups (offset {_fmt(offset.shape)}) must divide the {C_in} input channels"
        )
    if tuple(offset.shape) != (B, 2 * G_off * K, Ho, Wo):
        raise ValueError(
            f"{fn}(): argument 'offset' must have shape {_fmt((B, 2 * G_off * K, Ho, Wo))} = "
            f"(B, 2 * offset_groups * kh * kw, H_out, W_out), got {_fmt(offset.shape)}"
        )
    if mask is not None and tuple(mask.shape) != (B, G_off * K, Ho, Wo):
        raise ValueError(
            f"{fn}(): argument 'mask' must have shape {_fmt((B, G_off * K, Ho, Wo))} = "
            f"(B, offset_groups * kh * kw, H_out, W_out), got {_fmt(mask.shape)}"
        )
    return stride, padding, dilation


def _check_squeeze_excitation(input, fc1_weight, fc1_bias, fc2_weight, fc2_bias) -> None:
    fn = "squeeze_excitation"
    check_tensor(fn, "input", input, ndim=4, layout="(B, C, H, W)", floating=True)
    check_tensor(fn, "fc1_weight", fc1_weight, ndim=2, layout="(C_r, C)")
    check_tensor(fn, "fc2_weight", fc2_weight, ndim=2, layout="(C, C_r)")
    check_tensor(fn, "fc1_bias", fc1_bias, ndim=1, layout="(C_r,)")
    check_tensor(fn, "fc2_bias", fc2_bias, ndim=1, layout="(C,)")
    C, C_r = input.shape[1], fc1_weight.shape[0]
    expected = {"fc1_weight": (C_r, C), "fc1_bias": (C_r,), "fc2_weight": (C, C_r), "fc2_bias": (C,)}
    given = {"fc1_weight": fc1_weight, "fc1_bias": fc1_bias, "fc2_weight": fc2_weight, "fc2_bias": fc2_bias}
    for name, shape in expected.items():
        if tuple(given[name].shape) != shape:
            raise ValueError(
                f"{fn}(): argument '{name}' must have shape {_fmt(shape)} for input with C={C} channels "
                f"and C_r={C_r}, got {_fmt(given[name].shape)}"
            )
    check_same_device_dtype(fn, "input", input, **given)


def _check_ngram_features(embeddings, weight) -> None:
    """The embeddings' width matches the filters, and the sentences are at least one n-gram long."""
    fn = "ngram_features"
    check_tensor(fn, "embeddings", embeddings, ndim=3, layout="(B, L, E)", floating=True)
    check_tensor(fn, "weight", weight, ndim=3, layout="(F, E, n)", floating=True)
    B, L, E = embeddings.shape
    if weight.shape[1] != E:
        raise ValueError(
            f"{fn}(): argument 'weight' {_fmt(weight.shape)} must have E={E} input channels "
            f"(embeddings {_fmt(embeddings.shape)}), got {weight.shape[1]}"
        )
    n = weight.shape[2]
    if L < n:
        raise ValueError(f"{fn}(): the sentences ({L} tokens) are shorter than the {n}-gram filters")


def _check_deform_conv2d_layer(in_channels, out_channels, kernel_size, stride, padding, dilation, groups,
                               offset_groups):
    """The channel counts divide into the groups; ``kernel_size``, ``stride``, ``padding``, ``dilation`` as pairs."""
    fn = "DeformConv2d"
    positive_ints(fn, in_channels=in_channels, out_channels=out_channels, groups=groups, offset_groups=offset_groups)
    for name, value, div_name, div in (("in_channels", in_channels, "groups", groups),
                                       ("out_channels", out_channels, "groups", groups),
                                       ("in_channels", in_channels, "offset_groups", offset_groups)):
        if value % div != 0:
            raise ValueError(f"{fn}(): argument '{name}'={value} must be divisible by {div_name}={div}")
    return (pair(fn, "kernel_size", kernel_size, minimum=1), pair(fn, "stride", stride, minimum=1),
            pair(fn, "padding", padding, minimum=0), pair(fn, "dilation", dilation, minimum=1))
