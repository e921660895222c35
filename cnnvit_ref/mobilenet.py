"""MobileNet v1: a network of depthwise-separable convolutions, with timm's ``mobilenetv1_100`` layout.

Chapter
    01, ``book/01_convolutions.ipynb`` (exercise: ``exercises/01_convolutions/``)
Papers
    Howard, Zhu, Chen, Kalenichenko, Wang, Weyand, Andreetto & Adam, "MobileNets: Efficient Convolutional
    Neural Networks for Mobile Vision Applications", 2017. https://arxiv.org/abs/1704.04861 (Table 1: the
    body; Table 2: where the Mult-Adds and parameters are; Tables 6-8: width and resolution multipliers
    and the 1.0 MobileNet-224 sizes, 569M Mult-Adds and 4.2M parameters; Sec. 3.1, Eq. 5: the cost ratio)
Official code
    https://github.com/tensorflow/models/blob/master/research/slim/nets/mobilenet_v1.py (TF-Slim);
    timm's ``timm/models/efficientnet.py`` (``mobilenetv1_100``) with the blocks of
    ``timm/models/_efficientnet_blocks.py`` (``DepthwiseSeparableConv``)
Symbols in the shape comments
    B batch, H x W height x width of the input image, stem / num_features the widths after the stem /
    the last block, num_classes the logits

A depthwise-separable layer (:class:`cnnvit_ref.conv.DepthwiseSeparableConv2d` with ``norm_act=True``)
replaces one k x k conv from M to N channels (k^2 M N weights) by a k x k depthwise conv (one filter per
channel, ``groups=M``: k^2 M weights) followed by a 1x1 pointwise conv (M N weights), each followed by BN
and ReLU; the cost ratio is 1/N + 1/k^2 (Howard et al., Eq. 5).

Module names and state_dict keys follow timm's ``mobilenetv1_100`` (``conv_stem``, ``bn1``,
``blocks.<stage>.<i>`` with ``conv_dw``/``bn1``/``conv_pw``/``bn2``, ``classifier``), so its checkpoints
load with ``strict=True`` (``tests/test_mobilenet.py`` pins the keys and shapes, written out from timm's
architecture definition). As in the paper, the activation is ReLU (timm and TF-Slim use ReLU6) and the
last depthwise conv has stride 1 (Table 1 prints "s2" for it, a typo: the map is 7x7 before and after).
Units: MACs (the paper's "Mult-Adds"; see :mod:`cnnvit_ref.flops`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
import torch.nn as nn

from ._validate import check_tensor, positive_int
from .conv import DepthwiseSeparableConv2d, make_divisible
from .models import build, preset

__all__ = ["MobileNetV1Config", "MobileNetV1", "mobilenet_v1", "mobilenet_v1_tiny"]


# --------------------------------------------------------------------------------------------
# model
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MobileNetV1Config:
    """Hyper-parameters of a MobileNet v1 (defaults: 1.0 MobileNet-224, Howard et al. Table 1).

    ``stages``: ``(out_channels, num_blocks, stride of the first block)`` per stage, before the width
    multiplier. ``width_mult`` is the paper's alpha: every width becomes ``make_divisible(alpha * c, 8)``
    (exactly alpha * c for alpha in {1, 0.75, 0.5, 0.25}). The resolution multiplier rho is just the
    input size. ``stem_stride=1`` keeps 32x32 inputs from shrinking to 1x1.
    """

    stages: tuple[tuple[int, int, int], ...] = ((64, 1, 1), (128, 2, 2), (256, 2, 2), (512, 6, 2), (1024, 2, 2))
    stem_width: int = 32
    stem_stride: int = 2
    width_mult: float = 1.0
    in_chans: int = 3
    num_classes: int = 1000
    drop_rate: float = 0.0

    def __post_init__(self) -> None:
        _check_config_fields(self)
        object.__setattr__(self, "stages", tuple(tuple(s) for s in self.stages))  # lists (e.g. from JSON) -> tuples

    def width(self, channels: int) -> int:
        return make_divisible(channels * self.width_mult, 8)


class MobileNetV1(nn.Module):
    """MobileNet v1: ``conv_stem, bn1, act1, blocks, global_pool, classifier``."""

    def __init__(self, config: MobileNetV1Config | None = None, **overrides):
        super().__init__()
        self.config = cfg = _check_config(config, overrides)

        stem = cfg.width(cfg.stem_width)
        self.conv_stem = nn.Conv2d(cfg.in_chans, stem, 3, stride=cfg.stem_stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(stem)
        self.act1 = nn.ReLU(inplace=True)

        in_chs, stages = stem, []
        for channels, depth, stride in cfg.stages:
            out_chs = cfg.width(channels)
            blocks = []
            for j in range(depth):
                s = stride if j == 0 else 1
                blocks.append(DepthwiseSeparableConv2d(in_chs, out_chs, 3, stride=s, padding=1, norm_act=True))
                in_chs = out_chs
            stages.append(nn.Sequential(*blocks))
        self.blocks = nn.Sequential(*stages)
        self.num_features = in_chs

        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self.drop = nn.Dropout(cfg.drop_rate)
        self.classifier = nn.Linear(self.num_features, cfg.num_classes)
        self.init_weights()

    def init_weights(self) -> None:
        """timm's EfficientNet-family init: conv weights N(0, 2 / fan_out), fan_out = k*k*C_out/groups."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                kh, kw = m.kernel_size
                fan_out = kh * kw * m.out_channels // m.groups
                nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / fan_out))

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, in_chans, H, W) -> (B, num_features, H/32, W/32)`` (NCHW; /16 with ``stem_stride=1``)."""
        _check_input(x, self.config.in_chans)
        x = self.act1(self.bn1(self.conv_stem(x)))  # (B, stem, H/2, W/2)
        return self.blocks(x)  # (B, num_features, H/32, W/32)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.global_pool(x).flatten(1)  # (B, num_features)
        x = self.drop(x)
        return x if pre_logits else self.classifier(x)  # (B, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))  # (B, num_classes)


# --------------------------------------------------------------------------------------------
# presets
# --------------------------------------------------------------------------------------------


@preset(aliases=("mobilenetv1_100", "mobilenet_v1_100"))
def mobilenet_v1(**overrides) -> MobileNetV1:
    """1.0 MobileNet-224: Howard et al. 2017, Table 8 (and Tables 6/7): 4.2M parameters, 569M Mult-Adds.

    Measured with ``count_params`` / ``count_macs(.., (1, 3, 224, 224))``: 4,231,976 parameters
    (4,209,088 conv/FC weights + biases and BN affine), 568.7M MACs. ``width_mult`` = 0.75 / 0.5 / 0.25
    gives the paper's Table 6 rows (2.6M / 1.3M / 0.5M params, 325M / 149M / 41M Mult-Adds); inputs
    of 192 / 160 / 128 give Table 7 (418M / 290M / 186M).
    """
    return build(MobileNetV1, MobileNetV1Config(), overrides, "mobilenet_v1")


@preset(aliases=("mobilenet_t",))
def mobilenet_v1_tiny(**overrides) -> MobileNetV1:
    """A small MobileNet v1 for 32x32 inputs and 10 classes, trainable on a CPU in seconds:
    width 0.5, stride-1 stem, one depthwise-separable block per stage (maps 32 -> 16 -> 8 -> 4)."""
    cfg = MobileNetV1Config(
        stages=((64, 1, 1), (128, 1, 2), (256, 1, 2), (512, 1, 2)), stem_stride=1, width_mult=0.5, num_classes=10
    )
    return build(MobileNetV1, cfg, overrides, "mobilenet_v1_tiny")


# --------------------------------------------------------------------------------------------
# argument checks
# --------------------------------------------------------------------------------------------


def _check_config_fields(cfg: MobileNetV1Config) -> None:
    fn = "MobileNetV1Config"
    if not (isinstance(cfg.stages, (tuple, list)) and len(cfg.stages) > 0):
        raise TypeError(
            f"{fn}(): argument 'stages' must be a non-empty tuple of (channels, blocks, stride), got {cfg.stages!r}"
        )
    for st in cfg.stages:
        if not (isinstance(st, (tuple, list)) and len(st) == 3):
            raise TypeError(f"{fn}(): every entry of 'stages' must be (channels, blocks, stride), got {st!r}")
        for v in st:
            positive_int(fn, "stages", v)
    for name in ("stem_width", "stem_stride", "in_chans", "num_classes"):
        positive_int(fn, name, getattr(cfg, name))
    if not (isinstance(cfg.width_mult, (int, float)) and cfg.width_mult > 0):
        raise ValueError(f"{fn}(): argument 'width_mult' must be a positive number, got {cfg.width_mult!r}")
    if not 0.0 <= cfg.drop_rate < 1.0:
        raise ValueError(f"{fn}(): argument 'drop_rate' must be in [0, 1), got {cfg.drop_rate!r}")


def _check_config(config, overrides: dict) -> MobileNetV1Config:
    """``config`` (default: the defaults) with ``overrides`` applied; it must be a MobileNetV1Config."""
    if config is None:
        config = MobileNetV1Config(**overrides)
    elif overrides:
        config = replace(config, **overrides)
    if not isinstance(config, MobileNetV1Config):
        raise TypeError(f"MobileNetV1(): argument 'config' must be a MobileNetV1Config, got {type(config).__name__}")
    return config


def _check_input(x, in_chans: int) -> None:
    fn = "MobileNetV1.forward"
    check_tensor(fn, "x", x, ndim=4, layout="(B, C, H, W)", floating=True)
    if x.shape[1] != in_chans:
        raise ValueError(f"{fn}(): argument 'x' must have {in_chans} channels (dim 1), got shape {tuple(x.shape)}")
