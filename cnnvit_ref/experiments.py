"""The small-data experiment: small CNN, ViT and hybrids trained to convergence on few images, tested at seen and unseen positions.

Chapter
    04, ``book/04_vit.ipynb`` (CNN vs ViT) and 06, ``book/06_hybrids.ipynb`` (the hybrids); the sweep is
    ``tools/small_data_experiment.py``, its results ``cnnvit_ref/results/small_data_experiment.json``
Papers
    Dosovitskiy et al., "An Image is Worth 16x16 Words: Transformers for Image Recognition at Scale",
    ICLR 2021. https://arxiv.org/abs/2010.11929 (Sec. 4.3 and Fig. 3-4: ResNets win on small pre-training sets)
    d'Ascoli et al., "ConViT: Improving Vision Transformers with Soft Convolutional Inductive Biases",
    ICML 2021. https://arxiv.org/abs/2103.10697 (Sec. 4.2, Fig. 5: sample efficiency on ImageNet subsets)
Official code
    none: the protocol is the course's own
Symbols in the shape comments
    B batch, S image side (16), K classes (6), n training images

The task is :func:`cnnvit_ref.data.shapes_dataset` at 16 x 16 pixels with its first six classes.
Training, validation and in-distribution (IID) test images have their object centred in the left
half of the possible centre columns (``region="left"``); the out-of-distribution (OOD) test
images in the right half, where no training image ever put an object's centre. A translation
equivariant network with global pooling should not care; a ViT with learned position embeddings
has to learn that a shape is the same shape elsewhere.

The protocol (:func:`run_point`): draw ``n`` training images with the run's seed, train a fresh
model with AdamW at a constant learning rate (after a short linear warm-up) on batches drawn with
replacement, check the accuracy on 1,000 held-out validation images every ``eval_every`` steps,
stop when it has not improved for ``patience`` consecutive checks (or at ``max_steps``, which is
reported), restore the weights of the best check, and measure training, IID-test and OOD-test
accuracy. On large training sets the patience is stretched to cover at least three passes over
the data (from n = 6,400 on with the defaults). Everything (data, initialisation, batches, augmentation) follows from the seed; with
one torch thread two runs with the same arguments give the same numbers.
"""
from __future__ import annotations

import copy
import functools
import math
import time
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import models
from .data import shapes_dataset
from .flops import count_params

__all__ = [
    "IMG_SIZE",
    "NUM_CLASSES",
    "MODELS",
    "make_model",
    "make_splits",
    "augment",
    "train_to_convergence",
    "accuracy",
    "run_point",
    "results_path",
]

RESULTS = Path(__file__).resolve().parent / "results"  # package data: offline, and on Colab after pip install


def results_path(name: str) -> Path:
    """Where the committed results of the sweep live: ``cnnvit_ref/results/<name>``."""
    return RESULTS / name


IMG_SIZE = 16  # pixels on a side
NUM_CLASSES = 6  # disc, ring, h_stripes, v_stripes, cross, x_cross
VAL_SIZE, TEST_SIZE = 1000, 2000
TEST_SEED, OOD_SEED, STATS_SEED, VAL_SEED = 8_000_000, 8_000_001, 8_000_002, 9_000_000


# --------------------------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------------------------
def train_seed(n: int, seed: int) -> int:
    """The data seed of the training set of size ``n`` for run seed ``seed`` (one set per pair)."""
    return 1_000_000 * (seed + 1) + n


