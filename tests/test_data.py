"""cnnvit_ref.data: shapes, dtypes, reproducibility, and each generative rule checked by an
independent (plain Python) re-derivation of the label."""
from __future__ import annotations

import pytest
import torch

from cnnvit_ref import data

GENERATORS = [
    (data.adding_problem, {"num_samples": 64, "seq_len": 20}),
    (data.copy_task, {"num_samples": 64, "seq_len": 5, "num_symbols": 6, "delay": 7}),
    (data.text_classification, {"num_samples": 64, "seq_len": 20, "vocab_size": 30}),
    (data.text_order, {"num_samples": 64, "seq_len": 20, "vocab_size": 30}),
]
IDS = [g.__name__ for g, _ in GENERATORS]


@pytest.mark.parametrize("gen, kw", GENERATORS, ids=IDS)
def test_seeded_reproducible_and_leaves_global_rng_alone(gen, kw):
    state = torch.get_rng_state()
    a = gen(**kw, seed=3)
    b = gen(**kw, seed=3)
    c = gen(**kw, seed=4)
    assert torch.equal(torch.get_rng_state(), state)
    assert isinstance(a, tuple) and len(a) == 2
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])


def test_adding_problem_invariants():
    N, T = 500, 31
    x, y = data.adding_problem(N, T, seed=1)
    assert x.shape == (N, T, 2) and y.shape == (N,)
    assert x.dtype == torch.float32 and y.dtype == torch.float32
    values, markers = x[..., 0], x[..., 1]
    assert ((values >= 0) & (values < 1)).all()
    assert set(markers.unique().tolist()) == {0.0, 1.0}
    half = T // 2
    for n in range(N):
        marked = [t for t in range(T) if markers[n, t] == 1.0]
        assert len(marked) == 2
        assert marked[0] < half <= marked[1]
        assert y[n].item() == pytest.approx(values[n, marked[0]].item() + values[n, marked[1]].item(), abs=1e-6)


def test_adding_problem_constant_baseline_is_one_sixth():
    """Target = sum of two U(0, 1): mean 1, variance 1/6 -- the MSE of always answering 1."""
    _, y = data.adding_problem(40_000, 10, seed=0)
    assert ((y - 1.0) ** 2).mean().item() == pytest.approx(1 / 6, abs=0.005)
    # both halves are used uniformly: the marker positions cover every step
    x, _ = data.adding_problem(2000, 10, seed=0)
    assert (x[..., 1].sum(0) > 0).all()


def test_copy_task_layout():
    N, L, K, Dl = 50, 6, 5, 4
    x, y = data.copy_task(N, L, num_symbols=K, delay=Dl, seed=2)
    assert x.shape == y.shape == (N, 2 * L + Dl)
    assert x.dtype == y.dtype == torch.int64
    for n in range(N):
        xs, ys = x[n].tolist(), y[n].tolist()
        assert all(1 <= s <= K for s in xs[:L])
        assert xs[L:L + Dl - 1] == [0] * (Dl - 1) and xs[L + Dl - 1] == K + 1
        assert xs[L + Dl:] == [0] * L
        assert ys[:L + Dl] == [0] * (L + Dl)
        assert ys[L + Dl:] == xs[:L]  # the target is the input's symbols, after the go marker
    assert set(x[:, :L].unique().tolist()) == set(range(1, K + 1))


def _contains(seq, key):
    n = len(key)
    return any(tuple(seq[i:i + n]) == tuple(key) for i in range(len(seq) - n + 1))


@pytest.mark.parametrize("key", [(1, 2, 3), (7, 4), (5, 9, 2, 11)])
def test_text_classification_label_rule(key):
    N, T, V = 300, 25, 40
    x, y = data.text_classification(N, T, V, seed=5, key=key)
    assert x.shape == (N, T) and y.shape == (N,)
    assert x.dtype == torch.int64 and y.dtype == torch.int64
    assert x.min() >= 1 and x.max() < V  # 0 (padding) never generated
    assert int(y.sum()) == N // 2  # exact class balance
    for n in range(N):
        seq = x[n].tolist()
        assert int(y[n]) == int(_contains(seq, key))
        # both classes hold every key token exactly once: a bag of words cannot tell them apart
        assert sorted(t for t in seq if t in key) == sorted(key)


