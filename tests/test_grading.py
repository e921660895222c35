"""Unit tests of the exercise checker ``cnnvit_ref.grading``.

The checker is tested against what it must catch: correct implementations written here from other
torch ops must pass; wrong outputs, wrong gradients, detached outputs, delegation to the op being
re-implemented, endless loops and a notebook that patches torch or the checker must fail with a
message that says what is wrong. Expected numbers in messages are set by construction (a tensor of
zeros with one element changed), never computed by the checker.

Tests that reload ``cnnvit_ref.grading`` (the test-cell idiom) run in a subprocess, so that the
reload cannot swap the ``GradingError`` class under other test modules in this process.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import cnnvit_ref.grading as grading
from cnnvit_ref.grading import GradingError

CONV_FORBID = ("conv2d", "convolution", "_convolution")


# --------------------------------------------------------------------------------------------
# Student implementations written from other ops (the checker must accept them)
# --------------------------------------------------------------------------------------------
def unfold_conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """conv2d by im2col (F.unfold) and one matmul; groups=1 only."""
    B, C, H, W = input.shape
    O, _, kh, kw = weight.shape
    Ho = (H + 2 * padding - dilation * (kh - 1) - 1) // stride + 1
    Wo = (W + 2 * padding - dilation * (kw - 1) - 1) // stride + 1
    cols = F.unfold(input, (kh, kw), dilation=dilation, padding=padding, stride=stride)  # (B, C*kh*kw, L)
    out = (weight.reshape(O, -1) @ cols).view(B, O, Ho, Wo)  # (B, O, Ho, Wo)
    return out if bias is None else out + bias.view(1, O, 1, 1)


CONV_CASES = [
    dict(input=grading.randn(2, 3, 6, 5), weight=grading.randn(4, 3, 3, 3), bias=grading.randn(4)),
    dict(input=grading.randn(1, 2, 7, 7), weight=grading.randn(3, 2, 3, 3), stride=2, padding=1),
]


def manual_relu(x):
    return x * (x > 0)


def run_snippet(code: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh Python (as a notebook kernel would), return the finished process."""
    full_env = dict(os.environ, **(env or {}))
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=120, env=full_env)


# --------------------------------------------------------------------------------------------
# assert_close: what the failure messages say
# --------------------------------------------------------------------------------------------
def test_assert_close_reports_value_error_with_index_and_counts():
    expected = torch.zeros(2, 3, dtype=torch.float64)
    got = expected.clone()
    got[1, 2] = 0.5
    with pytest.raises(GradingError) as info:
        grading.assert_close(got, expected, name="output of conv2d")
    msg = str(info.value)
    assert "output of conv2d" in msg
    assert "expected shape (2, 3), dtype torch.float64, device cpu" in msg
    assert "max abs error 0.5 at index (1, 2): expected 0, got 0.5" in msg
    assert "1 of 6 elements (16.7%)" in msg
    assert "max rel error 5e+11" in msg  # 0.5 / the 1e-12 floor of |expected|


def test_assert_close_reports_relative_error():
    expected = torch.full((4,), 2.0, dtype=torch.float64)
    got = expected.clone()
    got[3] = 3.0
    with pytest.raises(GradingError, match=r"max rel error 0\.5; 1 of 4 elements"):
        grading.assert_close(got, expected, name="y")


def test_assert_close_passes_within_tolerance_and_returns_max_error():
    expected = torch.ones(3, dtype=torch.float64)
    got = expected + torch.tensor([0.0, 1e-7, 0.0], dtype=torch.float64)
    assert grading.assert_close(got, expected, name="y") == pytest.approx(1e-7)


