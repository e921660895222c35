"""Tests of cnnvit_ref.representations (chapter 07) against the papers' formulas, computed independently.

Oracles: the HSIC/CKA definitions written out with an explicit centring matrix (Kornblith et al. 2019, Sec. 3),
the unbiased HSIC as Song et al.'s closed form in plain loops AND as the U-statistic over all 4-tuples of
distinct examples, numpy's median for the RBF bandwidth, exact invariances (orthogonal maps, isotropic
scaling), hand-derived attention distances, torch.linalg.lstsq for the ridge probe, and timm's own
forward_intermediates (tests/fixtures/timm_intermediates_vit_resnet.pt, made by tools/make_timm_goldens_07.py).
"""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from cnnvit_ref import models
from cnnvit_ref.representations import (
    MinibatchCKA,
    center_gram,
    cka,
    feature_space_linear_cka,
    gram_linear,
    gram_rbf,
    linear_probe,
    linear_probes,
    mean_attention_distance,
    patch_distances,
    ridge_classifier,
)
from cnnvit_ref.resnet import ResNet, ResNetConfig
from cnnvit_ref.vit import ViTConfig, VisionTransformer
from helpers import FIXTURES, generator, raises

DT = torch.float64


def _xy(n=40, d=10, seed=0):
    """Two related representations of n examples (Y = a random map of X plus noise)."""
    g = generator(seed)
    x = torch.randn(n, d, generator=g, dtype=DT)
    y = x @ torch.randn(d, 7, generator=g, dtype=DT) + 0.5 * torch.randn(n, 7, generator=g, dtype=DT)
    return x, y


def _orthogonal(d, seed):
    q, _ = torch.linalg.qr(torch.randn(d, d, generator=generator(seed), dtype=DT))
    return q


# ------------------------------------------------------------------------------ oracles, written from the papers
def _hsic_biased(K, L):
    """Kornblith et al. Sec. 3: tr(K H L H) / (n-1)^2 with the explicit centring matrix H."""
    n = K.shape[0]
    H = torch.eye(n, dtype=DT) - torch.ones(n, n, dtype=DT) / n
    return torch.trace(K @ H @ L @ H) / (n - 1) ** 2


def _cka_biased(K, L):
    return _hsic_biased(K, L) / math.sqrt(_hsic_biased(K, K) * _hsic_biased(L, L))


def _hsic_unbiased_loops(K, L):
    """Song et al. 2012 / Nguyen et al. 2021 (Sec. 3.1), in plain loops over the entries."""
    n = K.shape[0]
    Kt = [[0.0 if i == j else float(K[i, j]) for j in range(n)] for i in range(n)]
    Lt = [[0.0 if i == j else float(L[i, j]) for j in range(n)] for i in range(n)]
    trace = sum(Kt[i][j] * Lt[j][i] for i in range(n) for j in range(n))
    sum_k = sum(Kt[i][j] for i in range(n) for j in range(n))
    sum_l = sum(Lt[i][j] for i in range(n) for j in range(n))
    kl_sum = sum(Kt[i][j] * Lt[j][q] for i in range(n) for j in range(n) for q in range(n))
    return (trace + sum_k * sum_l / ((n - 1) * (n - 2)) - 2.0 / (n - 2) * kl_sum) / (n * (n - 3))


def _hsic_u_statistic(K, L):
    """HSIC_1 as the U-statistic it is (Song et al. 2012): the mean over all ordered 4-tuples of
    distinct examples of k_ij l_ij + k_ij l_qr - 2 k_ij l_iq (the kernel h symmetrised by the average)."""
    n = K.shape[0]
    total, count = 0.0, 0
    for i, j, q, r in itertools.permutations(range(n), 4):
        total += float(K[i, j] * L[i, j] + K[i, j] * L[q, r] - 2 * K[i, j] * L[i, q])
        count += 1
    return total / count


def _cka_debiased_loops(K, L):
    return _hsic_unbiased_loops(K, L) / math.sqrt(_hsic_unbiased_loops(K, K) * _hsic_unbiased_loops(L, L))