def test_text_classification_odd_count_balance_and_filler_is_zipf_like():
    x, y = data.text_classification(101, 30, 50, seed=0)
    assert int(y.sum()) in (50, 51)
    counts = torch.bincount(x.flatten(), minlength=50)
    fillers = [t for t in range(1, 50) if t not in (1, 2, 3)]
    # the most frequent filler is much more common than the rarest (p ~ 1/rank)
    assert counts[fillers[0]] > 10 * counts[fillers[-1]]


def test_text_order_label_rule():
    N, T, V = 300, 20, 30
    x, y = data.text_order(N, T, V, seed=6, markers=(4, 9))
    assert x.shape == (N, T) and x.dtype == torch.int64 and y.dtype == torch.int64
    assert x.min() >= 1 and x.max() < V
    assert int(y.sum()) == N // 2
    distances = set()
    for n in range(N):
        seq = x[n].tolist()
        assert seq.count(4) == 1 and seq.count(9) == 1
        assert int(y[n]) == int(seq.index(4) < seq.index(9))
        distances.add(abs(seq.index(4) - seq.index(9)))
    assert max(distances) >= T - 3 and min(distances) == 1  # short and long range both occur


def test_bad_input_messages():
    with pytest.raises(ValueError, match=r"adding_problem\(\): argument 'seq_len' must be >= 2"):
        data.adding_problem(4, 1)
    with pytest.raises(ValueError, match=r"adding_problem\(\): argument 'num_samples' must be a positive int, got 0"):
        data.adding_problem(0, 10)
    with pytest.raises(TypeError, match=r"copy_task\(\): argument 'delay' must be an int, got float 2.5"):
        data.copy_task(4, 3, delay=2.5)
    with pytest.raises(TypeError, match=r"copy_task\(\): argument 'seed' must be an int"):
        data.copy_task(4, 3, seed="a")
    with pytest.raises(ValueError, match=r"text_classification\(\): argument 'key' must hold ids in \[1, vocab_size - 1\] = \[1, 9\]"):
        data.text_classification(4, 10, 10, key=(8, 9, 10))
    with pytest.raises(ValueError, match=r"text_classification\(\): argument 'seq_len' must be >= len\(key\) = 3, got 2"):
        data.text_classification(4, 2, 10)
    with pytest.raises(ValueError, match=r"argument 'key' must hold distinct token ids"):
        data.text_classification(4, 10, 10, key=(2, 2))
    with pytest.raises(ValueError, match=r"argument 'vocab_size' = 4 leaves no filler tokens"):
        data.text_classification(4, 10, 4)
    with pytest.raises(ValueError, match=r"text_order\(\): argument 'markers' must be two distinct token ids"):
        data.text_order(4, 10, 10, markers=(1, 2, 3))


# ============================================================================================
# 3. Vision data: shapes_dataset (chapter 04's small-data experiment)
# ============================================================================================
# The generative rule is checked from the pixels with plain-Python geometry on noise-free
# images: two colours per image, the object inside a 1-pixel margin, and one structural
# property per class that a human would use to tell it apart (filled or hollow, stripe
# orientation, bars or diagonals, ...).


def _object_mask(image: torch.Tensor) -> list[list[bool]]:
    """The object's pixels of a noise-free image (3, S, S): those of its brighter colour."""
    colours = image.permute(1, 2, 0).reshape(-1, 3).unique(dim=0)
    assert colours.shape[0] == 2, f"a noise-free image has exactly 2 colours, got {colours.shape[0]}"
    bright = colours[colours.sum(1).argmax()]
    on = (image == bright.view(3, 1, 1)).all(0)
    return [[bool(v) for v in row] for row in on.tolist()]


