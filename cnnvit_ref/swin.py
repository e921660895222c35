"""The Swin Transformer: self-attention inside shifted local windows.

Chapter
    05, ``book/05_swin.ipynb`` (exercise: ``exercises/05_swin/``)
Papers
    Liu et al., "Swin Transformer: Hierarchical Vision Transformer using Shifted Windows",
    ICCV 2021. https://arxiv.org/abs/2103.14030 (Sec. 3.2, Eq. 1-4: W-MSA, SW-MSA, relative position
    bias; Table 1(a): Swin-T/S/B sizes)
Official code
    https://github.com/microsoft/Swin-Transformer; timm's ``timm/models/swin_transformer.py`` (the layout
    mirrored here)
Symbols in the shape comments
    B batch, H x W feature map (in tokens), C channels, M window size (M_h x M_w), nW = (H/M) * (W/M)
    windows per image, N = M*M tokens per window, heads attention heads, head_dim = C / heads,
    s shift size

The layout mirrors timm 1.0's ``swin_transformer.py`` key for key, so a timm checkpoint of
``swin_{tiny,small,base}_patch4_window7_224`` loads with ``strict=True``::

    patch_embed.{proj, norm}
    layers.{i}.downsample.{norm, reduction}      patch merging at the START of stages 2..4
    layers.{i}.blocks.{j}.{norm1, attn.{qkv, proj, relative_position_bias_table}, norm2, mlp.fc1, mlp.fc2}
    norm, head.fc

``relative_position_index`` and the shifted-window ``attn_mask`` are buffers that are not
saved (``persistent=False``, as in timm): they are recomputed from the window size.
Activations are channels-last, (B, H, W, C), between blocks (timm 1.0's NHWC).

Cost of one attention layer on an h x w map of C channels (paper eq. 1-2, in MACs)::

    Omega(MSA)   = 4 h w C^2 + 2 (h w)^2 C        global: quadratic in the number of tokens
    Omega(W-MSA) = 4 h w C^2 + 2 M^2 h w C        M x M windows: linear in h w
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import torch
import torch.nn as nn

from ._validate import check_tensor, fmt_shape, pair, positive_int, positive_ints
from .attention import scaled_dot_product_attention
from .models import build, preset
from .vit import Mlp, PatchEmbed

__all__ = [
    "window_partition",
    "window_reverse",
    "relative_position_index",
    "shifted_window_attention_mask",
    "wmsa_macs",
    "msa_macs",
    "WindowAttention",
    "SwinTransformerBlock",
    "PatchMerging",
    "SwinTransformerStage",
    "ClassifierHead",
    "SwinConfig",
    "SwinTransformer",
    "swin_macs_by_stage",
    "swin_tiny_patch4_window7_224",
    "swin_small_patch4_window7_224",
    "swin_base_patch4_window7_224",
    "swin_tiny_patch2_window4_32",
]


# --------------------------------------------------------------------------------------------
# Math helpers: windows, relative positions, the shifted-window mask, the cost formulas
# --------------------------------------------------------------------------------------------
def window_partition(x: torch.Tensor, window_size: int | tuple[int, int]) -> torch.Tensor:
    """Cut a feature map into non-overlapping M x M windows.

    ``x`` (B, H, W, C) -> (B * num_windows, M, M, C), num_windows = (H/M) * (W/M). Windows are
    in row-major order inside each image (window (i, j) of image b is at b * num_windows +
    i * (W/M) + j). ``window_size`` is M or (M_h, M_w).
    """
    Mh, Mw = _check_window_partition(x, window_size)
    B, H, W, C = x.shape
    x = x.reshape(B, H // Mh, Mh, W // Mw, Mw, C)  # (B, H/M, M, W/M, M, C)
    x = x.permute(0, 1, 3, 2, 4, 5)  # (B, H/M, W/M, M, M, C)
    return x.reshape(-1, Mh, Mw, C)  # (B * num_windows, M, M, C)


def window_reverse(windows: torch.Tensor, window_size: int | tuple[int, int], H: int, W: int) -> torch.Tensor:
    """The exact inverse of :func:`window_partition`: (B * num_windows, M, M, C) -> (B, H, W, C)."""
    Mh, Mw = _check_window_reverse(windows, window_size, H, W)
    C = windows.shape[-1]
    x = windows.reshape(-1, H // Mh, W // Mw, Mh, Mw, C)  # (B, H/M, W/M, M, M, C)
    x = x.permute(0, 1, 3, 2, 4, 5)  # (B, H/M, M, W/M, M, C)
    return x.reshape(-1, H, W, C)  # (B, H, W, C)


def relative_position_index(window_size: int | tuple[int, int]) -> torch.Tensor:
    """Index into the (2M-1)^2-row bias table for every (query, key) pair of a window.

    Token i sits at (y_i, x_i) = divmod(i, M). The pair (i, j) has the relative offset
    (dy, dx) = (y_i - y_j, x_i - x_j), each in [-(M-1), M-1]; shifted to [0, 2M-2] it
    becomes the row ``(dy + M_h - 1) * (2 M_w - 1) + (dx + M_w - 1)``. Returns an int64
    (M*M, M*M) tensor, as timm computes it.
    """
    Mh, Mw = pair("relative_position_index", "window_size", window_size, minimum=1)
    coords = torch.stack(torch.meshgrid(torch.arange(Mh), torch.arange(Mw), indexing="ij"))  # (2, Mh, Mw)
    coords = coords.flatten(1)  # (2, M*M)
    rel = coords[:, :, None] - coords[:, None, :]  # (2, M*M, M*M)
    rel = rel.permute(1, 2, 0)  # (M*M, M*M, 2): (dy, dx)
    return (rel[..., 0] + Mh - 1) * (2 * Mw - 1) + (rel[..., 1] + Mw - 1)  # (M*M, M*M)


def _region_labels(n: int, M: int, s: int) -> torch.Tensor:
    """Along one axis of the cyclically shifted map: 0 for [0, n-M), 1 for [n-M, n-s), 2 for [n-s, n)."""
    labels = torch.zeros(n, dtype=torch.long)
    labels[n - M:] = 1
    labels[n - s:] = 2  # s = 0: an empty slice
    return labels


def shifted_window_attention_mask(
    H: int, W: int, window_size: int | tuple[int, int], shift_size: int | tuple[int, int]
) -> torch.Tensor:
    """The additive attention mask of SW-MSA: (num_windows, M*M, M*M) of 0 and -100.

    After ``torch.roll(x, (-s, -s))`` the windows on the bottom and right border contain
    tokens from up to 4 regions that were not neighbours in the image (they wrapped around).
    Each token gets a region label (3 bands per axis: [0, H-M), [H-M, H-s), [H-s, H)); two
    tokens of a window may attend to each other only when their labels agree. -100 (as in the
    official code) makes exp(.) ~ 4e-44, i.e. zero after the softmax. With ``shift_size`` 0
    the mask is all zeros (plain W-MSA).
    """
    (Mh, Mw), (sh, sw) = _check_shifted_window_attention_mask(H, W, window_size, shift_size)
    labels = _region_labels(H, Mh, sh)[:, None] * 3 + _region_labels(W, Mw, sw)[None, :]  # (H, W)
    windows = window_partition(labels[None, :, :, None], (Mh, Mw))  # (num_windows, M, M, 1)
    windows = windows.reshape(-1, Mh * Mw)  # (num_windows, M*M)
    different = windows[:, :, None] != windows[:, None, :]  # (num_windows, M*M, M*M)
    mask = torch.zeros(different.shape, dtype=torch.get_default_dtype())
    return mask.masked_fill(different, -100.0)  # (num_windows, M*M, M*M)


def wmsa_macs(h: int, w: int, C: int, M: int) -> int:
    """MACs of window attention on an h x w map: 4hwC^2 + 2M^2hwC (Swin eq. 2).

    4hwC^2: the q, k, v and output projections (each hw tokens x C x C); 2M^2hwC: q k^T and
    attn @ v inside each of the hw/M^2 windows (M^2 x M^2 x C each). The relative position
    bias and the softmax are additions and exponentials, not MACs.
    """
    positive_ints("wmsa_macs", h=h, w=w, C=C, M=M)
    return 4 * h * w * C * C + 2 * M * M * h * w * C


def msa_macs(h: int, w: int, C: int) -> int:
    """MACs of global multi-head self-attention over h*w tokens: 4hwC^2 + 2(hw)^2C (Swin eq. 1)."""
    positive_ints("msa_macs", h=h, w=w, C=C)
    return 4 * h * w * C * C + 2 * (h * w) ** 2 * C


# --------------------------------------------------------------------------------------------
# Blocks
# --------------------------------------------------------------------------------------------
class WindowAttention(nn.Module):
    """Multi-head self-attention inside each window, plus a learned relative position bias.

    softmax(q k^T / sqrt(d) + B + mask) v, where B[h, i, j] =
    ``relative_position_bias_table[relative_position_index[i, j], h]`` depends only on the
    offset between tokens i and j ((2M-1)^2 values per head). Input (B * num_windows, M*M, C).
    ``relative_position_bias=False`` (an ablation, not in timm) drops the table and the index: B = 0,
    and attention inside a window no longer knows where its tokens are.
    """

    def __init__(self, dim: int, num_heads: int, window_size: int | tuple[int, int] = 7, qkv_bias: bool = True,
                 relative_position_bias: bool = True):
        super().__init__()
        self.window_size = _check_window_attention(dim, num_heads, window_size, relative_position_bias)
        self.dim = dim
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        Mh, Mw = self.window_size
        self.window_area = Mh * Mw
        self.has_relative_position_bias = relative_position_bias
        if relative_position_bias:
            self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * Mh - 1) * (2 * Mw - 1), num_heads))
            self.register_buffer("relative_position_index", relative_position_index(self.window_size),
                                 persistent=False)
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def relative_position_bias(self) -> torch.Tensor | None:
        """The bias added to the attention logits, (heads, M*M, M*M); None when the layer has none."""
        if not self.has_relative_position_bias:
            return None
        N = self.window_area
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)]  # (N*N, heads)
        return bias.view(N, N, self.num_heads).permute(2, 0, 1)  # (heads, N, N)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """``x`` (B * num_windows, N, C) with N = M*M; ``mask`` None or (num_windows, N, N)."""
        _check_window_attention_forward(x, mask, self.window_area, self.dim)
        B_, N, C = x.shape
        nW = 1 if mask is None else mask.shape[0]
        qkv = self.qkv(x).reshape(B_ // nW, nW, N, 3, self.num_heads, self.head_dim)  # (B, nW, N, 3, heads, head_dim)
        qkv = qkv.permute(3, 0, 1, 4, 2, 5)  # (3, B, nW, heads, N, head_dim)
        q, k, v = qkv.unbind(0)  # each (B, nW, heads, N, head_dim)
        attn_bias = self.relative_position_bias()  # (heads, N, N) or None
        if mask is not None:
            mask = mask.unsqueeze(1)  # (nW, 1, N, N)
            attn_bias = mask if attn_bias is None else attn_bias + mask  # (nW, heads, N, N)
        x = scaled_dot_product_attention(q, k, v, attn_mask=attn_bias)  # (B, nW, heads, N, head_dim)
        x = x.transpose(2, 3).reshape(B_, N, C)  # (B * nW, N, C)
        return self.proj(x)  # (B * nW, N, C)

    def extra_repr(self) -> str:
        off = "" if self.has_relative_position_bias else ", relative_position_bias=False"
        return f"dim={self.dim}, window_size={self.window_size}, num_heads={self.num_heads}{off}"


class SwinTransformerBlock(nn.Module):
    """W-MSA (``shift_size=0``) or SW-MSA block on a (B, H, W, C) map, then an MLP.

    SW-MSA = cyclic shift by -s (``torch.roll``), window attention with the region mask,
    shift back by +s. As in timm, when the map is no larger than the window, the window
    shrinks to the map and the shift is dropped (Swin-T's last stage at 224: 7 x 7, M = 7).
    """

    def __init__(
        self,
        dim: int,
        input_resolution: int | tuple[int, int],
        num_heads: int,
        window_size: int = 7,
        shift_size: int = 0,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        relative_position_bias: bool = True,
    ):
        super().__init__()
        self.input_resolution, M, s = _check_swin_transformer_block(dim, input_resolution, window_size, shift_size)
        # As in timm: a map no larger than the window gets one window of its size and no shift.
        self.window_size = tuple(r if r <= m else m for r, m in zip(self.input_resolution, M))
        self.shift_size = tuple(0 if r <= m else t for r, m, t in zip(self.input_resolution, M, s))
        H, W = self.input_resolution
        self.dim = dim
        self.num_heads = num_heads
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, num_heads, self.window_size, qkv_bias=qkv_bias,
                                    relative_position_bias=relative_position_bias)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        mask = shifted_window_attention_mask(H, W, self.window_size, self.shift_size) if any(self.shift_size) else None
        self.register_buffer("attn_mask", mask, persistent=False)

    def _attn(self, x: torch.Tensor) -> torch.Tensor:
        B, H, W, C = x.shape
        Mh, Mw = self.window_size
        sh, sw = self.shift_size
        if sh or sw:
            x = torch.roll(x, shifts=(-sh, -sw), dims=(1, 2))  # (B, H, W, C), cyclic shift
        windows = window_partition(x, self.window_size)  # (B * nW, M, M, C)
        windows = windows.reshape(-1, Mh * Mw, C)  # (B * nW, M*M, C)
        windows = self.attn(windows, mask=self.attn_mask)  # (B * nW, M*M, C)
        windows = windows.reshape(-1, Mh, Mw, C)  # (B * nW, M, M, C)
        x = window_reverse(windows, self.window_size, H, W)  # (B, H, W, C)
        if sh or sw:
            x = torch.roll(x, shifts=(sh, sw), dims=(1, 2))  # (B, H, W, C), shift back
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_feature_map("SwinTransformerBlock.forward", x, self.input_resolution, self.dim)
        x = x + self._attn(self.norm1(x))  # (B, H, W, C)
        x = x + self.mlp(self.norm2(x))  # (B, H, W, C)
        return x

    def extra_repr(self) -> str:
        return (
            f"dim={self.dim}, input_resolution={self.input_resolution}, num_heads={self.num_heads}, "
            f"window_size={self.window_size}, shift_size={self.shift_size}"
        )


class PatchMerging(nn.Module):
    """Halve the resolution, double the width: concatenate each 2 x 2 neighbourhood (4C), norm,
    then a linear map 4C -> 2C without bias. (B, H, W, C) -> (B, H/2, W/2, 2C).

    The concatenation order is the official code's: x[0::2, 0::2], x[1::2, 0::2], x[0::2, 1::2],
    x[1::2, 1::2] (top-left, bottom-left, top-right, bottom-right), so checkpoints load.
    """

    def __init__(self, dim: int, out_dim: int | None = None):
        super().__init__()
        self.dim = positive_int("PatchMerging", "dim", dim)
        self.out_dim = out_dim or 2 * dim
        self.norm = nn.LayerNorm(4 * dim)
        self.reduction = nn.Linear(4 * dim, self.out_dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_patch_merging_input(x, self.dim)
        B, H, W, C = x.shape
        x = x.reshape(B, H // 2, 2, W // 2, 2, C)  # (B, H/2, dy, W/2, dx, C)
        x = x.permute(0, 1, 3, 4, 2, 5)  # (B, H/2, W/2, dx, dy, C)
        x = x.reshape(B, H // 2, W // 2, 4 * C)  # (B, H/2, W/2, 4C)
        return self.reduction(self.norm(x))  # (B, H/2, W/2, 2C)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, out_dim={self.out_dim}"


class SwinTransformerStage(nn.Module):
    """One stage: optional patch merging (stages 2..4), then ``depth`` blocks alternating
    W-MSA and SW-MSA (shift = window // 2 in every second block; ``shift=False``, an ablation:
    W-MSA only)."""

    def __init__(
        self,
        dim: int,
        out_dim: int,
        input_resolution: tuple[int, int],
        depth: int,
        downsample: bool,
        num_heads: int,
        window_size: int = 7,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        shift: bool = True,
        relative_position_bias: bool = True,
    ):
        super().__init__()
        H, W = input_resolution
        self.output_resolution = (H // 2, W // 2) if downsample else (H, W)
        if downsample:
            self.downsample = PatchMerging(dim, out_dim)
        else:
            if dim != out_dim:
                raise ValueError(f"SwinTransformerStage(): dim={dim} must equal out_dim={out_dim} without downsampling")
            self.downsample = nn.Identity()
        self.blocks = nn.Sequential(
            *[
                SwinTransformerBlock(
                    out_dim,
                    self.output_resolution,
                    num_heads,
                    window_size=window_size,
                    shift_size=window_size // 2 if shift and i % 2 == 1 else 0,
                    mlp_ratio=mlp_ratio,
                    qkv_bias=qkv_bias,
                    relative_position_bias=relative_position_bias,
                )
                for i in range(depth)
            ]
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.downsample(x))  # (B, H', W', C')


class ClassifierHead(nn.Module):
    """Global average pool over (H, W) of an NHWC map, then ``fc`` (timm ``head.fc``)."""

    def __init__(self, in_features: int, num_classes: int):
        super().__init__()
        self.fc = nn.Linear(in_features, num_classes) if num_classes > 0 else nn.Identity()

    def forward(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = x.mean(dim=(1, 2))  # (B, C)
        return x if pre_logits else self.fc(x)  # (B, num_classes)


# --------------------------------------------------------------------------------------------
# Model
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SwinConfig:
    """Hyper-parameters of a Swin Transformer, in timm's argument names (defaults: Swin-T).

    ``shift`` and ``relative_position_bias`` are the course's ablation switches (not timm's): False
    gives W-MSA in every block / no relative position bias table (and no such keys in the
    state_dict). The defaults are the paper's model, in timm's layout.
    """

    img_size: int = 224
    patch_size: int = 4
    in_chans: int = 3
    num_classes: int = 1000
    embed_dim: int = 96
    depths: tuple[int, ...] = (2, 2, 6, 2)
    num_heads: tuple[int, ...] = (3, 6, 12, 24)
    window_size: int = 7
    mlp_ratio: float = 4.0
    qkv_bias: bool = True
    shift: bool = True
    relative_position_bias: bool = True

    def __post_init__(self):
        _check_swin_config(self)

    @property
    def dims(self) -> tuple[int, ...]:
        """Width of each stage: embed_dim * 2^i."""
        return tuple(self.embed_dim * 2**i for i in range(len(self.depths)))

    @property
    def resolutions(self) -> tuple[tuple[int, int], ...]:
        """Token grid of each stage: (img/patch) / 2^i, i.e. 4x, 8x, 16x, 32x downsampling for patch 4."""
        g = self.img_size // self.patch_size
        return tuple((g >> i, g >> i) for i in range(len(self.depths)))


class SwinTransformer(nn.Module):
    """Hierarchical Swin Transformer classifier.

    ``SwinTransformer(config)`` or ``SwinTransformer(embed_dim=96, depths=(2, 2, 6, 2), ...)``.

    * :meth:`forward_features`: images (B, C, H, W) -> (B, H/32, W/32, 8D) after the final norm
      (NHWC, as timm 1.0; the grid is img / (patch * 2^(stages-1)));
    * :meth:`forward_head`: average over the grid, then ``head.fc``;
    * :meth:`stage_features`: the output of every stage, to see the 4x..32x hierarchy.
    """

    def __init__(self, config: SwinConfig | None = None, **overrides):
        super().__init__()
        if config is not None and not isinstance(config, SwinConfig):
            raise TypeError(f"SwinTransformer(): argument 'config' must be a SwinConfig, got {type(config).__name__}")
        cfg = replace(config or SwinConfig(), **overrides)
        self.config = cfg
        dims, resolutions = cfg.dims, cfg.resolutions
        self.num_features = dims[-1]
        self.patch_embed = PatchEmbed(
            cfg.img_size, cfg.patch_size, cfg.in_chans, cfg.embed_dim, norm=True, output_fmt="NHWC"
        )
        self.layers = nn.Sequential(
            *[
                SwinTransformerStage(
                    dim=dims[max(i - 1, 0)],
                    out_dim=dims[i],
                    input_resolution=resolutions[max(i - 1, 0)],
                    depth=cfg.depths[i],
                    downsample=i > 0,
                    num_heads=cfg.num_heads[i],
                    window_size=cfg.window_size,
                    mlp_ratio=cfg.mlp_ratio,
                    qkv_bias=cfg.qkv_bias,
                    shift=cfg.shift,
                    relative_position_bias=cfg.relative_position_bias,
                )
                for i in range(len(cfg.depths))
            ]
        )
        self.norm = nn.LayerNorm(self.num_features)
        self.head = ClassifierHead(self.num_features, cfg.num_classes)
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """timm's initialisation: truncated normal (std 0.02) for linear weights and the relative
        position bias tables, zero biases."""
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, WindowAttention) and m.has_relative_position_bias:
                nn.init.trunc_normal_(m.relative_position_bias_table, std=0.02)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(x)  # (B, H/p, W/p, D)
        x = self.layers(x)  # (B, H/(p*2^(S-1)), W/(p*2^(S-1)), D*2^(S-1))
        return self.norm(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        return self.head(x, pre_logits=pre_logits)  # (B, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    @torch.no_grad()
    def stage_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The output of each stage (before the final norm): a list of (B, H_i, W_i, C_i)."""
        x = self.patch_embed(x)
        outs = []
        for stage in self.layers:
            x = stage(x)
            outs.append(x)
        return outs


