"""ResNet and SE-ResNet, with timm's ``state_dict`` layout: the CNNs the course compares transformers with.

Chapter
    01, ``book/01_convolutions.ipynb`` (the CNN of chapters 04, 06 and 07's comparisons)
Papers
    He, Zhang, Ren, Sun, "Deep Residual Learning for Image Recognition", CVPR 2016.
    https://arxiv.org/abs/1512.03385 (Table 1: the 18/34/50/101/152-layer configurations and their FLOPs)
    Hu, Shen, Sun, "Squeeze-and-Excitation Networks", CVPR 2018. https://arxiv.org/abs/1709.01507
    (Table 2: SE-ResNet-50 / 101 / 152 sizes)
    Goyal et al., "Accurate, Large Minibatch SGD: Training ImageNet in 1 Hour", 2017.
    https://arxiv.org/abs/1706.02677 (the Torch ResNet they train puts the stride in the 3x3 conv), and
    NVIDIA's "ResNet v1.5" note, https://catalog.ngc.nvidia.com/orgs/nvidia/resources/resnet_50_v1_5_for_pytorch
Official code
    https://github.com/KaimingHe/deep-residual-networks (Caffe, stride in the first 1x1 conv);
    timm's ``timm/models/resnet.py`` and torchvision's ``resnet.py`` (stride in the 3x3 conv)
Symbols in the shape comments
    B batch, C channels, H x W image or feature-map size

The layout mirrored is timm's: ``conv1``/``bn1`` stem, ``layer1`` .. ``layer4`` of ``Bottleneck`` blocks with
``conv1``/``bn1``/``conv2``/``bn2``/``conv3``/``bn3``, ``se.fc1``/``se.fc2``, ``downsample.0``/``downsample.1``,
then ``fc``. A timm checkpoint of ``resnet50`` or ``seresnet50`` loads with ``strict=True``.

Where the stride goes (``stride_in_1x1``). The paper's bottleneck (and the released Caffe models) strides
the first 1x1 conv of a down-sampling block; torchvision, timm and NVIDIA stride the 3x3 conv instead
("ResNet v1.5"). Both have the same parameters and the same ``state_dict``; v1.5 is about 0.5 % more
accurate but its 3x3 convs in the first block of stages 2-4 run at twice the resolution, so it costs
4.09 GMACs at 224x224 instead of the paper's 3.8 (8 % more). ``resnet50()`` is v1.5 by default, because
that is what timm checkpoints are; ``resnet50(stride_in_1x1=True)`` is the paper's network.

Units: MACs (the papers' "FLOPs" are multiply-accumulates; see :mod:`cnnvit_ref.flops`).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import torch
import torch.nn as nn

from ._features import check_forward_intermediates
from ._validate import check_tensor, positive_int
from .conv import SqueezeExcitation, make_divisible
from .models import build, preset

__all__ = [
    "BasicBlock",
    "Bottleneck",
    "ResNetConfig",
    "ResNet",
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet101",
    "resnet152",
    "seresnet50",
    "seresnet101",
    "seresnet152",
    "resnet50_tiny",
    "seresnet50_tiny",
    "resnet_tiny",
    "seresnet_tiny",
]


# --------------------------------------------------------------------------------------------
# math helpers
# --------------------------------------------------------------------------------------------
def _se_channels(channels: int, rd_ratio: float, rd_divisor: int) -> int:
    """Bottleneck width of the SE block: timm's ``SEModule`` default ``make_divisible(C / 16, 8)``."""
    return make_divisible(channels * rd_ratio, rd_divisor)