# ------------------------------------------------------------------------------ gram matrices and centring
def test_gram_linear_and_flattening():
    x = torch.randn(5, 2, 3, generator=generator(1), dtype=torch.float32)
    g = gram_linear(x)
    assert g.dtype == DT and g.shape == (5, 5)
    flat = x.reshape(5, 6).double()
    torch.testing.assert_close(g, flat @ flat.T, rtol=0, atol=0)


@pytest.mark.parametrize("n,threshold", [(6, 1.0), (7, 0.5), (9, 2.0)])
def test_gram_rbf_bandwidth_is_the_numpy_median(n, threshold):
    x = torch.randn(n, 4, generator=generator(n), dtype=DT)
    xs = x.numpy()
    sq = ((xs[:, None, :] - xs[None, :, :]) ** 2).sum(-1)  # (n, n) squared distances
    sigma2 = threshold**2 * np.median(sq)  # numpy's median: mean of the two middle values for even n*n
    expected = np.exp(-sq / (2 * sigma2))
    torch.testing.assert_close(gram_rbf(x, threshold), torch.from_numpy(expected), rtol=1e-12, atol=1e-12)


def test_center_gram_biased_is_hkh():
    x, _ = _xy(n=9)
    K = gram_linear(x)
    H = torch.eye(9, dtype=DT) - torch.ones(9, 9, dtype=DT) / 9
    torch.testing.assert_close(center_gram(K), H @ K @ H, rtol=1e-12, atol=1e-10)
    # = the Gram matrix of the centred features
    xc = x - x.mean(0)
    torch.testing.assert_close(center_gram(K), xc @ xc.T, rtol=1e-12, atol=1e-10)


@pytest.mark.parametrize("n", [4, 6, 9])
def test_unbiased_centring_gives_song_et_al_hsic(n):
    x, y = _xy(n=n, seed=n)
    K, L = gram_linear(x), gram_linear(y)
    inner = (center_gram(K, unbiased=True) * center_gram(L, unbiased=True)).sum() / (n * (n - 3))
    assert float(inner) == pytest.approx(_hsic_unbiased_loops(K, L), rel=1e-10, abs=1e-12)
    assert torch.all(center_gram(K, unbiased=True).diagonal() == 0)


def test_song_et_al_closed_form_is_the_u_statistic():
    # the formula of the loops (and so our U-centring) against the definition of the unbiased estimator
    x, y = _xy(n=6, seed=3)
    K, L = gram_linear(x), gram_rbf(y)
    assert _hsic_unbiased_loops(K, L) == pytest.approx(_hsic_u_statistic(K, L), rel=1e-10)
    inner = (center_gram(K, unbiased=True) * center_gram(L, unbiased=True)).sum() / (6 * 3)
    assert float(inner) == pytest.approx(_hsic_u_statistic(K, L), rel=1e-10)


# ------------------------------------------------------------------------------ CKA
def test_cka_against_the_definition():
    x, y = _xy()
    for K, L in ((gram_linear(x), gram_linear(y)), (gram_rbf(x, 0.5), gram_rbf(y, 0.5))):
        assert float(cka(K, L)) == pytest.approx(float(_cka_biased(K, L)), rel=1e-12)
    x, y = _xy(n=8, seed=4)
    K, L = gram_linear(x), gram_linear(y)
    assert float(cka(K, L, debiased=True)) == pytest.approx(_cka_debiased_loops(K, L), rel=1e-10)


@pytest.mark.parametrize("debiased", [False, True])
def test_cka_of_a_representation_with_itself_is_one(debiased):
    x, _ = _xy(n=30, d=12, seed=5)
    assert float(cka(gram_linear(x), gram_linear(x), debiased)) == pytest.approx(1.0, abs=1e-12)
    assert float(cka(gram_rbf(x), gram_rbf(x), debiased)) == pytest.approx(1.0, abs=1e-12)
    assert float(feature_space_linear_cka(x, x, debiased)) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("debiased", [False, True])
