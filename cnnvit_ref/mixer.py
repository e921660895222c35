"""MLP-Mixer: an image classifier made of MLPs only, mixing across patches and across channels in turn.

Chapter
    07, ``book/07_representations.ipynb`` (exercise: ``exercises/07_representations/``)
Papers
    Tolstikhin et al., "MLP-Mixer: An all-MLP Architecture for Vision", NeurIPS 2021.
    https://arxiv.org/abs/2105.01601 (Sec. 2, Eq. 1: the Mixer layer; Table 1: the sizes)
    Raghu et al., "Do Vision Transformers See Like Convolutional Neural Networks?", NeurIPS 2021.
    https://arxiv.org/abs/2108.08810 (Mixer's representations resemble ViT's more than ResNet's)
Official code
    https://github.com/google-research/vision_transformer (``vit_jax/models_mixer.py``);
    timm's ``timm/models/mlp_mixer.py`` (the layout mirrored here)
Symbols in the shape comments
    B batch, C channels of the image, H x W image size, p patch size, gh x gw = (H/p) x (W/p) patch grid,
    N = gh * gw patches (the paper's S), D token width (the paper's C), D_S / D_C hidden widths of the
    token- and channel-mixing MLPs

The layout mirrors timm's ``MlpMixer`` key for key (a timm checkpoint of ``mixer_b16_224`` loads with
``strict=True``)::

    stem.proj, blocks.{i}.{norm1, mlp_tokens.fc1, mlp_tokens.fc2, norm2, mlp_channels.fc1, mlp_channels.fc2},
    norm, head

One Mixer layer (Tolstikhin et al. Eq. 1), on the (N, D) table of patch tokens X::

    U = X + W2 GELU(W1 LN(X)^T)^T        token mixing: one MLP (N -> D_S -> N) per channel, weights shared
    Y = U + GELU(LN(U) W3) W4            channel mixing: one MLP (D -> D_C -> D) per token, as in ViT

There is no class token and no position embedding: the token-mixing MLP sees the patches in a fixed
order, so it is position-aware by construction, and its N inputs tie the model to one image size. The
head averages the tokens (global average pooling). GELU is the exact (erf) one, as in timm; the official
Flax code uses the tanh approximation, which changes outputs by about 1e-3.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
import torch.nn as nn

from ._features import check_forward_intermediates
from ._validate import check_tensor, fmt_shape, positive_ints
from .models import build, preset
from .vit import Mlp, PatchEmbed

__all__ = [
    "MixerBlock",
    "MixerConfig",
    "MlpMixer",
    "mixer_b16_224",
    "mixer_tiny_patch4_32",
]


# --------------------------------------------------------------------------------------------
# blocks
# --------------------------------------------------------------------------------------------
class MixerBlock(nn.Module):
    """One Mixer layer: ``x + token_mlp(norm1(x)^T)^T``, then ``+ channel_mlp(norm2(.))``.

    ``mlp_tokens`` maps each channel's N values to N values through ``tokens_dim`` hidden units;
    ``mlp_channels`` maps each token's D values through ``channels_dim`` hidden units (timm names).
    """

    def __init__(self, dim: int, seq_len: int, tokens_dim: int, channels_dim: int, norm_eps: float = 1e-6):
        super().__init__()
        positive_ints("MixerBlock", dim=dim, seq_len=seq_len, tokens_dim=tokens_dim, channels_dim=channels_dim)
        self.dim, self.seq_len, self.tokens_dim, self.channels_dim = dim, seq_len, tokens_dim, channels_dim
        self.norm1 = nn.LayerNorm(dim, eps=norm_eps)
        self.mlp_tokens = Mlp(seq_len, tokens_dim)
        self.norm2 = nn.LayerNorm(dim, eps=norm_eps)
        self.mlp_channels = Mlp(dim, channels_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_tokens("MixerBlock.forward", x, self.seq_len, self.dim)
        y = self.norm1(x).transpose(1, 2)  # (B, D, N): one row of N token values per channel
        x = x + self.mlp_tokens(y).transpose(1, 2)  # (B, N, D)
        x = x + self.mlp_channels(self.norm2(x))  # (B, N, D)
        return x

    def extra_repr(self) -> str:
        return (
            f"dim={self.dim}, seq_len={self.seq_len}, tokens_dim={self.tokens_dim}, "
            f"channels_dim={self.channels_dim}"
        )


# --------------------------------------------------------------------------------------------
# model
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MixerConfig:
    """Hyper-parameters of an MLP-Mixer in timm's argument names (defaults: Mixer-B/16 at 224).

    ``mlp_ratio = (r_S, r_C)`` sets the hidden widths ``D_S = int(r_S * D)`` of the token-mixing MLP and
    ``D_C = int(r_C * D)`` of the channel-mixing MLP (timm's rule; Table 1's D_S = 384, D_C = 3072 for
    Mixer-B are 0.5 and 4 times its width 768).
    """

    img_size: int = 224
    patch_size: int = 16
    in_chans: int = 3
    num_classes: int = 1000
    embed_dim: int = 768
    num_blocks: int = 12
    mlp_ratio: tuple[float, float] = (0.5, 4.0)

    def __post_init__(self):
        _check_mixer_config(self)
        object.__setattr__(self, "mlp_ratio", tuple(float(r) for r in self.mlp_ratio))

    @property
    def num_patches(self) -> int:
        return (self.img_size // self.patch_size) ** 2

    @property
    def tokens_dim(self) -> int:
        return int(self.mlp_ratio[0] * self.embed_dim)

    @property
    def channels_dim(self) -> int:
        return int(self.mlp_ratio[1] * self.embed_dim)


class MlpMixer(nn.Module):
    """MLP-Mixer classifier: patch embedding, ``num_blocks`` Mixer layers, final norm, mean of the tokens, head.

    ``MlpMixer(config)`` or ``MlpMixer(embed_dim=..., num_blocks=..., ...)`` (keywords override the config).

    * :meth:`forward_features`: images (B, C, H, W) -> tokens (B, N, D) after the final norm;
    * :meth:`forward_head`: mean over the tokens -> logits (B, num_classes);
    * :meth:`forward_intermediates`: every block's output (timm's signature), for chapter 07's analyses.
    """

    def __init__(self, config: MixerConfig | None = None, **overrides):
        super().__init__()
        _check_config_type(config)
        cfg = replace(config or MixerConfig(), **overrides)
        self.config = cfg
        D = cfg.embed_dim
        self.num_features = D
        self.stem = PatchEmbed(cfg.img_size, cfg.patch_size, cfg.in_chans, D)
        self.blocks = nn.Sequential(
            *[MixerBlock(D, cfg.num_patches, cfg.tokens_dim, cfg.channels_dim) for _ in range(cfg.num_blocks)]
        )
        self.norm = nn.LayerNorm(D, eps=1e-6)
        self.head = nn.Linear(D, cfg.num_classes) if cfg.num_classes > 0 else nn.Identity()
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """timm's Mixer initialisation: LeCun-normal stem, Xavier-uniform linear weights, MLP biases
        ~ N(0, 1e-6), LayerNorm (1, 0), and a zero head (the logits start at 0)."""
        fan_in = self.stem.proj.weight[0].numel()
        std = math.sqrt(1.0 / fan_in) / 0.87962566103423978  # LeCun normal, truncated at 2 std
        nn.init.trunc_normal_(self.stem.proj.weight, std=std, a=-2 * std, b=2 * std)
        nn.init.zeros_(self.stem.proj.bias)
        for blk in self.blocks:
            for m in (blk.mlp_tokens.fc1, blk.mlp_tokens.fc2, blk.mlp_channels.fc1, blk.mlp_channels.fc2):
                nn.init.xavier_uniform_(m.weight)
                nn.init.normal_(m.bias, std=1e-6)
        if isinstance(self.head, nn.Linear):
            nn.init.zeros_(self.head.weight)
            nn.init.zeros_(self.head.bias)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)  # (B, N, D)
        x = self.blocks(x)  # (B, N, D)
        return self.norm(x)  # (B, N, D)

    def forward_intermediates(
        self,
        x: torch.Tensor,
        indices: int | list[int] | None = None,
        norm: bool = False,
        stop_early: bool = False,
        output_fmt: str = "NCHW",
        intermediates_only: bool = False,
    ) -> list[torch.Tensor] | tuple[torch.Tensor, list[torch.Tensor]]:
        """timm's ``forward_intermediates``: the output of every block, or of those ``indices`` picks.

        ``indices``: None all ``num_blocks``, n the last n, a list those positions. Each intermediate is a
        block's output before the final norm (``norm=True``: after it, so the last one is
        ``forward_features(x)``), as (B, D, gh, gw) for ``output_fmt="NCHW"`` or (B, N, D) for ``"NLC"``.
        Returns ``(final, intermediates)`` with ``final`` = :meth:`forward_features`, or only the list if
        ``intermediates_only``; ``stop_early`` skips the blocks after the last one picked.
        """
        cfg = self.config
        take, last = check_forward_intermediates(
            "MlpMixer.forward_intermediates", x, cfg.in_chans, output_fmt, ("NCHW", "NLC"),
            cfg.num_blocks, indices, cfg.img_size,
        )
        B = x.shape[0]
        gh = gw = self.stem.grid_size
        x = self.stem(x)  # (B, N, D)
        blocks = self.blocks[: last + 1] if stop_early else self.blocks
        intermediates = []
        for i, blk in enumerate(blocks):
            x = blk(x)  # (B, N, D)
            if i in take:
                intermediates.append(self.norm(x) if norm else x)
        if output_fmt == "NCHW":
            grid = (B, gh, gw, -1)
            intermediates = [y.reshape(grid).permute(0, 3, 1, 2).contiguous() for y in intermediates]  # (B, D, gh, gw)
        if intermediates_only:
            return intermediates
        return self.norm(x), intermediates

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = x.mean(dim=1)  # (B, D): global average over the tokens
        return x if pre_logits else self.head(x)  # (B, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


# --------------------------------------------------------------------------------------------
# presets (timm names; sizes in the docstrings, tested in tests/test_mixer.py)
# --------------------------------------------------------------------------------------------
@preset(aliases=("mixer_b16", "mixer_b_16"))
def mixer_b16_224(**overrides) -> MlpMixer:
    """Mixer-B/16 at 224x224: 12 layers, width D = 768, N = 196 patches, D_S = 384, D_C = 3072.

    Tolstikhin et al. 2021, Table 1: 59M parameters; we count 59,880,472, timm's 59.88M. 12.60G MACs
    at 224 by our count (matmuls and convs only); timm's benchmark tables list 12.62 GMACs (its counter
    also counts the 25 LayerNorms).
    """
    config = MixerConfig(patch_size=16, embed_dim=768, num_blocks=12)
    return build(MlpMixer, config, overrides, "mixer_b16_224")


@preset(aliases=("mixer_tiny_32",))
def mixer_tiny_patch4_32(**overrides) -> MlpMixer:
    """A Mixer for 32x32 images that trains on a 2-core CPU in seconds (course preset, no paper).

    Patch 4 (64 tokens), width 64, 4 blocks, the paper's ratios (D_S = 32, D_C = 256), 10 classes: 154,058
    parameters and 9.63M MACs per image, about the size of ``vit_tiny_patch4_32`` (142,026 parameters,
    10.88M MACs), so that chapter 07 compares the two at equal cost.
    """
    config = MixerConfig(img_size=32, patch_size=4, num_classes=10, embed_dim=64, num_blocks=4)
    return build(MlpMixer, config, overrides, "mixer_tiny_patch4_32")


# --------------------------------------------------------------------------------------------
# argument checks
# --------------------------------------------------------------------------------------------
def _check_tokens(fn: str, x, seq_len: int, dim: int) -> None:
    check_tensor(fn, "x", x, ndim=3, layout="(B, N, D)")
    if tuple(x.shape[1:]) != (seq_len, dim):
        raise ValueError(
            f"{fn}(): argument 'x' must have shape (B, N, D) = (B, {seq_len}, {dim}) (the token-mixing MLP "
            f"takes exactly N = {seq_len} tokens), got {fmt_shape(x)}"
        )


def _check_config_type(config) -> None:
    if config is not None and not isinstance(config, MixerConfig):
        raise TypeError(f"MlpMixer(): argument 'config' must be a MixerConfig, got {type(config).__name__}")


def _check_mixer_config(cfg: MixerConfig) -> None:
    fn = "MixerConfig"
    positive_ints(
        fn, img_size=cfg.img_size, patch_size=cfg.patch_size, in_chans=cfg.in_chans,
        embed_dim=cfg.embed_dim, num_blocks=cfg.num_blocks,
    )
    if isinstance(cfg.num_classes, bool) or not isinstance(cfg.num_classes, int) or cfg.num_classes < 0:
        raise ValueError(f"{fn}(): argument 'num_classes' must be an int >= 0 (0: no head), got {cfg.num_classes!r}")
    if cfg.img_size % cfg.patch_size:
        raise ValueError(f"{fn}(): img_size={cfg.img_size} must be a multiple of patch_size={cfg.patch_size}")
    r = cfg.mlp_ratio
    if not (isinstance(r, (tuple, list)) and len(r) == 2 and all(isinstance(v, (int, float)) for v in r)):
        raise TypeError(f"{fn}(): argument 'mlp_ratio' must be a pair (tokens, channels) of numbers, got {r!r}")
    for name, v in zip(("tokens", "channels"), r):
        if int(v * cfg.embed_dim) < 1:
            raise ValueError(
                f"{fn}(): argument 'mlp_ratio' gives the {name}-mixing MLP int({v} * {cfg.embed_dim}) = "
                f"{int(v * cfg.embed_dim)} hidden units; it needs at least 1"
            )
