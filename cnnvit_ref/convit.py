"""ConViT: a vision transformer whose first layers use gated positional self-attention, initialised as convolutions.

Chapter
    06, ``book/06_hybrids.ipynb`` (exercise: ``exercises/06_hybrids/``)
Papers
    d'Ascoli, Touvron, Leavitt, Morcos, Biroli, Sagun, "ConViT: Improving Vision Transformers with Soft
    Convolutional Inductive Biases", ICML 2021. https://arxiv.org/abs/2103.10697 (Sec. 3: GPSA, its gate
    and the locality initialisation; Eq. 8: the nonlocality; Table 1: sizes)
    Cordonnier, Loukas, Jaggi, "On the Relationship between Self-Attention and Convolutional Layers",
    ICLR 2020. https://arxiv.org/abs/1911.03584 (positional attention that reproduces a k x k conv)
Official code
    https://github.com/facebookresearch/convit (``convit.py``); timm's ``timm/models/convit.py``
Symbols in the shape comments
    B batch, C channels (the width, = num_heads * embed_dim in timm's arguments), N tokens, heads
    attention heads, head_dim = C / heads, S x S grid of patches (N = S^2 in the GPSA layers)

Gated positional self-attention (GPSA). Each head mixes two attention maps over the N patches: the
content map softmax(q k^T / sqrt(head_dim)) of ordinary self-attention, and a positional map
softmax(r_qk . v_pos) that depends only on the relative position r_qk = (dx, dy, dx^2 + dy^2) of key
and query (dx, dy: key minus query, in patches) through ``pos_proj`` (a 3 -> heads linear layer). A
learned gate per head, ``gating_param`` = lambda, mixes them: (1 - sigma(lambda)) content +
sigma(lambda) positional, renormalised over the keys (:func:`gpsa_attention`).

Locality initialisation (:func:`local_init_pos_proj`): with ``num_heads`` = k^2 the heads sit on a
k x k grid of offsets Delta_h around the query and head h gets v_pos = alpha (2 Delta_x, 2 Delta_y, -1),
so its positional score -alpha |r - Delta_h|^2 + const peaks at the key Delta_h away: a fresh ConViT's
positional maps are the k x k taps of a convolution (alpha = ``locality_strength``). The value
projection starts as the identity and every gate at lambda = 1 (sigma = 0.73: mostly positional).

The class token joins the patches after the last GPSA layer (``local_up_to_layer``); the remaining
layers are ordinary multi-head self-attention (:class:`cnnvit_ref.vit.Attention`). The layout is timm's
``ConVit``, key for key (``blocks.{i}.attn.{gating_param, qk, v, proj, pos_proj}`` in the GPSA blocks,
``blocks.{i}.attn.{qkv, proj}`` after them; ``pos_embed`` has no slot for the class token), so a timm
checkpoint of ``convit_{tiny,small,base}`` loads with ``strict=True``. As in timm, ``embed_dim`` is the
width PER HEAD: the model is ``num_heads * embed_dim`` wide.

Units: MACs, counted by :func:`cnnvit_ref.flops.count_macs`; they include the attention matmuls and
``pos_proj``, which the paper's FLOPs leave out (see the presets).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
import torch.nn as nn

from ._validate import check_tensor, fmt_shape, positive_int, positive_ints
from .models import build, preset
from .vit import Attention, Mlp, PatchEmbed

__all__ = [
    "relative_positions",
    "gpsa_attention",
    "local_init_pos_proj",
    "locality_offsets",
    "nonlocality",
    "GPSA",
    "ConViTBlock",
    "ConViTConfig",
    "ConViT",
    "convit_tiny",
    "convit_small",
    "convit_base",
    "convit_tiny_patch4_32",
]


# --------------------------------------------------------------------------------------------
# math helpers
# --------------------------------------------------------------------------------------------
def relative_positions(grid_size: int, device=None, dtype=None) -> torch.Tensor:
    """r_qk for the N = S^2 patches of an S x S grid (row-major): (N, N, 3) with
    ``[q, k] = (dx, dy, dx^2 + dy^2)``, dx = column(k) - column(q), dy = row(k) - row(q) (timm's order)."""
    S = _check_relative_positions(grid_size)
    index = torch.arange(S * S, device=device)
    row, col = index // S, index % S
    dx = (col.view(1, -1) - col.view(-1, 1)).to(dtype or torch.get_default_dtype())  # (N, N)
    dy = (row.view(1, -1) - row.view(-1, 1)).to(dx.dtype)  # (N, N)
    return torch.stack([dx, dy, dx * dx + dy * dy], dim=-1)  # (N, N, 3)


def gpsa_attention(content_scores: torch.Tensor, pos_scores: torch.Tensor, gating_param: torch.Tensor) -> torch.Tensor:
    """GPSA's attention weights (ConViT Sec. 3), renormalised over the keys.

    ``content_scores`` (B, heads, N, N): q k^T / sqrt(head_dim); ``pos_scores`` (B or 1, heads, N, N):
    the positional scores r_qk . v_pos; ``gating_param`` (heads,): lambda. Returns (B, heads, N, N)::

        A = (1 - sigma(lambda)) softmax(content) + sigma(lambda) softmax(pos),   A / sum_k A

    Both terms already sum to 1 over the keys, so the renormalisation only removes rounding (it is
    in the official code and in timm, and kept for the same numbers). sigma(lambda) -> 0 gives plain
    content attention, -> 1 purely positional attention.
    """
    _check_gpsa_attention(content_scores, pos_scores, gating_param)
    gate = torch.sigmoid(gating_param).view(1, -1, 1, 1)  # (1, heads, 1, 1)
    attn = (1.0 - gate) * content_scores.softmax(dim=-1) + gate * pos_scores.softmax(dim=-1)  # (B, heads, N, N)
    return attn / attn.sum(dim=-1, keepdim=True)  # (B, heads, N, N)


def locality_offsets(num_heads: int) -> torch.Tensor:
    """The offset (dy, dx) in patches that each head attends to after :func:`local_init_pos_proj`:
    (k^2, 2) for the k = floor(sqrt(num_heads)) heads on a side; head h1 + k*h2 gets
    (dy, dx) = (h1 - c, h2 - c), c = (k - 1) / 2 (for even k the offsets are half-integers, between
    patches, as in timm). Heads beyond k^2 keep their random init and have no offset."""
    positive_int("locality_offsets", "num_heads", num_heads)
    k = math.isqrt(num_heads)
    center = (k - 1) / 2
    h = torch.arange(k * k)
    return torch.stack([h % k - center, h // k - center], dim=-1).to(torch.get_default_dtype())  # (k^2, 2)


def local_init_pos_proj(num_heads: int, locality_strength: float = 1.0) -> torch.Tensor:
    """The locality initialisation of ``pos_proj.weight`` (ConViT Sec. 3; timm's ``local_init``).

    Returns (k^2, 3) for the k x k = floor(sqrt(num_heads))^2 heads on the grid of
    :func:`locality_offsets`: row h = alpha * (2 Delta_x, 2 Delta_y, -1), alpha = ``locality_strength``,
    so that head h scores the key at relative position r as
    alpha (2 Delta . (dx, dy) - |r|^2) = -alpha |r - Delta_h|^2 + alpha |Delta_h|^2: largest at r = Delta_h.
    """
    _check_local_init_pos_proj(num_heads, locality_strength)
    offsets = locality_offsets(num_heads)  # (k^2, 2): (dy, dx)
    weight = torch.stack([2 * offsets[:, 1], 2 * offsets[:, 0], -torch.ones(len(offsets))], dim=-1)  # (k^2, 3)
    return weight * locality_strength  # (k^2, 3)


def nonlocality(attention: torch.Tensor, grid_size: int) -> torch.Tensor:
    """ConViT's nonlocality (Eq. 8), per head: the attention-weighted distance between query and key
    patches, averaged over the queries, (1/N) sum_{q,k} A_qk |r_qk| (in patches), of a batch-averaged map.

    ``attention`` (B, heads, N, N) over the N = S^2 patches, or (B, heads, 1 + N, 1 + N) with the class
    token first: then only patch queries and patch keys count (the weight on the class token has no
    distance; rows are not renormalised), as in the official code's patch-only maps. Returns (heads,).
    """
    S = _check_nonlocality(attention, grid_size)
    N = S * S
    attention = attention[..., -N:, -N:].mean(dim=0)  # (heads, N, N): patches only, batch mean
    distance = relative_positions(S, attention.device, attention.dtype)[..., 2].sqrt()  # (N, N)
    return (attention * distance).sum(dim=(-2, -1)) / N  # (heads,)


# --------------------------------------------------------------------------------------------
# blocks
# --------------------------------------------------------------------------------------------
class GPSA(nn.Module):
    """Gated positional self-attention over the N = S^2 patch tokens (timm ``GPSA``).

    Parameters, in timm's names: ``gating_param`` (heads,), ``qk`` (C -> 2C: q | k), ``v`` (C -> C),
    ``proj`` (C -> C), ``pos_proj`` (3 -> heads). :meth:`local_init` applies the locality init.
    """

    def __init__(self, dim: int, num_heads: int = 8, qkv_bias: bool = False, locality_strength: float = 1.0):
        super().__init__()
        _check_gpsa(dim, num_heads)
        self.dim = dim
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = self.head_dim**-0.5
        self.locality_strength = locality_strength
        self.qk = nn.Linear(dim, 2 * dim, bias=qkv_bias)
        self.v = nn.Linear(dim, dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)
        self.pos_proj = nn.Linear(3, num_heads)
        self.gating_param = nn.Parameter(torch.ones(num_heads))

    @torch.no_grad()
    def local_init(self) -> None:
        """timm's locality init: v = identity, the first k^2 rows of ``pos_proj.weight`` from
        :func:`local_init_pos_proj` (the other rows keep their init, scaled by locality_strength)."""
        self.v.weight.copy_(torch.eye(self.dim))
        weight = local_init_pos_proj(self.num_heads, self.locality_strength)  # (k^2, 3)
        self.pos_proj.weight[len(weight):] *= self.locality_strength
        self.pos_proj.weight[: len(weight)] = weight

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        """The attention weights (B, heads, N, N) of :func:`gpsa_attention` on tokens ``x`` (B, N, C)."""
        _check_gpsa_forward(self, x)
        B, N, C = x.shape
        S = math.isqrt(N)
        qk = self.qk(x).reshape(B, N, 2, self.num_heads, self.head_dim)  # (B, N, 2, heads, head_dim)
        q, k = qk.permute(2, 0, 3, 1, 4).unbind(0)  # each (B, heads, N, head_dim)
        content = (q @ k.transpose(-2, -1)) * self.scale  # (B, heads, N, N)
        rel = relative_positions(S, x.device, x.dtype)  # (N, N, 3)
        pos = self.pos_proj(rel).permute(2, 0, 1).unsqueeze(0)  # (1, heads, N, N)
        return gpsa_attention(content, pos, self.gating_param)  # (B, heads, N, N)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        attn = self.attention(x)  # (B, heads, N, N)
        B, N, C = x.shape
        v = self.v(x).reshape(B, N, self.num_heads, self.head_dim).transpose(1, 2)  # (B, heads, N, head_dim)
        x = (attn @ v).transpose(1, 2).reshape(B, N, C)  # (B, N, C)
        return self.proj(x)  # (B, N, C)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, num_heads={self.num_heads}, locality_strength={self.locality_strength}"


class ConViTBlock(nn.Module):
    """Pre-norm transformer block (timm convit ``Block``): x + attn(norm1(x)), then + mlp(norm2(.)),
    with :class:`GPSA` (``use_gpsa=True``) or ordinary multi-head self-attention as ``attn``."""

    def __init__(
        self,
        dim: int,
        num_heads: int,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = False,
        use_gpsa: bool = True,
        locality_strength: float = 1.0,
    ):
        super().__init__()
        self.use_gpsa = use_gpsa
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        if use_gpsa:
            self.attn: nn.Module = GPSA(dim, num_heads, qkv_bias=qkv_bias, locality_strength=locality_strength)
        else:
            self.attn = Attention(dim, num_heads, qkv_bias=qkv_bias)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))  # (B, N, C)
        x = x + self.mlp(self.norm2(x))  # (B, N, C)
        return x

    def attention_map(self, x: torch.Tensor) -> torch.Tensor:
        """The attention weights of this block's ``attn`` on its input ``x``: (B, heads, N, N)."""
        with torch.no_grad():
            y = self.norm1(x)
            return self.attn.attention(y) if self.use_gpsa else self.attn.attention_probs(y)

    def extra_repr(self) -> str:
        return f"use_gpsa={self.use_gpsa}"


# --------------------------------------------------------------------------------------------
# model
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ConViTConfig:
    """Hyper-parameters of a ConViT in timm's argument names (defaults: ConViT-Ti at 224x224).

    ``embed_dim`` is the width PER HEAD (timm's convention): the model is ``num_heads * embed_dim``
    wide. Blocks ``0 .. local_up_to_layer - 1`` are GPSA; the class token joins before block
    ``local_up_to_layer``. ``global_pool``: ``"token"`` (class token, default) or ``"avg"``.
    """

    img_size: int = 224
    patch_size: int = 16
    in_chans: int = 3
    num_classes: int = 1000
    embed_dim: int = 48
    depth: int = 12
    num_heads: int = 4
    mlp_ratio: float = 4.0
    qkv_bias: bool = False
    local_up_to_layer: int = 10
    locality_strength: float = 1.0
    global_pool: str = "token"

    def __post_init__(self) -> None:
        _check_convit_config(self)

    @property
    def width(self) -> int:
        return self.num_heads * self.embed_dim

    @property
    def grid_size(self) -> int:
        return self.img_size // self.patch_size


class ConViT(nn.Module):
    """ConViT classifier (timm ``ConVit``): patch embedding + position embedding, GPSA blocks on the
    patches, then the class token and ordinary blocks, final norm, head.

    * :meth:`forward_features`: images (B, C, H, W) -> tokens (B, 1 + N, width) after the final norm;
    * :meth:`forward_head`: the class token (or the patch mean) -> logits (B, num_classes);
    * :meth:`attention_maps`, :meth:`nonlocality`, :meth:`gates`: what the chapter plots.
    """

    def __init__(self, config: ConViTConfig | None = None, **overrides):
        super().__init__()
        if config is not None and not isinstance(config, ConViTConfig):
            raise TypeError(f"ConViT(): argument 'config' must be a ConViTConfig, got {type(config).__name__}")
        cfg = replace(config or ConViTConfig(), **overrides)
        self.config = cfg
        C = cfg.width
        self.num_features = C
        self.patch_embed = PatchEmbed(cfg.img_size, cfg.patch_size, cfg.in_chans, C)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, C))
        self.pos_embed = nn.Parameter(torch.zeros(1, cfg.grid_size**2, C))
        self.blocks = nn.ModuleList([
            ConViTBlock(C, cfg.num_heads, cfg.mlp_ratio, cfg.qkv_bias, use_gpsa=i < cfg.local_up_to_layer,
                        locality_strength=cfg.locality_strength)
            for i in range(cfg.depth)
        ])
        self.norm = nn.LayerNorm(C, eps=1e-6)
        self.head = nn.Linear(C, cfg.num_classes) if cfg.num_classes > 0 else nn.Identity()
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """timm's init: truncated normal (std 0.02) for the position embedding, the class token and
        every linear weight, zero biases, LayerNorm (1, 0); then the deterministic locality init of
        every GPSA (v = identity, ``pos_proj`` on the k x k grid, gates lambda = 1)."""
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        for m in self.modules():
            if isinstance(m, GPSA):
                nn.init.ones_(m.gating_param)
                m.local_init()

    def _tokens(self, x: torch.Tensor) -> torch.Tensor:
        _check_convit_forward(self, x)
        return self.patch_embed(x) + self.pos_embed  # (B, N, C): no class token yet

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self._tokens(x)  # (B, N, C)
        B = x.shape[0]
        for i, blk in enumerate(self.blocks):
            if i == self.config.local_up_to_layer:
                x = torch.cat([self.cls_token.expand(B, -1, -1), x], dim=1)  # (B, 1 + N, C)
            x = blk(x)
        return self.norm(x)  # (B, 1 + N, C)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = x[:, 1:].mean(dim=1) if self.config.global_pool == "avg" else x[:, 0]  # (B, C)
        return x if pre_logits else self.head(x)  # (B, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    @torch.no_grad()
    def attention_maps(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Every block's attention weights on images ``x``: (B, heads, N, N) for the GPSA blocks,
        (B, heads, 1 + N, 1 + N) after the class token joined."""
        tokens = self._tokens(x)  # (B, N, C)
        B = tokens.shape[0]
        maps = []
        for i, blk in enumerate(self.blocks):
            if i == self.config.local_up_to_layer:
                tokens = torch.cat([self.cls_token.expand(B, -1, -1), tokens], dim=1)  # (B, 1 + N, C)
            maps.append(blk.attention_map(tokens))
            tokens = blk(tokens)
        return maps

    @torch.no_grad()
    def nonlocality(self, x: torch.Tensor) -> torch.Tensor:
        """ConViT Eq. 8 per layer and head on images ``x``: (depth, heads), in patches."""
        return torch.stack([nonlocality(a, self.config.grid_size) for a in self.attention_maps(x)])  # (depth, heads)

    @torch.no_grad()
    def gates(self) -> torch.Tensor:
        """sigma(lambda) of every GPSA layer and head, (local_up_to_layer, heads): 1 = positional."""
        return torch.stack([torch.sigmoid(b.attn.gating_param) for b in self.blocks if b.use_gpsa])  # (local, heads)


# --------------------------------------------------------------------------------------------
# presets
# --------------------------------------------------------------------------------------------
# d'Ascoli et al. 2021, Table 1 counts FLOPs without the attention matmuls (q k^T and A v, 2 N^2 C per
# layer) and without pos_proj; our MACs count them. Without them we agree with the table to its rounding.
@preset(aliases=("convit_ti",))
def convit_tiny(**overrides) -> ConViT:
    """ConViT-Ti: 4 heads x 48 = width 192, 12 blocks (10 GPSA), 224x224, patch 16.

    d'Ascoli et al. 2021, Table 1: 6M parameters, 1G FLOPs. We count 5,710,512 parameters (timm:
    5.71M) and 1.252 GMACs (timm: 1.26); without the 0.18 G of attention matmuls and pos_proj,
    1.07 G, the paper's 1G (which leaves them out).
    """
    config = ConViTConfig(embed_dim=48, num_heads=4, local_up_to_layer=10, locality_strength=1.0)
    return build(ConViT, config, overrides, "convit_tiny")


@preset(aliases=("convit_s",))
def convit_small(**overrides) -> ConViT:
    """ConViT-S: 9 heads x 48 = width 432, 12 blocks (10 GPSA), 224x224, patch 16.

    d'Ascoli et al. 2021, Table 1: 27M parameters, 5.4G FLOPs. We count 27,777,322 parameters (timm:
    27.78M; the table truncates to whole millions) and 5.747 GMACs (timm: 5.76); without the 0.41 G of
    attention matmuls and pos_proj, 5.34 G (-1.2 %), the paper's 5.4G.
    """
    config = ConViTConfig(embed_dim=48, num_heads=9, local_up_to_layer=10, locality_strength=1.0)
    return build(ConViT, config, overrides, "convit_small")


@preset(aliases=("convit_b",))
def convit_base(**overrides) -> ConViT:
    """ConViT-B: 16 heads x 48 = width 768, 12 blocks (10 GPSA), 224x224, patch 16.

    d'Ascoli et al. 2021, Table 1: 86M parameters, 17G FLOPs. We count 86,540,040 parameters (timm:
    86.54M) and 17.505 GMACs (timm: 17.52); without the 0.73 G of attention matmuls and pos_proj,
    16.78 G (-1.3 %), the paper's 17G.
    """
    config = ConViTConfig(embed_dim=48, num_heads=16, local_up_to_layer=10, locality_strength=1.0)
    return build(ConViT, config, overrides, "convit_base")


@preset(aliases=("convit_tiny_32",))
def convit_tiny_patch4_32(**overrides) -> ConViT:
    """A ConViT for 32x32 images that trains on a 2-core CPU in seconds (course preset, no paper).

    Patch 4 (8x8 = 64 patches), 4 heads x 16 = width 64, depth 4 of which 3 GPSA, MLP ratio 2,
    10 classes: the size of :func:`cnnvit_ref.vit.vit_tiny_patch4_32`, for the small-data comparison.
    141,254 parameters and 10.9M MACs per 32x32 image.
    """
    config = ConViTConfig(
        img_size=32, patch_size=4, num_classes=10, embed_dim=16, depth=4, num_heads=4, mlp_ratio=2.0,
        local_up_to_layer=3,
    )
    return build(ConViT, config, overrides, "convit_tiny_patch4_32")


# --------------------------------------------------------------------------------------------
# argument checks
# --------------------------------------------------------------------------------------------
def _check_relative_positions(grid_size) -> int:
    return positive_int("relative_positions", "grid_size", grid_size)


def _check_gpsa_attention(content_scores, pos_scores, gating_param) -> None:
    fn = "gpsa_attention"
    check_tensor(fn, "content_scores", content_scores, ndim=4, layout="(B, heads, N, N)", floating=True)
    check_tensor(fn, "pos_scores", pos_scores, ndim=4, layout="(B or 1, heads, N, N)", floating=True)
    check_tensor(fn, "gating_param", gating_param, ndim=1, layout="(heads,)", floating=True)
    B, heads, N, M = content_scores.shape
    if N != M:
        raise ValueError(f"{fn}(): argument 'content_scores' must be (B, heads, N, N), got {fmt_shape(content_scores)}")
    if pos_scores.shape[1:] != (heads, N, N) or pos_scores.shape[0] not in (1, B):
        raise ValueError(
            f"{fn}(): argument 'pos_scores' must have shape ({B} or 1, {heads}, {N}, {N}) like 'content_scores', "
            f"got {fmt_shape(pos_scores)}"
        )
    if gating_param.shape[0] != heads:
        raise ValueError(
            f"{fn}(): argument 'gating_param' must have one entry per head, shape ({heads},), got {fmt_shape(gating_param)}"
        )


def _check_local_init_pos_proj(num_heads, locality_strength) -> None:
    positive_int("local_init_pos_proj", "num_heads", num_heads)
    if not isinstance(locality_strength, (int, float)) or isinstance(locality_strength, bool) or locality_strength <= 0:
        raise ValueError(f"local_init_pos_proj(): argument 'locality_strength' must be > 0, got {locality_strength!r}")


def _check_nonlocality(attention, grid_size) -> int:
    fn = "nonlocality"
    check_tensor(fn, "attention", attention, ndim=4, layout="(B, heads, N, N)", floating=True)
    S = positive_int(fn, "grid_size", grid_size)
    N = attention.shape[-1]
    if attention.shape[-2] != N or N not in (S * S, S * S + 1):
        raise ValueError(
            f"{fn}(): argument 'attention' must be (B, heads, N, N) with N = grid_size^2 = {S * S} "
            f"(or {S * S + 1} with a class token), got {fmt_shape(attention)}"
        )
    return S


def _check_gpsa(dim, num_heads) -> None:
    positive_ints("GPSA", dim=dim, num_heads=num_heads)
    if dim % num_heads:
        raise ValueError(f"GPSA(): argument 'num_heads' must divide dim = {dim}, got num_heads = {num_heads}")


def _check_gpsa_forward(module: GPSA, x) -> None:
    fn = "GPSA.forward"
    check_tensor(fn, "x", x, ndim=3, layout="(B, N, C)", floating=True)
    B, N, C = x.shape
    if C != module.dim:
        raise ValueError(f"{fn}(): argument 'x' must have C = {module.dim} channels, got {fmt_shape(x)}")
    if math.isqrt(N) ** 2 != N:
        raise ValueError(
            f"{fn}(): argument 'x' must hold N = S^2 patch tokens of a square grid (no class token), got N = {N}"
        )


def _check_convit_config(cfg: ConViTConfig) -> None:
    fn = "ConViTConfig"
    positive_ints(fn, img_size=cfg.img_size, patch_size=cfg.patch_size, in_chans=cfg.in_chans,
                  embed_dim=cfg.embed_dim, depth=cfg.depth, num_heads=cfg.num_heads)
    if isinstance(cfg.num_classes, bool) or not isinstance(cfg.num_classes, int) or cfg.num_classes < 0:
        raise ValueError(f"{fn}(): argument 'num_classes' must be an int >= 0 (0: no head), got {cfg.num_classes!r}")
    if cfg.img_size % cfg.patch_size:
        raise ValueError(
            f"{fn}(): argument 'img_size' must be a multiple of patch_size = {cfg.patch_size}, got {cfg.img_size}"
        )
    if isinstance(cfg.local_up_to_layer, bool) or not isinstance(cfg.local_up_to_layer, int) or not (
        0 <= cfg.local_up_to_layer < cfg.depth
    ):
        raise ValueError(
            f"{fn}(): argument 'local_up_to_layer' must be an int in [0, depth - 1 = {cfg.depth - 1}] (the class "
            f"token joins before block local_up_to_layer), got {cfg.local_up_to_layer!r}"
        )
    if not cfg.mlp_ratio > 0:
        raise ValueError(f"{fn}(): argument 'mlp_ratio' must be > 0, got {cfg.mlp_ratio!r}")
    if not cfg.locality_strength > 0:
        raise ValueError(f"{fn}(): argument 'locality_strength' must be > 0, got {cfg.locality_strength!r}")
    if cfg.global_pool not in ("token", "avg"):
        raise ValueError(f"{fn}(): argument 'global_pool' must be 'token' or 'avg', got {cfg.global_pool!r}")


def _check_convit_forward(model: ConViT, x) -> None:
    fn = "ConViT.forward"
    check_tensor(fn, "x", x, ndim=4, layout="(B, C, H, W)", floating=True)
    cfg = model.config
    if x.shape[1:] != (cfg.in_chans, cfg.img_size, cfg.img_size):
        raise ValueError(
            f"{fn}(): argument 'x' must have shape (B, {cfg.in_chans}, {cfg.img_size}, {cfg.img_size}) "
            f"(the model was built for img_size={cfg.img_size}), got {fmt_shape(x)}"
        )