def test_invariant_to_orthogonal_maps_and_isotropic_scaling_not_to_anisotropic(debiased):
    x, y = _xy(n=50, d=10, seed=6)
    base = float(feature_space_linear_cka(x, y, debiased))
    assert 0.2 < base < 0.99
    x2 = 3.7 * x @ _orthogonal(10, 7)  # rotate and scale
    assert float(feature_space_linear_cka(x2, y, debiased)) == pytest.approx(base, rel=1e-10)
    assert float(cka(gram_linear(x2), gram_linear(y), debiased)) == pytest.approx(base, rel=1e-10)
    assert float(feature_space_linear_cka(x2, x, debiased)) == pytest.approx(1.0, abs=1e-12)
    rbf = float(cka(gram_rbf(x), gram_rbf(y), debiased))  # the median bandwidth scales with the data
    assert float(cka(gram_rbf(x2), gram_rbf(y), debiased)) == pytest.approx(rbf, rel=1e-10)
    stretch = torch.tensor([10.0] + [0.1] * 9, dtype=DT)  # anisotropic: one axis up, the rest down
    assert abs(float(feature_space_linear_cka(x * stretch, y, debiased)) - base) > 0.05
    assert abs(float(feature_space_linear_cka(x * stretch, x, debiased)) - 1.0) > 0.05


@pytest.mark.parametrize("debiased", [False, True])
@pytest.mark.parametrize("n,d", [(40, 10), (12, 30)])
def test_feature_space_linear_cka_equals_the_gram_formula(debiased, n, d):
    g = generator(n + d)
    x = torch.randn(n, d, generator=g, dtype=DT) + 2.0  # not centred: both must centre
    y = torch.tanh(x[:, :5]) + 0.3 * torch.randn(n, 5, generator=g, dtype=DT)
    a = feature_space_linear_cka(x, y, debiased)
    b = cka(gram_linear(x), gram_linear(y), debiased)
    assert a.dtype == DT and a.dim() == 0
    assert float(a) == pytest.approx(float(b), rel=1e-10)


def test_float32_inputs_are_computed_in_float64():
    x, y = _xy(n=20)
    a = feature_space_linear_cka(x.float(), y.float(), debiased=True)
    assert a.dtype == DT
    same_numbers = feature_space_linear_cka(x.float().double(), y.float().double(), True)
    assert float(a) == pytest.approx(float(same_numbers), rel=1e-12)  # in float32 it would differ by ~1e-7


# ------------------------------------------------------------------------------ minibatch CKA
def _layers(n, seed, dims=(6, 9, 4)):
    """Three "layers" of a toy network on the same n examples, (n, ...) shaped."""
    g = generator(seed)
    x = torch.randn(n, dims[0], generator=g, dtype=DT)
    h1 = torch.relu(x @ torch.randn(dims[0], dims[1], generator=g, dtype=DT))
    h2 = torch.tanh(h1 @ torch.randn(dims[1], dims[2], generator=g, dtype=DT))
    return [x, h1.reshape(n, -1, 1), h2]  # a 3-D activation too: flattened to (n, d)


def test_one_minibatch_is_the_debiased_full_batch_cka():
    acts_x = _layers(16, 1)
    acts_y = _layers(16, 2, dims=(6, 5, 8))[1:]
    m = MinibatchCKA(3, 2)
    m.update_state(acts_x, acts_y)
    out = m.result()
    assert out.shape == (3, 2) and out.dtype == DT
    for i, a in enumerate(acts_x):
        for j, b in enumerate(acts_y):
            full_batch = cka(gram_linear(a), gram_linear(b), debiased=True)
            assert float(out[i, j]) == pytest.approx(float(full_batch), rel=1e-10)