@functools.lru_cache(maxsize=1)
def channel_stats() -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and std (1, 3, 1, 1) of 4,096 images of the task, the same for every run."""
    x, _ = shapes_dataset(4096, image_size=IMG_SIZE, num_classes=NUM_CLASSES, seed=STATS_SEED, region="left")
    return x.mean(dim=(0, 2, 3), keepdim=True), x.std(dim=(0, 2, 3), keepdim=True)  # (1, 3, 1, 1) each


def normalise(x: torch.Tensor) -> torch.Tensor:
    mean, std = channel_stats()
    return (x - mean) / std  # (B, 3, S, S)


def make_splits(n: int, seed: int) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """The four image sets of one run, normalised: ``train`` (n images, drawn with the run's seed),
    ``val`` (1,000, the run's seed), ``test`` (2,000, the same for every run) -- all three with
    objects in the left half -- and ``ood`` (2,000, the same for every run, objects in the right half)."""
    _check_make_splits(n, seed)
    kw = dict(image_size=IMG_SIZE, num_classes=NUM_CLASSES)
    sets = {
        "train": shapes_dataset(n, seed=train_seed(n, seed), region="left", **kw),
        "val": shapes_dataset(VAL_SIZE, seed=VAL_SEED + seed, region="left", **kw),
        "test": shapes_dataset(TEST_SIZE, seed=TEST_SEED, region="left", **kw),
        "ood": shapes_dataset(TEST_SIZE, seed=OOD_SEED, region="right", **kw),
    }
    return {k: (normalise(x), y) for k, (x, y) in sets.items()}


def augment(x: torch.Tensor, gen: torch.Generator, max_shift: int = 2) -> torch.Tensor:
    """Random translation by up to ``max_shift`` pixels in each direction, with wrap-around, and a
    random horizontal flip, drawn per image from ``gen``: (B, C, S, S) -> (B, C, S, S).

    A flip mirrors a left-half object into the right half: augmented training shows the model
    objects at the OOD test's positions too (the six classes are mirror-symmetric)."""
    _check_augment(x, gen, max_shift)
    B, C, S, _ = x.shape
    shift = torch.randint(-max_shift, max_shift + 1, (B, 2), generator=gen)  # (B, 2): dy, dx
    flip = torch.rand(B, generator=gen) < 0.5  # (B,)
    pix = torch.arange(S)
    rows = (pix.view(1, S) - shift[:, :1]) % S  # (B, S): output row i reads input row i - dy
    cols = (pix.view(1, S) - shift[:, 1:]) % S  # (B, S)
    cols = torch.where(flip.view(B, 1), S - 1 - cols, cols)  # (B, S)
    b = torch.arange(B).view(B, 1, 1)
    out = x.permute(0, 2, 3, 1)[b, rows.view(B, S, 1), cols.view(B, 1, S)]  # (B, S, S, C)
    return out.permute(0, 3, 1, 2).contiguous()  # (B, C, S, S)


# --------------------------------------------------------------------------------------------
# models
# --------------------------------------------------------------------------------------------
class ConvStem(nn.Module):
    """A small ResNet's stem and stages as the patch extractor of a ViT (the hybrid of Dosovitskiy et
    al., Sec. 3.1): image (B, 3, 16, 16) -> 16 tokens (B, 16, D) from its 4 x 4 feature map, each a
    1 x 1 "patch" mapped to the ViT's width by a 1 x 1 convolution."""

    def __init__(self, embed_dim: int, channels: tuple[int, int, int] = (8, 16, 32)):
        super().__init__()
        cnn = models.create("resnet_tiny", stem_width=channels[0], channels=channels, layers=(1, 1, 1), num_classes=1)
        self.stem = nn.Sequential(cnn.conv1, cnn.bn1, cnn.act1)  # 3x3 conv at 16 x 16
        self.stages = nn.Sequential(cnn.layer1, cnn.layer2, cnn.layer3)  # 16 -> 8 -> 4
        self.proj = nn.Conv2d(cnn.num_features, embed_dim, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.stages(self.stem(x))  # (B, C, 4, 4)
        return self.proj(f).flatten(2).transpose(1, 2)  # (B, 16, D)


def _cnn() -> nn.Module:
    """resnet_tiny shrunk as in chapter 04: 3x3 stem of width 8, stages of one basic block, 8, 16, 48 wide."""
    return models.create("resnet_tiny", stem_width=8, channels=(8, 16, 48), layers=(1, 1, 1), num_classes=NUM_CLASSES)


def _vit() -> nn.Module:
    """vit_tiny_patch4_32 at 16 px as in chapter 04: 4 x 4 patches (16 tokens + class token), width 48, 2 blocks, 3 heads."""
    return models.create("vit_tiny_patch4_32", img_size=IMG_SIZE, embed_dim=48, depth=2, num_heads=3, num_classes=NUM_CLASSES)


def _convstem_vit() -> nn.Module:
    """The chapter 04 preview's hybrid: the ViT above with its patch embedding replaced by a ConvStem (8, 16, 32)."""
    model = _vit()
    model.patch_embed = ConvStem(model.num_features)  # 16 tokens, as before: pos_embed fits
    return model


def _convit() -> nn.Module:
    """convit_tiny_patch4_32 at 16 px: 4 x 4 patches, 3 heads x 16 = width 48, MLP ratio 2, 2 blocks of
    which the first is gated positional self-attention (locality init), the second plain (with the class token)."""
    return models.create("convit_tiny_patch4_32", img_size=IMG_SIZE, embed_dim=16, num_heads=3, depth=2,
                         local_up_to_layer=1, num_classes=NUM_CLASSES)


#: The experiment's models by name: a factory each (cmt_tiny_32 needs img_size % 32 == 0 and is left out).
MODELS = {"cnn": _cnn, "vit": _vit, "convstem_vit": _convstem_vit, "convit": _convit}


def make_model(name: str) -> nn.Module:
    """A fresh model of the experiment (initialised from the global RNG: seed it first)."""
    _check_make_model(name)
    return MODELS[name]()


# --------------------------------------------------------------------------------------------
# training and evaluation
# --------------------------------------------------------------------------------------------
@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1000) -> tuple[float, float]:
    """(accuracy, mean cross-entropy) of ``model`` in eval mode on normalised images (n, 3, S, S)."""
    was_training = model.training
    model.eval()
    correct, loss = 0, 0.0
    for i in range(0, len(x), batch_size):
        logits = model(x[i:i + batch_size])  # (b, K)
        correct += int((logits.argmax(dim=1) == y[i:i + batch_size]).sum())
        loss += float(F.cross_entropy(logits, y[i:i + batch_size], reduction="sum"))
    model.train(was_training)
    return correct / len(x), loss / len(x)


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    return evaluate(model, x, y)[0]


def train_to_convergence(
    model: nn.Module,
    train: tuple[torch.Tensor, torch.Tensor],
    val: tuple[torch.Tensor, torch.Tensor],
    *,
    seed: int,
    augmentation: bool = False,
    batch_size: int = 64,
    lr: float = 2e-3,
    weight_decay: float = 0.05,
    warmup: int = 100,
    eval_every: int = 50,
    patience: int = 6,
    min_patience_epochs: float = 3.0,
    max_steps: int = 20_000,
) -> dict:
    """Train ``model`` in place until the validation accuracy stops improving; restore the best weights.

    AdamW (``lr`` constant after ``warmup`` linear steps, ``weight_decay``), gradient norm clipped at
    1, batches of ``batch_size`` drawn with replacement from ``train`` by a generator seeded with
    ``seed`` (which also draws the augmentation). Every ``eval_every`` steps the accuracy on ``val``
    is measured; a check *improves* if it is strictly higher than every earlier one. Training stops
    after ``patience`` checks in a row without improvement -- or, on a training set so large that
    those checks cover less than ``min_patience_epochs`` passes over it, after as many checks as
    cover that many passes -- or at ``max_steps``; then the weights of the best (earliest highest)
    check are loaded back. (With the defaults the epoch rule takes over above n = 6,400 images.)

    Returns ``{"steps", "best_step", "hit_cap", "val_acc", "history"}`` (history: (step, val accuracy)).
    """
    _check_train_to_convergence(model, train, val, seed, batch_size, eval_every, patience, max_steps)
    x, y = train
    patience = max(patience, math.ceil(min_patience_epochs * len(x) / (batch_size * eval_every)))
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / warmup))
    best_acc, best_step, best_state, since_best = -1.0, 0, None, 0
    history = []
    model.train()
    step = 0
    while step < max_steps:
        idx = torch.randint(0, len(x), (batch_size,), generator=gen)  # (B,)
        xb = augment(x[idx], gen) if augmentation else x[idx]  # (B, 3, S, S)
        loss = F.cross_entropy(model(xb), y[idx])
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        step += 1
        if step % eval_every == 0:
            acc = evaluate(model, *val)[0]
            history.append((step, acc))
            if acc > best_acc:
                best_acc, best_step, since_best = acc, step, 0
                best_state = copy.deepcopy(model.state_dict())
            else:
                since_best += 1
                if since_best >= patience:
                    break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return {"steps": step, "best_step": best_step, "hit_cap": since_best < patience, "val_acc": best_acc,
            "patience": patience, "history": history}


