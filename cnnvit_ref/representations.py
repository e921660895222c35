"""Tools that compare what networks compute inside: CKA, mean attention distance, linear probes.

Chapter
    07, ``book/07_representations.ipynb`` (exercise: ``exercises/07_representations/``)
Papers
    Raghu, Unterthiner, Kornblith, Zhang, Dosovitskiy, "Do Vision Transformers See Like Convolutional Neural
    Networks?", NeurIPS 2021. https://arxiv.org/abs/2108.08810 (Fig. 1-2: minibatch-CKA heatmaps; Fig. 3-4:
    mean attention distance per head; later sections: linear probes per layer, MLP-Mixer)
    Kornblith, Norouzi, Lee, Hinton, "Similarity of Neural Network Representations Revisited", ICML 2019.
    https://arxiv.org/abs/1905.00414 (Sec. 2.1: invariances; Sec. 3: HSIC, CKA, and
    <vec(X X^T), vec(Y Y^T)> = ||Y^T X||_F^2)
    Nguyen, Raghu, Kornblith, "Do Wide and Deep Networks Learn the Same Things? Uncovering How Neural Network
    Representations Vary with Width and Depth", ICLR 2021. https://arxiv.org/abs/2010.15327 (Sec. 3.1:
    minibatch CKA, the unbiased HSIC_1)
    Song, Smola, Gretton, Bedo, Borgwardt, "Feature Selection via Dependence Maximization", JMLR 2012
    (the unbiased HSIC estimator, a U-statistic)
    Dosovitskiy et al., "An Image is Worth 16x16 Words", ICLR 2021. https://arxiv.org/abs/2010.11929
    (Fig. 7 and App. D.7: mean attention distance)
Official code
    https://github.com/google-research/google-research/tree/master/representation_similarity (``Demo.ipynb``:
    ``gram_linear``, ``gram_rbf``, ``center_gram``, ``cka``, ``feature_space_linear_cka``)
    https://github.com/google-research/google-research/tree/master/do_wide_and_deep_networks_learn_the_same_things
    (``efficient_CKA.py``: ``MinibatchCKA``)
Symbols in the shape comments
    n examples, d / d_x / d_y features of one example (flattened), L_x / L_y layers, B batch, heads attention
    heads, N tokens = P prefix tokens (the class token) + g*g patches, k classes

Every function takes torch tensors and returns torch tensors on the same device. Activations of any shape
``(n, ...)`` are flattened to ``(n, d)``: one row per example. The arithmetic is float64 (inputs are promoted),
because the centred HSIC terms are small differences of large sums. The names and arguments are those of the
authors' reference code above, so that a reader can put the two side by side; every line here is our own.

HSIC estimators (K, L the n x n Gram matrices of X and Y, H = I - 11^T/n the centring matrix):

    biased    HSIC_0(K, L) = tr(K H L H) / (n-1)^2                                 Kornblith et al. Sec. 3
    unbiased  HSIC_1(K, L) = [tr(K~ L~) + 1^T K~ 1 1^T L~ 1 / ((n-1)(n-2))
                              - 2/(n-2) 1^T K~ L~ 1] / (n(n-3))                   Song et al.; K~ = K, diagonal 0
    CKA(K, L) = HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L))                         Kornblith et al. Sec. 3

HSIC_1 is also <U(K), U(L)> / (n(n-3)) with U the "U-centring" of Szekely & Rizzo (2014), which is how the
reference code (and :func:`center_gram` with ``unbiased=True``) computes it. It needs n >= 4 examples.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch

from ._validate import check_tensor, fmt_shape, positive_int, positive_ints

__all__ = [
    "gram_linear",
    "gram_rbf",
    "center_gram",
    "cka",
    "feature_space_linear_cka",
    "MinibatchCKA",
    "patch_distances",
    "mean_attention_distance",
    "ridge_classifier",
    "linear_probe",
    "linear_probes",
]

_F64 = torch.float64


# --------------------------------------------------------------------------------------------
# math helpers
# --------------------------------------------------------------------------------------------
def _rows(x: torch.Tensor, dtype: torch.dtype = _F64) -> torch.Tensor:
    """One row per example: ``(n, ...) -> (n, d)`` in ``dtype``."""
    return x.reshape(x.shape[0], -1).to(dtype)  # (n, d)


def _median(values: torch.Tensor) -> torch.Tensor:
    """The median as numpy takes it (mean of the two middle values when their number is even)."""
    flat = values.flatten()  # (m,)
    m = flat.numel()
    low = flat.kthvalue((m + 1) // 2).values
    high = flat.kthvalue(m // 2 + 1).values
    return (low + high) / 2


def _center(gram: torch.Tensor, unbiased: bool) -> torch.Tensor:
    n = gram.shape[0]
    gram = gram.to(_F64).clone()  # (n, n)
    if unbiased:
        # U-centring (Szekely & Rizzo 2014): off the diagonal, K_ij - (row sum i + column sum j) / (n - 2)
        # + total / ((n - 1)(n - 2)); the diagonal is 0.
        gram.fill_diagonal_(0)
        sums = gram.sum(0) / (n - 2)  # (n,)
        total = gram.sum() / ((n - 1) * (n - 2))
        gram = gram - sums[:, None] - sums[None, :] + total  # (n, n)
        gram.fill_diagonal_(0)
    else:
        # H K H: subtract the row and the column means, add back the grand mean
        means = gram.mean(0)  # (n,)
        gram = gram - means[:, None] - means[None, :] + means.mean()  # (n, n)
    return gram


def _unbiased_dot(xty_sq: torch.Tensor, sq_x: torch.Tensor, sq_y: torch.Tensor, n: int) -> torch.Tensor:
    """n(n-3) HSIC_1 of centred features from ||X^T Y||_F^2 and the squared example norms ``sq_x``, ``sq_y``.

    With centred features K 1 = 0, so the diagonal-free K~ has K~ 1 = -sq_x and 1^T K~ 1 = -sum(sq_x), and
    tr(K~ L~) = ||X^T Y||_F^2 - sq_x . sq_y. Put into Song et al.'s formula (times n(n-3)):
    ||X^T Y||^2 - sq_x . sq_y (1 + 2/(n-2)) + sum(sq_x) sum(sq_y) / ((n-1)(n-2)).
    """
    return xty_sq - n / (n - 2) * (sq_x @ sq_y) + sq_x.sum() * sq_y.sum() / ((n - 1) * (n - 2))  # () scalar


def gram_linear(x: torch.Tensor) -> torch.Tensor:
    """The linear kernel's Gram matrix ``X X^T``: ``x`` (n, ...) -> (n, n), float64."""
    _check_features("gram_linear", x=x)
    x = _rows(x)  # (n, d)
    return x @ x.T  # (n, n)