def test_several_minibatches_against_a_hand_computed_average():
    sizes = (8, 8, 5)  # the last minibatch is smaller
    batches_x = [_layers(n, 10 + k) for k, n in enumerate(sizes)]
    batches_y = [_layers(n, 20 + k, dims=(6, 4, 3)) for k, n in enumerate(sizes)]
    m = MinibatchCKA(3, 3)
    for ax, ay in zip(batches_x, batches_y):
        m.update_state(ax, ay)
    assert m.num_batches == 3 and m.num_examples == 21
    got = m.result()
    for i in range(3):
        for j in range(3):
            # Nguyen et al. Sec. 3.1: (1/k) sum HSIC_1(X_i, Y_i) / sqrt((1/k) sum HSIC_1(X_i, X_i) (1/k) sum ...)
            pairs = zip(batches_x, batches_y)
            xy = sum(_hsic_unbiased_loops(gram_linear(ax[i]), gram_linear(ay[j])) for ax, ay in pairs) / 3
            xx = sum(_hsic_unbiased_loops(gram_linear(ax[i]), gram_linear(ax[i])) for ax in batches_x) / 3
            yy = sum(_hsic_unbiased_loops(gram_linear(ay[j]), gram_linear(ay[j])) for ay in batches_y) / 3
            assert float(got[i, j]) == pytest.approx(xy / math.sqrt(xx * yy), rel=1e-9)


