"""The Vision Transformer (ViT) and its data-efficient variant DeiT.

Chapter
    04, ``book/04_vit.ipynb`` (exercise: ``exercises/04_vit/``)
Papers
    Dosovitskiy et al., "An Image is Worth 16x16 Words: Transformers for Image Recognition at
    Scale", ICLR 2021. https://arxiv.org/abs/2010.11929 (Sec. 3.1, Eq. 1-4: the model; Table 1: sizes)
    Touvron et al., "Training data-efficient image transformers & distillation through
    attention" (DeiT), ICML 2021. https://arxiv.org/abs/2012.12877 (Table 1: DeiT-Ti/S/B)
Official code
    https://github.com/google-research/vision_transformer, https://github.com/facebookresearch/deit;
    timm's ``timm/models/vision_transformer.py`` (the layout mirrored here)
Symbols in the shape comments
    B batch, C channels of an image or width of a token, H x W image size, p patch size,
    gh x gw = (H/p) x (W/p) patch grid, N = gh * gw patches, D = C token width, heads attention heads,
    head_dim = C / heads

The layout mirrors timm's ``vision_transformer.py`` (timm 1.0) key for key, so a timm
checkpoint of ``vit_base_patch16_224`` or ``deit_*_patch16_224`` loads with ``strict=True``::

    cls_token, pos_embed, patch_embed.proj, blocks.{i}.{norm1, attn.qkv, attn.proj, norm2,
    mlp.fc1, mlp.fc2}, norm, head

The model in one line per step (pre-norm encoder, Dosovitskiy et al. eq. 1-4)::

    z_0 = [x_class; x_p^1 E; ...; x_p^N E] + E_pos          patchify + class token + position
    z'_l = MSA(LN(z_{l-1})) + z_{l-1}                        l = 1..L
    z_l  = MLP(LN(z'_l)) + z'_l
    y    = head(LN(z_L)[:, 0])                               the class token classifies

The functional forms (:func:`patchify`, :func:`add_class_token_and_position`,
:func:`self_attention`, :func:`mlp`, :func:`encoder_block`) take every weight as an argument, so
an exercise can grade each step against the modules below.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import torch
import torch.nn as nn
import torch.nn.functional as F

from ._features import check_forward_intermediates
from ._validate import check_tensor, fmt_shape, positive_int, positive_ints
from .attention import scaled_dot_product_attention
from .models import build, preset

__all__ = [
    "patchify",
    "add_class_token_and_position",
    "self_attention",
    "mlp",
    "encoder_block",
    "PatchEmbed",
    "Attention",
    "Mlp",
    "Block",
    "ViTConfig",
    "VisionTransformer",
    "vit_base_patch16_224",
    "deit_small_patch16_224",
    "deit_tiny_patch16_224",
    "vit_tiny_patch4_32",
]


# --------------------------------------------------------------------------------------------
# Functional forms: one step of the model each, every weight an argument
# --------------------------------------------------------------------------------------------
def patchify(images: torch.Tensor, patch_size: int) -> torch.Tensor:
    """Cut images into non-overlapping ``p x p`` patches and flatten each one.

    ``images`` (B, C, H, W) -> (B, N, C*p*p) with N = (H/p) * (W/p) patches in row-major order
    (left to right, then top to bottom) and each patch flattened in (C, p, p) order, the order
    of ``conv.weight.flatten(1)``. Hence the patch embedding is a matmul::

        patchify(x, p) @ conv.weight.flatten(1).T + conv.bias
            == conv(x).flatten(2).transpose(1, 2)        # conv: kernel = stride = p

    and ``patchify(x, p) == F.unfold(x, p, stride=p).transpose(1, 2)``.
    """
    p = _check_patchify(images, patch_size)
    B, C, H, W = images.shape
    gh, gw = H // p, W // p
    x = images.reshape(B, C, gh, p, gw, p)  # (B, C, gh, p, gw, p)
    x = x.permute(0, 2, 4, 1, 3, 5)  # (B, gh, gw, C, p, p)
    return x.reshape(B, gh * gw, C * p * p)  # (B, N, C*p*p)


def add_class_token_and_position(
    tokens: torch.Tensor, cls_token: torch.Tensor, pos_embed: torch.Tensor
) -> torch.Tensor:
    """Prepend the learned class token to every sequence, then add the position embedding.

    ``tokens`` (B, N, D), ``cls_token`` (1, 1, D), ``pos_embed`` (1, 1 + N, D) -> (B, 1 + N, D).
    The position embedding has a slot for the class token too (timm's default, as in ViT).
    """
    _check_add_class_token_and_position(tokens, cls_token, pos_embed)
    B, N, D = tokens.shape
    x = torch.cat([cls_token.expand(B, -1, -1), tokens], dim=1)  # (B, 1 + N, D)
    return x + pos_embed  # (B, 1 + N, D)


def self_attention(
    x: torch.Tensor,
    qkv_weight: torch.Tensor,
    qkv_bias: torch.Tensor | None,
    proj_weight: torch.Tensor,
    proj_bias: torch.Tensor | None,
    num_heads: int,
) -> torch.Tensor:
    """Multi-head self-attention with one fused q/k/v projection, as :class:`Attention`.

    ``x`` (B, N, C); ``qkv_weight`` (3C, C) holds W_q, W_k, W_v stacked (each split into
    ``num_heads`` blocks of C / num_heads rows); ``proj_weight`` (C, C). Returns (B, N, C).
    """
    _check_self_attention(x, qkv_weight, qkv_bias, proj_weight, proj_bias, num_heads)
    B, N, C = x.shape
    heads = num_heads
    qkv = F.linear(x, qkv_weight, qkv_bias)  # (B, N, 3C)
    qkv = qkv.reshape(B, N, 3, heads, C // heads).permute(2, 0, 3, 1, 4)  # (3, B, heads, N, head_dim)
    q, k, v = qkv.unbind(0)  # each (B, heads, N, head_dim)
    out = scaled_dot_product_attention(q, k, v)  # (B, heads, N, head_dim)
    out = out.transpose(1, 2).reshape(B, N, C)  # (B, N, C)
    return F.linear(out, proj_weight, proj_bias)  # (B, N, C)


def mlp(
    x: torch.Tensor,
    fc1_weight: torch.Tensor,
    fc1_bias: torch.Tensor | None,
    fc2_weight: torch.Tensor,
    fc2_bias: torch.Tensor | None,
) -> torch.Tensor:
    """The transformer's feed-forward network: fc2(GELU(fc1(x))), GELU with erf as in ViT."""
    _check_mlp(x, fc1_weight, fc1_bias, fc2_weight, fc2_bias)
    return F.linear(F.gelu(F.linear(x, fc1_weight, fc1_bias)), fc2_weight, fc2_bias)


def encoder_block(
    x: torch.Tensor,
    norm1_weight: torch.Tensor,
    norm1_bias: torch.Tensor,
    qkv_weight: torch.Tensor,
    qkv_bias: torch.Tensor | None,
    proj_weight: torch.Tensor,
    proj_bias: torch.Tensor | None,
    norm2_weight: torch.Tensor,
    norm2_bias: torch.Tensor,
    fc1_weight: torch.Tensor,
    fc1_bias: torch.Tensor | None,
    fc2_weight: torch.Tensor,
    fc2_bias: torch.Tensor | None,
    num_heads: int,
    eps: float = 1e-6,
) -> torch.Tensor:
    """One pre-norm encoder block (ViT eq. 2-3) with its weights as arguments.

    ``x + MSA(LN1(x))`` then ``+ MLP(LN2(.))``. Each weight is named after the last two parts
    of its :class:`Block` parameter name (``norm1.weight`` -> ``norm1_weight``,
    ``attn.qkv.weight`` -> ``qkv_weight``, ``mlp.fc1.bias`` -> ``fc1_bias``), so that
    ``encoder_block(x, **weights, num_heads=h)`` equals ``block(x)``.
    """
    _check_encoder_block(x, norm1_weight, norm1_bias, norm2_weight, norm2_bias)
    C = x.shape[-1]
    x = x + self_attention(
        F.layer_norm(x, (C,), norm1_weight, norm1_bias, eps), qkv_weight, qkv_bias, proj_weight, proj_bias, num_heads
    )  # (B, N, C)
    x = x + mlp(F.layer_norm(x, (C,), norm2_weight, norm2_bias, eps), fc1_weight, fc1_bias, fc2_weight, fc2_bias)
    return x  # (B, N, C)


# --------------------------------------------------------------------------------------------
# Blocks
# --------------------------------------------------------------------------------------------
class PatchEmbed(nn.Module):
    """Image to patch tokens: a conv with kernel = stride = patch size (timm ``patch_embed``).

    ``output_fmt="NLC"`` returns (B, N, D) tokens (ViT); ``"NHWC"`` keeps the grid, (B, H/p, W/p, D)
    (Swin, which also normalises the tokens: ``norm=True`` adds ``patch_embed.norm``).
    """

    def __init__(
        self,
        img_size: int = 224,
        patch_size: int = 16,
        in_chans: int = 3,
        embed_dim: int = 768,
        norm: bool = False,
        output_fmt: str = "NLC",
        norm_eps: float = 1e-5,
    ):
        super().__init__()
        _check_patch_embed(img_size, patch_size, in_chans, embed_dim, output_fmt)
        self.img_size = img_size
        self.patch_size = patch_size
        self.in_chans = in_chans
        self.grid_size = img_size // patch_size
        self.num_patches = self.grid_size**2
        self.output_fmt = output_fmt
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)
        self.norm = nn.LayerNorm(embed_dim, eps=norm_eps) if norm else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_images("PatchEmbed.forward", x, self.in_chans, self.img_size)
        x = self.proj(x)  # (B, D, H/p, W/p)
        if self.output_fmt == "NLC":
            x = x.flatten(2).transpose(1, 2)  # (B, N, D)
        else:
            x = x.permute(0, 2, 3, 1)  # (B, H/p, W/p, D)
        return self.norm(x)

    def extra_repr(self) -> str:
        return f"img_size={self.img_size}, patch_size={self.patch_size}, grid={self.grid_size}x{self.grid_size}"