@pytest.mark.parametrize(
    "got, fragment",
    [
        (torch.zeros(2, 4, dtype=torch.float64), "got      shape (2, 4)"),
        (torch.zeros(2, 3, dtype=torch.float32), "the dtypes differ: the result must be torch.float64"),
        (torch.zeros(2, 3, dtype=torch.float64, device="meta"), "the devices differ"),
        ([[0.0] * 3] * 2, "expected a torch.Tensor of shape (2, 3), got list"),
        (None, "got NoneType None"),
        (nn.Parameter(torch.zeros(2, 3, dtype=torch.float64)), "got Parameter (a subclass of torch.Tensor)"),
    ],
    ids=["shape", "dtype", "device", "list", "none", "subclass"],
)
def test_assert_close_reports_shape_dtype_device_and_type(got, fragment):
    expected = torch.zeros(2, 3, dtype=torch.float64)
    with pytest.raises(GradingError) as info:
        grading.assert_close(got, expected, name="attention weights")
    assert fragment in str(info.value)
    assert str(info.value).startswith("attention weights")


def test_assert_close_shape_message_shows_both_shapes():
    with pytest.raises(GradingError) as info:
        grading.assert_close(torch.zeros(2, 4), torch.zeros(2, 3), name="out")
    msg = str(info.value)
    assert "expected shape (2, 3)" in msg and "got      shape (2, 4)" in msg and "the shapes differ" in msg


def test_assert_close_reports_nan_and_integer_mismatch():
    expected = torch.zeros(3, dtype=torch.float64)
    got = expected.clone()
    got[1] = float("nan")
    with pytest.raises(GradingError, match=r"got NaN at index \(1,\) where 0 was expected \(1 NaN"):
        grading.assert_close(got, expected, name="y")
    with pytest.raises(GradingError, match=r"2 of 4 elements differ; first at index \(0, 1\): expected 0, got 1"):
        grading.assert_close(torch.tensor([[0, 1], [1, 1]]), torch.tensor([[0, 0], [0, 1]]), name="ids")


def test_assert_close_is_not_bent_by_patched_tensor_methods(monkeypatch):
    # A notebook that rebinds the methods a naive checker would use must not turn a failure into a pass.
    expected = torch.zeros(3, dtype=torch.float64)
    got = torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64)
    monkeypatch.setattr(torch.Tensor, "any", lambda self, *a, **k: torch.tensor(False), raising=False)
    monkeypatch.setattr(torch.Tensor, "__gt__", lambda self, other: torch.zeros_like(self, dtype=torch.bool),
                        raising=False)
    monkeypatch.setattr(torch, "isnan", lambda t: torch.zeros_like(t, dtype=torch.bool))
    with pytest.raises(GradingError, match=r"max abs error 1 at index \(1,\)"):
        grading.assert_close(got, expected, name="y")


# --------------------------------------------------------------------------------------------
# check_function: outputs, gradients, detached outputs, student errors
# --------------------------------------------------------------------------------------------
def test_check_function_accepts_a_correct_implementation(capsys):
    grading.check_function(unfold_conv2d, "torch.nn.functional.conv2d", CONV_CASES, forbid=CONV_FORBID, on="cpu")
    out = capsys.readouterr().out
    assert "✓ unfold_conv2d: 2 case(s) match torch.nn.functional.conv2d and gradients on cpu" in out