def run_point(model_name: str, n: int, seed: int, augmentation: bool = False, splits: dict | None = None,
              return_model: bool = False, **train_kw):
    """One run of the protocol: data for (n, seed), a fresh ``model_name`` initialised from ``seed``,
    :func:`train_to_convergence`, then the accuracies. ``splits`` (from :func:`make_splits`) saves
    regenerating the data. Returns a JSON-ready dict: model, augmentation, n, seed, params,
    train/val/test/ood accuracy, steps, best_step, hit_cap, seconds; with ``return_model=True``
    the pair (that dict, the trained model)."""
    _check_run_point(model_name, n, seed)
    start = time.perf_counter()
    torch.set_num_threads(1)
    splits = splits if splits is not None else make_splits(n, seed)
    torch.manual_seed(seed)
    model = make_model(model_name)
    info = train_to_convergence(model, splits["train"], splits["val"], seed=seed, augmentation=augmentation, **train_kw)
    result = {
        "model": model_name,
        "augmentation": bool(augmentation),
        "n": n,
        "seed": seed,
        "params": count_params(model),
        "train_acc": accuracy(model, *splits["train"]),
        "val_acc": info["val_acc"],
        "test_acc": accuracy(model, *splits["test"]),
        "ood_acc": accuracy(model, *splits["ood"]),
        "steps": info["steps"],
        "best_step": info["best_step"],
        "patience": info["patience"],
        "hit_cap": info["hit_cap"],
        "seconds": round(time.perf_counter() - start, 2),
    }
    return (result, model) if return_model else result