def _bbox(mask):
    rows = [i for i, r in enumerate(mask) if any(r)]
    cols = [j for j in range(len(mask[0])) if any(r[j] for r in mask)]
    return rows[0], rows[-1], cols[0], cols[-1]


def _runs(values) -> int:
    """Number of maximal runs of True in a sequence."""
    return sum(1 for k, v in enumerate(values) if v and (k == 0 or not values[k - 1]))


def _has_hole(mask) -> bool:
    """A background pixel that cannot reach the image border through background (4-neighbours)."""
    S = len(mask)
    seen = [[False] * S for _ in range(S)]
    stack = [(i, j) for i in range(S) for j in range(S) if (i in (0, S - 1) or j in (0, S - 1)) and not mask[i][j]]
    for i, j in stack:
        seen[i][j] = True
    while stack:
        i, j = stack.pop()
        for a, b in ((i + 1, j), (i - 1, j), (i, j + 1), (i, j - 1)):
            if 0 <= a < S and 0 <= b < S and not mask[a][b] and not seen[a][b]:
                seen[a][b] = True
                stack.append((a, b))
    return any(not mask[i][j] and not seen[i][j] for i in range(S) for j in range(S))


def _class_rule(name: str, mask) -> bool:
    top, bottom, left, right = _bbox(mask)
    box = [row[left:right + 1] for row in mask[top:bottom + 1]]
    full_rows = [all(r) for r in box]
    full_cols = [all(r[j] for r in box) for j in range(len(box[0]))]
    corners = [box[0][0], box[0][-1], box[-1][0], box[-1][-1]]
    constant_rows = all(all(r) or not any(r) for r in box)
    constant_cols = all(all(c) or not any(c) for c in zip(*box))
    if name == "disc":  # filled (most of its box), convex along rows and columns, corners cut off
        filled = sum(map(sum, box)) > 0.6 * len(box) * len(box[0])
        return filled and all(_runs(r) == 1 for r in box) and all(_runs(c) == 1 for c in zip(*box)) and not any(corners)
    if name == "ring":  # the disc's outline: a hole in the middle, no corners
        return _has_hole(mask) and not any(corners) and max(_runs(r) for r in box) == 2
    if name == "h_stripes":  # rows all-on or all-off, three stripes
        return constant_rows and not constant_cols and _runs(full_rows) == 3
    if name == "v_stripes":
        return constant_cols and not constant_rows and _runs(full_cols) == 3
    if name == "cross":  # a full-width bar and a full-height bar, every other row only the narrow bar
        narrow = all(_runs(r) == 1 and 2 * sum(r) < len(r) for r, full in zip(box, full_rows) if not full)
        return any(full_rows) and not all(full_rows) and any(full_cols) and narrow and not _has_hole(mask)
    if name == "x_cross":  # the diagonals reach the corners: two strokes per row at most, no full row
        return all(corners) and not any(full_rows) and max(_runs(r) for r in box) <= 2 and not _has_hole(mask)
    if name == "square":  # exactly its bounding box
        return all(full_rows)
    if name == "frame":  # the bounding box's border is on, and it has a hole
        return full_rows[0] and full_rows[-1] and full_cols[0] and full_cols[-1] and _has_hole(mask)
    if name == "triangle":  # apex up: rows contiguous and widening downwards
        widths = [sum(r) for r in box]
        return all(_runs(r) == 1 for r in box) and widths == sorted(widths) and widths[0] < widths[-1]
    if name == "checker":  # 3 squares along the first row and column (5 bands), holes between squares
        return _runs(box[0]) == 3 and _runs([r[0] for r in box]) == 3 and _has_hole(mask)
    raise AssertionError(name)


