"""BoTNet: a ResNet whose last three bottlenecks replace the 3x3 conv by self-attention with 2-D relative positions.

Chapter
    06, ``book/06_hybrids.ipynb`` (exercise: ``exercises/06_hybrids/``)
Papers
    Srinivas, Lin, Parmar, Shlens, Abbeel, Vaswani, "Bottleneck Transformers for Visual Recognition",
    CVPR 2021. https://arxiv.org/abs/2101.11605 (Fig. 4: the MHSA layer with split relative position
    encodings R_h, R_w; Table 1: the BoT50 architecture and its size at 1024x1024)
    Bello, Zoph, Vaswani, Shlens, Le, "Attention Augmented Convolutional Networks", ICCV 2019.
    https://arxiv.org/abs/1904.09925 (the 2-D relative logits, height + width, that BoTNet reuses)
Official code
    https://gist.github.com/aravindsrinivas/56359b79f0ce4449bcb04ab4b56a57a2 (the authors' MHSA, TF);
    timm's ``timm/layers/bottleneck_attn.py`` (``BottleneckAttn``, ``PosEmbedRel``)
Symbols in the shape comments
    B batch, C channels, H x W height x width of a feature map, HW = H * W positions, heads attention
    heads, d = dim_head_qk (query/key width per head), d_v = dim_out / heads (value width per head),
    R_h = 2H - 1 and R_w = 2W - 1 rows of the relative tables

:class:`BottleneckAttn` keeps timm's class name, arguments ``(dim, dim_out, feat_size, stride, num_heads,
dim_head, qk_ratio, qkv_bias, scale_pos_embed)`` and parameters ``qkv.weight`` (a 1x1 conv whose output
channels are [q of all heads | k of all heads | v of all heads]), ``pos_embed.height_rel`` (2H-1, d) and
``pos_embed.width_rel`` (2W-1, d) (one pair of tables shared by all heads), so a timm state_dict loads
with ``strict=True`` and gives timm's output.

Which logits are scaled by 1/sqrt(d). The authors' code multiplies the query by 1/sqrt(d) before it
meets both the keys and the relative tables: ``softmax((q k^T + q r^T) / sqrt(d))``. timm's default
scales only the content term: ``softmax(q k^T / sqrt(d) + q r^T)``. ``scale_pos_embed=True`` (our
default) is the authors'; ``scale_pos_embed=False`` is timm's default (same argument name as timm).

:class:`BoTNet` is :class:`cnnvit_ref.resnet.ResNet` (timm's ``resnet50`` key layout) in which every
block of the last stage is a :class:`BoTBlock`: the :class:`cnnvit_ref.resnet.Bottleneck` whose
``conv2`` (the 3x3 conv) is a :class:`BottleneckAttn`. The module keeps the name ``conv2``, so the keys
are ``layer4.{i}.conv2.{qkv.weight, pos_embed.height_rel, pos_embed.width_rel}`` and every other key is
timm's ``resnet50``'s. The first block of c5 has stride 2: it attends on the 14x14 map (at 224x224)
and then average-pools 2x2 (the paper's Table 1), the other two attend on 7x7.

Units: MACs, counted by :func:`cnnvit_ref.flops.count_macs` (the relative logits are two matmuls, the
softmax and the pooling are not multiply-accumulates).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import torch
import torch.nn as nn

from ._validate import check_tensor, fmt_shape, pair, positive_int
from .models import build, preset
from .conv import make_divisible
from .resnet import Bottleneck, ResNet, ResNetConfig

__all__ = [
    "relative_index",
    "relative_logits_2d",
    "PosEmbedRel",
    "BottleneckAttn",
    "BoTBlock",
    "BoTNetConfig",
    "BoTNet",
    "botnet50",
    "botnet_tiny",
]


# --------------------------------------------------------------------------------------------
# math helpers
# --------------------------------------------------------------------------------------------
def relative_index(size: int, device=None) -> torch.Tensor:
    """``(size, size)`` table of rows: entry ``[i, k] = k - i + size - 1``, the row of a relative table
    (2*size-1 rows, offset -(size-1) first) that holds the offset from query ``i`` to key ``k``."""
    positions = torch.arange(size, device=device)
    return positions.view(1, size) - positions.view(size, 1) + size - 1  # (size, size)


def relative_logits_2d(q: torch.Tensor, rel_h: torch.Tensor, rel_w: torch.Tensor) -> torch.Tensor:
    """BoTNet's relative-position logits: ``q_(i,j) . (rel_h[k-i+H-1] + rel_w[l-j+W-1])``.

    ``q`` (B, H, W, d): queries on an H x W map (B may be batch * heads); ``rel_h`` (2H-1, d) and
    ``rel_w`` (2W-1, d): one learned vector per vertical and per horizontal offset, offset -(H-1) in
    row 0. Returns (B, HW, HW): row ``i*W + j`` is the query at (i, j), column ``k*W + l`` the key at
    (k, l), positions in row-major order. The logit depends on the key's position only through the
    offset (k - i, l - j): this is what makes the attention translation-aware but not
    position-aware. Equal to timm's ``PosEmbedRel`` (which computes it with a pad-and-reshape trick).
    """
    _check_relative_logits_2d(q, rel_h, rel_w)
    B, H, W, d = q.shape
    logits_h = q @ rel_h.transpose(0, 1)  # (B, H, W, 2H-1): q . every vertical offset
    logits_w = q @ rel_w.transpose(0, 1)  # (B, H, W, 2W-1): q . every horizontal offset
    index_h = relative_index(H, q.device).view(1, H, 1, H).expand(B, H, W, H)  # (B, H, W, H): [.., i, j, k]
    index_w = relative_index(W, q.device).view(1, 1, W, W).expand(B, H, W, W)  # (B, H, W, W): [.., i, j, l]
    logits_h = logits_h.gather(-1, index_h)  # (B, H, W, H): key row k
    logits_w = logits_w.gather(-1, index_w)  # (B, H, W, W): key column l
    logits = logits_h.unsqueeze(-1) + logits_w.unsqueeze(-2)  # (B, H, W, H, W)
    return logits.reshape(B, H * W, H * W)  # (B, HW, HW)


# --------------------------------------------------------------------------------------------
# blocks
# --------------------------------------------------------------------------------------------
class PosEmbedRel(nn.Module):
    """The relative-position tables of one attention layer (timm ``PosEmbedRel``): ``height_rel``
    (2H-1, d) and ``width_rel`` (2W-1, d), shared by all heads. ``forward(q)``: (B, HW, d) ->
    (B, HW, HW) relative logits."""

    def __init__(self, feat_size: int | tuple[int, int], dim_head: int, scale: float):
        super().__init__()
        self.height, self.width = _check_pos_embed_rel(feat_size, dim_head)
        self.dim_head = dim_head
        self.scale = scale
        self.height_rel = nn.Parameter(torch.zeros(2 * self.height - 1, dim_head))
        self.width_rel = nn.Parameter(torch.zeros(2 * self.width - 1, dim_head))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.trunc_normal_(self.height_rel, std=self.scale)
        nn.init.trunc_normal_(self.width_rel, std=self.scale)

    def forward(self, q: torch.Tensor) -> torch.Tensor:
        _check_pos_embed_rel_forward(self, q)
        B, HW, d = q.shape
        q = q.reshape(B, self.height, self.width, d)  # (B, H, W, d)
        return relative_logits_2d(q, self.height_rel, self.width_rel)  # (B, HW, HW)

    def extra_repr(self) -> str:
        return f"feat_size=({self.height}, {self.width}), dim_head={self.dim_head}"


class BottleneckAttn(nn.Module):
    """Multi-head self-attention over all positions of an H x W map, with 2-D relative logits.

    ``(B, dim, H, W) -> (B, dim_out, H/stride, W/stride)``; ``stride=2`` average-pools 2x2 after the
    attention. ``feat_size`` (H, W) is fixed at construction (the tables have 2H-1 and 2W-1 rows).
    Query/key width per head: ``dim_head`` or ``make_divisible(dim_out * qk_ratio, 8) // num_heads``;
    value width ``dim_out // num_heads``. ``scale_pos_embed=True``: the authors' scaling of both
    logits by 1/sqrt(d) (default); ``False``: timm's default, only the content logits are scaled.
    """

    def __init__(
        self,
        dim: int,
        dim_out: int | None = None,
        feat_size: int | tuple[int, int] | None = None,
        stride: int = 1,
        num_heads: int = 4,
        dim_head: int | None = None,
        qk_ratio: float = 1.0,
        qkv_bias: bool = False,
        scale_pos_embed: bool = True,
    ):
        super().__init__()
        dim_out, feat_size = _check_bottleneck_attn(dim, dim_out, feat_size, stride, num_heads, dim_head, qk_ratio)
        self.dim, self.dim_out, self.stride = dim, dim_out, stride
        self.num_heads = num_heads
        self.dim_head_qk = dim_head or make_divisible(dim_out * qk_ratio, 8) // num_heads
        self.dim_head_v = dim_out // num_heads
        self.dim_out_qk = num_heads * self.dim_head_qk
        self.dim_out_v = num_heads * self.dim_head_v
        self.scale = self.dim_head_qk**-0.5
        self.scale_pos_embed = scale_pos_embed
        self.qkv = nn.Conv2d(dim, 2 * self.dim_out_qk + self.dim_out_v, kernel_size=1, bias=qkv_bias)
        self.pos_embed = PosEmbedRel(feat_size, dim_head=self.dim_head_qk, scale=self.scale)
        self.pool = nn.AvgPool2d(2, 2) if stride == 2 else nn.Identity()
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """timm's init: qkv ~ truncated normal with std fan_in^-1/2, tables ~ std 1/sqrt(d)."""
        nn.init.trunc_normal_(self.qkv.weight, std=self.qkv.weight.shape[1] ** -0.5)
        if self.qkv.bias is not None:
            nn.init.zeros_(self.qkv.bias)
        self.pos_embed.reset_parameters()

    def _qkv(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        _check_bottleneck_attn_forward(self, x)
        B, C, H, W = x.shape
        heads, d, d_v = self.num_heads, self.dim_head_qk, self.dim_head_v
        qkv = self.qkv(x)  # (B, 2*heads*d + heads*d_v, H, W)
        sizes = [self.dim_out_qk, self.dim_out_qk, self.dim_out_v]
        q, k, v = torch.split(qkv, sizes, dim=1)  # (B, heads*d, H, W) twice, (B, heads*d_v, H, W)
        q = q.reshape(B * heads, d, H * W).transpose(1, 2)  # (B*heads, HW, d)
        k = k.reshape(B * heads, d, H * W)  # (B*heads, d, HW): already transposed for q @ k
        v = v.reshape(B * heads, d_v, H * W).transpose(1, 2)  # (B*heads, HW, d_v)
        return q, k, v

    def _logits(self, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        content = q @ k  # (B*heads, HW, HW)
        position = self.pos_embed(q)  # (B*heads, HW, HW)
        if self.scale_pos_embed:
            return (content + position) * self.scale  # the authors': both terms scaled
        return content * self.scale + position  # timm's default: only the content term scaled

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self._qkv(x)
        B, C, H, W = x.shape
        attn = self._logits(q, k).softmax(dim=-1)  # (B*heads, HW, HW)
        out = attn @ v  # (B*heads, HW, d_v)
        out = out.transpose(1, 2).reshape(B, self.dim_out_v, H, W)  # (B, dim_out, H, W)
        return self.pool(out)  # (B, dim_out, H/stride, W/stride)

    @torch.no_grad()
    def attention_logits(self, x: torch.Tensor) -> torch.Tensor:
        """The logits before the softmax, (B, heads, HW, HW), for plots and tests."""
        q, k, _ = self._qkv(x)
        B, C, H, W = x.shape
        return self._logits(q, k).view(B, self.num_heads, H * W, H * W)  # (B, heads, HW, HW)

    def extra_repr(self) -> str:
        return (
            f"dim={self.dim}, dim_out={self.dim_out}, feat_size=({self.pos_embed.height}, {self.pos_embed.width}), "
            f"stride={self.stride}, num_heads={self.num_heads}, dim_head={self.dim_head_qk}, "
            f"scale_pos_embed={self.scale_pos_embed}"
        )


class BoTBlock(Bottleneck):
    """A ResNet bottleneck whose 3x3 conv (``conv2``) is a :class:`BottleneckAttn` (BoTNet Fig. 3):
    1x1 reduce -> MHSA with relative positions (stride 2: attend, then pool) -> 1x1 expand, shortcut.

    ``feat_size`` is the size of the block's input map (the attention runs before the pooling).
    """

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        feat_size: int | tuple[int, int] = 7,
        num_heads: int = 4,
        scale_pos_embed: bool = True,
        qkv_bias: bool = False,
    ):
        super().__init__(inplanes, planes, stride=stride, downsample=downsample)
        self.num_heads = num_heads
        self.conv2 = BottleneckAttn(
            planes, planes, feat_size=feat_size, stride=stride, num_heads=num_heads,
            qkv_bias=qkv_bias, scale_pos_embed=scale_pos_embed,
        )

    def extra_repr(self) -> str:
        return f"inplanes={self.inplanes}, planes={self.planes}, stride={self.stride}, num_heads={self.num_heads}"


# --------------------------------------------------------------------------------------------
# model
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class BoTNetConfig(ResNetConfig):
    """:class:`cnnvit_ref.resnet.ResNetConfig` plus the attention of the last stage (defaults: BoT50).

    ``img_size`` fixes the size of the relative tables (BoT50 at 224: 14x14 for the strided block,
    7x7 for the others); ``num_heads`` = 4 in the paper; ``scale_pos_embed`` as in
    :class:`BottleneckAttn` (True: the authors'). The stride of a down-sampling block must sit in the
    3x3 position (``stride_in_1x1=False``), where the attention attends before it pools.
    """

    img_size: int = 224
    num_heads: int = 4
    scale_pos_embed: bool = True
    qkv_bias: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_botnet_config(self)

    @property
    def stem_stride(self) -> int:
        return 4 if self.stem == "imagenet" else 1

    @property
    def last_stage_input_size(self) -> int:
        """Side of the map that enters the last stage: img_size / (stem stride * 2^(stages - 2))."""
        return self.img_size // (self.stem_stride * 2 ** (len(self.layers) - 2))


class BoTNet(ResNet):
    """BoTNet: :class:`~cnnvit_ref.resnet.ResNet` with :class:`BoTBlock` in its last stage.

    ``BoTNet(config)`` or ``BoTNet(num_classes=10, ...)`` (keywords override the config, defaults
    are BoT50). ``forward_features`` / ``forward_head`` / ``forward`` as ResNet; the input must be
    ``img_size`` x ``img_size`` (the relative tables are built for one map size).
    """

    def __init__(self, config: BoTNetConfig | None = None, **overrides):
        if config is not None and not isinstance(config, BoTNetConfig):
            raise TypeError(f"BoTNet(): argument 'config' must be a BoTNetConfig, got {type(config).__name__}")
        cfg = replace(config or BoTNetConfig(), **overrides)
        super().__init__(cfg)
        name = self.stage_names[-1]
        size = cfg.last_stage_input_size
        blocks = []
        for old in getattr(self, name):
            blocks.append(BoTBlock(
                old.inplanes, old.planes, stride=old.stride, downsample=old.downsample, feat_size=size,
                num_heads=cfg.num_heads, scale_pos_embed=cfg.scale_pos_embed, qkv_bias=cfg.qkv_bias,
            ))
            size //= old.stride
        setattr(self, name, nn.Sequential(*blocks))
        self.init_weights()

    def init_weights(self) -> None:
        """ResNet's init (He-normal convs, last BN of each block zero), then timm's attention init."""
        super().init_weights()
        for m in self.modules():
            if isinstance(m, BottleneckAttn):
                m.reset_parameters()

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        _check_botnet_forward(self, x)
        return super().forward_features(x)  # (B, num_features, H/32, W/32)


# --------------------------------------------------------------------------------------------
# presets
# --------------------------------------------------------------------------------------------
@preset(aliases=("bot50", "botnet_50"))
def botnet50(**overrides) -> BoTNet:
    """BoT50 at 224x224: ResNet-50 whose three c5 blocks use 4-head :class:`BottleneckAttn`.

    Srinivas et al. 2021, Table 1 (at 1024x1024, the detection setting): BoT50 20.8M parameters and
    102.98G multiply-adds; ResNet-50 25.5M and 85.4G. ``botnet50(img_size=1024)`` measures 20,903,208
    parameters (+0.5 %) and 102.99 GMACs (ResNet-50 here: 85.41 G). The paper has no ImageNet-224
    figure for BoT50; "4.11 GFLOPs" is ResNet-50's. At 224 we count 20,852,008 parameters (the
    relative tables shrink from 127 to 27 rows) and 4.025 GMACs: ResNet-50 (v1.5, 4.09 G) minus the
    three 3x3 convs of c5 (0.35 G) plus the qkv convs (0.23 G) and the attention and relative-logit
    matmuls (0.05 G, most of it in the strided block, which attends on 14x14 = 196 positions).
    """
    config = BoTNetConfig(layers=(3, 4, 6, 3), img_size=224, num_heads=4)
    return build(BoTNet, config, overrides, "botnet50")


@preset(aliases=("botnet_t",))
def botnet_tiny(**overrides) -> BoTNet:
    """A BoTNet for 32x32 images that trains on a 2-core CPU in seconds (course preset, no paper).

    CIFAR stem (3x3, no max-pool, 16 wide), one bottleneck per stage, widths (8, 16, 32, 32) (outputs
    4x), 10 classes; the last stage attends on the 8x8 map with 4 heads and pools to 4x4.
    62,314 parameters and 6.9M MACs per 32x32 image.
    """
    config = BoTNetConfig(
        layers=(1, 1, 1, 1), channels=(8, 16, 32, 32), stem="cifar", stem_width=16, num_classes=10,
        img_size=32, num_heads=4,
    )
    return build(BoTNet, config, overrides, "botnet_tiny")


# --------------------------------------------------------------------------------------------
# argument checks
# --------------------------------------------------------------------------------------------
def _check_relative_logits_2d(q, rel_h, rel_w) -> None:
    fn = "relative_logits_2d"
    check_tensor(fn, "q", q, ndim=4, layout="(B, H, W, d)", floating=True)
    check_tensor(fn, "rel_h", rel_h, ndim=2, layout="(2H-1, d)", floating=True)
    check_tensor(fn, "rel_w", rel_w, ndim=2, layout="(2W-1, d)", floating=True)
    B, H, W, d = q.shape
    for name, table, side, n in (("rel_h", rel_h, "H", H), ("rel_w", rel_w, "W", W)):
        if table.shape[0] != 2 * n - 1:
            raise ValueError(
                f"{fn}(): argument '{name}' must have 2*{side}-1 = {2 * n - 1} rows for {side} = {n} "
                f"(q has shape {fmt_shape(q)}), got {table.shape[0]} rows, shape {fmt_shape(table)}"
            )
        if table.shape[1] != d:
            raise ValueError(
                f"{fn}(): argument '{name}' must have d = {d} columns (the last dim of 'q'), got shape {fmt_shape(table)}"
            )


def _check_pos_embed_rel(feat_size, dim_head) -> tuple[int, int]:
    positive_int("PosEmbedRel", "dim_head", dim_head)
    return pair("PosEmbedRel", "feat_size", feat_size, minimum=1)


def _check_pos_embed_rel_forward(module: PosEmbedRel, q) -> None:
    fn = "PosEmbedRel.forward"
    check_tensor(fn, "q", q, ndim=3, layout="(B, HW, d)", floating=True)
    HW = module.height * module.width
    if q.shape[1:] != (HW, module.dim_head):
        raise ValueError(
            f"{fn}(): argument 'q' must have shape (B, {HW}, {module.dim_head}) for feat_size="
            f"({module.height}, {module.width}), got {fmt_shape(q)}"
        )


def _check_bottleneck_attn(dim, dim_out, feat_size, stride, num_heads, dim_head, qk_ratio):
    fn = "BottleneckAttn"
    positive_int(fn, "dim", dim)
    dim_out = dim if dim_out is None else positive_int(fn, "dim_out", dim_out)
    if feat_size is None:
        raise ValueError(f"{fn}(): argument 'feat_size' is required (the (H, W) of the input map), got None")
    feat_size = pair(fn, "feat_size", feat_size, minimum=1)
    if stride not in (1, 2):
        raise ValueError(f"{fn}(): argument 'stride' must be 1 or 2, got {stride!r}")
    positive_int(fn, "num_heads", num_heads)
    if dim_out % num_heads:
        raise ValueError(
            f"{fn}(): argument 'num_heads' must divide dim_out = {dim_out}, got num_heads = {num_heads}"
        )
    if dim_head is not None:
        positive_int(fn, "dim_head", dim_head)
    elif make_divisible(dim_out * qk_ratio, 8) % num_heads:
        raise ValueError(
            f"{fn}(): argument 'num_heads' must divide the query/key width make_divisible(dim_out * qk_ratio, 8) = "
            f"{make_divisible(dim_out * qk_ratio, 8)}, got num_heads = {num_heads}"
        )
    if stride == 2 and (feat_size[0] % 2 or feat_size[1] % 2):
        raise ValueError(f"{fn}(): stride=2 pools 2x2, so argument 'feat_size' must be even, got {feat_size}")
    return dim_out, feat_size


def _check_bottleneck_attn_forward(module: BottleneckAttn, x) -> None:
    fn = "BottleneckAttn.forward"
    check_tensor(fn, "x", x, ndim=4, layout="(B, C, H, W)", floating=True)
    H, W = module.pos_embed.height, module.pos_embed.width
    if x.shape[1:] != (module.dim, H, W):
        raise ValueError(
            f"{fn}(): argument 'x' must have shape (B, {module.dim}, {H}, {W}): the relative tables were "
            f"built for feat_size=({H}, {W}), got {fmt_shape(x)}"
        )


def _check_botnet_config(cfg: BoTNetConfig) -> None:
    fn = "BoTNetConfig"
    positive_int(fn, "img_size", cfg.img_size)
    positive_int(fn, "num_heads", cfg.num_heads)
    if cfg.block != "bottleneck":
        raise ValueError(f"{fn}(): argument 'block' must be 'bottleneck' (BoT blocks are bottlenecks), got {cfg.block!r}")
    if cfg.stride_in_1x1:
        raise ValueError(f"{fn}(): argument 'stride_in_1x1' must be False (the attention strides), got True")
    if cfg.se:
        raise ValueError(f"{fn}(): argument 'se' must be False (no SE in BoTNet here), got True")
    if len(cfg.layers) < 2:
        raise ValueError(f"{fn}(): argument 'layers' must have at least 2 stages, got {cfg.layers!r}")
    reduction = (4 if cfg.stem == "imagenet" else 1) * 2 ** (len(cfg.layers) - 1)
    if cfg.img_size % reduction:
        raise ValueError(
            f"{fn}(): argument 'img_size' must be a multiple of the network's stride {reduction}, got {cfg.img_size}"
        )
    if cfg.channels[-1] % cfg.num_heads:
        raise ValueError(
            f"{fn}(): argument 'num_heads' must divide the last stage's width channels[-1] = {cfg.channels[-1]}, "
            f"got num_heads = {cfg.num_heads}"
        )


def _check_botnet_forward(model: BoTNet, x) -> None:
    fn = "BoTNet.forward"
    check_tensor(fn, "x", x, ndim=4, layout="(B, C, H, W)", floating=True)
    cfg = model.config
    if x.shape[1:] != (cfg.in_chans, cfg.img_size, cfg.img_size):
        raise ValueError(
            f"{fn}(): argument 'x' must have shape (B, {cfg.in_chans}, {cfg.img_size}, {cfg.img_size}) "
            f"(img_size={cfg.img_size}: the relative tables fix the map size), got {fmt_shape(x)}"
        )