def test_minibatch_cka_with_one_network_and_reset():
    batches = [_layers(10, 30 + k) for k in range(3)]
    one, two = MinibatchCKA(3), MinibatchCKA(3, 3)
    for acts in batches:
        one.update_state(acts)
        two.update_state(acts, acts)
    torch.testing.assert_close(one.result(), two.result(), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(one.result().diagonal(), torch.ones(3, dtype=DT), rtol=0, atol=1e-12)
    torch.testing.assert_close(one.result(), one.result().T, rtol=0, atol=1e-12)
    one.reset()
    raises(RuntimeError, one.result, must=("MinibatchCKA.result", "update_state"))
    assert "num_batches=0" in repr(one)


def test_minibatch_cka_float32_mode_is_close():
    batches = [_layers(32, 40 + k) for k in range(2)]
    m64, m32 = MinibatchCKA(3), MinibatchCKA(3, dtype=torch.float32)
    for acts in batches:
        m64.update_state(acts)
        m32.update_state([a.float() for a in acts])
    assert m32.result().dtype == torch.float32
    torch.testing.assert_close(m32.result().double(), m64.result(), rtol=0, atol=1e-4)


# ------------------------------------------------------------------------------ attention distance
def test_patch_distances_by_hand():
    s = 16 * math.sqrt(2)
    expected = torch.tensor([[0, 16, 16, s], [16, 0, s, 16], [16, s, 0, 16], [s, 16, 16, 0]], dtype=DT)
    torch.testing.assert_close(patch_distances(2, 16), expected, rtol=0, atol=1e-12)
    assert float(patch_distances(3, 4)[0, 8]) == pytest.approx(4 * math.sqrt(8))  # corner to corner


def _with_cls(patch_attn, cls_weight=0.0):
    """Put a (B, heads, M, M) patch-to-patch attention behind a class token that takes ``cls_weight``."""
    B, heads, M, _ = patch_attn.shape
    a = torch.zeros(B, heads, 1 + M, 1 + M, dtype=DT)
    a[:, :, 0, :] = 1.0 / (1 + M)
    a[:, :, 1:, 0] = cls_weight
    a[:, :, 1:, 1:] = (1 - cls_weight) * patch_attn
    return a


def test_attention_on_the_own_patch_is_distance_zero():
    attn = _with_cls(torch.eye(9, dtype=DT).expand(2, 3, 9, 9))
    torch.testing.assert_close(mean_attention_distance(attn, 16), torch.zeros(3, dtype=DT), rtol=0, atol=0)


def test_uniform_attention_on_a_2x2_grid():
    # each query is 0, 16, 16 and 16*sqrt(2) pixels from the 4 patches: mean (32 + 16 sqrt 2) / 4 = 8 + 4 sqrt 2
    attn = _with_cls(torch.full((1, 2, 4, 4), 0.25, dtype=DT))
    expected = 8 + 4 * math.sqrt(2)  # 13.657 px
    torch.testing.assert_close(mean_attention_distance(attn, 16), torch.full((2,), expected, dtype=DT))


def _one_patch_right(g):
    """Each query attends to the patch on its right (the last column: to its left), a g x g grid."""
    a = torch.zeros(g * g, g * g, dtype=DT)
    for t in range(g * g):
        r, c = divmod(t, g)
        a[t, r * g + (c + 1 if c + 1 < g else c - 1)] = 1.0
    return a


def test_one_patch_to_the_right_is_exactly_the_patch_size():
    patch = _one_patch_right(3)
    heads = torch.stack([patch, torch.eye(9, dtype=DT)])[None]  # (1, 2, 9, 9): head 0 shifts, head 1 stays
    attn = _with_cls(heads, cls_weight=0.5)
    torch.testing.assert_close(mean_attention_distance(attn, 16), torch.tensor([16.0, 0.0], dtype=DT))
    # without renormalising, the half of each row that went to the class token counts as distance 0
    torch.testing.assert_close(mean_attention_distance(attn, 16, renormalize=False), torch.tensor([8.0, 0.0], dtype=DT))
    # a model without a class token
    no_cls = mean_attention_distance(heads, 7, num_prefix_tokens=0)
    torch.testing.assert_close(no_cls, torch.tensor([7.0, 0.0], dtype=DT))


def test_attention_distance_of_a_real_vit_is_in_range():
    model = models.create("vit_tiny_patch4_32").eval()
    maps = model.attention_maps(torch.randn(3, 3, 32, 32, generator=generator(3)))
    d = torch.stack([mean_attention_distance(a, 4) for a in maps])  # (depth, heads)
    assert d.shape == (4, 4)
    max_d = 4 * math.sqrt(2) * 7  # corner to corner of an 8 x 8 grid of 4 px patches
    assert bool(((d > 0) & (d < max_d)).all())


# ------------------------------------------------------------------------------ linear probes
def _ridge_by_lstsq(x, labels, k, l2):
    """Ridge regression as ordinary least squares on the augmented system [Xc, 1; sqrt(lam) I, 0] (an
    independent route: no normal equations, the bias fitted as a free column)."""
    n, d = x.shape
    xc = x - x.mean(0)
    lam = l2 * float((xc * xc).sum()) / d
    y = torch.nn.functional.one_hot(labels, k).to(DT)
    a = torch.cat([torch.cat([x, torch.ones(n, 1, dtype=DT)], 1),
                   torch.cat([math.sqrt(lam) * torch.eye(d, dtype=DT), torch.zeros(d, 1, dtype=DT)], 1)])
    b = torch.cat([y, torch.zeros(d, k, dtype=DT)])
    sol = torch.linalg.lstsq(a, b, driver="gelsd").solution  # (d + 1, k)
    return sol[:d].T, sol[d]


@pytest.mark.parametrize("n,d", [(60, 8), (15, 40)])  # primal (d <= n) and dual (d > n) solves
def test_ridge_classifier_equals_least_squares(n, d):
    g = generator(n)
    x = torch.randn(n, d, generator=g, dtype=DT) * 3 + 1
    labels = torch.randint(0, 4, (n,), generator=g)
    w, b = ridge_classifier(x, labels, 4, l2=0.1)
    w_ref, b_ref = _ridge_by_lstsq(x, labels, 4, 0.1)
    torch.testing.assert_close(w, w_ref, rtol=1e-8, atol=1e-10)
    torch.testing.assert_close(b, b_ref, rtol=1e-8, atol=1e-10)


def test_linear_probe_separates_what_is_linearly_separable():
    g = generator(5)
    centres = torch.randn(3, 20, generator=g, dtype=DT) * 4
    ytr, yte = torch.randint(0, 3, (90,), generator=g), torch.randint(0, 3, (60,), generator=g)
    xtr = centres[ytr] + torch.randn(90, 20, generator=g, dtype=DT)
    xte = centres[yte] + torch.randn(60, 20, generator=g, dtype=DT)
    assert float(linear_probe(xtr, ytr, xte, yte)) == 1.0
    # features that carry no class information: chance level
    noise_tr, noise_te = torch.randn(90, 20, generator=g), torch.randn(60, 20, generator=g)
    assert float(linear_probe(noise_tr, ytr, noise_te, yte)) < 0.6
    # the penalty is relative to the features' scale: scaling a layer changes nothing
    a = linear_probes([xtr, noise_tr], ytr, [xte, noise_te], yte)
    b = linear_probes([1e3 * xtr, 1e-3 * noise_tr], ytr, [1e3 * xte, 1e-3 * noise_te], yte)
    assert a.shape == (2,) and torch.equal(a, b)


# ------------------------------------------------------------------------------ forward_intermediates vs timm
GOLD = torch.load(FIXTURES / "timm_intermediates_vit_resnet.pt")


def _vit_tiny():
    ref = torch.load(FIXTURES / "vit_tiny.pt")
    model = VisionTransformer(ViTConfig(**{k: v for k, v in ref["config"].items() if k != "family"}))
    model = model.to(DT).eval()
    model.load_state_dict(ref["state_dict"], strict=True)
    return model, ref


def test_vit_forward_intermediates_match_timm():
    model, ref = _vit_tiny()
    with torch.no_grad():
        final, inter = model.forward_intermediates(ref["input"])
        pairs = model.forward_intermediates(ref["input"], indices=[0, -1], return_prefix_tokens=True, norm=True,
                                            output_fmt="NLC", intermediates_only=True)
        features = model.forward_features(ref["input"])
    torch.testing.assert_close(final, GOLD["vit_final"], rtol=0, atol=1e-10)
    torch.testing.assert_close(final, features, rtol=0, atol=0)  # final = forward_features (after the norm)
    assert len(inter) == 2 and all(t.shape == (2, 48, 4, 4) for t in inter)  # depth 2, width 48, 4x4 patches
    for ours, theirs in zip(inter, GOLD["vit_nchw"]):
        torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-10)
    for (sp, pre), (sp_t, pre_t) in zip(pairs, GOLD["vit_nlc_norm_prefix"]):
        assert sp.shape == (2, 16, 48) and pre.shape == (2, 1, 48)
        torch.testing.assert_close(sp, sp_t, rtol=0, atol=1e-10)
        torch.testing.assert_close(pre, pre_t, rtol=0, atol=1e-10)
    # with norm=True the last intermediate is forward_features without its class token
    torch.testing.assert_close(torch.cat([pairs[-1][1], pairs[-1][0]], 1), features, rtol=0, atol=0)


