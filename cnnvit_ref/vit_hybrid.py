"""Hybrid ViT: a Vision Transformer whose patch tokens come from a CNN's feature map instead of raw image patches.

Chapter
    06, ``book/06_hybrids.ipynb`` (exercise: ``exercises/06_hybrids/``)
Papers
    Dosovitskiy et al., "An Image is Worth 16x16 Words: Transformers for Image Recognition at Scale",
    ICLR 2021. https://arxiv.org/abs/2010.11929 (Sec. 3.1 "Hybrid Architecture": patches of 1x1 from a
    CNN feature map; Sec. 4.1 and Appendix D.4: the R50 backbone with GroupNorm and standardized
    convolutions, stage 4 removed and stage 3 extended to 9 blocks: "R50+ViT-B/16")
    Kolesnikov et al., "Big Transfer (BiT): General Visual Representation Learning", ECCV 2020.
    https://arxiv.org/abs/1912.11370 (GroupNorm + Weight Standardization in ResNet)
    Qiao et al., "Micro-Batch Training with Batch-Channel Normalization and Weight Standardization", 2019.
    https://arxiv.org/abs/1903.10520 (Weight Standardization)
Official code
    https://github.com/google-research/vision_transformer (JAX); timm's
    ``timm/models/vision_transformer_hybrid.py``, ``timm/models/resnetv2.py``, ``timm/layers/hybrid_embed.py``
Symbols in the shape comments
    B batch, C channels, H x W height x width of an image or feature map, N tokens, D the transformer
    width (embed_dim), p patch size on the feature map (1 in the paper's hybrids)

The CNN is timm's ``ResNetV2`` as ``vit_base_r50_s16_224`` builds it: NOT pre-activation (the
bottleneck is conv-norm-act, conv-norm-act, conv-norm, + shortcut, ReLU, as in ResNet v1.5), every conv a
:class:`StdConv2dSame` (weight-standardized with eps 1e-8, TensorFlow "SAME" padding), every norm a
:class:`GroupNormAct` (32 groups), a 7x7/2 stem conv and a 3x3/2 "SAME" max-pool, stages of
(3, 4, 9) bottlenecks with outputs (256, 512, 1024), and no final norm or head: the stride-16 map of
stage 3 (14 x 14 x 1024 at 224) is projected to D = 768 by a 1x1 conv (``patch_embed.proj``) and
flattened to 196 tokens. Then a ViT-B: class token, position embedding, 12 blocks, final norm. timm's
model of that name has no classifier (``num_classes=0``: it is the ImageNet-21k backbone).

Key layout (timm's, so a timm checkpoint loads with ``strict=True``)::

    cls_token, pos_embed, patch_embed.backbone.stem.{conv, norm},
    patch_embed.backbone.stages.{i}.blocks.{j}.{downsample.{conv, norm}, conv1, norm1, conv2, norm2, conv3, norm3},
    patch_embed.proj, blocks.{i}.{norm1, attn.qkv, attn.proj, norm2, mlp.fc1, mlp.fc2}, norm[, head]

Units: MACs, counted by :func:`cnnvit_ref.flops.count_macs` (weight standardization and GroupNorm are
not multiply-accumulates).
"""
from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass, replace

import torch
import torch.nn as nn
import torch.nn.functional as F

from ._validate import check_tensor, fmt_shape, positive_int, positive_ints
from .models import build, preset
from .conv import make_divisible
from .vit import Block, add_class_token_and_position

__all__ = [
    "same_padding",
    "standardize_weight",
    "hybrid_tokens",
    "StdConv2dSame",
    "GroupNormAct",
    "MaxPool2dSame",
    "ResNetV2Bottleneck",
    "ResNetStage",
    "ResNetV2",
    "HybridEmbed",
    "HybridViTConfig",
    "HybridVisionTransformer",
    "vit_base_r50_s16_224",
    "vit_tiny_r2_s8_32",
]