def gram_rbf(x: torch.Tensor, threshold: float = 1.0) -> torch.Tensor:
    """The RBF kernel's Gram matrix ``exp(-||x_i - x_j||^2 / (2 sigma^2))``: (n, ...) -> (n, n), float64.

    The bandwidth is ``sigma = threshold * median distance``: sigma^2 = threshold^2 times the median of all
    n^2 squared distances (diagonal zeros included), as in Kornblith et al.'s demo.
    """
    _check_gram_rbf(x, threshold)
    x = _rows(x)  # (n, d)
    dots = x @ x.T  # (n, n)
    sq_norms = dots.diagonal()  # (n,)
    sq_dist = (sq_norms[:, None] + sq_norms[None, :] - 2 * dots).clamp_min(0)  # (n, n)
    return torch.exp(-sq_dist / (2 * threshold**2 * _median(sq_dist)))  # (n, n)


def center_gram(gram: torch.Tensor, unbiased: bool = False) -> torch.Tensor:
    """Centre a symmetric Gram matrix: ``H K H`` (rows and columns of mean zero), or with ``unbiased=True``
    its U-centred form, whose inner products are n(n-3) times the unbiased HSIC_1 (needs n >= 4).

    (n, n) -> (n, n), float64. Equivalent to centring the (possibly infinite-dimensional) features.
    """
    _check_gram("center_gram", gram=gram, unbiased=unbiased)
    return _center(gram, unbiased)


