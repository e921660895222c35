"""Conformer: a CNN branch and a transformer branch run side by side, coupled in every block.

Chapter
    06, ``book/06_hybrids.ipynb`` (exercise: ``exercises/06_hybrids/``)
Papers
    Peng et al., "Conformer: Local Features Coupling Global Representations for Visual Recognition",
    ICCV 2021. https://arxiv.org/abs/2105.03889 (Sec. 3: the two branches, the feature coupling unit and
    the two classifiers)
Official code
    https://github.com/pengzhiliang/Conformer (``conformer.py``; its README's model zoo lists the sizes of
    Conformer-Ti/S/B; timm has no Conformer)
Symbols in the shape comments
    B batch, C channels of the CNN branch, C/4 the bottleneck width, H x W height x width of a CNN feature
    map, s the coupling stride (CNN map / token grid), N = (H/s)(W/s) patch tokens, D the transformer
    width, heads attention heads, head_dim = D / heads

The network, as the official code builds it (``depth`` transformer blocks, a multiple of 3)::

    stem        7x7 conv of stride 2, BN, ReLU, 3x3 max pool of stride 2               (B, 64, H/4, W/4)
    block 1     CNN: a ResNet bottleneck (64 -> C1); transformer: patch embedding (a conv of kernel and
                stride patch/4) + class token, then one encoder block; tokens (B, 1 + N, D)
    blocks 2..  ``ConvTransBlock``: a bottleneck; FCU down (its 3x3 features -> tokens, added to the
                transformer's input); an encoder block; FCU up (tokens -> a map, added to the input of the
                3x3 conv of a second bottleneck, ``fusion_block``). Channels C1, 2 C1, 4 C1 over the three
                thirds; the CNN map halves at the start of the 2nd and 3rd thirds, so the coupling stride
                s is patch/4, patch/8, patch/16; the last fusion bottleneck halves it once more (H/32)
    heads       CNN: average pool + ``conv_cls_head``; transformer: LayerNorm, class token, ``trans_cls_head``

The feature coupling unit (FCU) bridges the two shapes: down, (B, C/4, H, W) -> 1x1 conv to D, s x s
average pooling, LayerNorm, GELU, with the class token prepended: (B, 1 + N, D); up, (B, 1 + N, D) -> drop
the class token, lay the tokens on their grid, 1x1 conv to C/4, BatchNorm, ReLU, nearest-neighbour
upsampling by s: (B, C/4, H, W). :func:`fcu_down` and :func:`fcu_up` are the two directions as functions.

``forward`` returns both heads' logits, ``[conv_cls, tran_cls]``, as the official model does. The authors
train with the mean of the two cross-entropy losses (each divided by the number of heads) and, at evaluation, add the two heads' logits and take
the arg-max (the official ``engine.py``: the accuracy of ``output[0] + output[1]``). The module mirrors the
official layout key for key (``cls_token``, ``trans_norm``, ``trans_cls_head``, ``conv_cls_head``, ``conv1``,
``bn1``, ``conv_1``, ``trans_patch_conv``, ``trans_1``, ``conv_trans_{2..depth}.{cnn_block, fusion_block,
squeeze_block, expand_block, trans_block}``), so its checkpoints load with ``strict=True``; the official
``num_med_block`` (0 in every released model), dropout and stochastic depth are left out.
Units: MACs (the README's "MACs").
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import torch
import torch.nn as nn
import torch.nn.functional as F

from ._validate import check_image_size, check_tensor, fmt_shape, positive_int, positive_ints
from .models import build, preset
from .vit import Block

__all__ = [
    "fcu_down",
    "fcu_up",
    "ConvBlock",
    "FCUDown",
    "FCUUp",
    "ConvTransBlock",
    "ConformerConfig",
    "Conformer",
    "conformer_ti",
    "conformer_s",
    "conformer_b",
    "conformer_tiny_32",
]


# --------------------------------------------------------------------------------------------
# math helpers: the feature coupling unit's two directions
# --------------------------------------------------------------------------------------------
def fcu_down(
    x: torch.Tensor,
    x_t: torch.Tensor,
    conv_project_weight: torch.Tensor,
    conv_project_bias: torch.Tensor | None,
    ln_weight: torch.Tensor,
    ln_bias: torch.Tensor,
    dw_stride: int,
    eps: float = 1e-6,
) -> torch.Tensor:
    """CNN features -> transformer tokens: (B, C, H, W) -> (B, 1 + N, D), N = (H/s)(W/s), s = ``dw_stride``.

    A 1x1 conv (``conv_project_weight`` (D, C, 1, 1)) brings the channels to the transformer width, s x s
    average pooling brings the map to the token grid, then LayerNorm and GELU; the class token of the
    transformer's tokens ``x_t`` (B, 1 + N, D) is put in front, so the result can be added to ``x_t``.
    Argument names follow :class:`FCUDown`'s parameters (``conv_project.weight`` -> ``conv_project_weight``).
    """
    s = _check_fcu_down(x, x_t, conv_project_weight, conv_project_bias, ln_weight, ln_bias, dw_stride)
    D = conv_project_weight.shape[0]
    y = F.conv2d(x, conv_project_weight, conv_project_bias)  # (B, D, H, W)
    y = F.avg_pool2d(y, kernel_size=s, stride=s)  # (B, D, H/s, W/s)
    y = y.flatten(2).transpose(1, 2)  # (B, N, D)
    y = F.gelu(F.layer_norm(y, (D,), ln_weight, ln_bias, eps))  # (B, N, D)
    return torch.cat([x_t[:, :1], y], dim=1)  # (B, 1 + N, D)


def fcu_up(
    x_t: torch.Tensor,
    H: int,
    W: int,
    conv_project_weight: torch.Tensor,
    conv_project_bias: torch.Tensor | None,
    bn_weight: torch.Tensor,
    bn_bias: torch.Tensor,
    bn_running_mean: torch.Tensor,
    bn_running_var: torch.Tensor,
    up_stride: int,
    eps: float = 1e-6,
) -> torch.Tensor:
    """Transformer tokens -> CNN features: (B, 1 + N, D) -> (B, C, H s, W s), N = H W, s = ``up_stride``.

    The class token is dropped, the N patch tokens are laid on their H x W grid, a 1x1 conv
    (``conv_project_weight`` (C, D, 1, 1)) brings them to the CNN width, BatchNorm (with its running
    statistics, i.e. evaluation mode) and ReLU follow, and nearest-neighbour upsampling by s brings the map
    to the CNN branch's resolution. Argument names follow :class:`FCUUp`'s parameters and buffers.
    """
    s = _check_fcu_up(x_t, H, W, conv_project_weight, conv_project_bias, bn_weight, bn_bias, bn_running_mean,
                      bn_running_var, up_stride)
    B, _, D = x_t.shape
    y = x_t[:, 1:].transpose(1, 2).reshape(B, D, H, W)  # (B, D, H, W)
    y = F.conv2d(y, conv_project_weight, conv_project_bias)  # (B, C, H, W)
    y = F.relu(F.batch_norm(y, bn_running_mean, bn_running_var, bn_weight, bn_bias, training=False, eps=eps))
    return F.interpolate(y, size=(H * s, W * s))  # (B, C, H s, W s), nearest neighbour


# --------------------------------------------------------------------------------------------
# blocks
# --------------------------------------------------------------------------------------------
class ConvBlock(nn.Module):
    """The CNN branch's ResNet bottleneck: 1x1 (C_in -> C/4), 3x3 (stride), 1x1 (C/4 -> C), BN eps 1e-6.

    ``forward(x, x_t=None)`` returns ``(out, x2)``: ``x2`` (B, C/4, H', W') is the 3x3 conv's activation
    (what the FCU sends to the transformer); ``x_t``, when given, is added to the 3x3 conv's input (what the
    FCU brings back). ``res_conv`` adds a 1x1 conv + BN on the shortcut (width or stride change).
    """

    def __init__(self, inplanes: int, outplanes: int, stride: int = 1, res_conv: bool = False):
        super().__init__()
        med = _check_conv_block(inplanes, outplanes, stride)
        self.inplanes, self.outplanes, self.stride = inplanes, outplanes, stride
        self.conv1 = nn.Conv2d(inplanes, med, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(med, eps=1e-6)
        self.act1 = nn.ReLU()
        self.conv2 = nn.Conv2d(med, med, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(med, eps=1e-6)
        self.act2 = nn.ReLU()
        self.conv3 = nn.Conv2d(med, outplanes, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(outplanes, eps=1e-6)
        self.act3 = nn.ReLU()
        self.res_conv = res_conv
        if res_conv:
            self.residual_conv = nn.Conv2d(inplanes, outplanes, 1, stride=stride, bias=False)
            self.residual_bn = nn.BatchNorm2d(outplanes, eps=1e-6)

    def forward(self, x: torch.Tensor, x_t: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        _check_conv_block_forward(self, x, x_t)
        shortcut = self.residual_bn(self.residual_conv(x)) if self.res_conv else x  # (B, C, H', W')
        y = self.act1(self.bn1(self.conv1(x)))  # (B, C/4, H, W)
        x2 = self.act2(self.bn2(self.conv2(y if x_t is None else y + x_t)))  # (B, C/4, H', W')
        out = self.act3(self.bn3(self.conv3(x2)) + shortcut)  # (B, C, H', W')
        return out, x2

    def extra_repr(self) -> str:
        return f"inplanes={self.inplanes}, outplanes={self.outplanes}, stride={self.stride}, res_conv={self.res_conv}"


class FCUDown(nn.Module):
    """Feature coupling unit, CNN -> transformer: :func:`fcu_down` with ``conv_project`` and ``ln``."""

    def __init__(self, inplanes: int, outplanes: int, dw_stride: int):
        super().__init__()
        self.dw_stride = dw_stride
        self.conv_project = nn.Conv2d(inplanes, outplanes, 1)
        self.sample_pooling = nn.AvgPool2d(kernel_size=dw_stride, stride=dw_stride)
        self.ln = nn.LayerNorm(outplanes, eps=1e-6)
        self.act = nn.GELU()

    def forward(self, x: torch.Tensor, x_t: torch.Tensor) -> torch.Tensor:
        return fcu_down(x, x_t, self.conv_project.weight, self.conv_project.bias, self.ln.weight, self.ln.bias,
                        self.dw_stride, self.ln.eps)  # (B, 1 + N, D)

    def extra_repr(self) -> str:
        return f"dw_stride={self.dw_stride}"


class FCUUp(nn.Module):
    """Feature coupling unit, transformer -> CNN: :func:`fcu_up` with ``conv_project`` and ``bn`` (whose
    batch statistics are used in training mode, as any BatchNorm)."""

    def __init__(self, inplanes: int, outplanes: int, up_stride: int):
        super().__init__()
        self.up_stride = up_stride
        self.conv_project = nn.Conv2d(inplanes, outplanes, 1)
        self.bn = nn.BatchNorm2d(outplanes, eps=1e-6)
        self.act = nn.ReLU()

    def forward(self, x_t: torch.Tensor, H: int, W: int) -> torch.Tensor:
        _check_fcu_up_forward(self, x_t, H, W)
        B, _, D = x_t.shape
        x = x_t[:, 1:].transpose(1, 2).reshape(B, D, H, W)  # (B, D, H, W)
        x = self.act(self.bn(self.conv_project(x)))  # (B, C/4, H, W)
        return F.interpolate(x, size=(H * self.up_stride, W * self.up_stride))  # (B, C/4, H s, W s)

    def extra_repr(self) -> str:
        return f"up_stride={self.up_stride}"


class ConvTransBlock(nn.Module):
    """Blocks 2..depth: a bottleneck (``cnn_block``), FCU down (``squeeze_block``), an encoder block
    (``trans_block``), FCU up (``expand_block``) and a second bottleneck (``fusion_block``) that adds the
    FCU's map to its 3x3 conv's input. ``forward(x, x_t)``: (B, C_in, H, W), (B, 1 + N, D) ->
    (B, C, H', W'), (B, 1 + N, D). ``last_fusion``: the fusion bottleneck halves the map (the last block).
    """

    def __init__(self, inplanes: int, outplanes: int, res_conv: bool, stride: int, dw_stride: int, embed_dim: int,
                 num_heads: int, mlp_ratio: float = 4.0, qkv_bias: bool = False, last_fusion: bool = False):
        super().__init__()
        self.dw_stride = dw_stride
        self.cnn_block = ConvBlock(inplanes, outplanes, stride=stride, res_conv=res_conv)
        if last_fusion:
            self.fusion_block = ConvBlock(outplanes, outplanes, stride=2, res_conv=True)
        else:
            self.fusion_block = ConvBlock(outplanes, outplanes)
        self.squeeze_block = FCUDown(outplanes // 4, embed_dim, dw_stride)
        self.expand_block = FCUUp(embed_dim, outplanes // 4, dw_stride)
        self.trans_block = Block(embed_dim, num_heads, mlp_ratio, qkv_bias=qkv_bias, norm_eps=1e-6)

    def forward(self, x: torch.Tensor, x_t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x, x2 = self.cnn_block(x)  # (B, C, H, W), (B, C/4, H, W)
        H, W = x2.shape[2:]
        x_t = self.trans_block(self.squeeze_block(x2, x_t) + x_t)  # (B, 1 + N, D)
        x_t_r = self.expand_block(x_t, H // self.dw_stride, W // self.dw_stride)  # (B, C/4, H, W)
        x, _ = self.fusion_block(x, x_t_r)  # (B, C, H, W), or (B, C, H/2, W/2) for the last block
        return x, x_t


# --------------------------------------------------------------------------------------------
# model
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ConformerConfig:
    """Hyper-parameters of a Conformer, in the official argument names (defaults: Conformer-S at 224).

    The CNN widths are ``base_channel * channel_ratio`` x (1, 2, 4); ``img_size`` (ours: the official model
    takes any multiple of 32) fixes the input a model accepts and the size its MACs are counted at.
    """

    img_size: int = 224
    patch_size: int = 16
    in_chans: int = 3
    num_classes: int = 1000
    base_channel: int = 64
    channel_ratio: float = 4
    embed_dim: int = 384
    depth: int = 12
    num_heads: int = 6
    mlp_ratio: float = 4.0
    qkv_bias: bool = True

    def __post_init__(self):
        _check_conformer_config(self)

    @property
    def stage_channels(self) -> tuple[int, int, int]:
        c = int(self.base_channel * self.channel_ratio)
        return c, 2 * c, 4 * c


class Conformer(nn.Module):
    """Conformer classifier with two heads and the official ``state_dict`` layout.

    ``Conformer(config)`` or ``Conformer(embed_dim=576, channel_ratio=6, ...)``.

    * :meth:`forward_features`: images -> ``(x, x_t)``: the CNN map (B, 4 C1, img/32, img/32) and the
      tokens (B, 1 + N, D) after ``trans_norm``;
    * :meth:`forward_head`: ``[conv_cls, tran_cls]`` (or, with ``pre_logits``, the pooled map and the class
      token); :meth:`forward` returns this list, like the official model. Predict with the sum of the two.
    """

    def __init__(self, config: ConformerConfig | None = None, **overrides):
        super().__init__()
        cfg = _check_model_config("Conformer", config, ConformerConfig, overrides)
        self.config = cfg
        D = cfg.embed_dim
        c1, c2, c3 = cfg.stage_channels
        self.num_features = D
        self.cls_token = nn.Parameter(torch.zeros(1, 1, D))
        self.trans_norm = nn.LayerNorm(D)
        self.trans_cls_head = nn.Linear(D, cfg.num_classes) if cfg.num_classes > 0 else nn.Identity()
        self.conv_cls_head = nn.Linear(c3, cfg.num_classes) if cfg.num_classes > 0 else nn.Identity()
        self.conv1 = nn.Conv2d(cfg.in_chans, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.act1 = nn.ReLU()
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        s = cfg.patch_size // 4  # the coupling stride of the first third: CNN map H/4, tokens H/patch
        self.conv_1 = ConvBlock(64, c1, res_conv=True)
        self.trans_patch_conv = nn.Conv2d(64, D, kernel_size=s, stride=s)
        self.trans_1 = Block(D, cfg.num_heads, cfg.mlp_ratio, qkv_bias=cfg.qkv_bias, norm_eps=1e-6)
        third = cfg.depth // 3
        self.block_names: list[str] = []
        for i in range(2, cfg.depth + 1):
            stage = (i - 1) // third  # 0, 1, 2: blocks 2..third, third+1..2 third, 2 third+1..depth
            first = i == stage * third + 1 and stage > 0
            in_c = (c1, c2, c3)[stage - 1] if first else (c1, c2, c3)[stage]
            self.add_module(f"conv_trans_{i}", ConvTransBlock(
                in_c, (c1, c2, c3)[stage], res_conv=first, stride=2 if first else 1, dw_stride=s >> stage,
                embed_dim=D, num_heads=cfg.num_heads, mlp_ratio=cfg.mlp_ratio, qkv_bias=cfg.qkv_bias,
                last_fusion=i == cfg.depth,
            ))
            self.block_names.append(f"conv_trans_{i}")
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """The official initialisation: truncated normal (std 0.02) class token and linear weights, zero
        linear biases, Kaiming-normal (fan_out) conv weights, unit norms."""
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, (nn.LayerNorm, nn.BatchNorm2d)):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward_features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        _check_images("Conformer.forward_features", x, self.config)
        B = x.shape[0]
        x_base = self.maxpool(self.act1(self.bn1(self.conv1(x))))  # (B, 64, img/4, img/4)
        x, _ = self.conv_1(x_base)  # (B, C1, img/4, img/4)
        x_t = self.trans_patch_conv(x_base).flatten(2).transpose(1, 2)  # (B, N, D)
        x_t = torch.cat([self.cls_token.expand(B, -1, -1), x_t], dim=1)  # (B, 1 + N, D)
        x_t = self.trans_1(x_t)  # (B, 1 + N, D)
        for name in self.block_names:
            x, x_t = getattr(self, name)(x, x_t)  # (B, C, H, W), (B, 1 + N, D)
        return x, self.trans_norm(x_t)  # (B, 4 C1, img/32, img/32), (B, 1 + N, D)

    def forward_head(self, features: tuple[torch.Tensor, torch.Tensor], pre_logits: bool = False) -> list[torch.Tensor]:
        x, x_t = features
        pooled, cls = x.mean(dim=(2, 3)), x_t[:, 0]  # (B, 4 C1), (B, D)
        if pre_logits:
            return [pooled, cls]
        return [self.conv_cls_head(pooled), self.trans_cls_head(cls)]  # 2 x (B, num_classes)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.forward_head(self.forward_features(x))


# --------------------------------------------------------------------------------------------
# presets (the official model names as aliases; sizes from the official README, tested in tests/test_conformer.py)
# --------------------------------------------------------------------------------------------
@preset(aliases=("conformer_tiny_patch16",))
def conformer_ti(**overrides) -> Conformer:
    """Conformer-Ti: CNN widths 64/128/256 (channel ratio 1), transformer width 384, 12 blocks, 6 heads.

    Official README, model zoo: 23.5M parameters, 5.2G MACs at 224x224. We count 23,524,704 parameters and
    5.226G MACs.
    """
    config = ConformerConfig(channel_ratio=1, embed_dim=384, num_heads=6)
    return build(Conformer, config, overrides, "conformer_ti")


@preset(aliases=("conformer_small_patch16",))
def conformer_s(**overrides) -> Conformer:
    """Conformer-S: CNN widths 256/512/1024 (channel ratio 4), transformer width 384, 12 blocks, 6 heads.

    Official README, model zoo: 37.7M parameters, 10.6G MACs at 224x224. We count 37,673,424 parameters and
    10.599G MACs.
    """
    config = ConformerConfig(channel_ratio=4, embed_dim=384, num_heads=6)
    return build(Conformer, config, overrides, "conformer_s")


@preset(aliases=("conformer_base_patch16",))
def conformer_b(**overrides) -> Conformer:
    """Conformer-B: CNN widths 384/768/1536 (channel ratio 6), transformer width 576, 12 blocks, 9 heads.

    Official README, model zoo: 83.3M parameters, 23.3G MACs at 224x224. We count 83,289,136 parameters and
    23.326G MACs.
    """
    config = ConformerConfig(channel_ratio=6, embed_dim=576, num_heads=9)
    return build(Conformer, config, overrides, "conformer_b")


@preset(aliases=("conformer_32",))
def conformer_tiny_32(**overrides) -> Conformer:
    """A Conformer for 32x32 images that trains on a 2-core CPU in seconds (course preset, no paper).

    CNN widths 16/32/64 (channel ratio 0.25), transformer width 48, 3 blocks (one per third), 4 heads, MLP
    ratio 2, 10 classes: 2x2 patch tokens, CNN maps 8 -> 4 -> 2 -> 1. Measured: 138,924 parameters,
    3.09M MACs per 32x32 image.
    """
    config = ConformerConfig(img_size=32, num_classes=10, channel_ratio=0.25, embed_dim=48, depth=3, num_heads=4,
                             mlp_ratio=2.0)
    return build(Conformer, config, overrides, "conformer_tiny_32")


# --------------------------------------------------------------------------------------------
# argument checks
# --------------------------------------------------------------------------------------------
def _check_param(fn: str, name: str, t, shape: tuple[int, ...], layout: str, optional: bool = False) -> None:
    check_tensor(fn, name, t, ndim=len(shape), layout=layout, optional=optional)
    if t is not None and tuple(t.shape) != shape:
        raise ValueError(f"{fn}(): argument '{name}' must have shape {layout} = {shape}, got {fmt_shape(t)}")


def _check_fcu_down(x, x_t, conv_project_weight, conv_project_bias, ln_weight, ln_bias, dw_stride) -> int:
    fn = "fcu_down"
    check_tensor(fn, "x", x, ndim=4, layout="(B, C, H, W)", floating=True)
    check_tensor(fn, "x_t", x_t, ndim=3, layout="(B, 1 + N, D)", floating=True)
    check_tensor(fn, "conv_project_weight", conv_project_weight, ndim=4, layout="(D, C, 1, 1)")
    s = positive_int(fn, "dw_stride", dw_stride)
    B, C, H, W = x.shape
    D = x_t.shape[2]
    if H % s or W % s:
        raise ValueError(f"{fn}(): the feature map 'x' {fmt_shape(x)} must have H and W divisible by dw_stride = {s}")
    N = (H // s) * (W // s)
    if tuple(x_t.shape) != (B, 1 + N, D):
        raise ValueError(
            f"{fn}(): argument 'x_t' must have shape (B, 1 + N, D) = ({B}, {1 + N}, D) with N = (H/s)(W/s) = "
            f"({H}/{s})({W}/{s}) for the feature map 'x' {fmt_shape(x)}, got {fmt_shape(x_t)}"
        )
    _check_param(fn, "conv_project_weight", conv_project_weight, (D, C, 1, 1), "(D, C, 1, 1)")
    _check_param(fn, "conv_project_bias", conv_project_bias, (D,), "(D,)", optional=True)
    _check_param(fn, "ln_weight", ln_weight, (D,), "(D,)")
    _check_param(fn, "ln_bias", ln_bias, (D,), "(D,)")
    return s


def _check_fcu_up(x_t, H, W, conv_project_weight, conv_project_bias, bn_weight, bn_bias, bn_running_mean,
                  bn_running_var, up_stride) -> int:
    fn = "fcu_up"
    check_tensor(fn, "x_t", x_t, ndim=3, layout="(B, 1 + N, D)", floating=True)
    H, W, s = positive_ints(fn, H=H, W=W, up_stride=up_stride)
    B, N1, D = x_t.shape
    if N1 != 1 + H * W:
        raise ValueError(f"{fn}(): argument 'x_t' must hold 1 + H*W = 1 + {H}*{W} = {1 + H * W} tokens "
                         f"(class token + grid), got {fmt_shape(x_t)}")
    check_tensor(fn, "conv_project_weight", conv_project_weight, ndim=4, layout="(C, D, 1, 1)")
    C = conv_project_weight.shape[0]
    _check_param(fn, "conv_project_weight", conv_project_weight, (C, D, 1, 1), "(C, D, 1, 1)")
    _check_param(fn, "conv_project_bias", conv_project_bias, (C,), "(C,)", optional=True)
    for name, t in (("bn_weight", bn_weight), ("bn_bias", bn_bias), ("bn_running_mean", bn_running_mean),
                    ("bn_running_var", bn_running_var)):
        _check_param(fn, name, t, (C,), "(C,)")
    return s


def _check_conv_block(inplanes, outplanes, stride) -> int:
    fn = "ConvBlock"
    positive_ints(fn, inplanes=inplanes, outplanes=outplanes, stride=stride)
    if outplanes % 4:
        raise ValueError(f"{fn}(): argument 'outplanes' must be a multiple of 4 (bottleneck width outplanes/4), "
                         f"got {outplanes}")
    return outplanes // 4


def _check_conv_block_forward(block: ConvBlock, x, x_t) -> None:
    fn = "ConvBlock.forward"
    check_tensor(fn, "x", x, ndim=4, layout="(B, C, H, W)")
    if x.shape[1] != block.inplanes:
        raise ValueError(f"{fn}(): argument 'x' must have C = inplanes = {block.inplanes} channels, got {fmt_shape(x)}")
    if x_t is not None:
        check_tensor(fn, "x_t", x_t, ndim=4, layout="(B, C/4, H, W)")
        want = (x.shape[0], block.outplanes // 4, *x.shape[2:])
        if tuple(x_t.shape) != want:
            raise ValueError(f"{fn}(): argument 'x_t' (the FCU's map) must have shape (B, C/4, H, W) = {want} "
                             f"for 'x' {fmt_shape(x)}, got {fmt_shape(x_t)}")


def _check_fcu_up_forward(unit: FCUUp, x_t, H, W) -> None:
    fn = "FCUUp.forward"
    check_tensor(fn, "x_t", x_t, ndim=3, layout="(B, 1 + N, D)")
    H, W = positive_ints(fn, H=H, W=W)
    if x_t.shape[1] != 1 + H * W or x_t.shape[2] != unit.conv_project.in_channels:
        raise ValueError(f"{fn}(): argument 'x_t' must have shape (B, 1 + H*W, D) = (B, {1 + H * W}, "
                         f"{unit.conv_project.in_channels}), got {fmt_shape(x_t)}")


def _check_model_config(fn: str, config, config_cls, overrides: dict):
    if config is not None and not isinstance(config, config_cls):
        raise TypeError(f"{fn}(): argument 'config' must be a {config_cls.__name__}, got {type(config).__name__}")
    return replace(config or config_cls(), **overrides)


def _check_conformer_config(cfg: ConformerConfig) -> None:
    fn = "ConformerConfig"
    positive_ints(fn, img_size=cfg.img_size, patch_size=cfg.patch_size, in_chans=cfg.in_chans,
                  base_channel=cfg.base_channel, embed_dim=cfg.embed_dim, depth=cfg.depth, num_heads=cfg.num_heads)
    if isinstance(cfg.num_classes, bool) or not isinstance(cfg.num_classes, int) or cfg.num_classes < 0:
        raise ValueError(f"{fn}(): argument 'num_classes' must be an int >= 0 (0: no head), got {cfg.num_classes!r}")
    if cfg.depth % 3:
        raise ValueError(f"{fn}(): argument 'depth' must be a multiple of 3 (three thirds), got {cfg.depth}")
    if cfg.embed_dim % cfg.num_heads:
        raise ValueError(f"{fn}(): argument 'num_heads' must divide embed_dim = {cfg.embed_dim}, got {cfg.num_heads}")
    if cfg.patch_size % 16:
        raise ValueError(f"{fn}(): argument 'patch_size' must be a multiple of 16 (coupling strides patch/4, "
                         f"/8, /16), got {cfg.patch_size}")
    if cfg.img_size % cfg.patch_size or cfg.img_size % 32:
        raise ValueError(f"{fn}(): argument 'img_size' must be a multiple of patch_size = {cfg.patch_size} and of "
                         f"32, got {cfg.img_size}")
    c1 = cfg.base_channel * cfg.channel_ratio
    if not cfg.channel_ratio > 0 or c1 != int(c1) or int(c1) % 4:
        raise ValueError(f"{fn}(): base_channel * channel_ratio must be a positive multiple of 4, got "
                         f"{cfg.base_channel} * {cfg.channel_ratio!r}")
    if not cfg.mlp_ratio > 0:
        raise ValueError(f"{fn}(): argument 'mlp_ratio' must be > 0, got {cfg.mlp_ratio!r}")


def _check_images(fn: str, x, cfg) -> None:
    check_image_size(fn, x, cfg.in_chans, cfg.img_size)