# --------------------------------------------------------------------------------------------
# math helpers
# --------------------------------------------------------------------------------------------
def same_padding(size: int, kernel_size: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """TensorFlow's "SAME" padding along one axis: (before, after) so that the output has
    ceil(size / stride) positions; the odd pixel goes after (e.g. 224, k = 7, s = 2: (2, 3))."""
    _check_same_padding(size, kernel_size, stride, dilation)
    total = max((math.ceil(size / stride) - 1) * stride + (kernel_size - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


def standardize_weight(weight: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Weight Standardization: each output filter of ``weight`` (C_out, C_in, k, k) to zero mean and
    unit (biased) variance over its C_in * k * k entries: (w - mean) / sqrt(var + eps)."""
    _check_standardize_weight(weight, eps)
    flat = weight.reshape(weight.shape[0], -1)  # (C_out, C_in*k*k)
    mean = flat.mean(dim=1, keepdim=True)  # (C_out, 1)
    var = flat.var(dim=1, unbiased=False, keepdim=True)  # (C_out, 1)
    return ((flat - mean) / torch.sqrt(var + eps)).reshape(weight.shape)  # (C_out, C_in, k, k)


def hybrid_tokens(feature_map: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """Tokens from a CNN feature map (ViT Sec. 3.1): cut the map into p x p patches (p = the kernel
    size of ``weight``; 1 in the paper's hybrids, so every feature-map position is a token), project
    each to D, flatten in row-major order.

    ``feature_map`` (B, C, H, W), ``weight`` (D, C, p, p), ``bias`` (D,) -> (B, (H/p) * (W/p), D).
    With p = 1 this is ``feature_map.flatten(2).transpose(1, 2) @ weight[:, :, 0, 0].T + bias``.
    """
    _check_hybrid_tokens(feature_map, weight, bias)
    p = weight.shape[-1]
    x = F.conv2d(feature_map, weight, bias, stride=p)  # (B, D, H/p, W/p)
    return x.flatten(2).transpose(1, 2)  # (B, N, D)


# --------------------------------------------------------------------------------------------
# blocks
# --------------------------------------------------------------------------------------------
class StdConv2dSame(nn.Conv2d):
    """Conv2d with Weight Standardization and TensorFlow "SAME" padding (timm ``StdConv2dSame``).
    The stored ``weight`` is the raw one; the conv uses :func:`standardize_weight` of it."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 bias: bool = False, eps: float = 1e-8):
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=0, bias=bias)
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, C, H, W = x.shape
        top, bottom = same_padding(H, self.kernel_size[0], self.stride[0])
        left, right = same_padding(W, self.kernel_size[1], self.stride[1])
        x = F.pad(x, (left, right, top, bottom))  # (B, C, H + pad, W + pad)
        return F.conv2d(x, standardize_weight(self.weight, self.eps), self.bias, self.stride)  # (B, C_out, H/s, W/s)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", padding=SAME, eps={self.eps}"


class GroupNormAct(nn.GroupNorm):
    """GroupNorm (32 groups, eps 1e-5), then ReLU unless ``apply_act=False`` (timm ``GroupNormAct``)."""

    def __init__(self, num_channels: int, num_groups: int = 32, eps: float = 1e-5, apply_act: bool = True):
        super().__init__(num_groups, num_channels, eps=eps)
        self.apply_act = apply_act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.group_norm(x, self.num_groups, self.weight, self.bias, self.eps)  # (B, C, H, W)
        return F.relu(x) if self.apply_act else x

    def extra_repr(self) -> str:
        return super().extra_repr() + f", apply_act={self.apply_act}"


class MaxPool2dSame(nn.Module):
    """Max-pooling with TensorFlow "SAME" padding (padded with -inf; timm ``MaxPool2dSame``)."""

    def __init__(self, kernel_size: int = 3, stride: int = 2):
        super().__init__()
        self.kernel_size, self.stride = kernel_size, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, C, H, W = x.shape
        top, bottom = same_padding(H, self.kernel_size, self.stride)
        left, right = same_padding(W, self.kernel_size, self.stride)
        x = F.pad(x, (left, right, top, bottom), value=float("-inf"))  # (B, C, H + pad, W + pad)
        return F.max_pool2d(x, self.kernel_size, self.stride)  # (B, C, H/s, W/s)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding=SAME"


class _Downsample(nn.Module):
    """The projection shortcut (timm ``DownsampleConv``, not pre-activation): 1x1 StdConv, GroupNorm."""

    def __init__(self, in_chs: int, out_chs: int, stride: int, std_eps: float = 1e-8):
        super().__init__()
        self.conv = StdConv2dSame(in_chs, out_chs, 1, stride=stride, eps=std_eps)
        self.norm = GroupNormAct(out_chs, apply_act=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.conv(x))  # (B, out_chs, H/s, W/s)


class ResNetV2Bottleneck(nn.Module):
    """timm's non-pre-activation ResNetV2 ``Bottleneck``: 1x1 -> 3x3 (stride) -> 1x1 (x4), each conv
    standardized and followed by GroupNorm (ReLU after the first two), + shortcut, ReLU."""

    def __init__(self, in_chs: int, out_chs: int, stride: int = 1, bottle_ratio: float = 0.25, std_eps: float = 1e-8):
        super().__init__()
        mid = make_divisible(out_chs * bottle_ratio)
        self.in_chs, self.out_chs, self.stride = in_chs, out_chs, stride
        down = stride != 1 or in_chs != out_chs
        self.downsample = _Downsample(in_chs, out_chs, stride, std_eps) if down else None
        self.conv1 = StdConv2dSame(in_chs, mid, 1, eps=std_eps)
        self.norm1 = GroupNormAct(mid)
        self.conv2 = StdConv2dSame(mid, mid, 3, stride=stride, eps=std_eps)
        self.norm2 = GroupNormAct(mid)
        self.conv3 = StdConv2dSame(mid, out_chs, 1, eps=std_eps)
        self.norm3 = GroupNormAct(out_chs, apply_act=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)  # (B, out_chs, H/s, W/s)
        x = self.norm1(self.conv1(x))  # (B, mid, H, W)
        x = self.norm2(self.conv2(x))  # (B, mid, H/s, W/s)
        x = self.norm3(self.conv3(x))  # (B, out_chs, H/s, W/s)
        return F.relu(x + shortcut)

    def extra_repr(self) -> str:
        return f"in_chs={self.in_chs}, out_chs={self.out_chs}, stride={self.stride}"


class ResNetStage(nn.Module):
    """``depth`` bottlenecks; the first one strides and projects the shortcut (timm ``ResNetStage``)."""

    def __init__(self, in_chs: int, out_chs: int, stride: int, depth: int, std_eps: float = 1e-8):
        super().__init__()
        self.blocks = nn.Sequential(*[
            ResNetV2Bottleneck(in_chs if i == 0 else out_chs, out_chs, stride=stride if i == 0 else 1, std_eps=std_eps)
            for i in range(depth)
        ])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(x)


class ResNetV2(nn.Module):
    """The hybrid's CNN (timm ``ResNetV2(preact=False, stem_type='same', conv_layer=StdConv2dSame)``
    without head): stem (7x7/2 conv, GroupNorm + ReLU, 3x3/2 max-pool), then one stage per entry of
    ``layers`` (stride 1 for the first, 2 after). Output stride 4 * 2^(stages - 1). ``std_eps`` is the
    eps of the weight standardization: 1e-8 in timm's hybrids, 1e-6 is ``StdConv2dSame``'s default."""

    def __init__(self, layers: tuple[int, ...], channels: tuple[int, ...], in_chans: int = 3, stem_chs: int = 64,
                 std_eps: float = 1e-8):
        super().__init__()
        self.stem = nn.Sequential(OrderedDict([
            ("conv", StdConv2dSame(in_chans, stem_chs, 7, stride=2, eps=std_eps)),
            ("norm", GroupNormAct(stem_chs)),
            ("pool", MaxPool2dSame(3, 2)),
        ]))
        self.stages = nn.Sequential(*[
            ResNetStage(stem_chs if i == 0 else channels[i - 1], c, stride=1 if i == 0 else 2, depth=d, std_eps=std_eps)
            for i, (d, c) in enumerate(zip(layers, channels))
        ])
        self.num_features = channels[-1]
        self.reduction = 4 * 2 ** (len(layers) - 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)  # (B, stem_chs, H/4, W/4)
        return self.stages(x)  # (B, channels[-1], H/reduction, W/reduction)


class HybridEmbed(nn.Module):
    """CNN feature map -> tokens (timm ``HybridEmbed``): ``backbone``, then ``proj`` (a p x p conv with
    stride p, p = 1 by default) and flatten. ``(B, C, H, W) -> (B, N, D)``, N = (H / reduction / p)^2."""

    def __init__(self, backbone: ResNetV2, img_size: int, embed_dim: int, patch_size: int = 1):
        super().__init__()
        self.backbone = backbone
        self.img_size, self.patch_size = img_size, patch_size
        self.feature_size = img_size // backbone.reduction
        self.grid_size = self.feature_size // patch_size
        self.num_patches = self.grid_size**2
        self.proj = nn.Conv2d(backbone.num_features, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.backbone(x)  # (B, C, H/reduction, W/reduction)
        x = self.proj(x)  # (B, D, H', W'): hybrid_tokens' 1x1 (or p x p) projection, through the module
        return x.flatten(2).transpose(1, 2)  # (B, N, D)

    def extra_repr(self) -> str:
        return f"img_size={self.img_size}, feature_size={self.feature_size}, patch_size={self.patch_size}"


# --------------------------------------------------------------------------------------------
# model
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class HybridViTConfig:
    """Hyper-parameters of a hybrid ViT (defaults: timm's ``vit_base_r50_s16_224``, no classifier).

    ``backbone_layers`` / ``backbone_channels``: bottlenecks and output width of each ResNetV2 stage
    (R50 without stage 4: (3, 4, 9) and (256, 512, 1024)); ``stem_chs`` the stem width;
    ``patch_size`` the patch on the feature map (1); ``num_classes=0``: no head (timm's default here);
    ``std_eps`` the eps of the weight standardization (timm's hybrids: 1e-8).
    """

    img_size: int = 224
    in_chans: int = 3
    num_classes: int = 0
    embed_dim: int = 768
    depth: int = 12
    num_heads: int = 12
    mlp_ratio: float = 4.0
    qkv_bias: bool = True
    patch_size: int = 1
    backbone_layers: tuple[int, ...] = (3, 4, 9)
    backbone_channels: tuple[int, ...] = (256, 512, 1024)
    stem_chs: int = 64
    std_eps: float = 1e-8

    def __post_init__(self) -> None:
        _check_hybrid_vit_config(self)

    @property
    def reduction(self) -> int:
        """Image pixels per token side: 4 (stem) * 2 per stage after the first * patch_size."""
        return 4 * 2 ** (len(self.backbone_layers) - 1) * self.patch_size

    @property
    def num_patches(self) -> int:
        return (self.img_size // self.reduction) ** 2


class HybridVisionTransformer(nn.Module):
    """ViT on CNN tokens (timm ``VisionTransformer`` with ``HybridEmbed``): ``patch_embed`` (the CNN
    and the projection), class token, position embedding, blocks, final norm, head.

    * :meth:`forward_features`: images (B, C, H, W) -> tokens (B, 1 + N, D) after the final norm;
    * :meth:`forward_head`: the class token -> logits (B, num_classes), or (B, D) without a head.
    """

    def __init__(self, config: HybridViTConfig | None = None, **overrides):
        super().__init__()
        if config is not None and not isinstance(config, HybridViTConfig):
            raise TypeError(
                f"HybridVisionTransformer(): argument 'config' must be a HybridViTConfig, got {type(config).__name__}"
            )
        cfg = replace(config or HybridViTConfig(), **overrides)
        self.config = cfg
        D = cfg.embed_dim
        self.num_features = D
        backbone = ResNetV2(cfg.backbone_layers, cfg.backbone_channels, cfg.in_chans, cfg.stem_chs, cfg.std_eps)
        self.patch_embed = HybridEmbed(backbone, cfg.img_size, D, cfg.patch_size)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, D))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + cfg.num_patches, D))
        self.blocks = nn.Sequential(*[Block(D, cfg.num_heads, cfg.mlp_ratio, cfg.qkv_bias) for _ in range(cfg.depth)])
        self.norm = nn.LayerNorm(D, eps=1e-6)
        self.head = nn.Linear(D, cfg.num_classes) if cfg.num_classes > 0 else nn.Identity()
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """timm's inits: the CNN as ResNetV2 (He-normal fan_out convs, GroupNorm (1, 0)); the
        transformer as ViT (truncated normal 0.02 for the position embedding and linear weights,
        zero biases, a near-zero class token)."""
        for m in self.patch_embed.backbone.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.GroupNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.normal_(self.cls_token, std=1e-6)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        _check_hybrid_vit_forward(self, x)
        x = self.patch_embed(x)  # (B, N, D)
        x = add_class_token_and_position(x, self.cls_token, self.pos_embed)  # (B, 1 + N, D)
        x = self.blocks(x)  # (B, 1 + N, D)
        return self.norm(x)  # (B, 1 + N, D)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = x[:, 0]  # (B, D): the class token
        return x if pre_logits else self.head(x)  # (B, num_classes), or (B, D) without a head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


# --------------------------------------------------------------------------------------------
# presets
# --------------------------------------------------------------------------------------------
@preset(aliases=("r50_vit_b16", "vit_b_r50_s16"))
def vit_base_r50_s16_224(**overrides) -> HybridVisionTransformer:
    """R50+ViT-B/16 at 224x224 (Dosovitskiy et al. 2021, Sec. 3.1 and Table 2's "R50+ViT-B/16" hybrid
    family), timm's ``vit_base_r50_s16_224``: R50 stages (3, 4, 9), 196 tokens, ViT-B, no classifier.

    The paper gives no size table for the hybrids; timm's figures are the reference: 97,890,112
    parameters (its manifest; 97.89M in timm's benchmark CSV) and 21.66 GMACs at 224 (timm's
    ``results/benchmark-infer-amp-nchw-pt240-cu124-rtx3090.csv``). We count 97,890,112 parameters
    and 21.53 GMACs (-0.6 %): the ResNet 3.93 G, the 1x1 projection 0.15 G, the transformer 17.45 G
    on 197 tokens.
    """
    return build(HybridVisionTransformer, HybridViTConfig(), overrides, "vit_base_r50_s16_224")


@preset(aliases=("vit_hybrid_tiny",))
def vit_tiny_r2_s8_32(**overrides) -> HybridVisionTransformer:
    """A hybrid ViT for 32x32 images that trains on a 2-core CPU in seconds (course preset, no paper),
    the configuration of the timm golden fixture ``vit_hybrid_small_cfg``: a ResNetV2 with 2 stages of
    one bottleneck (outputs 128, 128; stem 32), tokens from its stride-8 map (4x4 = 16 tokens), a
    ViT of width 48, depth 2, 3 heads, 10 classes. 122,458 parameters, 4.2M MACs per image. The
    fixture's backbone was built with ``StdConv2dSame``'s default eps 1e-6 (timm's hybrid presets pass
    1e-8), so this preset uses ``std_eps=1e-6``.
    """
    config = HybridViTConfig(
        img_size=32, num_classes=10, embed_dim=48, depth=2, num_heads=3,
        backbone_layers=(1, 1), backbone_channels=(128, 128), stem_chs=32, std_eps=1e-6,
    )
    return build(HybridVisionTransformer, config, overrides, "vit_tiny_r2_s8_32")


# --------------------------------------------------------------------------------------------
# argument checks
# --------------------------------------------------------------------------------------------
def _check_same_padding(size, kernel_size, stride, dilation) -> None:
    positive_ints("same_padding", size=size, kernel_size=kernel_size, stride=stride, dilation=dilation)


def _check_standardize_weight(weight, eps) -> None:
    check_tensor("standardize_weight", "weight", weight, ndim=(2, 3, 4, 5), layout="(C_out, ...)", floating=True)
    if not eps >= 0:
        raise ValueError(f"standardize_weight(): argument 'eps' must be >= 0, got {eps!r}")


def _check_hybrid_tokens(feature_map, weight, bias) -> None:
    fn = "hybrid_tokens"
    check_tensor(fn, "feature_map", feature_map, ndim=4, layout="(B, C, H, W)", floating=True)
    check_tensor(fn, "weight", weight, ndim=4, layout="(D, C, p, p)", floating=True)
    check_tensor(fn, "bias", bias, ndim=1, layout="(D,)", floating=True, optional=True)
    B, C, H, W = feature_map.shape
    D, C_w, p, p2 = weight.shape
    if C_w != C or p != p2:
        raise ValueError(
            f"{fn}(): argument 'weight' must have shape (D, C = {C}, p, p) for 'feature_map' {fmt_shape(feature_map)}, "
            f"got {fmt_shape(weight)}"
        )
    if H % p or W % p:
        raise ValueError(
            f"{fn}(): the height and width of 'feature_map' must be multiples of the patch size p = {p}, "
            f"got H = {H}, W = {W}"
        )
    if bias is not None and bias.shape != (D,):
        raise ValueError(f"{fn}(): argument 'bias' must have shape ({D},), got {fmt_shape(bias)}")


def _check_hybrid_vit_config(cfg: HybridViTConfig) -> None:
    fn = "HybridViTConfig"
    positive_ints(fn, img_size=cfg.img_size, in_chans=cfg.in_chans, embed_dim=cfg.embed_dim, depth=cfg.depth,
                  num_heads=cfg.num_heads, patch_size=cfg.patch_size, stem_chs=cfg.stem_chs)
    if isinstance(cfg.num_classes, bool) or not isinstance(cfg.num_classes, int) or cfg.num_classes < 0:
        raise ValueError(f"{fn}(): argument 'num_classes' must be an int >= 0 (0: no head), got {cfg.num_classes!r}")
    for name in ("backbone_layers", "backbone_channels"):
        v = getattr(cfg, name)
        if not (isinstance(v, (tuple, list)) and len(v) > 0):
            raise TypeError(f"{fn}(): argument '{name}' must be a non-empty tuple of ints, got {v!r}")
        for i in v:
            positive_int(fn, name, i)
        object.__setattr__(cfg, name, tuple(v))
    if len(cfg.backbone_layers) != len(cfg.backbone_channels):
        raise ValueError(
            f"{fn}(): 'backbone_layers' and 'backbone_channels' must have one entry per stage, got "
            f"{cfg.backbone_layers!r} and {cfg.backbone_channels!r}"
        )
    for name in ("stem_chs",):
        if getattr(cfg, name) % 32:
            raise ValueError(f"{fn}(): argument '{name}' must be a multiple of 32 (GroupNorm's 32 groups), got {cfg.stem_chs}")
    for c in cfg.backbone_channels:
        if make_divisible(c * 0.25) % 32 or c % 32:
            raise ValueError(
                f"{fn}(): argument 'backbone_channels' must hold multiples of 128 (bottleneck width c/4 in 32 groups), "
                f"got {cfg.backbone_channels!r}"
            )
    if cfg.img_size % cfg.reduction:
        raise ValueError(
            f"{fn}(): argument 'img_size' must be a multiple of the token stride {cfg.reduction} "
            f"(4 * 2^(stages - 1) * patch_size), got {cfg.img_size}"
        )
    if cfg.embed_dim % cfg.num_heads:
        raise ValueError(
            f"{fn}(): argument 'num_heads' must divide embed_dim = {cfg.embed_dim}, got num_heads = {cfg.num_heads}"
        )
    if not cfg.mlp_ratio > 0:
        raise ValueError(f"{fn}(): argument 'mlp_ratio' must be > 0, got {cfg.mlp_ratio!r}")
    if not cfg.std_eps >= 0:
        raise ValueError(f"{fn}(): argument 'std_eps' must be >= 0, got {cfg.std_eps!r}")


def _check_hybrid_vit_forward(model: HybridVisionTransformer, x) -> None:
    fn = "HybridVisionTransformer.forward"
    check_tensor(fn, "x", x, ndim=4, layout="(B, C, H, W)", floating=True)
    cfg = model.config
    if x.shape[1:] != (cfg.in_chans, cfg.img_size, cfg.img_size):
        raise ValueError(
            f"{fn}(): argument 'x' must have shape (B, {cfg.in_chans}, {cfg.img_size}, {cfg.img_size}) "
            f"(the position embedding was built for img_size={cfg.img_size}), got {fmt_shape(x)}"
        )