def swin_macs_by_stage(model_or_name: nn.Module | str, img_size: int | None = None) -> dict[str, int]:
    """MACs of one image, split into ``patch_embed``, ``stage1`` .. ``stageS`` (each with its patch
    merging) and ``head``; the values sum to ``count_macs`` of the whole model.

    ``model_or_name``: a :class:`SwinTransformer` or a preset name (built on the meta device, so
    even Swin-B costs no memory; ``img_size`` then overrides the preset's image size).
    """
    from .flops import count_macs_by_module

    model = _swin_model(model_or_name, img_size)
    cfg = model.config
    by_module = count_macs_by_module(model, (1, cfg.in_chans, cfg.img_size, cfg.img_size))
    out = {"patch_embed": by_module.get("patch_embed", 0)}
    for i in range(len(cfg.depths)):
        out[f"stage{i + 1}"] = by_module.get(f"layers.{i}", 0)
    out["head"] = by_module.get("head", 0)
    return out


# --------------------------------------------------------------------------------------------
# Presets (timm names; published sizes in the docstrings, tested in tests/test_swin.py)
# --------------------------------------------------------------------------------------------
@preset(aliases=("swin_t",))
def swin_tiny_patch4_window7_224(**overrides) -> SwinTransformer:
    """Swin-T: C = 96, layer numbers {2, 2, 6, 2}, heads {3, 6, 12, 24}, window 7, 224x224.

    Liu et al. 2021, Table 1(a): 28M parameters (exactly 28,288,354), 4.5G FLOPs (= MACs).
    """
    config = SwinConfig(embed_dim=96, depths=(2, 2, 6, 2), num_heads=(3, 6, 12, 24))
    return build(SwinTransformer, config, overrides, "swin_tiny_patch4_window7_224")