class Attention(nn.Module):
    """Multi-head self-attention over all N tokens (global: every token sees every token).

    timm layout: ``qkv`` (fused, 3C outputs ordered q | k | v, heads contiguous inside each)
    and ``proj``. The same layout as ``nn.MultiheadAttention``'s ``in_proj_weight``.
    """

    def __init__(self, dim: int, num_heads: int = 8, qkv_bias: bool = False):
        super().__init__()
        _check_attention(dim, num_heads)
        self.dim = dim
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = self.head_dim**-0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def _qkv(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        _check_tokens("Attention.forward", x, self.dim)
        B, N, C = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.num_heads, self.head_dim)  # (B, N, 3, heads, head_dim)
        qkv = qkv.permute(2, 0, 3, 1, 4)  # (3, B, heads, N, head_dim)
        q, k, v = qkv.unbind(0)  # each (B, heads, N, head_dim)
        return q, k, v

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self._qkv(x)  # each (B, heads, N, head_dim)
        B, N, C = x.shape
        x = scaled_dot_product_attention(q, k, v)  # (B, heads, N, head_dim)
        x = x.transpose(1, 2).reshape(B, N, C)  # (B, N, C)
        return self.proj(x)  # (B, N, C)

    @torch.no_grad()
    def attention_probs(self, x: torch.Tensor) -> torch.Tensor:
        """The attention weights softmax(q k^T / sqrt(head_dim)), (B, heads, N, N), for plots."""
        q, k, _ = self._qkv(x)
        return ((q * self.scale) @ k.transpose(-2, -1)).softmax(dim=-1)  # (B, heads, N, N)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, num_heads={self.num_heads}, head_dim={self.head_dim}"