def test_resnet_forward_intermediates_match_timm():
    ref = torch.load(FIXTURES / "timm_resnet50_tiny.pt")
    c = ref["config"]
    model = ResNet(ResNetConfig(layers=tuple(c["layers"]), channels=tuple(c["channels"]), num_classes=10)).to(DT).eval()
    model.load_state_dict(ref["state_dict"], strict=True)
    with torch.no_grad():
        final, inter = model.forward_intermediates(ref["input"])
        last2 = model.forward_intermediates(ref["input"], indices=2, intermediates_only=True)
        early = model.forward_intermediates(ref["input"], indices=[1], stop_early=True)
    assert len(inter) == 5  # stem + 4 stages
    assert [tuple(t.shape[1:]) for t in inter] == [(64, 16, 16), (32, 8, 8), (64, 4, 4), (128, 2, 2), (256, 1, 1)]
    torch.testing.assert_close(final, GOLD["resnet_final"], rtol=0, atol=1e-10)
    torch.testing.assert_close(final, ref["features"], rtol=0, atol=1e-10)
    torch.testing.assert_close(inter[-1], model.forward_features(ref["input"]), rtol=0, atol=0)  # no final norm
    for ours, theirs in zip(inter + last2, GOLD["resnet_all"] + GOLD["resnet_last2"]):
        torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-10)
    torch.testing.assert_close(early[0], inter[1], rtol=0, atol=0)  # stopped after layer1
    assert len(early[1]) == 1


