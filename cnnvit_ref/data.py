"""Offline data for the course: every data set is generated in code from a seed.

No function here downloads anything (the machines that build the book have no internet).
Every generator takes ``seed`` (a private ``torch.Generator``: the global RNG is left alone),
returns ``(inputs, targets)`` as torch tensors, and gives the same tensors for the same
arguments on every machine.

Sections
--------
1. Sequence tasks (chapter 02, ``book/02_rnn_lstm.ipynb``): :func:`adding_problem`,
   :func:`copy_task` -- the long-range memory tasks of Hochreiter & Schmidhuber (1997).
2. Text-like tasks (chapters 01-03): :func:`text_classification` (a key n-gram anywhere:
   a text CNN's natural task) and :func:`text_order` (the order of two distant tokens:
   a recurrent or attention model's task, hopeless for n-gram detectors + max-pooling).
3. Vision data (chapter 04 and later): :func:`shapes_dataset`, colour images of shapes and
   textures whose classes differ only in local structure, for the small-data CNN vs ViT
   experiment (``book/04_vit.ipynb``).

References
----------
- S. Hochreiter, J. Schmidhuber, "Long Short-Term Memory", Neural Computation 9(8), 1997.
  https://doi.org/10.1162/neco.1997.9.8.1735 (experiment 4: the adding problem; the copy/recall
  setting follows experiment 2 and Arjovsky et al., "Unitary Evolution Recurrent Neural
  Networks", ICML 2016, https://arxiv.org/abs/1511.06464).
- Y. Kim, "Convolutional Neural Networks for Sentence Classification", EMNLP 2014.
  https://arxiv.org/abs/1408.5882
"""
from __future__ import annotations

from typing import Sequence

import torch

from ._validate import positive_int

__all__ = [
    "adding_problem",
    "copy_task",
    "text_classification",
    "text_order",
    "shapes_dataset",
    "SHAPE_CLASSES",
    "SHAPE_REGIONS",
    "PAD",
]

#: Token id 0 is padding in every text-like task: it is never generated, so models may use
#: ``nn.Embedding(..., padding_idx=PAD)``.
PAD = 0


def _generator(fn: str, seed) -> torch.Generator:
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"{fn}(): argument 'seed' must be an int, got {type(seed).__name__} {seed!r}")
    return torch.Generator().manual_seed(seed)


def _balanced_labels(num_samples: int, num_classes: int, gen: torch.Generator) -> torch.Tensor:
    """Labels 0..num_classes-1 in random order, with counts that differ by at most one."""
    labels = torch.arange(num_samples) % num_classes  # (N,)
    return labels[torch.randperm(num_samples, generator=gen)]  # (N,)