@preset(aliases=("swin_s",))
def swin_small_patch4_window7_224(**overrides) -> SwinTransformer:
    """Swin-S: C = 96, layer numbers {2, 2, 18, 2}, heads {3, 6, 12, 24}, window 7, 224x224.

    Liu et al. 2021, Table 1(a): 50M parameters (exactly 49,606,258), 8.7G FLOPs (= MACs).
    """
    config = SwinConfig(embed_dim=96, depths=(2, 2, 18, 2), num_heads=(3, 6, 12, 24))
    return build(SwinTransformer, config, overrides, "swin_small_patch4_window7_224")


@preset(aliases=("swin_b",))
def swin_base_patch4_window7_224(**overrides) -> SwinTransformer:
    """Swin-B: C = 128, layer numbers {2, 2, 18, 2}, heads {4, 8, 16, 32}, window 7, 224x224.

    Liu et al. 2021, Table 1(a): 88M parameters (exactly 87,768,224), 15.4G FLOPs (= MACs).
    """
    config = SwinConfig(embed_dim=128, depths=(2, 2, 18, 2), num_heads=(4, 8, 16, 32))
    return build(SwinTransformer, config, overrides, "swin_base_patch4_window7_224")


@preset(aliases=("swin_tiny_32",))
def swin_tiny_patch2_window4_32(**overrides) -> SwinTransformer:
    """A Swin for 32x32 images that trains on a 2-core CPU in seconds (course preset, no paper).

    Patch 2 (16x16 tokens), C = 32, layer numbers {2, 2, 2}, heads {2, 4, 8}, window 4, MLP
    ratio 2, 10 classes: grids 16x16 -> 8x8 -> 4x4 (the last stage is one window, unshifted);
    about 0.39M parameters and 15M MACs per image. Not Swin-T (``swin_t``).
    """
    config = SwinConfig(
        img_size=32, patch_size=2, num_classes=10, embed_dim=32, depths=(2, 2, 2), num_heads=(2, 4, 8),
        window_size=4, mlp_ratio=2.0,
    )
    return build(SwinTransformer, config, overrides, "swin_tiny_patch2_window4_32")