def test_intermediates_of_the_tiny_presets_feed_minibatch_cka():
    torch.manual_seed(0)
    x = torch.randn(8, 3, 32, 32, generator=generator(9))
    nets = [models.create(n).eval() for n in ("resnet_tiny", "vit_tiny_patch4_32", "mixer_tiny_patch4_32")]
    with torch.no_grad():
        acts = [net.forward_intermediates(x, intermediates_only=True) for net in nets]
    assert [len(a) for a in acts] == [5, 4, 4]
    m = MinibatchCKA(5, 4)
    m.update_state(acts[0], acts[1])
    assert m.result().shape == (5, 4) and bool(torch.isfinite(m.result()).all())


# ------------------------------------------------------------------------------ on a GPU
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_gives_the_cpu_values_on_the_device():
    x, y = _xy(n=20)
    xg, yg = x.cuda(), y.cuda()
    for fn in (lambda a, b: feature_space_linear_cka(a, b, True), lambda a, b: cka(gram_rbf(a), gram_rbf(b), True)):
        got = fn(xg, yg)
        assert got.device.type == "cuda"
        torch.testing.assert_close(got.cpu(), fn(x, y), rtol=1e-9, atol=1e-12)
    m_cpu, m_gpu = MinibatchCKA(3), MinibatchCKA(3)
    for k in range(2):
        acts = _layers(12, 50 + k)
        m_cpu.update_state(acts)
        m_gpu.update_state([a.cuda() for a in acts])
    torch.testing.assert_close(m_gpu.result().cpu(), m_cpu.result(), rtol=1e-9, atol=1e-12)
    attn = _with_cls(_one_patch_right(3)[None, None]).cuda()
    torch.testing.assert_close(mean_attention_distance(attn, 16).cpu(), torch.tensor([16.0], dtype=DT))
    labels = torch.arange(20) % 3
    acc = linear_probe(xg, labels, xg, labels.cuda())  # labels may stay on the CPU
    assert acc.device.type == "cuda" and float(acc) == float(linear_probe(x, labels, x, labels))
    net = models.create("vit_tiny_patch4_32").eval()
    img = torch.randn(2, 3, 32, 32, generator=generator(4))
    with torch.no_grad():
        cpu = net.forward_intermediates(img, intermediates_only=True)
        gpu = net.cuda().forward_intermediates(img.cuda(), intermediates_only=True)
    for a, b in zip(cpu, gpu):
        torch.testing.assert_close(b.cpu(), a, rtol=1e-4, atol=1e-4)