# ============================================================================================
# 1. Sequence tasks (chapter 02)
# ============================================================================================
def adding_problem(num_samples: int, seq_len: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """The adding problem (Hochreiter & Schmidhuber 1997, experiment 4).

    Each sample is a sequence of ``seq_len`` steps with two input channels:

    * channel 0: a value drawn uniformly from ``[0, 1)`` at every step;
    * channel 1: a marker, 1.0 at exactly two steps and 0.0 elsewhere -- one step drawn
      uniformly from the first half ``[0, seq_len // 2)``, the other from the second half
      ``[seq_len // 2, seq_len)``.

    The target is the sum of the two marked values, in ``[0, 2)``. A model that reads the
    sequence step by step must keep the first marked value for about ``seq_len / 2`` steps; a
    constant prediction of 1.0 scores a mean squared error of about 1/6 (~0.167), the baseline
    to beat.

    Returns ``inputs`` of shape ``(num_samples, seq_len, 2)`` and ``targets`` of shape
    ``(num_samples,)``, both float32.
    """
    fn = "adding_problem"
    N = positive_int(fn, "num_samples", num_samples)
    T = positive_int(fn, "seq_len", seq_len)
    if T < 2:
        raise ValueError(f"{fn}(): argument 'seq_len' must be >= 2 (one marker in each half), got {T}")
    gen = _generator(fn, seed)
    half = T // 2
    values = torch.rand(N, T, generator=gen)  # (N, T)
    first = torch.randint(0, half, (N,), generator=gen)  # (N,)
    second = torch.randint(half, T, (N,), generator=gen)  # (N,)
    markers = torch.zeros(N, T)  # (N, T)
    rows = torch.arange(N)
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    inputs = torch.stack([values, markers], dim=-1)  # (N, T, 2)
    targets = values[rows, first] + values[rows, second]  # (N,)
    return inputs, targets


def copy_task(
    num_samples: int, seq_len: int, num_symbols: int = 8, delay: int = 10, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Copy (recall) a sequence of symbols after a delay.

    Token ids: 0 = blank, ``1..num_symbols`` = the symbols, ``num_symbols + 1`` = the "go" marker
    (vocabulary size ``num_symbols + 2``). A sample has ``seq_len + delay + seq_len`` steps:

    ===========================  =============================  ==========================
    steps                        input                          target
    ===========================  =============================  ==========================
    ``[0, seq_len)``             the symbols ``s_1..s_L``       blank
    ``[seq_len, seq_len+delay)`` blank, except the last step:   blank
                                 the go marker
    ``[seq_len+delay, end)``     blank                          the symbols ``s_1..s_L``
    ===========================  =============================  ==========================

    The symbols are drawn uniformly from ``1..num_symbols``. To answer, a model must hold
    ``seq_len`` symbols across ``delay`` steps; with ``delay`` large the distance between a
    symbol and the step where it must be produced is ``seq_len + delay``. Predicting blank for
    the first part and a uniform guess afterwards scores a cross-entropy of
    ``seq_len * log(num_symbols) / (2 seq_len + delay)`` (per step), the memoryless baseline.

    Returns ``inputs`` and ``targets``, both int64 of shape ``(num_samples, 2 seq_len + delay)``.
    """
    fn = "copy_task"
    N = positive_int(fn, "num_samples", num_samples)
    L = positive_int(fn, "seq_len", seq_len)
    K = positive_int(fn, "num_symbols", num_symbols)
    D = positive_int(fn, "delay", delay)
    gen = _generator(fn, seed)
    total = 2 * L + D
    symbols = torch.randint(1, K + 1, (N, L), generator=gen)  # (N, L)
    inputs = torch.zeros(N, total, dtype=torch.int64)  # (N, 2L + D)
    targets = torch.zeros(N, total, dtype=torch.int64)  # (N, 2L + D)
    inputs[:, :L] = symbols
    inputs[:, L + D - 1] = K + 1
    targets[:, L + D:] = symbols
    return inputs, targets


# ============================================================================================
# 2. Text-like tasks (chapters 01-03)
# ============================================================================================
def _filler_vocab(fn: str, vocab_size: int, reserved: torch.Tensor, what: str) -> torch.Tensor:
    """Token ids 1..vocab_size-1 minus the ``reserved`` ones (0 is padding), as the filler vocabulary."""
    taken = set(reserved.tolist())
    vocab = torch.tensor([t for t in range(1, vocab_size) if t not in taken])
    if len(vocab) == 0:
        raise ValueError(f"{fn}(): argument 'vocab_size' = {vocab_size} leaves no filler tokens besides padding and {what}")
    return vocab


def _zipf_tokens(shape: tuple[int, ...], vocab: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Tokens drawn from ``vocab`` with Zipf-like frequencies (p ~ 1 / rank), like words in text."""
    probs = 1.0 / torch.arange(1, len(vocab) + 1, dtype=torch.float64)  # (V',)
    n = 1
    for s in shape:
        n *= s
    idx = torch.multinomial(probs, n, replacement=True, generator=gen)  # (n,)
    return vocab[idx].view(shape)  # shape, e.g. (N, T)


def _contains(tokens: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
    """Whether each row of ``tokens`` (N, T) contains ``key`` (n,) contiguously -> (N,) bool."""
    n = key.numel()
    windows = tokens.unfold(1, n, 1)  # (N, T - n + 1, n)
    return (windows == key).all(dim=-1).any(dim=-1)  # (N,)


def text_classification(
    num_samples: int,
    seq_len: int,
    vocab_size: int,
    seed: int = 0,
    key: Sequence[int] = (1, 2, 3),
) -> tuple[torch.Tensor, torch.Tensor]:
    """Does the key n-gram occur anywhere? A text CNN's natural task (Kim 2014).

    Generative rule, for vocabulary ``0..vocab_size-1`` with 0 = padding (never generated):

    1. filler tokens are drawn with Zipf-like frequencies (p ~ 1/rank) from the ids that are
       neither padding nor in ``key``;
    2. exactly half of the samples (label 1, in random order) get the key n-gram, e.g.
       ``(1, 2, 3)``, written contiguously at a uniformly random position;
    3. the other half (label 0) get a *decoy* at a random position: the same tokens in a
       different order (a random permutation of ``key`` other than ``key`` itself).

    So both classes contain the same tokens the same number of times: a bag-of-words model is
    at chance, while one convolution filter of width ``len(key)`` followed by max-pooling over
    time detects the n-gram wherever it is. The label is exactly
    ``label == 1  <=>  key occurs contiguously in the sequence``.

    Returns ``inputs`` int64 ``(num_samples, seq_len)`` and ``targets`` int64 ``(num_samples,)``.
    """
    fn = "text_classification"
    N = positive_int(fn, "num_samples", num_samples)
    T = positive_int(fn, "seq_len", seq_len)
    V = positive_int(fn, "vocab_size", vocab_size)
    key_t = _check_key(fn, key, V)
    n = key_t.numel()
    if n < 2:
        raise ValueError(f"{fn}(): argument 'key' must have at least 2 tokens (a decoy is the key reordered), got {tuple(key)!r}")
    if T < n:
        raise ValueError(f"{fn}(): argument 'seq_len' must be >= len(key) = {n}, got {T}")
    filler_vocab = _filler_vocab(fn, V, key_t, f"key {tuple(key_t.tolist())}")
    gen = _generator(fn, seed)
    labels = _balanced_labels(N, 2, gen)  # (N,)
    tokens = _zipf_tokens((N, T), filler_vocab, gen)  # (N, T)
    # The n tokens to insert: the key for label 1, a permutation != key for label 0.
    perms = torch.argsort(torch.rand(N, n, generator=gen), dim=1)  # (N, n)
    identity = torch.arange(n)
    is_identity = (perms == identity).all(dim=1)  # (N,)
    # A permutation that equals the identity is rolled by one, which changes it when n >= 2.
    perms[is_identity] = perms[is_identity].roll(1, dims=1)
    perms[labels == 1] = identity
    inserted = key_t[perms]  # (N, n)
    start = torch.randint(0, T - n + 1, (N,), generator=gen)  # (N,)
    cols = start[:, None] + torch.arange(n)  # (N, n)
    tokens.scatter_(1, cols, inserted)
    return tokens, labels


def text_order(
    num_samples: int, seq_len: int, vocab_size: int, seed: int = 0, markers: tuple[int, int] = (1, 2)
) -> tuple[torch.Tensor, torch.Tensor]:
    """Which of two marker tokens comes first? A long-range relation that n-grams cannot see.

    Generative rule, for vocabulary ``0..vocab_size-1`` with 0 = padding (never generated):
    filler tokens are drawn with Zipf-like frequencies from the ids that are neither padding nor
    markers; then marker ``A = markers[0]`` and marker ``B = markers[1]`` are written once each at
    two distinct, uniformly random positions. Label 1 iff ``A`` comes before ``B`` (exactly half
    of the samples, in random order). The distance between the markers is anything from 1 to
    ``seq_len - 1``.

    Every sample contains the same two markers once, so a bag of words is exactly at chance,
    and features that say *whether* an n-gram occurs (a text CNN with max-pooling over time)
    only see the order in the few samples where both markers fall inside one filter window or
    a marker sits within a window of either end of the sequence; the label depends on the order
    at any distance, which a recurrent model or attention with positional encodings can read.

    Returns ``inputs`` int64 ``(num_samples, seq_len)`` and ``targets`` int64 ``(num_samples,)``.
    """
    fn = "text_order"
    N = positive_int(fn, "num_samples", num_samples)
    T = positive_int(fn, "seq_len", seq_len)
    V = positive_int(fn, "vocab_size", vocab_size)
    if T < 2:
        raise ValueError(f"{fn}(): argument 'seq_len' must be >= 2 (two markers), got {T}")
    key_t = _check_key(fn, markers, V, name="markers")
    if key_t.numel() != 2:
        raise ValueError(f"{fn}(): argument 'markers' must be two distinct token ids, got {tuple(markers)!r}")
    filler_vocab = _filler_vocab(fn, V, key_t, "the markers")
    gen = _generator(fn, seed)
    labels = _balanced_labels(N, 2, gen)  # (N,)
    tokens = _zipf_tokens((N, T), filler_vocab, gen)  # (N, T)
    # Two distinct positions: the first two entries of a random permutation of 0..T-1.
    positions = torch.argsort(torch.rand(N, T, generator=gen), dim=1)[:, :2]  # (N, 2)
    early = positions.min(dim=1).values  # (N,)
    late = positions.max(dim=1).values  # (N,)
    a_pos = torch.where(labels == 1, early, late)  # (N,)
    b_pos = torch.where(labels == 1, late, early)  # (N,)
    rows = torch.arange(N)
    tokens[rows, a_pos] = key_t[0]
    tokens[rows, b_pos] = key_t[1]
    return tokens, labels


def _check_key(fn: str, key, vocab_size: int, name: str = "key") -> torch.Tensor:
    if not isinstance(key, (tuple, list)) or not all(isinstance(t, int) and not isinstance(t, bool) for t in key):
        raise TypeError(f"{fn}(): argument '{name}' must be a tuple of ints, got {key!r}")
    if len(key) == 0 or len(set(key)) != len(key):
        raise ValueError(f"{fn}(): argument '{name}' must hold distinct token ids, got {tuple(key)!r}")
    if min(key) < 1 or max(key) >= vocab_size:
        raise ValueError(
            f"{fn}(): argument '{name}' must hold ids in [1, vocab_size - 1] = [1, {vocab_size - 1}] "
            f"(0 is padding), got {tuple(key)!r}"
        )
    return torch.tensor(list(key), dtype=torch.int64)


# ============================================================================================
# 3. Vision data (chapter 04 and later)
# ============================================================================================
# Synthetic shapes and textures for the small-data CNN vs ViT experiment (images NCHW float32,
# labels int64; same conventions: ``seed`` argument, returns ``(inputs, targets)``).


#: The values of :func:`shapes_dataset`'s ``region`` besides ``None``: halves of the centre's column range.
SHAPE_REGIONS = ("left", "right")

#: The ten classes of :func:`shapes_dataset`, in label order (``num_classes=k`` keeps the first k).
SHAPE_CLASSES = (
    "disc",
    "ring",
    "h_stripes",
    "v_stripes",
    "cross",
    "x_cross",
    "square",
    "frame",
    "triangle",
    "checker",
)


def _shape_masks(labels: torch.Tensor, dy: torch.Tensor, dx: torch.Tensor, r: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Foreground masks: pixel offsets ``dy``, ``dx`` (N, S, S) from each shape's centre, radius
    ``r`` and stroke width ``t`` (N, 1, 1) -> (N, S, S) bool, the shape of class ``labels[i]``."""
    box = torch.maximum(dy.abs(), dx.abs())  # (N, S, S): Chebyshev distance, squares are its level sets
    dist = torch.sqrt(dy * dy + dx * dx)  # (N, S, S): Euclidean distance, discs are its level sets
    in_box = box <= r  # (N, S, S)
    band = 2 * r / 5  # five bands across the object (3 stripes, 2 gaps): symmetric about the centre
    row_band = torch.floor((dy + r) / band)  # (N, S, S): index of the horizontal band, 0..4
    col_band = torch.floor((dx + r) / band)  # (N, S, S): index of the vertical band, 0..4
    half = t / 2
    masks = torch.stack(
        [
            dist <= r,  # disc
            (dist <= r) & (dist > r - t),  # ring: the disc's outline
            in_box & (row_band % 2 == 0),  # h_stripes
            in_box & (col_band % 2 == 0),  # v_stripes: h_stripes turned by 90 degrees
            in_box & ((dx.abs() <= half) | (dy.abs() <= half)),  # cross (+)
            in_box & (((dx - dy).abs() <= half) | ((dx + dy).abs() <= half)),  # x_cross: the cross turned by 45 degrees
            in_box,  # square
            in_box & (box > r - t),  # frame: the square's outline
            (dy.abs() <= r) & (dx.abs() <= (dy + r) / 2),  # triangle, apex up, base 2r at dy = +r
            in_box & ((row_band + col_band) % 2 == 0),  # checker
        ],
        dim=1,
    )  # (N, 10, S, S)
    return masks[torch.arange(len(labels)), labels]  # (N, S, S)


def shapes_dataset(
    num_samples: int,
    image_size: int = 32,
    num_classes: int = 10,
    seed: int = 0,
    noise: float = 0.1,
    region: str | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Synthetic colour images of shapes and textures, for the small-data CNN vs ViT experiment.

    Each image shows one object of class ``SHAPE_CLASSES[label]`` (disc, ring, horizontal
    stripes, vertical stripes, cross, diagonal cross, square, frame, triangle, checkerboard) on a
    plain background. The classes come in pairs that differ only in *local structure*: a disc
    and a ring have the same outline and differ inside, horizontal and vertical stripes are the
    same texture turned by 90 degrees, a cross and a diagonal cross the same two strokes turned
    by 45 degrees, a square and a frame differ inside. Everything else is jitter that carries no
    information about the label:

    * position: the centre is uniform over the positions that keep the whole object inside the
      image with a margin of one pixel, i.e. ``cy, cx`` in ``[r + 1, S - 2 - r]`` for radius ``r``
      and ``S = image_size`` (an interval centred on the image centre ``(S - 1) / 2``);
      ``region="left"`` confines the centre's column ``cx`` to the left half of that interval,
      ``[r + 1, (S - 1) / 2]``, and ``region="right"`` to the right half, ``[(S - 1) / 2, S - 2 - r]``
      (the row ``cy`` stays unrestricted): two sets drawn with different regions share no centre
      position, the out-of-distribution test of chapter 04's small-data experiment;
    * size: the radius (half the side of the bounding square) is uniform in
      ``[0.2, 0.3] * image_size``; strokes (ring, frame, crosses) are ``max(1, radius / 3)``
      pixels wide, and stripes and checker squares divide the object into five bands;
    * colour: the object's RGB colour is uniform in ``[0.6, 1]^3`` and the background's in
      ``[0, 0.4]^3`` (so the object is brighter in every channel);
    * pixel noise: i.i.d. Gaussian with standard deviation ``noise`` added to every value
      (``noise=0`` gives exactly two colours per image).

    A model that is equivariant to translation (a CNN) needs to learn each shape once; a model
    that is not (a ViT with learned position embeddings) must see it at many positions.

    ``num_classes`` (2 to 10) keeps the first classes of :data:`SHAPE_CLASSES`; labels are
    balanced (counts differ by at most one) and in random order. Returns ``images`` float32
    ``(num_samples, 3, image_size, image_size)`` (NCHW, values in [0, 1] before the noise) and
    ``labels`` int64 ``(num_samples,)``. Use different seeds for the training and test sets.
    ``region`` draws the same random numbers as ``region=None`` (only the centre's column is
    rescaled), and ``region=None``, the default, gives the images this function always gave.
    """
    fn = "shapes_dataset"
    N = positive_int(fn, "num_samples", num_samples)
    S = positive_int(fn, "image_size", image_size)
    K = positive_int(fn, "num_classes", num_classes)
    if S < 8:
        raise ValueError(f"{fn}(): argument 'image_size' must be >= 8 (smaller shapes are unreadable), got {S}")
    if not 2 <= K <= len(SHAPE_CLASSES):
        raise ValueError(f"{fn}(): argument 'num_classes' must be in [2, {len(SHAPE_CLASSES)}], got {K}")
    if isinstance(noise, bool) or not isinstance(noise, (int, float)):
        raise TypeError(f"{fn}(): argument 'noise' must be a float, got {type(noise).__name__} {noise!r}")
    if not noise >= 0:
        raise ValueError(f"{fn}(): argument 'noise' must be >= 0, got {noise!r}")
    if region is not None and not isinstance(region, str):
        raise TypeError(f"{fn}(): argument 'region' must be None or a str, got {type(region).__name__} {region!r}")
    if region is not None and region not in SHAPE_REGIONS:
        raise ValueError(f"{fn}(): argument 'region' must be None, 'left' or 'right', got {region!r}")
    gen = _generator(fn, seed)
    labels = _balanced_labels(N, K, gen)  # (N,)
    r = (0.2 + 0.1 * torch.rand(N, generator=gen)) * S  # (N,) radius in pixels
    t = torch.clamp(r / 3, min=1.0)  # (N,) stroke / stripe width
    lo = r + 1.0  # (N,) the centre keeps the object >= 1 pixel away from the border
    hi = (S - 1) - r - 1.0  # (N,)
    cy = lo + (hi - lo) * torch.rand(N, generator=gen)  # (N,)
    if region == "left":  # cx in [lo, (S - 1) / 2]: the interval's left half
        hi_x = torch.full_like(hi, (S - 1) / 2)  # (N,)
        cx = lo + (hi_x - lo) * torch.rand(N, generator=gen)  # (N,)
    elif region == "right":  # cx in [(S - 1) / 2, hi]: the interval's right half
        lo_x = torch.full_like(lo, (S - 1) / 2)  # (N,)
        cx = lo_x + (hi - lo_x) * torch.rand(N, generator=gen)  # (N,)
    else:
        cx = lo + (hi - lo) * torch.rand(N, generator=gen)  # (N,)
    fg = 0.6 + 0.4 * torch.rand(N, 3, generator=gen)  # (N, 3) object colour
    bg = 0.4 * torch.rand(N, 3, generator=gen)  # (N, 3) background colour
    pix = torch.arange(S, dtype=torch.float32)  # (S,) pixel centres
    dy = (pix.view(1, S, 1) - cy.view(N, 1, 1)).expand(N, S, S)  # (N, S, S)
    dx = (pix.view(1, 1, S) - cx.view(N, 1, 1)).expand(N, S, S)  # (N, S, S)
    mask = _shape_masks(labels, dy, dx, r.view(N, 1, 1), t.view(N, 1, 1))  # (N, S, S)
    mask = mask.unsqueeze(1).to(torch.float32)  # (N, 1, S, S)
    images = bg.view(N, 3, 1, 1) + (fg - bg).view(N, 3, 1, 1) * mask  # (N, 3, S, S)
    if noise > 0:
        images = images + noise * torch.randn(N, 3, S, S, generator=gen)  # (N, 3, S, S)
    return images, labels