def test_check_function_names_the_case_and_the_quantity():
    def off_by_bias(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
        return unfold_conv2d(input, weight, None, stride, padding, dilation)  # forgets the bias

    with pytest.raises(GradingError) as info:
        grading.check_function(off_by_bias, "torch.nn.functional.conv2d", CONV_CASES, on="cpu")
    msg = str(info.value)
    assert msg.startswith("off_by_bias, case 1 of 2 (input (2, 3, 6, 5), weight (4, 3, 3, 3), bias (4)): output:")
    assert "max abs error" in msg and "at index" in msg and "max rel error" in msg


def test_check_function_compares_gradients():
    def relu_with_wrong_backward(x):
        # forward is relu(x), but the gradient is 1 everywhere (should be 0 where x < 0)
        return torch.relu(x).detach() + x - x.detach()

    with pytest.raises(GradingError) as info:
        grading.check_function(relu_with_wrong_backward, "torch.relu", [dict(x=grading.randn(4, 5))], on="cpu")
    msg = str(info.value)
    assert "gradient w.r.t. 'x'" in msg and "expected 0, got " in msg  # got: the loss weight, not 0


def test_check_function_reports_a_detached_output():
    def detached_relu(x):
        return manual_relu(x).detach()

    with pytest.raises(GradingError, match=r"the output carries no gradient \(requires_grad=False\)"):
        grading.check_function(detached_relu, "torch.relu", [dict(x=grading.randn(3))], on="cpu")
    # grad=False: the same function passes (a task without a backward pass)
    grading.check_function(detached_relu, "torch.relu", [dict(x=grading.randn(3))], on="cpu", grad=False, quiet=True)


def test_check_function_reports_a_missing_input_gradient():
    def ignores_bias(input, weight, bias=None):
        return input @ weight.T  # bias is required by the oracle below

    def linear(input, weight, bias=None):
        return F.linear(input, weight, bias)

    with pytest.raises(GradingError) as info:
        grading.check_function(ignores_bias, linear, [dict(input=grading.randn(2, 3), weight=grading.randn(4, 3),
                                                          bias=grading.rand(4, low=0, high=0, requires_grad=True))],
                               on="cpu")
    assert "the output does not depend on 'bias'" in str(info.value)


def test_check_function_explains_stub_and_student_exceptions():
    def stub(x):
        raise NotImplementedError()

    def broken(x):
        return x.view(-1, 7)

    with pytest.raises(GradingError, match=r"stub, case 1 of 1 \(x \(3\)\): not implemented yet"):
        grading.check_function(stub, "torch.relu", [dict(x=grading.randn(3))], on="cpu")
    with pytest.raises(GradingError, match=r"broken, case 1 of 1 \(x \(2, 3\)\) raised RuntimeError"):
        grading.check_function(broken, "torch.relu", [dict(x=grading.randn(2, 3))], on="cpu")
    with pytest.raises(GradingError, match=r"relu is not a function \(got int\)"):
        grading.check_function(3, "torch.relu", [dict(x=grading.randn(2))], name="relu", on="cpu")


def test_check_function_counts_outputs():
    def two_outputs(x):
        return manual_relu(x), x

    with pytest.raises(GradingError, match=r"expected 1 output\(s\) like torch.relu, got 2"):
        grading.check_function(two_outputs, "torch.relu", [dict(x=grading.randn(3))], on="cpu")


def test_inputs_are_separate_copies_for_student_and_oracle():
    def destroys_its_input(x):
        y = manual_relu(x).clone()
        x.zero_()  # in place: must not change what the oracle sees
        return y

    grading.check_function(destroys_its_input, "torch.relu", [dict(x=grading.rand(4, 4, low=-1, high=1))],
                           on="cpu", quiet=True)


def test_rand_helpers_make_seeded_inputs_of_the_case_dtype():
    case = dict(a=grading.randn(2, 3), m=grading.randbool(0.5, 4), ids=grading.randint(0, 5, 6), k=3)
    one = grading._make_inputs(case, 7, torch.float32, torch.device("cpu"))
    two = grading._make_inputs(case, 7, torch.float32, torch.device("cpu"))
    assert one["a"].dtype == torch.float32 and one["m"].dtype == torch.bool and one["ids"].dtype == torch.int64
    assert torch.equal(one["a"], two["a"]) and torch.equal(one["ids"], two["ids"]) and one["k"] == 3
    assert not torch.equal(one["a"], grading._make_inputs(case, 8, torch.float32, torch.device("cpu"))["a"])


# --------------------------------------------------------------------------------------------
# Delegation: the op being re-implemented, and the reference package, must not run inside
# --------------------------------------------------------------------------------------------
def _via_F(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    return F.conv2d(input, weight, bias, stride, padding, dilation, groups)


def _via_torch(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    return torch.conv2d(input, weight, bias, stride, padding, dilation, groups)


def _via_module(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    m = nn.Conv2d(weight.shape[1], weight.shape[0], weight.shape[2:], stride, padding, dilation, groups,
                  bias=bias is not None).to(weight.dtype)
    with torch.no_grad():
        m.weight.copy_(weight)
        if bias is not None:
            m.bias.copy_(bias)
    m(input)  # the delegation under test: its output is discarded
    return unfold_conv2d(input, weight, bias, stride, padding, dilation)  # right answer, but it ran nn.Conv2d


def _via_aten(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    return torch.ops.aten.convolution(input, weight, bias, [stride] * 2, [padding] * 2, [dilation] * 2,
                                      False, [0, 0], groups)


def _via_reference(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    from cnnvit_ref import conv

    return conv.conv2d(input, weight, bias, stride, padding, dilation, groups)


def _hidden_in_try_except(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    try:
        F.conv2d(input, weight, bias, stride, padding, dilation, groups)
    except Exception:
        pass
    return unfold_conv2d(input, weight, bias, stride, padding, dilation)


def _reference_in_try_except(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    try:
        from cnnvit_ref import conv

        conv.conv2d(input, weight, bias, stride, padding, dilation, groups)
    except Exception:
        pass
    return unfold_conv2d(input, weight, bias, stride, padding, dilation)


def _switches_the_watch_off(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    from cnnvit_ref import conv

    sys.setprofile(None)
    return conv.conv2d(input, weight, bias, stride, padding, dilation, groups)


@pytest.mark.parametrize(
    "student, seen",
    [
        (_via_F, "torch.conv2d"),  # F.conv2d is torch.conv2d
        (_via_torch, "conv2d"),
        (_via_module, "conv2d"),
        (_via_aten, "torch.ops.aten.convolution"),
        (_via_reference, "cnnvit_ref/conv.py:conv2d"),
        (_hidden_in_try_except, "conv2d"),
        (_reference_in_try_except, "cnnvit_ref/conv.py"),
        (_switches_the_watch_off, "sys.setprofile"),
    ],
    ids=["F.conv2d", "torch.conv2d", "nn.Conv2d", "aten.convolution", "cnnvit_ref", "F-in-try", "ref-in-try",
         "setprofile-off"],
)
def test_delegation_is_detected(student, seen):
    with pytest.raises(GradingError) as info:
        grading.check_function(student, "torch.nn.functional.conv2d", CONV_CASES[:1], forbid=CONV_FORBID, on="cpu")
    msg = str(info.value)
    assert "must be written from basic tensor operations, but inside it these ran:" in msg
    assert seen in msg


def test_delegation_to_the_reference_is_caught_without_a_forbid_list():
    # The package watch is always on: a task with no torch twin cannot be delegated either.
    with pytest.raises(GradingError, match="cnnvit_ref/conv.py"):
        grading.check_function(_via_reference, "torch.nn.functional.conv2d", CONV_CASES[:1], on="cpu")


def test_no_delegation_restores_the_previous_profiler():
    before = sys.getprofile()
    with grading.no_delegation(("conv2d",), "x") as watch:
        F.relu(torch.ones(2))
    assert sys.getprofile() is before and watch.hits == []


# --------------------------------------------------------------------------------------------
# Time limit
# --------------------------------------------------------------------------------------------
def _endless(x):
    while True:
        pass


def test_time_limit_stops_an_endless_loop():
    t0 = time.monotonic()
    with pytest.raises(grading.GradingTimeout) as info:
        grading.check_function(_endless, "torch.relu", [dict(x=grading.randn(3))], timeout=0.5, on="cpu")
    assert time.monotonic() - t0 < 10
    msg = str(info.value)
    assert "_endless, case 1 of 1 (x (3)) did not finish within 0.5 s" in msg
    assert "Only this test loses its points" in msg
    assert isinstance(info.value, GradingError)


@pytest.mark.parametrize("env, limit, shown", [("0.3", 20.0, "0.3 s"), ("1e9", 0.4, "0.4 s"),
                                                ("not-a-number", 0.4, "0.4 s"), ("-5", 0.4, "0.4 s")])
def test_environment_can_only_shorten_the_time_limit(monkeypatch, env, limit, shown):
    monkeypatch.setenv("CNNVIT_GRADING_TIMEOUT", env)
    with pytest.raises(grading.GradingTimeout, match=f"within {shown}"):
        grading.check_function(_endless, "torch.relu", [dict(x=grading.randn(3))], timeout=limit, on="cpu")


def test_time_limit_never_interrupts_an_import(tmp_path, monkeypatch):
    # An alarm in the middle of an import would leave a half-initialised module in sys.modules
    # and break every later test of the notebook; the limit waits for the import to finish.
    (tmp_path / "slow_module_for_grading_test.py").write_text("import time\ntime.sleep(1.0)\nDONE = True\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "slow_module_for_grading_test", raising=False)

    def imports_then_loops(x):
        import slow_module_for_grading_test  # noqa: F401

        while True:
            pass

    with pytest.raises(grading.GradingTimeout, match="within 0.2 s"):
        grading.check_function(imports_then_loops, "torch.relu", [dict(x=grading.randn(3))], timeout=0.2, on="cpu")
    assert sys.modules["slow_module_for_grading_test"].DONE is True


def test_time_limit_leaves_no_alarm_behind():
    with grading.time_limit(5.0, "quick"):
        pass
    assert __import__("signal").getitimer(__import__("signal").ITIMER_REAL) == (0.0, 0.0)


# --------------------------------------------------------------------------------------------
# Oracles: torch_op and reference cannot be replaced from the notebook
# --------------------------------------------------------------------------------------------
def test_torch_op_returns_torch_functions():
    assert grading.torch_op("torch.nn.functional.conv2d") is torch.nn.functional.conv2d
    assert grading.torch_op("torch.Tensor.sum") is torch.Tensor.sum
    with pytest.raises(ValueError, match="torch_op\\(\\): path must start with 'torch.'"):
        grading.torch_op("numpy.sum")


def test_torch_op_rejects_a_replaced_torch_function(monkeypatch):
    monkeypatch.setattr(torch.nn.functional, "conv2d", unfold_conv2d)
    with pytest.raises(GradingError, match=r"torch.nn.functional.conv2d is not torch's own any more"):
        grading.torch_op("torch.nn.functional.conv2d")
    # the student's own function as the oracle: the test fails instead of comparing it with itself
    with pytest.raises(GradingError, match="not torch's own"):
        grading.check_function(unfold_conv2d, "torch.nn.functional.conv2d", CONV_CASES[:1], on="cpu")


def test_checker_refuses_to_run_on_a_patched_torch(monkeypatch):
    monkeypatch.setattr(torch.Tensor, "sum", torch.Tensor.max)  # a genuine torch method, the wrong one
    with pytest.raises(GradingError, match=r"torch.Tensor.sum is not torch's own any more"):
        grading.check_function(manual_relu, "torch.relu", [dict(x=grading.randn(3))], on="cpu")
    monkeypatch.undo()
    monkeypatch.setattr(torch, "allclose", lambda *a, **k: True)
    with pytest.raises(GradingError, match=r"torch.allclose is not torch's own"):
        grading.check_function(manual_relu, "torch.relu", [dict(x=grading.randn(3))], on="cpu")


def test_reference_is_immune_to_patching_the_package(monkeypatch):
    from cnnvit_ref import conv

    monkeypatch.setattr(conv, "conv2d", lambda *a, **k: torch.zeros(()))
    oracle = grading.reference("cnnvit_ref.conv.conv2d")
    assert oracle is not conv.conv2d
    x, w = torch.randn(1, 2, 5, 5, dtype=torch.float64), torch.randn(3, 2, 3, 3, dtype=torch.float64)
    torch.testing.assert_close(oracle(x, w, padding=1), F.conv2d(x, w, padding=1))
    with pytest.raises(ValueError, match="reference\\(\\): path must look like 'cnnvit_ref.<module>.<name>'"):
        grading.reference("torch.nn.functional.conv2d")


def test_in_a_fresh_kernel_warm_up_reload_idiom_and_old_cases():
    # One fresh Python (as a notebook kernel) for three things that need one:
    # 1. the first check with a tight limit passes: starting the watch (torch's modes import hundreds of
    #    modules, seconds on a busy CPU) does not count against the student;
    # 2. what a cheating notebook does before a test cell is undone by the test cell's first line;
    # 3. cases made with the module before the reload are still inputs after it.
    proc = run_snippet("""
        import importlib, types
        import torch
        import cnnvit_ref.grading as grading
        grading.check_function(lambda x: x * (x > 0), "torch.relu", [dict(x=grading.randn(3))], name="first",
                               timeout=0.5, on="cpu")

        grading.check_function = lambda *a, **k: None
        grading.assert_close = lambda *a, **k: 0.0
        grading.torch_op = lambda path: (lambda x: x * 0)
        cases = [dict(x=grading.randn(4))]   # made before the reload
        grading = types.SimpleNamespace(check_function=lambda *a, **k: None)   # its own 'grading'

        def relu(x):  # wrong
            return x * 0

        import importlib, cnnvit_ref.grading as grading; grading = importlib.reload(grading)
        try:
            grading.check_function(relu, "torch.relu", cases, on="cpu")
        except AssertionError as exc:
            print("CAUGHT", type(exc).__name__, str(exc).splitlines()[0])
        else:
            print("PASSED")
        grading.check_function(lambda x: x * (x > 0), "torch.relu", cases, name="old_cases", on="cpu")
    """)
    assert proc.returncode == 0, proc.stderr
    assert "✓ first: 1 case(s) match torch.relu" in proc.stdout
    assert "CAUGHT GradingError relu, case 1 of 1 (x (4)): output:" in proc.stdout
    assert "✓ old_cases: 1 case(s) match torch.relu" in proc.stdout


# --------------------------------------------------------------------------------------------
# check_value and check_raises
# --------------------------------------------------------------------------------------------
def test_check_value_exact_and_relative():
    grading.check_value(42, 42, name="n")
    grading.check_value(torch.tensor(42), 42, name="n")
    grading.check_value(1 / 3 + 1e-14, 1 / 3, name="r", rel_tol=1e-12)
    grading.check_value({"a": 1, "b": (2, 3)}, {"a": 1, "b": [2, 3]}, name="d")
    with pytest.raises(GradingError, match=r"n: expected 42, got 43 \(off by \+1, \+2\.38%\)"):
        grading.check_value(43, 42, name="n")
    with pytest.raises(GradingError, match=r"n: expected 1, got True"):
        grading.check_value(True, 1, name="n")  # a bool is not a count
    with pytest.raises(GradingError, match=r"n: expected 42, got 42.5"):
        grading.check_value(42.5, 42, name="n")
    with pytest.raises(GradingError, match=r"r: expected 0\.5, got 0\.51"):
        grading.check_value(0.51, 0.5, name="r", rel_tol=1e-3)


def test_check_value_containers():
    with pytest.raises(GradingError, match=r"d: the dict lacks key\(s\) \['b'\]"):
        grading.check_value({"a": 1}, {"a": 1, "b": 2}, name="d")
    with pytest.raises(GradingError, match=r"d\['a'\]: expected 1, got 2"):
        grading.check_value({"a": 2}, {"a": 1}, name="d")
    with pytest.raises(GradingError, match=r"s: expected a sequence of length 2"):
        grading.check_value([1, 2, 3], (1, 2), name="s")
    with pytest.raises(GradingError, match=r"s\[1\]: expected 2, got 5"):
        grading.check_value([1, 5], (1, 2), name="s")
    with pytest.raises(GradingError, match=r"d: expected a dict with keys \['a'\], got list"):
        grading.check_value([1], {"a": 1}, name="d")


def test_check_value_rejects_tensor_subclasses():
    with pytest.raises(GradingError, match="subclass of torch.Tensor"):
        grading.check_value(nn.Parameter(torch.tensor(3.0)), 3.0, name="n")


def test_check_raises():
    def strict(x):
        if x < 0:
            raise ValueError("strict(): argument 'x' must be >= 0, got -1")
        return x

    grading.check_raises(strict, dict(x=-1), ValueError, name="negative x", must_mention="'x'")
    with pytest.raises(GradingError, match="does not mention \"'y'\""):
        grading.check_raises(strict, dict(x=-1), ValueError, name="negative x", must_mention="'y'")
    with pytest.raises(GradingError, match="the call returned normally"):
        grading.check_raises(strict, dict(x=1), ValueError, name="positive x")
    with pytest.raises(GradingError, match="expected <class 'TypeError'> but got ValueError"):
        grading.check_raises(strict, dict(x=-1), TypeError, name="negative x")
    with pytest.raises(GradingError, match="not implemented yet"):
        grading.check_raises(lambda x: (_ for _ in ()).throw(NotImplementedError()), dict(x=1), ValueError, name="s")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_check_function_on_cuda_reports_device_mismatch():
    def on_cpu(x):
        return manual_relu(x).cpu()

    grading.check_function(manual_relu, "torch.relu", [dict(x=grading.randn(3, 4))], on="cuda", quiet=True)
    with pytest.raises(GradingError, match="the devices differ"):
        grading.check_function(on_cpu, "torch.relu", [dict(x=grading.randn(3, 4))], on="cuda")


# --------------------------------------------------------------------------------------------
# The op families that test cells pass as forbid=, and what a failing test shows the student
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "family, student, case",
    [
        ("CONV_OPS", lambda input, weight: F.conv2d(input, weight),
         dict(input=grading.randn(1, 2, 5, 5), weight=grading.randn(3, 2, 3, 3))),
        ("SAMPLER_OPS", lambda input, grid: F.grid_sample(input, grid, align_corners=False),
         dict(input=grading.randn(1, 2, 4, 4), grid=grading.rand(1, 3, 3, 2))),
        ("RNN_OPS", lambda input, hx, w_ih, w_hh: torch.rnn_tanh_cell(input, hx, w_ih, w_hh, None, None),
         dict(input=grading.randn(2, 3), hx=grading.randn(2, 4), w_ih=grading.randn(4, 3), w_hh=grading.randn(4, 4))),
        ("SDPA_OPS", lambda query, key, value: F.scaled_dot_product_attention(query, key, value),
         dict(query=grading.randn(1, 3, 4), key=grading.randn(1, 5, 4), value=grading.randn(1, 5, 4))),
        ("UNFOLD_OPS", lambda input: F.unfold(input, 2, stride=2), dict(input=grading.randn(1, 2, 4, 4))),
    ],
    ids=["conv", "sampler", "rnn", "sdpa", "unfold"],
)
def test_each_op_family_catches_the_torch_call_it_names(family, student, case):
    # The oracle is the same torch call run outside the watch: only the forbid family can fail the test.
    with pytest.raises(GradingError, match="must be written from basic tensor operations"):
        grading.check_function(student, student, [case], forbid=getattr(grading, family), on="cpu", grad=False)


def test_mha_family_catches_nn_multihead_attention():
    mha = nn.MultiheadAttention(4, 2, batch_first=True).double().eval()

    def student(x):
        with torch.no_grad():
            return mha(x, x, x, need_weights=False)[0]  # the fused fast path in eval mode

    with pytest.raises(GradingError, match="_native_multi_head_attention|multi_head_attention_forward"):
        grading.check_function(student, student, [dict(x=grading.randn(2, 3, 4))], forbid=grading.MHA_OPS,
                               on="cpu", grad=False)


@pytest.mark.slow
def test_a_failing_test_cell_shows_the_students_cell_and_the_message_only():
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(textwrap.dedent("""
        import importlib, cnnvit_ref.grading as grading; grading = importlib.reload(grading)
        def relu(x):  # wrong
            return x * 0
        grading.check_function(relu, "torch.relu", [dict(x=grading.randn(4))], on="cpu")
    """))]
    nbclient.NotebookClient(nb, kernel_name="python3", allow_errors=True, timeout=120).execute()
    (error,) = [o for o in nb.cells[0].outputs if o.output_type == "error"]
    shown = "\n".join(error.traceback)
    assert "grading.check_function(relu" in shown  # the student's own cell
    assert "relu, case 1 of 1 (x (4)): output:" in shown  # the message
    assert "grading.py" not in shown and "raise GradingError" not in shown  # no frame of the checker