class Mlp(nn.Module):
    """Two linear layers with a GELU between them (timm ``Mlp``: ``fc1``, ``act``, ``fc2``)."""

    def __init__(self, in_features: int, hidden_features: int | None = None, out_features: int | None = None):
        super().__init__()
        hidden_features = hidden_features or in_features
        out_features = out_features or in_features
        self.fc1 = nn.Linear(in_features, hidden_features)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden_features, out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    """Pre-norm transformer encoder block: x + attn(norm1(x)), then + mlp(norm2(.)).

    timm's ``ls1``/``drop_path1`` (LayerScale, stochastic depth) are identities in every preset
    here and hold no weights, so they are left out.
    """

    def __init__(
        self, dim: int, num_heads: int, mlp_ratio: float = 4.0, qkv_bias: bool = False, norm_eps: float = 1e-6
    ):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=norm_eps)
        self.attn = Attention(dim, num_heads=num_heads, qkv_bias=qkv_bias)
        self.norm2 = nn.LayerNorm(dim, eps=norm_eps)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))  # (B, N, C)
        x = x + self.mlp(self.norm2(x))  # (B, N, C)
        return x


# --------------------------------------------------------------------------------------------
# Model
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ViTConfig:
    """Hyper-parameters of a ViT/DeiT, in timm's argument names (defaults: ViT-B/16 at 224)."""

    img_size: int = 224
    patch_size: int = 16
    in_chans: int = 3
    num_classes: int = 1000
    embed_dim: int = 768
    depth: int = 12
    num_heads: int = 12
    mlp_ratio: float = 4.0
    qkv_bias: bool = True

    def __post_init__(self):
        _check_vit_config(self)

    @property
    def num_patches(self) -> int:
        return (self.img_size // self.patch_size) ** 2


class VisionTransformer(nn.Module):
    """ViT / DeiT classifier with a class token and learned position embeddings.

    ``VisionTransformer(config)`` or ``VisionTransformer(embed_dim=192, depth=12, ...)``
    (keywords override the config, defaults are ViT-B/16).

    * :meth:`forward_features`: images (B, C, H, W) -> tokens (B, 1 + N, D) after the final norm;
    * :meth:`forward_head`: the class token ``[:, 0]`` -> logits (B, num_classes);
    * :meth:`attention_maps`: each block's attention weights, for plots.
    """

    def __init__(self, config: ViTConfig | None = None, **overrides):
        super().__init__()
        if config is not None and not isinstance(config, ViTConfig):
            raise TypeError(f"VisionTransformer(): argument 'config' must be a ViTConfig, got {type(config).__name__}")
        cfg = replace(config or ViTConfig(), **overrides)
        self.config = cfg
        D = cfg.embed_dim
        self.num_features = D
        self.patch_embed = PatchEmbed(cfg.img_size, cfg.patch_size, cfg.in_chans, D)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, D))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + cfg.num_patches, D))
        self.blocks = nn.Sequential(
            *[Block(D, cfg.num_heads, cfg.mlp_ratio, cfg.qkv_bias, norm_eps=1e-6) for _ in range(cfg.depth)]
        )
        self.norm = nn.LayerNorm(D, eps=1e-6)
        self.head = nn.Linear(D, cfg.num_classes) if cfg.num_classes > 0 else nn.Identity()
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """timm's default initialisation: truncated normal (std 0.02) for position embeddings and
        linear weights, zero biases, a near-zero class token."""
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.normal_(self.cls_token, std=1e-6)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(x)  # (B, N, D)
        x = add_class_token_and_position(x, self.cls_token, self.pos_embed)  # (B, 1 + N, D)
        x = self.blocks(x)  # (B, 1 + N, D)
        return self.norm(x)  # (B, 1 + N, D)

    def forward_intermediates(
        self,
        x: torch.Tensor,
        indices: int | list[int] | None = None,
        return_prefix_tokens: bool = False,
        norm: bool = False,
        stop_early: bool = False,
        output_fmt: str = "NCHW",
        intermediates_only: bool = False,
    ) -> list | tuple[torch.Tensor, list]:
        """timm's ``forward_intermediates``: the output of every block, or of those ``indices`` picks (chapter 07).

        ``indices``: None all ``depth`` blocks, n the last n, a list those positions. Each intermediate is a
        block's output without the class token, before the final norm (``norm=True``: after it, so that the
        last one is ``forward_features(x)[:, 1:]``), as (B, D, gh, gw) for ``output_fmt="NCHW"`` or (B, N, D)
        for ``"NLC"``; ``return_prefix_tokens=True`` pairs each with its class token, (B, 1, D). Returns
        ``(final, intermediates)`` with ``final`` = :meth:`forward_features` (after the final norm), or only
        the list if ``intermediates_only``; ``stop_early`` skips the blocks after the last one picked.
        """
        cfg = self.config
        take, last = check_forward_intermediates(
            "VisionTransformer.forward_intermediates", x, cfg.in_chans, output_fmt, ("NCHW", "NLC"),
            cfg.depth, indices, cfg.img_size,
        )
        B = x.shape[0]
        gh = gw = self.patch_embed.grid_size
        x = add_class_token_and_position(self.patch_embed(x), self.cls_token, self.pos_embed)  # (B, 1 + N, D)
        blocks = self.blocks[: last + 1] if stop_early else self.blocks
        intermediates = []
        for i, blk in enumerate(blocks):
            x = blk(x)  # (B, 1 + N, D)
            if i in take:
                intermediates.append(self.norm(x) if norm else x)
        prefix = [y[:, :1] for y in intermediates]  # each (B, 1, D): the class token
        spatial = [y[:, 1:] for y in intermediates]  # each (B, N, D)
        if output_fmt == "NCHW":
            spatial = [y.reshape(B, gh, gw, -1).permute(0, 3, 1, 2).contiguous() for y in spatial]  # (B, D, gh, gw)
        out = list(zip(spatial, prefix)) if return_prefix_tokens else spatial
        if intermediates_only:
            return out
        return self.norm(x), out

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = x[:, 0]  # (B, D): the class token
        return x if pre_logits else self.head(x)  # (B, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    @torch.no_grad()
    def attention_maps(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Attention weights of every block on images ``x``: a list of (B, heads, 1 + N, 1 + N)."""
        tokens = add_class_token_and_position(self.patch_embed(x), self.cls_token, self.pos_embed)
        maps = []
        for blk in self.blocks:
            maps.append(blk.attn.attention_probs(blk.norm1(tokens)))
            tokens = blk(tokens)
        return maps


# --------------------------------------------------------------------------------------------
# Presets (timm names; published sizes in the docstrings, tested in tests/test_vit.py)
# --------------------------------------------------------------------------------------------
@preset(aliases=("vit_b_16", "vit_b16"))
def vit_base_patch16_224(**overrides) -> VisionTransformer:
    """ViT-B/16 at 224x224: 12 layers, width 768, MLP 3072, 12 heads.

    Dosovitskiy et al. 2021, Table 1: ViT-Base, 86M parameters (exactly 86,567,656 with the
    1000-class head). 17.5G MACs at 224 for the same architecture (as DeiT-B) in Liu et al.
    2021 (Swin), Table 1(a); we count 17.57G.
    """
    config = ViTConfig(embed_dim=768, depth=12, num_heads=12)
    return build(VisionTransformer, config, overrides, "vit_base_patch16_224")


@preset(aliases=("deit_s", "deit_small"))
def deit_small_patch16_224(**overrides) -> VisionTransformer:
    """DeiT-S: 12 layers, width 384, 6 heads (head_dim 64).

    Touvron et al. 2021, Table 1: 22M parameters (exactly 22,050,664). 4.6G MACs at 224 in
    Liu et al. 2021 (Swin), Table 1(a).
    """
    config = ViTConfig(embed_dim=384, depth=12, num_heads=6)
    return build(VisionTransformer, config, overrides, "deit_small_patch16_224")


@preset(aliases=("deit_ti", "deit_tiny"))
def deit_tiny_patch16_224(**overrides) -> VisionTransformer:
    """DeiT-Ti: 12 layers, width 192, 3 heads (head_dim 64).

    Touvron et al. 2021, Table 1: 5M parameters (exactly 5,717,416, i.e. 5.7M). 1.3G MACs at
    224 as tabulated in later comparisons (e.g. Yuan et al. 2021, T2T-ViT,
    https://arxiv.org/abs/2101.11986); we count 1.25G, which rounds to it.
    """
    config = ViTConfig(embed_dim=192, depth=12, num_heads=3)
    return build(VisionTransformer, config, overrides, "deit_tiny_patch16_224")


@preset(aliases=("vit_tiny_32",))
def vit_tiny_patch4_32(**overrides) -> VisionTransformer:
    """A ViT for 32x32 images that trains on a 2-core CPU in seconds (course preset, no paper).

    Patch 4 (64 tokens + class token), width 64, depth 4, 4 heads, MLP 128 (ratio 2), 10
    classes: about 0.14M parameters and 10M MACs per image. Not timm's ``vit_tiny_patch16_224``
    (which is DeiT-Ti). Override e.g. ``img_size=8, patch_size=2, in_chans=1`` for 8x8 digits.
    """
    config = ViTConfig(
        img_size=32, patch_size=4, num_classes=10, embed_dim=64, depth=4, num_heads=4, mlp_ratio=2.0
    )
    return build(VisionTransformer, config, overrides, "vit_tiny_patch4_32")


# --------------------------------------------------------------------------------------------
# argument checks
# --------------------------------------------------------------------------------------------
def _check_shape(fn: str, name: str, x: torch.Tensor, expected: tuple[int, ...], layout: str) -> None:
    if tuple(x.shape) != tuple(expected):
        want = "(" + ", ".join(str(s) for s in expected) + ")"
        raise ValueError(f"{fn}(): argument '{name}' must have shape {layout} = {want}, got {fmt_shape(x)}")


def _check_linear(fn: str, prefix: str, weight, bias, in_features: int, out_features: int | None) -> None:
    check_tensor(fn, f"{prefix}_weight", weight, ndim=2, layout="(out_features, in_features)")
    check_tensor(fn, f"{prefix}_bias", bias, ndim=1, layout="(out_features,)", optional=True)
    out = weight.shape[0] if out_features is None else out_features
    _check_shape(fn, f"{prefix}_weight", weight, (out, in_features), "(out_features, in_features)")
    if bias is not None:
        _check_shape(fn, f"{prefix}_bias", bias, (out,), "(out_features,)")


def _check_patchify(images, patch_size) -> int:
    fn = "patchify"
    check_tensor(fn, "images", images, ndim=4, layout="(B, C, H, W)")
    p = positive_int(fn, "patch_size", patch_size)
    H, W = images.shape[-2:]
    if H % p or W % p:
        raise ValueError(f"{fn}(): image height and width must be multiples of patch_size={p}, got H={H}, W={W}")
    return p


def _check_add_class_token_and_position(tokens, cls_token, pos_embed) -> None:
    fn = "add_class_token_and_position"
    check_tensor(fn, "tokens", tokens, ndim=3, layout="(B, N, D)")
    check_tensor(fn, "cls_token", cls_token, ndim=3, layout="(1, 1, D)")
    check_tensor(fn, "pos_embed", pos_embed, ndim=3, layout="(1, 1 + N, D)")
    B, N, D = tokens.shape
    _check_shape(fn, "cls_token", cls_token, (1, 1, D), "(1, 1, D)")
    _check_shape(fn, "pos_embed", pos_embed, (1, 1 + N, D), "(1, 1 + N, D)")


def _check_self_attention(x, qkv_weight, qkv_bias, proj_weight, proj_bias, num_heads) -> None:
    fn = "self_attention"
    check_tensor(fn, "x", x, ndim=3, layout="(B, N, C)")
    heads = positive_int(fn, "num_heads", num_heads)
    C = x.shape[-1]
    if C % heads:
        raise ValueError(f"{fn}(): the width C={C} of 'x' must be divisible by num_heads={heads}")
    _check_linear(fn, "qkv", qkv_weight, qkv_bias, C, 3 * C)
    _check_linear(fn, "proj", proj_weight, proj_bias, C, C)


def _check_mlp(x, fc1_weight, fc1_bias, fc2_weight, fc2_bias) -> None:
    check_tensor("mlp", "x", x, ndim=(2, 3, 4), layout="(..., C)")
    _check_linear("mlp", "fc1", fc1_weight, fc1_bias, x.shape[-1], None)
    _check_linear("mlp", "fc2", fc2_weight, fc2_bias, fc1_weight.shape[0], None)


def _check_encoder_block(x, norm1_weight, norm1_bias, norm2_weight, norm2_bias) -> None:
    fn = "encoder_block"
    check_tensor(fn, "x", x, ndim=3, layout="(B, N, C)")
    C = x.shape[-1]
    for name, t in (("norm1_weight", norm1_weight), ("norm1_bias", norm1_bias),
                    ("norm2_weight", norm2_weight), ("norm2_bias", norm2_bias)):
        check_tensor(fn, name, t, ndim=1, layout="(C,)")
        _check_shape(fn, name, t, (C,), "(C,)")


def _check_patch_embed(img_size, patch_size, in_chans, embed_dim, output_fmt) -> None:
    fn = "PatchEmbed"
    positive_ints(fn, img_size=img_size, patch_size=patch_size, in_chans=in_chans, embed_dim=embed_dim)
    if img_size % patch_size:
        raise ValueError(f"{fn}(): img_size={img_size} must be a multiple of patch_size={patch_size}")
    if output_fmt not in ("NLC", "NHWC"):
        raise ValueError(f"{fn}(): argument 'output_fmt' must be 'NLC' or 'NHWC', got {output_fmt!r}")


def _check_images(fn: str, x, in_chans: int, img_size: int) -> None:
    """Images of the one size a model was built for: (B, in_chans, img_size, img_size)."""
    check_tensor(fn, "x", x, ndim=4, layout="(B, C, H, W)")
    if tuple(x.shape[1:]) != (in_chans, img_size, img_size):
        raise ValueError(f"{fn}(): input must have shape (B, {in_chans}, {img_size}, {img_size}), got {fmt_shape(x)}")


def _check_attention(dim, num_heads) -> None:
    positive_ints("Attention", dim=dim, num_heads=num_heads)
    if dim % num_heads:
        raise ValueError(f"Attention(): dim={dim} must be divisible by num_heads={num_heads}")


def _check_tokens(fn: str, x, dim: int) -> None:
    check_tensor(fn, "x", x, ndim=3, layout="(B, N, C)")
    if x.shape[-1] != dim:
        raise ValueError(f"{fn}(): 'x' must have C={dim} channels, got {fmt_shape(x)}")


def _check_vit_config(cfg) -> None:
    fn = "ViTConfig"
    positive_ints(fn, img_size=cfg.img_size, patch_size=cfg.patch_size, in_chans=cfg.in_chans,
                  embed_dim=cfg.embed_dim, depth=cfg.depth, num_heads=cfg.num_heads)
    if isinstance(cfg.num_classes, bool) or not isinstance(cfg.num_classes, int) or cfg.num_classes < 0:
        raise ValueError(f"{fn}(): argument 'num_classes' must be an int >= 0 (0: no head), got {cfg.num_classes!r}")
    if cfg.img_size % cfg.patch_size:
        raise ValueError(f"{fn}(): img_size={cfg.img_size} must be a multiple of patch_size={cfg.patch_size}")
    if cfg.embed_dim % cfg.num_heads:
        raise ValueError(f"{fn}(): embed_dim={cfg.embed_dim} must be divisible by num_heads={cfg.num_heads}")
    if not cfg.mlp_ratio > 0:
        raise ValueError(f"{fn}(): argument 'mlp_ratio' must be > 0, got {cfg.mlp_ratio!r}")