# ------------------------------------------------------------------------------ bad input
def test_bad_input_messages():
    x, y = _xy(n=10)
    raises(ValueError, feature_space_linear_cka, x, y[:9],
           must=("feature_space_linear_cka", "'features_x'", "'features_y'", "10", "9"))
    raises(ValueError, cka, gram_linear(x), gram_linear(y[:9]), must=("cka()", "'gram_y'", "10", "9"))
    raises(ValueError, feature_space_linear_cka, x[:3], y[:3], True, must=("'features_x'", "at least 4", "got 3"))
    raises(ValueError, cka, gram_linear(x[:3]), gram_linear(y[:3]), True, must=("'gram_x'", "at least 4", "got 3"))
    raises(ValueError, center_gram, torch.zeros(3, 4), must=("center_gram", "'gram'", "(3, 4)"))
    raises(ValueError, center_gram, torch.triu(torch.ones(5, 5)), must=("center_gram", "'gram'", "symmetric"))
    raises(ValueError, gram_linear, torch.zeros(5), must=("gram_linear", "'x'", "(5)"))
    raises(TypeError, gram_linear, x.numpy(), must=("gram_linear", "'x'", "torch.Tensor"))
    raises(ValueError, gram_rbf, x, 0.0, must=("gram_rbf", "'threshold'", "0.0"))

    m = MinibatchCKA(3, 2)
    acts = _layers(8, 1)
    raises(ValueError, m.update_state, acts, acts, must=("update_state", "'acts_y'", "num_layers_y = 2", "got 3"))
    raises(ValueError, m.update_state, acts, must=("update_state", "'acts_y'", "needed"))
    raises(ValueError, m.update_state, acts[:2] + [acts[2][:7]], acts[:2],
           must=("update_state", "'acts_x[0]'", "'acts_x[2]'", "8", "7"))
    raises(ValueError, m.update_state, acts, [acts[0], acts[1][:6]], must=("'acts_y[1]'", "8", "6"))
    small = [a[:3] for a in acts]
    raises(ValueError, m.update_state, small, small[:2], must=("'acts_x[0]'", "at least 4", "got 3"))
    raises(TypeError, m.update_state, acts[0], acts[:2], must=("'acts_x'", "list"))
    raises(ValueError, MinibatchCKA, 0, must=("MinibatchCKA", "'num_layers_x'"))

    raises(ValueError, mean_attention_distance, torch.rand(1, 2, 5, 4), 16,
           must=("mean_attention_distance", "'attn'", "(B, heads, N, N)", "(1, 2, 5, 4)"))
    raises(ValueError, mean_attention_distance, torch.rand(1, 2, 18, 18), 16,
           must=("'attn'", "num_prefix_tokens + g*g", "N = 18", "17 patches"))
    raises(ValueError, mean_attention_distance, torch.rand(1, 2, 17, 17), 16, 0,
           must=("'attn'", "N = 17", "num_prefix_tokens = 0"))
    raises(ValueError, mean_attention_distance, torch.rand(2, 17, 17), 16, must=("'attn'", "4-D", "(2, 17, 17)"))
    raises(ValueError, mean_attention_distance, torch.rand(1, 1, 5, 5), 0, must=("'patch_size'",))

    labels = torch.arange(10) % 3
    raises(ValueError, linear_probe, x, labels[:9], x, labels,
           must=("ridge_classifier", "'features'", "'labels'", "10", "9"))
    raises(ValueError, linear_probe, x, labels, x[:, :5], labels, must=("linear_probe", "'test_features'", "10", "5"))
    raises(TypeError, linear_probe, x, labels.double(), x, labels, must=("'labels'", "integer"))
    raises(ValueError, linear_probe, x, labels, x, labels, 0.0, must=("'l2'", "> 0"))
    raises(ValueError, linear_probes, [x, x], labels, [x], labels, must=("linear_probes", "2 and 1"))
    raises(ValueError, ridge_classifier, x, labels, 2, must=("'labels'", "class 2", "num_classes = 2"))

    vit = models.create("vit_tiny_patch4_32")
    raises(ValueError, vit.forward_intermediates, torch.zeros(1, 3, 32, 32), indices=5,
           must=("VisionTransformer.forward_intermediates", "'indices'", "1..4", "5"))
    raises(ValueError, vit.forward_intermediates, torch.zeros(1, 3, 32, 32), indices=[0, 4],
           must=("'indices'", "holds 4"))
    raises(ValueError, vit.forward_intermediates, torch.zeros(1, 3, 32, 32), output_fmt="NHWC",
           must=("'output_fmt'", "NHWC"))
    raises(ValueError, vit.forward_intermediates, torch.zeros(1, 3, 28, 28),
           must=("'x'", "(B, 3, 32, 32)", "(1, 3, 28, 28)"))
    resnet = models.create("resnet_tiny")
    raises(ValueError, resnet.forward_intermediates, torch.zeros(1, 3, 32, 32), output_fmt="NLC",
           must=("ResNet.forward_intermediates", "'output_fmt'", "['NCHW']"))
    raises(ValueError, resnet.forward_intermediates, torch.zeros(1, 1, 32, 32), must=("'x'", "3 channels"))