def test_shapes_dataset_shapes_dtypes_reproducible_and_global_rng_alone():
    state = torch.get_rng_state()
    x, y = data.shapes_dataset(50, image_size=16, num_classes=6, seed=3)
    x2, y2 = data.shapes_dataset(50, image_size=16, num_classes=6, seed=3)
    x3, _ = data.shapes_dataset(50, image_size=16, num_classes=6, seed=4)
    assert torch.equal(torch.get_rng_state(), state)
    assert x.shape == (50, 3, 16, 16) and x.dtype == torch.float32
    assert y.shape == (50,) and y.dtype == torch.int64 and 0 <= int(y.min()) and int(y.max()) < 6
    assert torch.equal(x, x2) and torch.equal(y, y2) and not torch.equal(x, x3)
    assert data.SHAPE_CLASSES[:6] == ("disc", "ring", "h_stripes", "v_stripes", "cross", "x_cross")
    assert len(set(data.SHAPE_CLASSES)) == 10


@pytest.mark.parametrize("N, K", [(53, 6), (40, 10), (7, 2)])
def test_shapes_dataset_labels_balanced(N, K):
    _, y = data.shapes_dataset(N, image_size=8, num_classes=K, seed=0)
    counts = torch.bincount(y, minlength=K)
    assert int(counts.max()) - int(counts.min()) <= 1 and int(counts.sum()) == N


def test_shapes_dataset_noise_free_colours_and_margin():
    x, _ = data.shapes_dataset(60, image_size=12, num_classes=10, seed=1, noise=0.0)
    for image in x:
        mask = torch.tensor(_object_mask(image))
        fg = image[:, mask][:, 0]
        bg = image[:, ~mask][:, 0]
        assert bool((fg >= 0.6).all() and (fg <= 1.0).all() and (bg >= 0.0).all() and (bg <= 0.4).all())
        assert mask.any() and not mask[0].any() and not mask[-1].any() and not mask[:, 0].any() and not mask[:, -1].any()


def test_shapes_dataset_noise_is_additive_gaussian_with_the_given_std():
    clean, y0 = data.shapes_dataset(200, image_size=16, seed=5, noise=0.0)
    noisy, y1 = data.shapes_dataset(200, image_size=16, seed=5, noise=0.1)
    assert torch.equal(y0, y1)
    diff = noisy - clean  # the noise is drawn last, so the clean part is the same image
    assert abs(float(diff.mean())) < 2e-3 and abs(float(diff.std()) - 0.1) < 2e-3


def test_shapes_dataset_every_class_follows_its_geometric_rule():
    x, y = data.shapes_dataset(100, image_size=32, num_classes=10, seed=2, noise=0.0)
    for image, label in zip(x, y.tolist()):
        name = data.SHAPE_CLASSES[label]
        assert _class_rule(name, _object_mask(image)), f"a '{name}' sample breaks its rule"
    # The rules tell the classes apart: every sample satisfies its own class's rule only.
    for image, label in zip(x, y.tolist()):
        mask = _object_mask(image)
        others = [n for n in data.SHAPE_CLASSES if n != data.SHAPE_CLASSES[label] and _class_rule(n, mask)]
        assert others == [], f"a '{data.SHAPE_CLASSES[label]}' also satisfies {others}"


def test_shapes_dataset_position_and_colour_carry_no_label_information():
    S, K = 16, 6
    x, y = data.shapes_dataset(1200, image_size=S, num_classes=K, seed=7, noise=0.0)
    masks = [_object_mask(im) for im in x]
    centre = torch.tensor([[(t + b) / 2, (l + r) / 2] for t, b, l, r in map(_bbox, masks)])  # (N, 2)
    on = torch.tensor(masks, dtype=torch.float32)  # (N, S, S)
    colour = (x * on[:, None]).sum((2, 3)) / on.sum((1, 2))[:, None]  # (N, 3) object colour
    for k in range(K):  # every class: centred on average, spread over positions, the same colours
        sel = y == k
        assert (centre[sel].mean(0) - (S - 1) / 2).abs().max() < 0.4, data.SHAPE_CLASSES[k]
        assert float(centre[sel].std(0).min()) > 1.0
        assert (colour[sel].mean(0) - 0.8).abs().max() < 0.03


