"""The small models that chapter 07 looks inside: their data, their deterministic training, the shipped weights.

Chapter
    07, ``book/07_representations.ipynb`` (exercise: ``exercises/07_representations/``)
Papers
    Raghu, Unterthiner, Kornblith, Zhang, Dosovitskiy, "Do Vision Transformers See Like Convolutional Neural
    Networks?", NeurIPS 2021. https://arxiv.org/abs/2108.08810 (Fig. 1: CKA within a model; the paper's
    measurements repeated here: cross-model CKA, attention distance, less data, skip-connection norm ratios
    and the removal of one block's skip connections, spatial localisation, linear probes, MLP-Mixer)
Official code
    none for the training here (the paper analyses Google's JFT/ImageNet checkpoints); the analysis tools are in
    ``cnnvit_ref/representations.py``
Symbols in the shape comments
    B batch, C channels, H x W feature map, N tokens (the class token first in a ViT), D token width, L layers

Five models are trained by ``tools/train_representation_models.py`` on :func:`cnnvit_ref.data.shapes_dataset`
(16 x 16 colour images, 6 classes whose pairs differ only in local structure): ``resnet`` (``resnet_tiny``),
``vit`` (``vit_tiny_patch4_32`` at 16 px: 4 x 4 patches of 4 pixels), ``mixer`` (``mixer_tiny_patch4_32`` at
16 px), ``vit_small_data`` (the same ViT on a tenth of the training images) and ``vit_no_skip`` (the ViT
whose block 1 has no skip connections, trained so). Their float32 ``state_dict`` files and ``trained.json``
(accuracy, data, seed, steps, seconds, torch version) ship in ``cnnvit_ref/weights/``; :func:`load` reads
them offline with ``strict=True``.

Layers analysed (:func:`layer_features`, 9 per tiny model): ResNet: the stem's ReLU, then per basic block
the ReLU inside it and its output (per bottleneck: its two inner ReLUs and its output); ViT: the embedded
tokens, then per block the residual stream after the attention and after the MLP; Mixer: the embedded
patches, then after the token-mixing and after the channel-mixing MLP.
"""
from __future__ import annotations

import copy
import json
import time
from importlib import resources

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import models
from .data import shapes_dataset
from .mixer import MlpMixer
from .resnet import Bottleneck, ResNet
from .vit import Block, VisionTransformer, add_class_token_and_position

__all__ = [
    "NAMES",
    "SPLITS",
    "splits",
    "make_model",
    "accuracy",
    "remove_skip",
    "train",
    "load",
    "facts",
    "layer_features",
    "layer_names",
    "skip_norm_ratios",
]

# 16 x 16 pixels and the first 6 classes (chapter 04's task): at 32 x 32 pixels and 10 classes the five
# models would not train in the time a shared 2-core machine gives them (see the chapter).
IMG_SIZE, NUM_CLASSES = 16, 6
#: (number of images, data seed) of each split; the test set is the one the recorded accuracies use
SPLITS = {"train": (8_000, 7_000_001), "val": (1_000, 7_000_002), "test": (2_000, 7_000_003)}
#: rounded per-channel mean and std of the training images (0.276 and 0.252 in every channel)
MEAN, STD = 0.28, 0.25
SMALL_DATA_FRACTION = 10  # vit_small_data sees the first 1/10 of the training images
NO_SKIP_BLOCK = 1  # vit_no_skip: block 1 (of 0..3) has neither of its two skip connections
_TRAIN = SPLITS["train"][0]
#: name -> (preset, its overrides, training images); every model trains with seed 0 and ``PROTOCOL``
NAMES = {
    "resnet": ("resnet_tiny", dict(num_classes=NUM_CLASSES), _TRAIN),
    "vit": ("vit_tiny_patch4_32", dict(img_size=IMG_SIZE, num_classes=NUM_CLASSES), _TRAIN),
    "mixer": ("mixer_tiny_patch4_32", dict(img_size=IMG_SIZE, num_classes=NUM_CLASSES), _TRAIN),
    "vit_small_data": (
        "vit_tiny_patch4_32", dict(img_size=IMG_SIZE, num_classes=NUM_CLASSES), _TRAIN // SMALL_DATA_FRACTION
    ),
    "vit_no_skip": ("vit_tiny_patch4_32", dict(img_size=IMG_SIZE, num_classes=NUM_CLASSES), _TRAIN),
}
#: the training protocol of :func:`train` (chapter 04's): AdamW, warm-up, early stopping, a step cap
PROTOCOL = dict(batch_size=64, lr=2e-3, weight_decay=0.05, warmup=100, eval_every=50, patience=6, max_steps=2500)