# --------------------------------------------------------------------------------------------
# argument checks
# --------------------------------------------------------------------------------------------
def _check_int(fn: str, name: str, value, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{fn}(): argument '{name}' must be an int, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{fn}(): argument '{name}' must be >= {minimum}, got {value}")


def _check_make_splits(n, seed) -> None:
    _check_int("make_splits", "n", n, 1)
    _check_int("make_splits", "seed", seed, 0)
    if n >= 1_000_000:
        raise ValueError(f"make_splits(): argument 'n' must be < 1,000,000 (one data seed per (n, seed)), got {n}")


def _check_augment(x, gen, max_shift) -> None:
    if not isinstance(x, torch.Tensor) or x.dim() != 4 or x.shape[2] != x.shape[3]:
        what = f"shape {tuple(x.shape)}" if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"augment(): argument 'x' must be a (B, C, S, S) tensor, got {what}")
    if not isinstance(gen, torch.Generator):
        raise TypeError(f"augment(): argument 'gen' must be a torch.Generator, got {type(gen).__name__}")
    _check_int("augment", "max_shift", max_shift, 0)


def _check_make_model(name) -> None:
    if name not in MODELS:
        raise ValueError(f"make_model(): argument 'name' must be one of {sorted(MODELS)}, got {name!r}")


def _check_train_to_convergence(model, train, val, seed, batch_size, eval_every, patience, max_steps) -> None:
    fn = "train_to_convergence"
    if not isinstance(model, nn.Module):
        raise TypeError(f"{fn}(): argument 'model' must be an nn.Module, got {type(model).__name__}")
    for name, pair in (("train", train), ("val", val)):
        ok = isinstance(pair, tuple) and len(pair) == 2 and all(isinstance(t, torch.Tensor) for t in pair)
        if not ok or len(pair[0]) != len(pair[1]) or len(pair[0]) == 0:
            raise ValueError(f"{fn}(): argument '{name}' must be a non-empty (inputs, labels) pair of equal length")
    _check_int(fn, "seed", seed, 0)
    for name, value in (("batch_size", batch_size), ("eval_every", eval_every), ("patience", patience),
                        ("max_steps", max_steps)):
        _check_int(fn, name, value, 1)


def _check_run_point(model_name, n, seed) -> None:
    _check_make_model(model_name)
    _check_make_splits(n, seed)
