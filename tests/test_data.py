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