# --------------------------------------------------------------------------------------------
# blocks
# --------------------------------------------------------------------------------------------
class NoSkipBlock(Block):
    """A ViT block without its two skip connections: ``x -> attn(norm1(x)) -> mlp(norm2(.))``.

    Same parameters (and ``state_dict`` keys) as :class:`cnnvit_ref.vit.Block`; Raghu et al. train ViTs with
    the skip connections of one block removed and compare their CKA maps and accuracy.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.attn(self.norm1(x))  # (B, N, D): no "x +"
        return self.mlp(self.norm2(x))  # (B, N, D)


def remove_skip(model: VisionTransformer, block: int) -> VisionTransformer:
    """Turn ``model.blocks[block]`` into a :class:`NoSkipBlock` in place (weights kept); returns ``model``."""
    _check_remove_skip(model, block)
    model.blocks[block].__class__ = NoSkipBlock
    return model


# --------------------------------------------------------------------------------------------
# data and training
# --------------------------------------------------------------------------------------------
def splits(names: tuple[str, ...] = ("train", "val", "test")) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """The chapter's image sets, normalised: ``{name: (images (n, 3, 32, 32), labels (n,))}``."""
    _check_splits(names)
    out = {}
    for name in names:
        n, seed = SPLITS[name]
        x, y = shapes_dataset(n, image_size=IMG_SIZE, num_classes=NUM_CLASSES, seed=seed)
        out[name] = ((x - MEAN) / STD, y)
    return out


def make_model(name: str) -> nn.Module:
    """A fresh, untrained model of that name (initialised from the global RNG)."""
    _check_name(name)
    preset, overrides, _ = NAMES[name]
    model = models.create(preset, **overrides)
    return remove_skip(model, NO_SKIP_BLOCK) if name == "vit_no_skip" else model


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1000) -> float:
    """Top-1 accuracy of ``model`` in eval mode on images ``x`` (n, 3, S, S), labels ``y`` (n,)."""
    was_training = model.training
    model.eval()
    correct = sum(int((model(x[i:i + batch_size]).argmax(1) == y[i:i + batch_size]).sum())
                  for i in range(0, len(x), batch_size))
    model.train(was_training)
    return correct / len(x)


def _train_loop(model, x, y, val, seed, batch_size, lr, weight_decay, warmup, eval_every, patience, max_steps):
    """AdamW (``lr`` after ``warmup`` linear steps), gradient norm clipped at 1, batches drawn with
    replacement by a generator seeded with ``seed``; every ``eval_every`` steps the validation accuracy;
    stop after ``patience`` checks without a strictly higher one (or at ``max_steps``) and restore the
    best (earliest highest) weights. The protocol of ``cnnvit_ref.experiments.train_to_convergence`` as
    it stood when the shipped models were trained, copied here so that they stay reproducible."""
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / warmup))
    best_acc, best_step, best_state, since_best, step = -1.0, 0, None, 0, 0
    model.train()
    while step < max_steps:
        idx = torch.randint(0, len(x), (batch_size,), generator=gen)  # (B,)
        loss = F.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        step += 1
        if step % eval_every == 0:
            acc = accuracy(model, *val)
            if acc > best_acc:
                best_acc, best_step, since_best = acc, step, 0
                best_state = copy.deepcopy(model.state_dict())
            else:
                since_best += 1
                if since_best >= patience:
                    break
    model.load_state_dict(best_state)
    model.eval()
    return {"steps": step, "best_step": best_step, "hit_cap": since_best < patience, "val_acc": best_acc}