def cka(gram_x: torch.Tensor, gram_y: torch.Tensor, debiased: bool = False) -> torch.Tensor:
    """Centered kernel alignment of two Gram matrices on the same n examples (a 0-d float64 tensor).

    ``debiased=True`` uses the unbiased HSIC_1 in numerator and denominator (Song et al.; n >= 4); the ratio
    is still not exactly unbiased, and may be negative. The HSIC normalisations 1/(n-1)^2 or 1/(n(n-3))
    cancel in the ratio, so they are not applied.
    """
    _check_gram("cka", gram_x=gram_x, gram_y=gram_y, unbiased=debiased)
    gx = _center(gram_x, debiased)  # (n, n)
    gy = _center(gram_y, debiased)  # (n, n)
    return (gx * gy).sum() / (torch.linalg.norm(gx) * torch.linalg.norm(gy))


def feature_space_linear_cka(
    features_x: torch.Tensor, features_y: torch.Tensor, debiased: bool = False
) -> torch.Tensor:
    """Linear CKA from the features, never forming an n x n matrix (a 0-d float64 tensor).

    ``<vec(X X^T), vec(Y Y^T)> = ||Y^T X||_F^2`` for centred X, Y (Kornblith et al. Sec. 3), so this costs
    O(n d_x d_y) time and O(d_x d_y) memory: faster than :func:`cka` of :func:`gram_linear` when n > d.
    Equals ``cka(gram_linear(X), gram_linear(Y), debiased)``.
    """
    _check_features("feature_space_linear_cka", debiased=debiased, features_x=features_x, features_y=features_y)
    x = _rows(features_x)  # (n, d_x)
    y = _rows(features_y)  # (n, d_y)
    x = x - x.mean(0, keepdim=True)  # (n, d_x)
    y = y - y.mean(0, keepdim=True)  # (n, d_y)
    xy = torch.linalg.norm(x.T @ y) ** 2  # ||X^T Y||_F^2; x.T @ y is (d_x, d_y)
    xx = torch.linalg.norm(x.T @ x) ** 2  # (d_x, d_x) inside
    yy = torch.linalg.norm(y.T @ y) ** 2  # (d_y, d_y) inside
    if debiased:
        n = x.shape[0]
        sq_x = (x * x).sum(1)  # (n,): the diagonal of X X^T
        sq_y = (y * y).sum(1)  # (n,)
        xy = _unbiased_dot(xy, sq_x, sq_y, n)
        xx = _unbiased_dot(xx, sq_x, sq_x, n)
        yy = _unbiased_dot(yy, sq_y, sq_y, n)
    return xy / torch.sqrt(xx * yy)


