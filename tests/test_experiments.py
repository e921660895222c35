"""cnnvit_ref.experiments: the small-data protocol's pieces -- early stopping stops and restores the best
weights, the OOD split's objects sit where training never put them, augmentation is a roll (and flip)
of the image, runs are deterministic given the seed."""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from cnnvit_ref import experiments as E
from cnnvit_ref.data import shapes_dataset
from helpers import raises


def _toy(seed=0):
    """A linearly trivial task: every label is 0, so the validation accuracy is 1 from the first check on."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(40, 3, 2, 2, generator=g)
    return (x, torch.zeros(40, dtype=torch.int64)), (x[:10].clone(), torch.zeros(10, dtype=torch.int64))


def _fresh():
    """A linear classifier whose bias already favours class 0 by 10: right on every toy image from the start."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 2))
    with torch.no_grad():
        model[1].bias.copy_(torch.tensor([5.0, -5.0]))
    return model


def _weights(model):
    return torch.cat([p.detach().flatten() for p in model.parameters()])


KW = dict(seed=3, lr=0.1, warmup=1, batch_size=8, eval_every=5)


def test_early_stopping_stops_after_patience_and_restores_the_best_check():
    train, val = _toy()
    model = _fresh()
    info = E.train_to_convergence(model, train, val, patience=3, max_steps=1000, **KW)
    # Accuracy 1 at the first check (step 5) cannot be beaten: 3 checks later (step 20) it stops.
    assert info["history"] == [(5, 1.0), (10, 1.0), (15, 1.0), (20, 1.0)]
    assert (info["steps"], info["best_step"], info["hit_cap"], info["val_acc"]) == (20, 5, False, 1.0)
    at_best = _fresh()  # the same run cut at the best check: its weights are the restored ones
    E.train_to_convergence(at_best, train, val, patience=3, max_steps=5, **KW)
    at_stop = _fresh()  # the same batches to step 20 with a single check there: the weights at the stop
    E.train_to_convergence(at_stop, train, val, patience=3, max_steps=20, **{**KW, "eval_every": 20})
    assert torch.equal(_weights(model), _weights(at_best))
    assert not torch.allclose(_weights(model), _weights(at_stop))
    assert not model.training


def test_patience_covers_at_least_the_given_number_of_epochs():
    # 40 training images, batches of 8, a check every 5 steps = 40 images: one pass per check. With
    # patience 1 but 3 epochs, it waits 3 checks after the best one (step 5): it stops at step 20.
    train, val = _toy()
    info = E.train_to_convergence(_fresh(), train, val, patience=1, min_patience_epochs=3, max_steps=1000, **KW)
    assert (info["patience"], info["steps"], info["best_step"]) == (3, 20, 5)
    info = E.train_to_convergence(_fresh(), train, val, patience=1, min_patience_epochs=0.5, max_steps=1000, **KW)
    assert (info["patience"], info["steps"]) == (1, 10)


def test_max_steps_cap_is_reported():
    train, val = _toy()
    info = E.train_to_convergence(_fresh(), train, val, patience=100, max_steps=12, **KW)
    assert info["steps"] == 12 and info["hit_cap"] and [s for s, _ in info["history"]] == [5, 10]


def test_splits_are_the_documented_draws_and_the_ood_objects_sit_right_of_every_training_centre():
    splits = E.make_splits(60, 1)
    kw = dict(image_size=16, num_classes=6)
    x, y = shapes_dataset(60, seed=E.train_seed(60, 1), region="left", **kw)
    assert torch.equal(splits["train"][0], E.normalise(x)) and torch.equal(splits["train"][1], y)
    x_ood, y_ood = shapes_dataset(2000, seed=E.OOD_SEED, region="right", **kw)
    assert torch.equal(splits["ood"][0], E.normalise(x_ood)) and torch.equal(splits["ood"][1], y_ood)
    assert len(splits["val"][0]) == 1000 and len(splits["test"][0]) == 2000
    assert E.train_seed(60, 1) != E.train_seed(250, 1) != E.train_seed(60, 2)
    # Noise-free draws with the same seeds: the object's column centroid (within half a pixel of the
    # centre for these mirror-symmetric shapes, up to the pixel grid) lies left of the image's middle
    # column 7.5 in every training/test image and right of it in every OOD image.
    def centroid_cols(seed, region, n=300):
        x, _ = shapes_dataset(n, seed=seed, region=region, noise=0.0, **kw)
        on = (x.sum(1) > 1.5).float()  # (n, 16, 16): object pixels (object >= 0.6, background <= 0.4 per channel)
        return (on * torch.arange(16.0)).sum((1, 2)) / on.sum((1, 2))  # (n,)
    left = torch.cat([centroid_cols(E.train_seed(60, 1), "left"), centroid_cols(E.TEST_SEED, "left")])
    right = centroid_cols(E.OOD_SEED, "right")
    assert float(left.max()) <= 8.0 and float(right.min()) >= 7.0
    assert float(right.mean()) - float(left.mean()) > 2.5


def test_augment_is_a_wrapped_shift_and_maybe_a_mirror():
    x = torch.randn(20, 3, 16, 16)
    out = E.augment(x, torch.Generator().manual_seed(0), max_shift=2)
    flips = 0
    for a, b in zip(x, out):
        candidates = [(f, dy, dx) for f in (False, True) for dy in range(-2, 3) for dx in range(-2, 3)
                      if torch.equal(b, torch.roll(a.flip(-1) if f else a, (dy, dx), dims=(1, 2)))]
        assert len(candidates) == 1
        flips += candidates[0][0]
    assert 0 < flips < 20
    assert torch.equal(E.augment(x, torch.Generator().manual_seed(0)), out)


@pytest.mark.parametrize("name", sorted(E.MODELS))
def test_models_are_small_and_classify_16px_images(name):
    torch.manual_seed(0)
    model = E.make_model(name)
    assert 30_000 <= sum(p.numel() for p in model.parameters()) <= 61_000  # 34k (CNN) to 60.4k (conv-stem ViT)
    assert model(torch.randn(2, 3, 16, 16)).shape == (2, 6)


def test_same_seed_same_result():
    splits = E.make_splits(60, 0)
    a = E.run_point("vit", 60, 0, augmentation=True, splits=splits, max_steps=20, eval_every=10)
    b = E.run_point("vit", 60, 0, augmentation=True, splits=splits, max_steps=20, eval_every=10)
    c = E.run_point("vit", 60, 1, augmentation=True, splits=splits, max_steps=20, eval_every=10)
    a.pop("seconds"), b.pop("seconds"), c.pop("seconds")
    assert a == b and a != c and a["steps"] == 20 and a["hit_cap"]


def test_bad_input():
    raises(ValueError, E.make_model, "resnet", must=("make_model()", "'name'", "'cnn'", "'resnet'"))
    raises(ValueError, E.make_splits, 0, 0, must=("make_splits()", "'n'", ">= 1", "got 0"))
    raises(TypeError, E.make_splits, 10, 1.0, must=("make_splits()", "'seed'", "int", "float"))
    raises(ValueError, E.augment, torch.zeros(2, 3, 4, 5), torch.Generator(), must=("augment()", "'x'", "(B, C, S, S)"))
    train, val = _toy()
    raises(ValueError, E.train_to_convergence, _fresh(), train, (val[0], val[1][:3]), seed=0,
           must=("train_to_convergence()", "'val'"))
    raises(ValueError, E.train_to_convergence, _fresh(), train, val, seed=0, patience=0,
           must=("train_to_convergence()", "'patience'", ">= 1", "got 0"))