def train(name: str, seed: int = 0, data: dict | None = None) -> tuple[nn.Module, dict]:
    """Train one model deterministically (call with one torch thread); returns ``(model, facts)``.

    ``torch.manual_seed(seed)`` before the model is built; batches from a generator seeded with ``seed``;
    early stopping on the validation split (the best weights are restored); accuracy on the test split.
    """
    _check_name(name)
    data = splits() if data is None else data
    x, y = data["train"]
    n = NAMES[name][2]
    torch.manual_seed(seed)
    model = make_model(name)
    start = time.perf_counter()
    run = _train_loop(model, x[:n], y[:n], data["val"], seed, **PROTOCOL)
    seconds = time.perf_counter() - start
    model.eval()
    facts = {
        "preset": NAMES[name][0], "overrides": NAMES[name][1], "train_images": n, "seed": seed, "steps": run["steps"],
        "best_step": run["best_step"], "hit_cap": run["hit_cap"], "val_acc": run["val_acc"],
        "train_acc": accuracy(model, x[:n], y[:n]), "test_acc": accuracy(model, *data["test"]),
        "seconds": round(seconds, 1), "torch": torch.__version__,
        "params": sum(p.numel() for p in model.parameters()),
    }
    return model, facts


# --------------------------------------------------------------------------------------------
# shipped weights
# --------------------------------------------------------------------------------------------
def _weights():
    return resources.files("cnnvit_ref") / "weights"


def facts() -> dict:
    """The contents of ``cnnvit_ref/weights/trained.json``: protocol, data, and per model its training facts."""
    return json.loads((_weights() / "trained.json").read_text())


def load(name: str) -> nn.Module:
    """A shipped model, its weights loaded with ``strict=True``, in eval mode (no download)."""
    _check_name(name)
    model = make_model(name)
    with resources.as_file(_weights() / f"{name}.pt") as path:
        state = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(state, strict=True)
    return model.eval()


# --------------------------------------------------------------------------------------------
# what the chapter measures inside the models
# --------------------------------------------------------------------------------------------
def _resnet_layers(model: ResNet, x: torch.Tensor, ratios: list | None = None) -> list[torch.Tensor]:
    x = model.act1(model.bn1(model.conv1(x)))  # (B, C, H, W)
    feats = [x]
    x = model.maxpool(x)  # (B, C, H', W')
    for stage in model.stage_names:
        for blk in getattr(model, stage):
            shortcut = x if blk.downsample is None else blk.downsample(x)  # (B, C', H', W')
            h = blk.act1(blk.bn1(blk.conv1(x)))  # (B, planes, H', W')
            feats.append(h)
            if isinstance(blk, Bottleneck):  # 1x1 -> 3x3 -> 1x1: two ReLUs inside
                h = blk.act2(blk.bn2(blk.conv2(h)))  # (B, planes, H', W')
                feats.append(h)
                h, out_act = blk.bn3(blk.conv3(h)), blk.act3  # (B, C', H', W')
            else:
                h, out_act = blk.bn2(blk.conv2(h)), blk.act2  # (B, C', H', W')
            if blk.se is not None:
                h = blk.se(h)  # (B, C', H', W')
            if ratios is not None:  # per position: the norm over the channels
                ratios.append(shortcut.norm(dim=1).mean() / h.norm(dim=1).mean())
            x = out_act(h + shortcut)  # (B, C', H', W')
            feats.append(x)
    return feats


def _vit_layers(model: VisionTransformer, x: torch.Tensor, ratios: list | None = None) -> list[torch.Tensor]:
    x = add_class_token_and_position(model.patch_embed(x), model.cls_token, model.pos_embed)  # (B, 1 + N, D)
    feats = [x]
    for blk in model.blocks:
        skip = not isinstance(blk, NoSkipBlock)
        for norm, branch in ((blk.norm1, blk.attn), (blk.norm2, blk.mlp)):
            f = branch(norm(x))  # (B, 1 + N, D)
            if ratios is not None:  # per token: (class token, mean over the patch tokens)
                r = x.norm(dim=-1) / f.norm(dim=-1)  # (B, 1 + N)
                ratios.append(torch.stack([r[:, 0].mean(), r[:, 1:].mean()]))
            x = x + f if skip else f  # (B, 1 + N, D)
            feats.append(x)
    return feats