# --------------------------------------------------------------------------------------------
# argument checks
# --------------------------------------------------------------------------------------------
def _check_window_partition(x, window_size) -> tuple[int, int]:
    fn = "window_partition"
    check_tensor(fn, "x", x, ndim=4, layout="(B, H, W, C)")
    Mh, Mw = pair(fn, "window_size", window_size, minimum=1)
    H, W = x.shape[1:3]
    if H % Mh or W % Mw:
        raise ValueError(f"{fn}(): H={H} and W={W} of 'x' {fmt_shape(x)} must be multiples of window_size=({Mh}, {Mw})")
    return Mh, Mw


def _check_window_reverse(windows, window_size, H, W) -> tuple[int, int]:
    fn = "window_reverse"
    check_tensor(fn, "windows", windows, ndim=4, layout="(B * num_windows, M, M, C)")
    Mh, Mw = pair(fn, "window_size", window_size, minimum=1)
    positive_ints(fn, H=H, W=W)
    if H % Mh or W % Mw:
        raise ValueError(f"{fn}(): H={H} and W={W} must be multiples of window_size=({Mh}, {Mw})")
    BnW, mh, mw, _ = windows.shape
    num_windows = (H // Mh) * (W // Mw)
    if (mh, mw) != (Mh, Mw) or BnW % num_windows:
        raise ValueError(
            f"{fn}(): argument 'windows' must have shape (B * {num_windows}, {Mh}, {Mw}, C) for H={H}, W={W}, "
            f"got {fmt_shape(windows)}"
        )
    return Mh, Mw


def _check_shifted_window_attention_mask(H, W, window_size, shift_size):
    fn = "shifted_window_attention_mask"
    positive_ints(fn, H=H, W=W)
    Mh, Mw = pair(fn, "window_size", window_size, minimum=1)
    sh, sw = pair(fn, "shift_size", shift_size, minimum=0)
    if H % Mh or W % Mw:
        raise ValueError(f"{fn}(): H={H} and W={W} must be multiples of window_size=({Mh}, {Mw})")
    if sh >= Mh or sw >= Mw:
        raise ValueError(f"{fn}(): shift_size=({sh}, {sw}) must be smaller than window_size=({Mh}, {Mw})")
    return (Mh, Mw), (sh, sw)


def _check_window_attention(dim, num_heads, window_size, relative_position_bias) -> tuple[int, int]:
    fn = "WindowAttention"
    positive_ints(fn, dim=dim, num_heads=num_heads)
    _check_bool(fn, "relative_position_bias", relative_position_bias)
    if dim % num_heads:
        raise ValueError(f"{fn}(): dim={dim} must be divisible by num_heads={num_heads}")
    return pair(fn, "window_size", window_size, minimum=1)


def _check_window_attention_forward(x, mask, window_area: int, dim: int) -> None:
    fn = "WindowAttention.forward"
    check_tensor(fn, "x", x, ndim=3, layout="(B * num_windows, M*M, C)")
    B_, N, C = x.shape
    if (N, C) != (window_area, dim):
        raise ValueError(f"{fn}(): 'x' must have shape (B * num_windows, {window_area}, {dim}), got {fmt_shape(x)}")
    if mask is not None:
        check_tensor(fn, "mask", mask, ndim=3, layout="(num_windows, M*M, M*M)")
        if mask.shape[1:] != (N, N) or B_ % mask.shape[0]:
            raise ValueError(
                f"{fn}(): 'mask' must have shape (num_windows, {N}, {N}) with num_windows dividing {B_}, "
                f"got {fmt_shape(mask)}"
            )


def _check_swin_transformer_block(dim, input_resolution, window_size, shift_size):
    """The block's sizes as pairs: (input_resolution, window_size, shift_size)."""
    fn = "SwinTransformerBlock"
    positive_int(fn, "dim", dim)
    resolution = pair(fn, "input_resolution", input_resolution, minimum=1)
    M = pair(fn, "window_size", window_size, minimum=1)
    s = pair(fn, "shift_size", shift_size, minimum=0)
    window = tuple(r if r <= m else m for r, m in zip(resolution, M))
    shift = tuple(0 if r <= m else t for r, m, t in zip(resolution, M, s))
    H, W = resolution
    if H % window[0] or W % window[1]:
        raise ValueError(
            f"{fn}(): input_resolution=({H}, {W}) must be a multiple of window_size={window} "
            "(padding is not implemented)"
        )
    if any(t >= m for t, m in zip(shift, window)):
        raise ValueError(f"{fn}(): shift_size={shift_size} must be smaller than window_size={window_size}")
    return resolution, M, s


def _check_feature_map(fn: str, x, resolution: tuple[int, int], dim: int) -> None:
    check_tensor(fn, "x", x, ndim=4, layout="(B, H, W, C)")
    if tuple(x.shape[1:]) != (*resolution, dim):
        raise ValueError(
            f"{fn}(): 'x' must have shape (B, {resolution[0]}, {resolution[1]}, {dim}), got {fmt_shape(x)}"
        )


def _check_patch_merging_input(x, dim: int) -> None:
    fn = "PatchMerging.forward"
    check_tensor(fn, "x", x, ndim=4, layout="(B, H, W, C)")
    _, H, W, C = x.shape
    if C != dim or H % 2 or W % 2:
        raise ValueError(f"{fn}(): 'x' must have shape (B, H, W, {dim}) with even H and W, got {fmt_shape(x)}")


def _check_swin_config(cfg) -> None:
    """Validate a SwinConfig; lists (e.g. from JSON) in depths/num_heads become tuples."""
    fn = "SwinConfig"
    positive_ints(fn, img_size=cfg.img_size, patch_size=cfg.patch_size, in_chans=cfg.in_chans,
                  embed_dim=cfg.embed_dim, window_size=cfg.window_size)
    if isinstance(cfg.num_classes, bool) or not isinstance(cfg.num_classes, int) or cfg.num_classes < 0:
        raise ValueError(f"{fn}(): argument 'num_classes' must be an int >= 0 (0: no head), got {cfg.num_classes!r}")
    for name in ("depths", "num_heads"):
        value = getattr(cfg, name)
        if not isinstance(value, (tuple, list)) or not value:
            raise TypeError(f"{fn}(): argument '{name}' must be a non-empty tuple of ints, got {value!r}")
        for v in value:
            positive_int(fn, name, v)
        object.__setattr__(cfg, name, tuple(value))
    for name in ("shift", "relative_position_bias"):
        _check_bool(fn, name, getattr(cfg, name))
    if len(cfg.depths) != len(cfg.num_heads):
        raise ValueError(f"{fn}(): depths {cfg.depths} and num_heads {cfg.num_heads} must have the same length")
    if cfg.img_size % cfg.patch_size:
        raise ValueError(f"{fn}(): img_size={cfg.img_size} must be a multiple of patch_size={cfg.patch_size}")
    grid = cfg.img_size // cfg.patch_size
    for i, (dim, heads, (h, _)) in enumerate(zip(cfg.dims, cfg.num_heads, cfg.resolutions)):
        if dim % heads:
            raise ValueError(f"{fn}(): stage {i + 1} width {dim} must be divisible by num_heads[{i}]={heads}")
        if h < 1 or (i > 0 and cfg.resolutions[i - 1][0] % 2):
            raise ValueError(f"{fn}(): the {grid}x{grid} token grid cannot be halved {len(cfg.depths) - 1} times")
        if h > cfg.window_size and h % cfg.window_size:
            raise ValueError(
                f"{fn}(): stage {i + 1} grid {h}x{h} must be a multiple of window_size={cfg.window_size} "
                "(padding is not implemented)"
            )


def _check_bool(fn: str, name: str, value) -> None:
    if not isinstance(value, bool):
        raise TypeError(f"{fn}(): argument '{name}' must be a bool, got {type(value).__name__} {value!r}")


def _swin_model(model_or_name, img_size) -> SwinTransformer:
    """:func:`swin_macs_by_stage`'s model: built on the meta device from a preset name, or checked."""
    from . import models

    fn = "swin_macs_by_stage"
    if isinstance(model_or_name, str):
        with torch.device("meta"):
            model = models.create(model_or_name, **({} if img_size is None else {"img_size": img_size}))
    else:
        model = model_or_name
    if not isinstance(model, SwinTransformer):
        raise TypeError(
            f"{fn}(): argument 'model_or_name' must be a SwinTransformer or a Swin preset name, "
            f"got {type(model).__name__}"
        )
    if img_size is not None and img_size != model.config.img_size:
        raise ValueError(f"{fn}(): the model was built for img_size={model.config.img_size}, got img_size={img_size}")
    return model