def test_shapes_dataset_bad_input_messages():
    with pytest.raises(ValueError, match=r"shapes_dataset\(\): argument 'num_samples' must be a positive int, got 0"):
        data.shapes_dataset(0)
    with pytest.raises(ValueError, match=r"shapes_dataset\(\): argument 'image_size' must be >= 8 .*got 6"):
        data.shapes_dataset(4, image_size=6)
    with pytest.raises(ValueError, match=r"shapes_dataset\(\): argument 'num_classes' must be in \[2, 10\], got 11"):
        data.shapes_dataset(4, num_classes=11)
    with pytest.raises(ValueError, match=r"argument 'num_classes' must be in \[2, 10\], got 1"):
        data.shapes_dataset(4, num_classes=1)
    with pytest.raises(ValueError, match=r"shapes_dataset\(\): argument 'noise' must be >= 0, got -0.1"):
        data.shapes_dataset(4, noise=-0.1)
    with pytest.raises(TypeError, match=r"shapes_dataset\(\): argument 'noise' must be a float, got str"):
        data.shapes_dataset(4, noise="0.1")
    with pytest.raises(TypeError, match=r"shapes_dataset\(\): argument 'seed' must be an int, got float"):
        data.shapes_dataset(4, seed=1.5)


def test_shapes_dataset_region_confines_the_centre_column_to_one_half():
    # For a square (class 6) the object is exactly the pixels j with |j - cx| <= r, so the middle
    # of its column range is within half a pixel of the centre cx: with region="left" (cx <= 7.5
    # for S = 16) it is at most 8, with region="right" (cx >= 7.5) at least 7.
    S = 16
    mids = {}
    for region in (None, "left", "right"):
        x, y = data.shapes_dataset(400, image_size=S, num_classes=10, seed=11, noise=0.0, region=region)
        masks = [_object_mask(im) for im, label in zip(x, y.tolist()) if data.SHAPE_CLASSES[label] == "square"]
        mids[region] = [(l + r) / 2 for _, _, l, r in map(_bbox, masks)]
        rows = [(t + b) / 2 for t, b, _, _ in map(_bbox, masks)]
        assert len(masks) == 40 and min(rows) <= 6 and max(rows) >= 9  # the row is not restricted
    assert max(mids["left"]) <= (S - 1) / 2 + 0.5 and min(mids["left"]) <= 5
    assert min(mids["right"]) >= (S - 1) / 2 - 0.5 and max(mids["right"]) >= 10
    assert min(mids[None]) <= 6 and max(mids[None]) >= 9  # unrestricted: both halves


def test_shapes_dataset_region_keeps_everything_but_the_column():
    # Same random numbers: labels, colours and the row of the centre do not depend on the region.
    base, y0 = data.shapes_dataset(300, image_size=16, num_classes=6, seed=4, noise=0.0)
    left, y1 = data.shapes_dataset(300, image_size=16, num_classes=6, seed=4, noise=0.0, region="left")
    assert torch.equal(y0, y1) and torch.equal(base.amax((2, 3)), left.amax((2, 3)))
    assert torch.equal(base.amin((2, 3)), left.amin((2, 3)))
    stripes = (y0 == 2) | (y0 == 3)  # their rows depend on the centre's row only
    on0 = (base == base.amax((1, 2, 3), keepdim=True)).any(1).any(2)[stripes]  # (n, S): rows holding the object
    on1 = (left == left.amax((1, 2, 3), keepdim=True)).any(1).any(2)[stripes]
    assert int(stripes.sum()) == 100 and torch.equal(on0, on1)
    assert not torch.equal(base, left)


def test_shapes_dataset_region_bad_input():
    with pytest.raises(ValueError, match=r"shapes_dataset\(\): argument 'region' must be None, 'left' or 'right', got 'top'"):
        data.shapes_dataset(4, region="top")
    with pytest.raises(TypeError, match=r"shapes_dataset\(\): argument 'region' must be None or a str, got int 1"):
        data.shapes_dataset(4, region=1)