def _downsample(in_channels: int, out_channels: int, stride: int) -> nn.Sequential:
    """The projection shortcut (option B of He et al.): 1x1 conv with stride, then BN."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=stride, bias=False),
        nn.BatchNorm2d(out_channels),
    )


# --------------------------------------------------------------------------------------------
# blocks
# --------------------------------------------------------------------------------------------
class BasicBlock(nn.Module):
    """Two 3x3 convs (ResNet-18/34): ``x -> conv-bn-relu -> conv-bn [-> se] (+ shortcut) -> relu``."""

    expansion = 1

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        se_rd_channels: int | None = None,
    ):
        super().__init__()
        self.inplanes, self.planes, self.stride = inplanes, planes, stride
        self.conv1 = nn.Conv2d(inplanes, planes, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.act1 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.se = SqueezeExcitation(planes, se_rd_channels) if se_rd_channels else None
        self.act2 = nn.ReLU(inplace=True)
        self.downsample = downsample

    def zero_init_last(self) -> None:
        """Start the residual branch at zero, so the block starts as the identity (Goyal et al. 2017)."""
        nn.init.zeros_(self.bn2.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)  # (B, planes, H/s, W/s)
        x = self.act1(self.bn1(self.conv1(x)))  # (B, planes, H/s, W/s)
        x = self.bn2(self.conv2(x))  # (B, planes, H/s, W/s)
        if self.se is not None:
            x = self.se(x)
        return self.act2(x + shortcut)

    def extra_repr(self) -> str:
        return f"inplanes={self.inplanes}, planes={self.planes}, stride={self.stride}, se={self.se is not None}"


class Bottleneck(nn.Module):
    """1x1 reduce -> 3x3 -> 1x1 expand (x4), then SE (after ``bn3``, before the add), shortcut, ReLU.

    ``stride_in_1x1=False`` (default, "v1.5", timm/torchvision) strides ``conv2`` (the 3x3);
    ``stride_in_1x1=True`` strides ``conv1`` as in He et al. 2016. Same parameters either way.
    """

    expansion = 4

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        se_rd_channels: int | None = None,
        stride_in_1x1: bool = False,
    ):
        super().__init__()
        self.inplanes, self.planes, self.stride, self.stride_in_1x1 = inplanes, planes, stride, stride_in_1x1
        outplanes = planes * self.expansion
        s1, s3 = (stride, 1) if stride_in_1x1 else (1, stride)
        self.conv1 = nn.Conv2d(inplanes, planes, kernel_size=1, stride=s1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.act1 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, stride=s3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.act2 = nn.ReLU(inplace=True)
        self.conv3 = nn.Conv2d(planes, outplanes, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(outplanes)
        self.se = SqueezeExcitation(outplanes, se_rd_channels) if se_rd_channels else None
        self.act3 = nn.ReLU(inplace=True)
        self.downsample = downsample

    def zero_init_last(self) -> None:
        """Start the residual branch at zero, so the block starts as the identity (Goyal et al. 2017)."""
        nn.init.zeros_(self.bn3.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)  # (B, 4*planes, H/s, W/s)
        x = self.act1(self.bn1(self.conv1(x)))  # (B, planes, H or H/s, W or W/s)
        x = self.act2(self.bn2(self.conv2(x)))  # (B, planes, H/s, W/s)
        x = self.bn3(self.conv3(x))  # (B, 4*planes, H/s, W/s)
        if self.se is not None:
            x = self.se(x)  # (B, 4*planes, H/s, W/s)
        return self.act3(x + shortcut)

    def extra_repr(self) -> str:
        return (
            f"inplanes={self.inplanes}, planes={self.planes}, stride={self.stride}, "
            f"stride_in_1x1={self.stride_in_1x1}, se={self.se is not None}"
        )


_BLOCKS = {"basic": BasicBlock, "bottleneck": Bottleneck}


# --------------------------------------------------------------------------------------------
# model
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ResNetConfig:
    """Hyper-parameters of a ResNet (defaults: ResNet-50 v1.5 for ImageNet).

    ``channels`` are the stage widths ``planes`` (the bottleneck width; a Bottleneck stage outputs
    ``4 * planes``), as in timm's ``ResNet(channels=...)``. ``stem_width`` is the width of the stem conv
    (64 in every ImageNet ResNet). ``stem="imagenet"`` is the 7x7/2 conv + 3x3/2 max-pool (He et al.);
    ``stem="cifar"`` is a 3x3/1 conv and no pooling, for 32x32 inputs (He et al. Sec. 4.2).
    ``se=True`` adds squeeze-and-excitation with ``make_divisible(C * se_rd_ratio, se_rd_divisor)``
    hidden channels (timm's ``seresnet``; Hu et al. use exactly C/16, which is the same at every
    ResNet-50 width). ``zero_init_last`` zero-initialises the last BN of every block (timm's default).
    """

    layers: tuple[int, ...] = (3, 4, 6, 3)
    channels: tuple[int, ...] = (64, 128, 256, 512)
    block: str = "bottleneck"
    stem_width: int = 64
    stem: str = "imagenet"
    in_chans: int = 3
    num_classes: int = 1000
    se: bool = False
    se_rd_ratio: float = 1.0 / 16
    se_rd_divisor: int = 8
    stride_in_1x1: bool = False
    drop_rate: float = 0.0
    zero_init_last: bool = True

    def __post_init__(self) -> None:
        fn = "ResNetConfig"
        for name in ("layers", "channels"):
            v = getattr(self, name)
            if not (isinstance(v, (tuple, list)) and len(v) > 0):
                raise TypeError(f"{fn}(): argument '{name}' must be a non-empty tuple of ints, got {v!r}")
            for i in v:
                positive_int(fn, name, i)
            object.__setattr__(self, name, tuple(v))
        if len(self.layers) != len(self.channels):
            raise ValueError(
                f"{fn}(): 'layers' and 'channels' must have one entry per stage, got "
                f"{len(self.layers)} and {len(self.channels)} entries ({self.layers!r}, {self.channels!r})"
            )
        if self.block not in _BLOCKS:
            raise ValueError(f"{fn}(): argument 'block' must be one of {sorted(_BLOCKS)}, got {self.block!r}")
        if self.stem not in ("imagenet", "cifar"):
            raise ValueError(f"{fn}(): argument 'stem' must be 'imagenet' or 'cifar', got {self.stem!r}")
        for name in ("stem_width", "in_chans", "num_classes", "se_rd_divisor"):
            positive_int(fn, name, getattr(self, name))
        if not 0.0 <= self.drop_rate < 1.0:
            raise ValueError(f"{fn}(): argument 'drop_rate' must be in [0, 1), got {self.drop_rate!r}")

    @classmethod
    def from_timm(cls, config: dict, **overrides) -> "ResNetConfig":
        """The config of a timm ``ResNet(**kwargs)`` call: keys ``layers``, ``channels``, ``stem_width``,
        ``stem_type``, ``in_chans``, ``num_classes`` and ``block_args={"attn_layer": "se"}`` (SE-ResNet);
        other keys are ignored. ``overrides`` are passed on, e.g. ``se=True``.

        timm uses ``stem_width`` only for its "deep" stems (three 3x3 convs, not built here); its
        default single 7x7 stem is always 64 channels wide, and so is ours for ``stem_type=""``.
        """
        _check_timm_config(config)
        kwargs = {k: config[k] for k in ("layers", "channels", "num_classes", "in_chans") if k in config}
        attn = (config.get("block_args") or {}).get("attn_layer")
        kwargs.update(stem_width=64, se=attn == "se")
        kwargs.update(overrides)
        return cls(**kwargs)


class ResNet(nn.Module):
    """ResNet with timm's module names: ``conv1, bn1, act1, maxpool, layer1..layerN, global_pool, fc``."""

    def __init__(self, config: ResNetConfig | None = None, **kwargs):
        super().__init__()
        if config is None:
            config = ResNetConfig(**kwargs)
        elif kwargs:
            config = replace(config, **kwargs)
        if not isinstance(config, ResNetConfig):
            raise TypeError(f"ResNet(): argument 'config' must be a ResNetConfig, got {type(config).__name__}")
        self.config = cfg = config
        block = _BLOCKS[cfg.block]

        # stem
        if cfg.stem == "imagenet":
            conv1 = nn.Conv2d(cfg.in_chans, cfg.stem_width, kernel_size=7, stride=2, padding=3, bias=False)
            maxpool: nn.Module = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        else:
            conv1 = nn.Conv2d(cfg.in_chans, cfg.stem_width, kernel_size=3, stride=1, padding=1, bias=False)
            maxpool = nn.Identity()
        self.conv1 = conv1
        self.bn1 = nn.BatchNorm2d(cfg.stem_width)
        self.act1 = nn.ReLU(inplace=True)
        self.maxpool = maxpool

        # stages: the first block of every stage after the first halves the resolution
        inplanes = cfg.stem_width
        self.stage_names: list[str] = []
        for i, (depth, planes) in enumerate(zip(cfg.layers, cfg.channels)):
            stride = 1 if i == 0 else 2
            outplanes = planes * block.expansion
            rd = _se_channels(outplanes, cfg.se_rd_ratio, cfg.se_rd_divisor) if cfg.se else None
            extra = {"stride_in_1x1": cfg.stride_in_1x1} if block is Bottleneck else {}
            blocks = []
            for j in range(depth):
                s = stride if j == 0 else 1
                down = _downsample(inplanes, outplanes, s) if (s != 1 or inplanes != outplanes) else None
                blocks.append(block(inplanes, planes, stride=s, downsample=down, se_rd_channels=rd, **extra))
                inplanes = outplanes
            name = f"layer{i + 1}"
            self.add_module(name, nn.Sequential(*blocks))
            self.stage_names.append(name)
        self.num_features = inplanes

        # head
        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self.drop = nn.Dropout(cfg.drop_rate)
        self.fc = nn.Linear(self.num_features, cfg.num_classes)
        self.init_weights()

    def init_weights(self) -> None:
        """timm's ResNet init: He-normal (fan_out) convs, BN = (1, 0), last BN of each block zero."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        if self.config.zero_init_last:
            for m in self.modules():
                if isinstance(m, (BasicBlock, Bottleneck)):
                    m.zero_init_last()

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Stem and stages: ``(B, in_chans, H, W) -> (B, num_features, H/32, W/32)`` (NCHW)."""
        _check_images(x, self.config.in_chans)
        x = self.maxpool(self.act1(self.bn1(self.conv1(x))))  # (B, stem_width, H/4, W/4)
        for name in self.stage_names:
            x = getattr(self, name)(x)  # (B, C_stage, H/4/2^i, W/4/2^i)
        return x

    def forward_intermediates(
        self,
        x: torch.Tensor,
        indices: int | list[int] | None = None,
        norm: bool = False,
        stop_early: bool = False,
        output_fmt: str = "NCHW",
        intermediates_only: bool = False,
    ) -> list[torch.Tensor] | tuple[torch.Tensor, list[torch.Tensor]]:
        """timm's ``forward_intermediates``: the stem's and every stage's output, NCHW (chapter 07).

        Feature 0 is the stem after its ReLU (before the max-pool), features 1..S the stages ``layer1..layerS``,
        as timm's ``feature_info``: ``1 + len(stage_names)`` features. ``indices`` picks some (None: all; n: the
        last n; a list: those positions). Returns ``(final, intermediates)`` with ``final`` =
        :meth:`forward_features`, or only the list if ``intermediates_only``; ``stop_early`` skips the stages
        after the last one picked. ResNet has no final norm, so ``norm`` changes nothing (timm's signature).
        """
        take, last = check_forward_intermediates(
            "ResNet.forward_intermediates", x, self.config.in_chans, output_fmt, ("NCHW",),
            1 + len(self.stage_names), indices,
        )
        intermediates = []
        x = self.act1(self.bn1(self.conv1(x)))  # (B, stem_width, H/2, W/2); H x W with the cifar stem
        if 0 in take:
            intermediates.append(x)
        x = self.maxpool(x)  # (B, stem_width, H/4, W/4); H x W with the cifar stem
        names = self.stage_names[:last] if stop_early else self.stage_names
        for i, name in enumerate(names, start=1):
            x = getattr(self, name)(x)  # (B, C_stage, H/4/2^(i-1), W/4/2^(i-1))
            if i in take:
                intermediates.append(x)
        if intermediates_only:
            return intermediates
        return x, intermediates

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Global average pool, dropout, ``fc``: ``(B, num_features, h, w) -> (B, num_classes)``."""
        x = self.global_pool(x).flatten(1)  # (B, num_features)
        x = self.drop(x)
        return x if pre_logits else self.fc(x)  # (B, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


# --------------------------------------------------------------------------------------------
# presets (paper sizes measured with cnnvit_ref.flops.count_macs at (1, 3, 224, 224))
# --------------------------------------------------------------------------------------------
@preset(aliases=("resnet_18",))
def resnet18(**kwargs) -> ResNet:
    """ResNet-18: He et al. 2016, Table 1: 1.8e9 FLOPs (MACs); measured 1.81 G. 11,689,512 parameters
    (torchvision's count). Basic blocks have no 1x1 conv, so ``stride_in_1x1`` changes nothing."""
    return build(ResNet, ResNetConfig(layers=(2, 2, 2, 2), block="basic"), kwargs, "resnet18")


@preset(aliases=("resnet_34",))
def resnet34(**kwargs) -> ResNet:
    """ResNet-34: He et al. 2016, Table 1: 3.6e9 FLOPs (MACs); measured 3.66 G. 21,797,672 parameters
    (torchvision's count)."""
    return build(ResNet, ResNetConfig(layers=(3, 4, 6, 3), block="basic"), kwargs, "resnet34")


@preset(aliases=("resnet_50", "resnet50_v1_5"))
def resnet50(**kwargs) -> ResNet:
    """ResNet-50 with timm's ``resnet50`` state_dict: 25,557,032 parameters (~25.6M).

    He et al. 2016, Table 1: 3.8e9 FLOPs (MACs). That figure is for the paper's block, which strides
    the first 1x1 conv: ``resnet50(stride_in_1x1=True)`` measures 3.86 GMACs (+1.5 %). The default,
    as in timm/torchvision ("ResNet v1.5", Goyal et al. 2017; NVIDIA), strides the 3x3 conv and
    measures 4.09 GMACs (+7.6 % over the paper; torchvision publishes 4.09 GFLOPS for it).
    """
    return build(ResNet, ResNetConfig(layers=(3, 4, 6, 3)), kwargs, "resnet50")


@preset(aliases=("resnet_101",))
def resnet101(**kwargs) -> ResNet:
    """ResNet-101: He et al. 2016, Table 1: 7.6e9 FLOPs (MACs) with ``stride_in_1x1=True``;
    44,549,160 parameters. Measured: 7.57 GMACs (v1), 7.80 GMACs (default, v1.5)."""
    return build(ResNet, ResNetConfig(layers=(3, 4, 23, 3)), kwargs, "resnet101")


@preset(aliases=("resnet_152",))
def resnet152(**kwargs) -> ResNet:
    """ResNet-152: He et al. 2016, Table 1: 11.3e9 FLOPs (MACs) with ``stride_in_1x1=True``;
    60,192,808 parameters. Measured: 11.28 GMACs (v1), 11.51 GMACs (default, v1.5)."""
    return build(ResNet, ResNetConfig(layers=(3, 8, 36, 3)), kwargs, "resnet152")


@preset(aliases=("se_resnet50", "seresnet_50"))
def seresnet50(**kwargs) -> ResNet:
    """SE-ResNet-50 with timm's ``seresnet50`` state_dict (SE after ``bn3``, before the residual add).

    Hu et al. 2018, Table 2: 28.09M parameters, 3.87 GFLOPs (MACs) (our count: 28,088,024).
    The 3.87 G belongs to the paper's block (SENet's Caffe models stride the first 1x1 conv):
    ``seresnet50(stride_in_1x1=True)`` measures 3.86 GMACs (-0.3 %); the default (v1.5, timm's layout)
    measures 4.09 GMACs (+5.7 %). SE itself adds only 2.5 MMACs (two 1x1 convs on a 1x1 map; the
    pooling and the channel scaling are not multiply-accumulates and are not counted).
    """
    return build(ResNet, ResNetConfig(layers=(3, 4, 6, 3), se=True), kwargs, "seresnet50")


@preset(aliases=("se_resnet101",))
def seresnet101(**kwargs) -> ResNet:
    """SE-ResNet-101: Hu et al. 2018, Table 2: 49.33M parameters, 7.60 GFLOPs (MACs) with
    ``stride_in_1x1=True``. Measured: 49,326,872 parameters; 7.57 GMACs (v1), 7.81 GMACs (default)."""
    return build(ResNet, ResNetConfig(layers=(3, 4, 23, 3), se=True), kwargs, "seresnet101")


@preset(aliases=("se_resnet152",))
def seresnet152(**kwargs) -> ResNet:
    """SE-ResNet-152: Hu et al. 2018, Table 2: 66.82M parameters, 11.32 GFLOPs (MACs) with
    ``stride_in_1x1=True``. Measured: 66,821,848 parameters; 11.29 GMACs (v1), 11.52 GMACs (default)."""
    return build(ResNet, ResNetConfig(layers=(3, 8, 36, 3), se=True), kwargs, "seresnet152")


# the golden fixtures' architecture (ImageNet stem) and a CIFAR-style net for 32x32 inputs
_TINY_50 = ResNetConfig(layers=(1, 2, 1, 1), channels=(8, 16, 32, 64), num_classes=10)
_TINY = ResNetConfig(
    layers=(1, 1, 1, 1), channels=(16, 32, 64, 128), block="basic", stem="cifar", stem_width=16, num_classes=10
)


@preset
def resnet50_tiny(**kwargs) -> ResNet:
    """The ResNet-50 architecture shrunk (blocks (1, 2, 1, 1), widths (8, 16, 32, 64), 10 classes):
    the configuration of the timm golden fixture ``resnet50_tiny`` (ImageNet stem, 64 wide)."""
    return build(ResNet, _TINY_50, kwargs, "resnet50_tiny")


@preset
def seresnet50_tiny(**kwargs) -> ResNet:
    """:func:`resnet50_tiny` with squeeze-and-excitation: the timm golden fixture ``seresnet50_tiny``."""
    return build(ResNet, replace(_TINY_50, se=True), kwargs, "seresnet50_tiny")


@preset(aliases=("resnet_t",))
def resnet_tiny(**kwargs) -> ResNet:
    """A small CIFAR-style ResNet for 32x32 inputs and 10 classes, trainable on a CPU in seconds:
    3x3 stem (16 wide, no max-pool), one BasicBlock per stage, widths (16, 32, 64, 128),
    feature maps 32 -> 16 -> 8 -> 4. 0.31M parameters, 16 MMACs per 32x32 image."""
    return build(ResNet, _TINY, kwargs, "resnet_tiny")


@preset(aliases=("seresnet_t",))
def seresnet_tiny(**kwargs) -> ResNet:
    """:func:`resnet_tiny` with squeeze-and-excitation in every block (0.31M parameters)."""
    return build(ResNet, replace(_TINY, se=True), kwargs, "seresnet_tiny")


# --------------------------------------------------------------------------------------------
# argument checks
# --------------------------------------------------------------------------------------------
def _check_timm_config(config) -> None:
    fn = "ResNetConfig.from_timm"
    if not isinstance(config, dict):
        raise TypeError(f"{fn}(): argument 'config' must be a dict, got {type(config).__name__}")
    if config.get("stem_type") not in ("", None):
        raise ValueError(
            f"{fn}(): only timm's default 7x7 stem (stem_type='') is built here, got stem_type={config['stem_type']!r}"
        )
    attn = (config.get("block_args") or {}).get("attn_layer")
    if attn not in (None, "se"):
        raise ValueError(f"{fn}(): only attn_layer='se' is built here, got {attn!r}")


def _check_images(x, in_chans: int) -> None:
    check_tensor("ResNet.forward", "x", x, ndim=4, layout="(B, C, H, W)", floating=True)
    if x.shape[1] != in_chans:
        raise ValueError(
            f"ResNet.forward(): argument 'x' must have {in_chans} channels (dim 1), got shape {tuple(x.shape)}"
        )