# --------------------------------------------------------------------------------------------
# minibatch CKA
# --------------------------------------------------------------------------------------------
class MinibatchCKA:
    """Linear CKA between every layer of one network and every layer of another, over minibatches.

    Nguyen, Raghu & Kornblith 2021, Sec. 3.1 (the estimator behind Raghu et al.'s heatmaps): per minibatch
    i of n examples, the unbiased HSIC_1 of each pair of layers; over k minibatches

        CKA(X, Y) = sum_i HSIC_1(X_i, Y_i) / sqrt(sum_i HSIC_1(X_i, X_i) * sum_i HSIC_1(Y_i, Y_i))

    (the 1/k of the means cancels). Memory holds one minibatch's Gram matrices, L x n^2 numbers per network,
    and the (L_x, L_y) sums, so it grows with the batch, not with the data set.

    The reference code (``efficient_CKA.py``) sums n(n-3) HSIC_1 (it leaves out the 1/(n(n-3))); with
    equal minibatches that is the same ratio. We keep the factor, so that a smaller last minibatch weighs
    what the paper's average of HSIC_1 gives it.

        >>> mcka = MinibatchCKA(len(model_x_layers), len(model_y_layers))
        >>> for images, _ in loader:                       # the same images through both networks
        ...     mcka.update_state(acts_x, acts_y)          # two lists of (n, ...) tensors
        >>> heatmap = mcka.result()                        # (L_x, L_y), float64

    ``update_state(acts)`` with one list compares a network with itself. ``dtype`` is the precision of the
    Gram matrices and sums (float64 by default; float32 is what the reference code uses, and is faster on
    GPUs without fast float64).
    """

    def __init__(self, num_layers_x: int, num_layers_y: int | None = None, dtype: torch.dtype = _F64):
        _check_minibatch_cka(num_layers_x, num_layers_y, dtype)
        self.num_layers_x = num_layers_x
        self.num_layers_y = num_layers_x if num_layers_y is None else num_layers_y
        self.dtype = dtype
        self.reset()

    def reset(self) -> None:
        """Forget every minibatch seen so far."""
        self.hsic_xy: torch.Tensor | None = None  # (L_x, L_y) sums of HSIC_1
        self.hsic_xx: torch.Tensor | None = None  # (L_x,)
        self.hsic_yy: torch.Tensor | None = None  # (L_y,)
        self.num_batches = 0
        self.num_examples = 0

    def _u_centered_grams(self, acts: Sequence[torch.Tensor]) -> torch.Tensor:
        """One flattened U-centred Gram matrix per layer: L tensors (n, ...) -> (L, n*n)."""
        n = acts[0].shape[0]
        grams = torch.empty(len(acts), n * n, dtype=self.dtype, device=acts[0].device)  # (L, n*n)
        for i, a in enumerate(acts):
            a = _rows(a, self.dtype)  # (n, d)
            grams[i] = _center(a @ a.T, unbiased=True).flatten()  # (n*n,): row i
        return grams

    @torch.no_grad()
    def update_state(self, acts_x: Sequence[torch.Tensor], acts_y: Sequence[torch.Tensor] | None = None) -> None:
        """Add one minibatch: the activations of every layer of network x (and y) on the same n >= 4 examples."""
        n = _check_update_state(self, acts_x, acts_y)
        gx = self._u_centered_grams(acts_x)  # (L_x, n*n)
        gy = gx if acts_y is None else self._u_centered_grams(acts_y)  # (L_y, n*n)
        scale = 1.0 / (n * (n - 3))  # U-centred inner products are n(n-3) HSIC_1
        xy = (gx @ gy.T) * scale  # (L_x, L_y)
        xx = (gx * gx).sum(1) * scale  # (L_x,)
        yy = xx.clone() if acts_y is None else (gy * gy).sum(1) * scale  # (L_y,); a copy: summed separately
        if self.hsic_xy is None:
            self.hsic_xy, self.hsic_xx, self.hsic_yy = xy, xx, yy
        else:
            self.hsic_xy += xy
            self.hsic_xx += xx
            self.hsic_yy += yy
        self.num_batches += 1
        self.num_examples += n

    def result(self) -> torch.Tensor:
        """The (L_x, L_y) CKA matrix accumulated so far (NaN in a row or column of a constant layer)."""
        if self.hsic_xy is None:
            raise RuntimeError("MinibatchCKA.result(): no minibatch yet; call update_state(acts_x, acts_y) first")
        return self.hsic_xy / torch.sqrt(self.hsic_xx[:, None] * self.hsic_yy[None, :])  # (L_x, L_y)

    def __repr__(self) -> str:
        return (
            f"MinibatchCKA(num_layers_x={self.num_layers_x}, num_layers_y={self.num_layers_y}, "
            f"dtype={self.dtype}, num_batches={self.num_batches}, num_examples={self.num_examples})"
        )