def _mixer_layers(model: MlpMixer, x: torch.Tensor, ratios: list | None = None) -> list[torch.Tensor]:
    x = model.stem(x)  # (B, N, D)
    feats = [x]
    for blk in model.blocks:
        f = blk.mlp_tokens(blk.norm1(x).transpose(1, 2)).transpose(1, 2)  # (B, N, D)
        x = x + f  # (B, N, D)
        feats.append(x)
        x = x + blk.mlp_channels(blk.norm2(x))  # (B, N, D)
        feats.append(x)
    return feats


@torch.no_grad()
def layer_features(model: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    """The activations of every analysed layer (see the module docstring) on images ``x``: L tensors (B, ...)."""
    _check_model(model)
    walk = {ResNet: _resnet_layers, VisionTransformer: _vit_layers, MlpMixer: _mixer_layers}[type(model)]
    return walk(model, x)


def layer_names(model: nn.Module) -> list[str]:
    """Short labels of :func:`layer_features`' layers, for the axes of a heatmap."""
    _check_model(model)
    if isinstance(model, ResNet):
        names = ["stem"]
        for s, stage in enumerate(model.stage_names, start=1):
            for b, blk in enumerate(getattr(model, stage)):
                inside = ["mid1", "mid2"] if isinstance(blk, Bottleneck) else ["mid"]
                names += [f"s{s}b{b} {part}" for part in inside + ["out"]]
        return names
    parts = ("attn", "mlp") if isinstance(model, VisionTransformer) else ("tok", "chan")
    return ["embed"] + [f"b{i} {part}" for i in range(len(model.blocks)) for part in parts]


@torch.no_grad()
def skip_norm_ratios(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Norm of the skip path over the norm of the residual branch, ||z|| / ||f(z)||, where each adds.

    ViT: per sublayer (attention, MLP of every block), ``(2 * depth, 2)``: column 0 the class token, column 1
    the mean over the patch tokens (as Raghu et al. plot them). ResNet: per basic block, ``(blocks,)``, norms over
    the channels at each position, averaged. A ratio > 1: the skip carries more than the branch adds.
    """
    _check_model(model)
    ratios: list[torch.Tensor] = []
    if isinstance(model, ResNet):
        _resnet_layers(model, x, ratios)
    elif isinstance(model, VisionTransformer):
        _vit_layers(model, x, ratios)
    else:
        raise TypeError("skip_norm_ratios(): argument 'model' must be a ResNet or a VisionTransformer, got MlpMixer")
    return torch.stack(ratios)  # (sublayers, 2) or (blocks,)


# --------------------------------------------------------------------------------------------
# argument checks
# --------------------------------------------------------------------------------------------
def _check_name(name) -> None:
    if name not in NAMES:
        raise ValueError(f"argument 'name' must be one of {list(NAMES)}, got {name!r}")


def _check_splits(names) -> None:
    bad = [n for n in names if n not in SPLITS]
    if isinstance(names, str) or bad:
        raise ValueError(f"splits(): argument 'names' must be a tuple of {list(SPLITS)}, got {names!r}")


def _check_model(model) -> None:
    if type(model) not in (ResNet, VisionTransformer, MlpMixer):
        raise TypeError(
            "argument 'model' must be a ResNet, VisionTransformer or MlpMixer of cnnvit_ref, "
            f"got {type(model).__name__}"
        )


def _check_remove_skip(model, block) -> None:
    if not isinstance(model, VisionTransformer):
        raise TypeError(f"remove_skip(): argument 'model' must be a VisionTransformer, got {type(model).__name__}")
    if isinstance(block, bool) or not isinstance(block, int) or not 0 <= block < len(model.blocks):
        last = len(model.blocks) - 1
        raise ValueError(f"remove_skip(): argument 'block' must be an int in 0..{last}, got {block!r}")