# --------------------------------------------------------------------------------------------
# attention distance
# --------------------------------------------------------------------------------------------
def patch_distances(grid_size: int, patch_size: int, device: torch.device | str | None = None) -> torch.Tensor:
    """Euclidean distances in pixels between the centres of the patches of a g x g grid: (g*g, g*g), float64.

    Patches are numbered row by row (the order of ViT's tokens), so patch t sits at (t // g, t % g);
    neighbours in a row or a column are ``patch_size`` pixels apart.
    """
    g, p = positive_ints("patch_distances", grid_size=grid_size, patch_size=patch_size)
    idx = torch.arange(g * g, device=device)  # (g*g,)
    yx = torch.stack([idx // g, idx % g], dim=1).to(_F64) * p  # (g*g, 2): pixel offsets of the patch centres
    return torch.cdist(yx, yx)  # (g*g, g*g)


def mean_attention_distance(
    attn: torch.Tensor, patch_size: int, num_prefix_tokens: int = 1, renormalize: bool = True
) -> torch.Tensor:
    """The ViT paper's mean attention distance, in pixels, one value per head: (B, heads, N, N) -> (heads,).

    Dosovitskiy et al. 2021, App. D.7: for a query patch, the distance to every other patch weighted by the
    attention it pays to it; averaged over the queries and the B images (Raghu et al. 2021, Fig. 3-4, plot
    it per head and layer). ``attn`` holds softmax weights, rows = queries, the first ``num_prefix_tokens``
    tokens being the class token (0 for a model without one), the rest a g x g grid of patches.

    The prefix rows and columns are dropped. The weights a query puts on the class token have no position:
    with ``renormalize=True`` (default) each query's weights on the patches are rescaled to sum to 1, so the
    result is the mean distance *given* that the head looks at patches; ``renormalize=False`` counts the
    class-token weight as distance 0 (the un-renormalised sum some re-implementations use), which makes a
    head that attends mostly to the class token look local.
    """
    g = _check_mean_attention_distance(attn, patch_size, num_prefix_tokens)
    P = num_prefix_tokens
    a = attn[:, :, P:, P:].to(_F64)  # (B, heads, g*g, g*g)
    if renormalize:
        a = a / a.sum(-1, keepdim=True)  # (B, heads, g*g, g*g)
    dist = patch_distances(g, patch_size, device=attn.device)  # (g*g, g*g)
    per_query = (a * dist).sum(-1)  # (B, heads, g*g)
    return per_query.mean(dim=(0, 2))  # (heads,)


# --------------------------------------------------------------------------------------------
# linear probes
# --------------------------------------------------------------------------------------------
def ridge_classifier(
    features: torch.Tensor, labels: torch.Tensor, num_classes: int | None = None, l2: float = 1e-3
) -> tuple[torch.Tensor, torch.Tensor]:
    """A linear classifier in closed form: ridge regression of one-hot targets. Returns (weight (k, d), bias (k,)).

    Minimises ``||X W^T + 1 b^T - Y||_F^2 + lam ||W||_F^2`` with Y the one-hot labels; the bias is not
    penalised, so with centred features Xc: ``W^T = (Xc^T Xc + lam I)^-1 Xc^T Yc`` and ``b = mean(Y) -
    W mean(X)``. When d > n the same W comes from the n x n system ``W^T = Xc^T (Xc Xc^T + lam I)^-1 Yc``.
    ``lam = l2 * ||Xc||_F^2 / d`` (``l2`` times the mean diagonal entry of Xc^T Xc), so one ``l2`` suits
    every layer whatever the scale of its activations. float64.
    """
    k = _check_ridge(features, labels, num_classes, l2)
    x = _rows(features)  # (n, d)
    n, d = x.shape
    y = torch.nn.functional.one_hot(labels.long().to(x.device), k).to(_F64)  # (n, k)
    x_mean, y_mean = x.mean(0), y.mean(0)  # (d,), (k,)
    xc, yc = x - x_mean, y - y_mean  # (n, d), (n, k)
    lam = l2 * (xc * xc).sum() / d
    if d <= n:
        a = xc.T @ xc + lam * torch.eye(d, dtype=_F64, device=x.device)  # (d, d)
        w_t = torch.linalg.solve(a, xc.T @ yc)  # (d, k)
    else:
        a = xc @ xc.T + lam * torch.eye(n, dtype=_F64, device=x.device)  # (n, n)
        w_t = xc.T @ torch.linalg.solve(a, yc)  # (d, k)
    bias = y_mean - x_mean @ w_t  # (k,)
    return w_t.T, bias  # (k, d), (k,)


def linear_probe(
    train_features: torch.Tensor,
    train_labels: torch.Tensor,
    test_features: torch.Tensor,
    test_labels: torch.Tensor,
    l2: float = 1e-3,
) -> torch.Tensor:
    """Test accuracy (0-d float64 tensor, in [0, 1]) of :func:`ridge_classifier` fitted on the train features.

    Raghu et al. 2021 fit linear probes on each layer's representation to see how much of the class
    information a layer already holds. Ours is closed-form ridge regression on one-hot targets (a
    least-squares classifier): no learning rate, no epochs, one solve per layer. Its accuracies are
    comparable between layers and models, not digit for digit with a softmax probe trained by SGD.
    """
    k = _check_linear_probe(train_features, train_labels, test_features, test_labels, l2)
    weight, bias = ridge_classifier(train_features, train_labels, k, l2)  # (k, d), (k,)
    logits = _rows(test_features) @ weight.T + bias  # (n_test, k)
    return (logits.argmax(1) == test_labels.to(logits.device)).to(_F64).mean()


def linear_probes(
    train_features: Sequence[torch.Tensor],
    train_labels: torch.Tensor,
    test_features: Sequence[torch.Tensor],
    test_labels: torch.Tensor,
    l2: float = 1e-3,
) -> torch.Tensor:
    """:func:`linear_probe` for every layer: two lists of L activations -> (L,) test accuracies, float64."""
    _check_linear_probes(train_features, test_features)
    return torch.stack(
        [linear_probe(a, train_labels, b, test_labels, l2) for a, b in zip(train_features, test_features)]
    )  # (L,)


# --------------------------------------------------------------------------------------------
# argument checks
# --------------------------------------------------------------------------------------------
def _check_examples(fn: str, need: int, why: str, **tensors) -> int:
    """Same number of examples (dim 0) in every tensor, at least ``need``; returns it."""
    first_name, first = next(iter(tensors.items()))
    n = first.shape[0]
    for name, t in tensors.items():
        if t.shape[0] != n:
            raise ValueError(
                f"{fn}(): arguments '{first_name}' and '{name}' must hold the same examples (dim 0), got "
                f"{n} and {t.shape[0]} (shapes {fmt_shape(first)} and {fmt_shape(t)})"
            )
    if n < need:
        raise ValueError(f"{fn}(): argument '{first_name}' must hold at least {need} examples ({why}), got {n}")
    return n


def _check_features(fn: str, debiased: bool = False, **tensors) -> None:
    for name, t in tensors.items():
        check_tensor(fn, name, t, layout="(n, ...)")
        if t.dim() < 2:
            raise ValueError(f"{fn}(): argument '{name}' must be (n, ...) with at least 2 dims, got {fmt_shape(t)}")
    need, why = (4, "the unbiased HSIC divides by n(n-3)") if debiased else (2, "centring over the examples needs 2")
    _check_examples(fn, need, why, **tensors)


def _check_gram_rbf(x, threshold) -> None:
    _check_features("gram_rbf", x=x)
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not threshold > 0:
        raise ValueError(f"gram_rbf(): argument 'threshold' must be a number > 0, got {threshold!r}")


def _check_gram(fn: str, unbiased: bool, **grams) -> None:
    for name, g in grams.items():
        check_tensor(fn, name, g, ndim=2, layout="(n, n)")
        if g.shape[0] != g.shape[1]:
            raise ValueError(f"{fn}(): argument '{name}' must be a square (n, n) Gram matrix, got {fmt_shape(g)}")
        if not torch.allclose(g, g.T):
            raise ValueError(f"{fn}(): argument '{name}' must be a symmetric Gram matrix (it is not)")
    need, why = (4, "the unbiased HSIC divides by n(n-3)") if unbiased else (2, "centring over the examples needs 2")
    _check_examples(fn, need, why, **grams)


def _check_update_state(mcka: MinibatchCKA, acts_x, acts_y) -> int:
    fn = "MinibatchCKA.update_state"
    pairs = [("acts_x", acts_x, mcka.num_layers_x, "num_layers_x")]
    if acts_y is not None:
        pairs.append(("acts_y", acts_y, mcka.num_layers_y, "num_layers_y"))
    elif mcka.num_layers_x != mcka.num_layers_y:
        raise ValueError(
            f"{fn}(): argument 'acts_y' is needed when num_layers_x = {mcka.num_layers_x} "
            f"!= num_layers_y = {mcka.num_layers_y}"
        )
    tensors = {}
    for name, acts, expected, attr in pairs:
        if not isinstance(acts, (list, tuple)):
            raise TypeError(f"{fn}(): argument '{name}' must be a list of (n, ...) tensors, got {type(acts).__name__}")
        if len(acts) != expected:
            raise ValueError(f"{fn}(): argument '{name}' must hold {attr} = {expected} layers, got {len(acts)}")
        for i, a in enumerate(acts):
            check_tensor(fn, f"{name}[{i}]", a, layout="(n, ...)")
            if a.dim() < 1:
                raise ValueError(f"{fn}(): argument '{name}[{i}]' must be (n, ...), got a 0-d tensor")
            tensors[f"{name}[{i}]"] = a
    devices = {a.device for a in tensors.values()}
    if len(devices) > 1:
        raise ValueError(f"{fn}(): every activation must be on one device, got {sorted(str(d) for d in devices)}")
    return _check_examples(fn, 4, "the unbiased HSIC divides by n(n-3)", **tensors)


def _check_mean_attention_distance(attn, patch_size, num_prefix_tokens) -> int:
    fn = "mean_attention_distance"
    check_tensor(fn, "attn", attn, ndim=4, layout="(B, heads, N, N)", floating=True)
    positive_int(fn, "patch_size", patch_size)
    if isinstance(num_prefix_tokens, bool) or not isinstance(num_prefix_tokens, int) or num_prefix_tokens < 0:
        raise ValueError(f"{fn}(): argument 'num_prefix_tokens' must be an int >= 0, got {num_prefix_tokens!r}")
    B, heads, N, M = attn.shape
    if N != M:
        raise ValueError(
            f"{fn}(): argument 'attn' must be (B, heads, N, N) with as many keys as queries, got {fmt_shape(attn)}"
        )
    g = math.isqrt(max(N - num_prefix_tokens, 0))
    if g < 1 or g * g != N - num_prefix_tokens:
        raise ValueError(
            f"{fn}(): argument 'attn' must have N = num_prefix_tokens + g*g tokens (a square grid of patches); "
            f"N = {N} with num_prefix_tokens = {num_prefix_tokens} leaves {N - num_prefix_tokens} patches, "
            f"got shape {fmt_shape(attn)}"
        )
    return g


def _check_labels(fn: str, name: str, labels) -> None:
    check_tensor(fn, name, labels, ndim=1, layout="(n,)")
    if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
        raise TypeError(
            f"{fn}(): argument '{name}' must be an integer tensor of class indices, got dtype {labels.dtype}"
        )


def _check_ridge(features, labels, num_classes, l2) -> int:
    fn = "ridge_classifier"
    _check_features(fn, features=features)
    _check_labels(fn, "labels", labels)
    _check_examples(fn, 2, "a probe needs 2", features=features, labels=labels)
    if isinstance(l2, bool) or not isinstance(l2, (int, float)) or not l2 > 0:
        raise ValueError(f"{fn}(): argument 'l2' must be a number > 0, got {l2!r}")
    if int(labels.min()) < 0:
        raise ValueError(f"{fn}(): argument 'labels' must be class indices >= 0, got {int(labels.min())}")
    top = int(labels.max()) + 1
    if num_classes is None:
        return top
    positive_int(fn, "num_classes", num_classes)
    if top > num_classes:
        raise ValueError(f"{fn}(): argument 'labels' holds class {top - 1}, not < num_classes = {num_classes}")
    return num_classes


def _check_linear_probe(train_features, train_labels, test_features, test_labels, l2) -> int:
    fn = "linear_probe"
    check_tensor(fn, "test_features", test_features, layout="(n_test, ...)")
    _check_labels(fn, "test_labels", test_labels)
    _check_examples(fn, 1, "", test_features=test_features, test_labels=test_labels)
    k = _check_ridge(train_features, train_labels, None, l2)
    d_train = math.prod(train_features.shape[1:])
    d_test = math.prod(test_features.shape[1:])
    if d_test != d_train:
        raise ValueError(
            f"{fn}(): arguments 'train_features' {fmt_shape(train_features)} and 'test_features' "
            f"{fmt_shape(test_features)} must have the same number of features per example, got {d_train} and {d_test}"
        )
    return max(k, int(test_labels.max()) + 1)


def _check_linear_probes(train_features, test_features) -> None:
    fn = "linear_probes"
    for name, feats in (("train_features", train_features), ("test_features", test_features)):
        if not isinstance(feats, (list, tuple)) or not feats:
            raise TypeError(
                f"{fn}(): argument '{name}' must be a non-empty list of (n, ...) tensors, got {type(feats).__name__}"
            )
    if len(train_features) != len(test_features):
        raise ValueError(
            f"{fn}(): arguments 'train_features' and 'test_features' must hold the same layers, "
            f"got {len(train_features)} and {len(test_features)}"
        )


def _check_minibatch_cka(num_layers_x, num_layers_y, dtype) -> None:
    positive_int("MinibatchCKA", "num_layers_x", num_layers_x)
    if num_layers_y is not None:
        positive_int("MinibatchCKA", "num_layers_y", num_layers_y)
    if dtype not in (torch.float32, torch.float64):
        raise TypeError(f"MinibatchCKA(): argument 'dtype' must be torch.float32 or torch.float64, got {dtype}")

