"""The checker that the exercise notebooks' test cells call.

A test cell compares the student's function with an *oracle* (the genuine torch twin, e.g.
``torch.nn.functional.conv2d``, or a private copy of the ``cnnvit_ref`` reference) on seeded
random inputs, on the notebook's device, outputs first and then gradients. A failure raises
:class:`GradingError` whose message is written for the student: the quantity, the case, the
expected and the actual shape/dtype/device, the largest error and where it is.

Every test cell starts with the same line::

    import importlib, cnnvit_ref.grading as grading; grading = importlib.reload(grading)

The reload re-executes this file, so names that a student rebound or monkeypatched in the
notebook (``grading.assert_close = lambda *a: None``, ``check_function = ...``) are the genuine
ones again, and the oracles are fetched afresh:

* :func:`torch_op` returns a torch callable only after checking that it is torch's own
  (a C builtin, or a Python function whose source lies inside the installed torch), so
  ``torch.nn.functional.conv2d = my_conv2d`` makes the test fail instead of pass;
* :func:`reference` executes the reference module from its file into a private module object,
  so patching ``cnnvit_ref.conv.conv2d`` does not change the oracle.

Inside the student's call, :func:`no_delegation` watches three levels: torch functions
(``TorchFunctionMode``: ``F.conv2d``, ``torch.conv2d``, ``nn.Conv2d``), aten operators
(``TorchDispatchMode``: ``torch.ops.aten.convolution``) and Python frames of ``cnnvit_ref``
(``sys.setprofile``; switching it off inside the call counts as a hit). The call runs under a
time limit (``SIGALRM`` where available) so that an endless loop fails its own test, with a
message, instead of the whole notebook; the environment variable ``CNNVIT_GRADING_TIMEOUT``
(seconds) can shorten that limit, never lengthen it. The limit never fires inside an import, and
the watch is started once before the first limit (its first use imports hundreds of modules).

The comparisons themselves call torch's C methods through ``torch._C.TensorBase`` (an immutable
type) and ``torch._C._VariableFunctions`` (read-only), and refuse tensor subclasses, so rebinding
``torch.Tensor.any``, ``torch.isnan`` or an operator from the notebook cannot bend a comparison.

Threat model, stated honestly: student code runs in the same Python process as the test cells
(the notebook's kernel). These checks stop rebinding and monkeypatching from the notebook; they do
not stop a student who patches the import system itself (e.g. ``importlib.reload = lambda m: m``
defeats the idiom above; the instructor's autograde log flags such code for review, see
``cnnvit_grader.instructor``). Files and the machine are not this module's concern: at grading,
every kernel runs in a sandbox (``cnnvit_grader.sandbox``, bubblewrap) whose only ``cnnvit_ref`` is
a read-only snapshot taken before the first student ran, with no network and nothing else of the
course visible, so a submission cannot rewrite this file, the package, the course folder or the
gradebook (see the README's instructor section).
"""
from __future__ import annotations

import contextlib
import importlib.util
import inspect
import math
import os
import signal
import sys
import threading
import types
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Sequence

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode

__all__ = [
    "GradingError",
    "device",
    "randn",
    "rand",
    "randint",
    "randbool",
    "torch_op",
    "reference",
    "assert_close",
    "check_value",
    "check_function",
    "check_raises",
    "no_delegation",
    "time_limit",
    "CONV_OPS",
    "SAMPLER_OPS",
    "RNN_OPS",
    "SDPA_OPS",
    "MHA_OPS",
    "UNFOLD_OPS",
]

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
_TORCH_DIR = os.path.dirname(os.path.abspath(torch.__file__))
_THIS_FILE = os.path.abspath(__file__)


# --------------------------------------------------------------------------------------------
# Families of torch operations a task may not delegate to (``forbid=`` of check_function)
# --------------------------------------------------------------------------------------------
# Names as the two watches see them: torch functions (``F.conv2d`` -> "conv2d") and aten operator
# packets ("convolution", "thnn_conv2d"). A test cell passes a family or a union of families, e.g.
# ``forbid=grading.CONV_OPS + grading.SAMPLER_OPS``. They are re-created by the reload idiom, like
# every other name of this module, so a student cannot shorten them from the notebook.
CONV_OPS = (
    "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",  # torch
    "convolution", "_convolution", "convolution_overrideable", "conv_tbc", "thnn_conv2d",  # aten
    "_slow_conv2d_forward", "slow_conv_dilated2d", "slow_conv_transpose2d", "mkldnn_convolution",
    "cudnn_convolution", "cudnn_convolution_transpose", "miopen_convolution", "_conv_depthwise2d",
    "_nnpack_spatial_convolution",
)  # every convolution of torch
SAMPLER_OPS = (
    "grid_sample", "grid_sampler", "grid_sampler_2d", "_grid_sampler_2d_cpu_fallback", "cudnn_grid_sampler",
    "deform_conv2d",
)  # bilinear samplers, and torchvision's deformable convolution
RNN_OPS = (
    "rnn_tanh_cell", "rnn_relu_cell", "rnn_tanh", "rnn_relu", "lstm_cell", "lstm", "gru_cell", "gru",
    "_thnn_fused_lstm_cell", "_thnn_fused_gru_cell",
)  # torch's recurrent cells and layers
SDPA_OPS = (
    "scaled_dot_product_attention", "_scaled_dot_product_attention_math",
    "_scaled_dot_product_flash_attention_for_cpu", "_scaled_dot_product_flash_attention",
    "_scaled_dot_product_efficient_attention", "_scaled_dot_product_cudnn_attention",
)  # F.scaled_dot_product_attention and its kernels
MHA_OPS = (
    "multi_head_attention_forward", "_native_multi_head_attention", "_transformer_encoder_layer_fwd",
)  # nn.MultiheadAttention's and nn.TransformerEncoderLayer's fused paths
UNFOLD_OPS = ("unfold", "im2col")  # F.unfold: patches in one call


class GradingError(AssertionError):
    """A test failed. The message is meant for the student; it says what is wrong."""

    def _render_traceback_(self) -> list[str]:
        """IPython's hook for an exception's traceback: the student's own frames and the message.

        ``__tracebackhide__`` hides the checker's frames but the last one (where the ``raise`` is),
        so IPython would still print the checker's source above the message; here every frame of
        this file and of IPython is left out.
        """
        import IPython

        skip = (_THIS_FILE, os.path.dirname(os.path.abspath(IPython.__file__)))
        kept, tb = [], self.__traceback__
        while tb is not None:
            if not os.path.abspath(tb.tb_frame.f_code.co_filename).startswith(skip):
                kept.append(tb)
            tb = tb.tb_next
        chain = None
        for t in reversed(kept):
            chain = types.TracebackType(chain, t.tb_frame, t.tb_lasti, t.tb_lineno)
        return IPython.get_ipython().InteractiveTB.structured_traceback(type(self), self, chain)


# --------------------------------------------------------------------------------------------
# Device and inputs
# --------------------------------------------------------------------------------------------
def device() -> torch.device:
    """CUDA when available (Colab GPU), else CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@dataclass(frozen=True)
class Rand:
    """A tensor argument that the checker makes from the case's seed.

    The student and the oracle get separate copies of the same values, so an in-place change
    made by one cannot leak into the other.
    """

    shape: tuple[int, ...]
    kind: str = "normal"  # normal | uniform | int | bool
    low: float = 0.0
    high: float = 1.0
    requires_grad: bool = False
    dtype: torch.dtype | None = None  # None: the case's floating dtype

    def __repr__(self) -> str:  # how a case is described in messages
        return "(" + ", ".join(map(str, self.shape)) + ")"


def _is_rand(v: Any) -> bool:
    """A :class:`Rand`, also one made before the test cell reloaded this module."""
    return isinstance(v, Rand) or (type(v).__name__ == "Rand" and type(v).__module__ == __name__)


def randn(*shape: int, requires_grad: bool = True, scale: float = 1.0) -> Rand:
    """Standard normal values (times ``scale``), differentiable by default."""
    return Rand(tuple(shape), "normal", 0.0, scale, requires_grad)


def rand(*shape: int, low: float = 0.0, high: float = 1.0, requires_grad: bool = False) -> Rand:
    """Uniform values in ``[low, high)``."""
    return Rand(tuple(shape), "uniform", low, high, requires_grad)


def randint(low: int, high: int, *shape: int) -> Rand:
    """Integers in ``[low, high)`` (int64), e.g. token ids."""
    return Rand(tuple(shape), "int", low, high, False, torch.int64)


def randbool(p_true: float, *shape: int) -> Rand:
    """A boolean tensor, ``True`` with probability ``p_true``, e.g. a mask."""
    return Rand(tuple(shape), "bool", p_true, 0.0, False, torch.bool)


def _materialise(spec: Rand, gen: torch.Generator, dtype: torch.dtype, dev: torch.device) -> torch.Tensor:
    if spec.kind == "normal":
        t = torch.randn(spec.shape, generator=gen, dtype=torch.float64) * spec.high
    elif spec.kind == "uniform":
        t = spec.low + (spec.high - spec.low) * torch.rand(spec.shape, generator=gen, dtype=torch.float64)
    elif spec.kind == "int":
        t = torch.randint(int(spec.low), int(spec.high), spec.shape, generator=gen)
    elif spec.kind == "bool":
        t = torch.rand(spec.shape, generator=gen) < spec.low
    else:  # pragma: no cover - a typo in a test cell
        raise ValueError(f"unknown Rand kind {spec.kind!r}")
    t = t.to(device=dev, dtype=spec.dtype or (dtype if t.is_floating_point() else t.dtype))
    return t


def _make_inputs(case: Mapping[str, Any], seed: int, dtype: torch.dtype, dev: torch.device) -> dict[str, Any]:
    gen = torch.Generator().manual_seed(seed)
    return {k: (_materialise(v, gen, dtype, dev) if _is_rand(v) else v) for k, v in case.items()}


def _copy_inputs(case: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in values.items():
        if isinstance(v, torch.Tensor):
            c = v.detach().clone()
            spec = case.get(k)
            if _is_rand(spec) and spec.requires_grad:
                c.requires_grad_(True)
            out[k] = c
        else:
            out[k] = v
    return out


def _describe_case(case: Mapping[str, Any]) -> str:
    parts = []
    for k, v in case.items():
        if _is_rand(v):
            parts.append(f"{k} {v!r}")
        elif isinstance(v, torch.Tensor):
            parts.append(f"{k} {tuple(v.shape)}")
        else:
            parts.append(f"{k}={v!r}")
    return ", ".join(parts)


# --------------------------------------------------------------------------------------------
# Oracles
# --------------------------------------------------------------------------------------------
def _is_genuine_torch(obj: Any) -> bool:
    """True when ``obj`` is torch's own: a C builtin of torch, or defined in torch's files."""
    if isinstance(obj, (types.BuiltinFunctionType, types.BuiltinMethodType)):
        owner = getattr(obj, "__self__", None)
        module = getattr(obj, "__module__", None) or getattr(type(owner), "__module__", "") or ""
        return module.startswith("torch")
    if type(obj).__name__ in ("method_descriptor", "wrapper_descriptor", "getset_descriptor", "OpOverloadPacket"):
        return True
    target = obj.__func__ if isinstance(obj, types.MethodType) else obj
    target = inspect.unwrap(target) if callable(target) else target
    try:
        src = inspect.getsourcefile(target)
    except TypeError:
        return False
    return src is not None and os.path.abspath(src).startswith(_TORCH_DIR + os.sep)


def _resolve(path: str) -> Any:
    module_name, _, rest = path.partition(".")
    obj: Any = sys.modules.get(module_name) or importlib.import_module(module_name)
    for part in rest.split(".") if rest else []:
        obj = getattr(obj, part)
    return obj


def torch_op(path: str) -> Callable:
    """The genuine torch callable at ``path`` (e.g. ``"torch.nn.functional.conv2d"``).

    Raises :class:`GradingError` when the notebook replaced it, so that a submission which
    rebinds the oracle to itself fails instead of comparing itself with itself.
    """
    if not path.startswith("torch."):
        raise ValueError(f"torch_op(): path must start with 'torch.', got {path!r}")
    obj = _resolve(path)
    if not _is_genuine_torch(obj):
        raise GradingError(
            f"{path} is not torch's own any more (it is {obj!r}): the notebook replaced it. "
            "Restart the kernel and do not reassign torch's functions."
        )
    return obj


_PRIVATE_MODULES: dict[str, types.ModuleType] = {}


def reference(path: str) -> Callable:
    """A private copy of the reference ``cnnvit_ref.<module>.<name>``.

    The module is executed afresh from its file into a module object that is not in
    ``sys.modules``, so nothing the notebook patched on ``cnnvit_ref.<module>`` reaches it.
    """
    parts = path.split(".")
    if len(parts) < 3 or parts[0] != "cnnvit_ref":
        raise ValueError(f"reference(): path must look like 'cnnvit_ref.<module>.<name>', got {path!r}")
    module_name, attrs = ".".join(parts[:2]), parts[2:]
    mod = _PRIVATE_MODULES.get(module_name)
    if mod is None:
        file = os.path.join(_PACKAGE_DIR, parts[1] + ".py")
        spec = importlib.util.spec_from_file_location(f"cnnvit_ref._graded_copy_of_{parts[1]}", file)
        mod = importlib.util.module_from_spec(spec)
        mod.__package__ = "cnnvit_ref"
        # While it executes, the copy must be findable by its own name (``@dataclass`` looks the
        # module up in sys.modules); afterwards it is private again.
        sys.modules[spec.name] = mod
        try:
            spec.loader.exec_module(mod)
        finally:
            sys.modules.pop(spec.name, None)
        _PRIVATE_MODULES[module_name] = mod
    obj: Any = mod
    for a in attrs:
        obj = getattr(obj, a)
    return obj


def _check_checker_intact() -> None:
    """The torch functions the checker itself relies on must be torch's own."""
    for path in (
        "torch.allclose",
        "torch.isclose",
        "torch.randn",
        "torch.rand",
        "torch.randint",
        "torch.autograd.grad",
        "torch.Tensor.abs",
        "torch.Tensor.max",
        "torch.Tensor.sum",
        "torch.Tensor.__sub__",
        "torch.Tensor.__mul__",
        "torch.Tensor.clone",
        "torch.Tensor.detach",
    ):
        op = torch_op(path)
        # a genuine torch function under another name (torch.Tensor.sum = torch.Tensor.max) is a swap
        if getattr(op, "__name__", path.rsplit(".", 1)[1]) != path.rsplit(".", 1)[1]:
            raise GradingError(f"{path} is not torch's own any more (it is {op!r}): the notebook replaced it. "
                               "Restart the kernel and do not reassign torch's functions.")


# --------------------------------------------------------------------------------------------
# Comparing values
# --------------------------------------------------------------------------------------------
# The checker's own arithmetic calls torch's C methods through the immutable base class and the
# read-only function table: a notebook that rebinds ``torch.Tensor.any``, ``torch.isnan`` or an
# operator such as ``torch.Tensor.__gt__`` cannot bend a comparison.
_TB = torch._C.TensorBase
_VF = torch._C._VariableFunctions
_PLAIN_TENSOR = type(_VF.empty(0))


def _meta(t: torch.Tensor) -> tuple[tuple[int, ...], torch.dtype, torch.device]:
    return tuple(_TB.size(t)), _TB.dtype.__get__(t), _TB.device.__get__(t)


def _fmt_shape(t: torch.Tensor) -> str:
    return "(" + ", ".join(map(str, _TB.size(t))) + ")"


def _check_plain(got: Any, name: str) -> None:
    """A tensor subclass could answer the checker's questions itself (``__torch_function__``)."""
    if isinstance(got, _TB) and type(got) is not _PLAIN_TENSOR:
        raise GradingError(
            f"{name}: expected a plain torch.Tensor, got {type(got).__qualname__} (a subclass of torch.Tensor); "
            "return the result of tensor operations, not a Parameter or a subclass."
        )


def _unravel(flat: int, shape: Sequence[int]) -> tuple[int, ...]:
    idx = []
    for size in reversed(shape):
        idx.append(flat % size)
        flat //= size
    return tuple(reversed(idx))


def assert_close(got: Any, expected: torch.Tensor, *, name: str, atol: float = 1e-5, rtol: float = 1e-4) -> float:
    """Raise :class:`GradingError` unless ``got`` matches ``expected``; return the max abs error.

    The message names the quantity, compares shape/dtype/device, and gives the largest absolute
    error with its index and both values, the largest relative error, and how many elements
    fall outside ``atol + rtol * |expected|``.
    """
    __tracebackhide__ = True  # IPython and pytest leave the checker's own frames out of tracebacks
    if not isinstance(got, _TB):
        raise GradingError(
            f"{name}: expected a torch.Tensor of shape {_fmt_shape(expected)}, got {type(got).__name__}"
            + (f" {got!r}" if isinstance(got, (int, float, bool, type(None))) else "")
        )
    _check_plain(got, name)
    (g_shape, g_dtype, g_dev), (e_shape, e_dtype, e_dev) = _meta(got), _meta(expected)
    head = (
        f"{name}:\n"
        f"  expected shape {_fmt_shape(expected)}, dtype {e_dtype}, device {e_dev}\n"
        f"  got      shape {_fmt_shape(got)}, dtype {g_dtype}, device {g_dev}"
    )
    if g_shape != e_shape:
        raise GradingError(head + "\n  the shapes differ.")
    if g_dev.type != e_dev.type:
        raise GradingError(head + "\n  the devices differ: create new tensors on the input's device.")
    if g_dtype != e_dtype:
        raise GradingError(
            head + f"\n  the dtypes differ: the result must be {e_dtype} (new tensors take the dtype the task asks "
            "for, usually the input's)."
        )
    numel = _TB.numel(got)
    if numel == 0:
        return 0.0
    g = _TB.to(_TB.detach(got), device="cpu", dtype=torch.float64)
    e = _TB.to(_TB.detach(expected), device="cpu", dtype=torch.float64)

    def at(t: torch.Tensor, idx: tuple[int, ...]) -> float:
        return _TB.item(_TB.__getitem__(t, idx))

    if e_dtype == torch.bool or not e_dtype.is_floating_point:
        wrong = _TB.ne(g, e)
        if _TB.item(_TB.any(wrong)):
            idx = tuple(_TB.tolist(_TB.__getitem__(_TB.nonzero(wrong), 0)))
            e_cpu, g_cpu = _TB.to(_TB.detach(expected), "cpu"), _TB.to(_TB.detach(got), "cpu")  # ints as ints
            raise GradingError(
                head + f"\n  {int(_TB.item(_TB.sum(wrong)))} of {numel} elements differ; first at index {idx}: "
                f"expected {at(e_cpu, idx)}, got {at(g_cpu, idx)}"
            )
        return 0.0
    bad_nan = _TB.logical_and(_VF.isnan(g), _TB.logical_not(_VF.isnan(e)))
    if _TB.item(_TB.any(bad_nan)):
        idx = tuple(_TB.tolist(_TB.__getitem__(_TB.nonzero(bad_nan), 0)))
        raise GradingError(head + f"\n  got NaN at index {idx} where {at(e, idx):.6g} was expected "
                           f"({int(_TB.item(_TB.sum(bad_nan)))} NaN elements in all).")
    diff = _TB.nan_to_num(_TB.abs(_TB.sub(g, e)), 0.0)
    tol = _TB.add(_TB.mul(_TB.abs(e), rtol), atol)
    outside = _TB.gt(diff, tol)
    max_abs = float(_TB.item(_TB.max(diff)))
    if _TB.item(_TB.any(outside)):
        idx = _unravel(int(_TB.item(_TB.argmax(diff))), e_shape)
        rel = _TB.item(_TB.max(_TB.div(diff, _TB.clamp_min(_TB.abs(e), 1e-12))))
        n = int(_TB.item(_TB.sum(outside)))
        raise GradingError(
            head
            + f"\n  max abs error {max_abs:.3g} at index {idx}: expected {at(e, idx):.6g}, got {at(g, idx):.6g}"
            + f"\n  max rel error {rel:.3g}; {n} of {numel} elements ({100.0 * n / numel:.1f}%) "
            f"outside atol={atol:g} + rtol={rtol:g} * |expected|"
        )
    return max_abs


def _flatten_outputs(out: Any, name: str) -> list[tuple[str, Any]]:
    """(label, value) pairs for a tensor, or a (nested) tuple/list of tensors and None."""
    if isinstance(out, (tuple, list)):
        items = []
        for i, o in enumerate(out):
            items.extend(_flatten_outputs(o, f"{name}[{i}]"))
        return items
    return [(name, out)]


def check_value(got: Any, expected: Any, *, name: str, rel_tol: float = 0.0) -> None:
    """Exact (or ``rel_tol``-close) comparison of numbers, strings, tuples, lists and dicts."""
    __tracebackhide__ = True  # IPython and pytest leave the checker's own frames out of tracebacks
    if isinstance(expected, Mapping):
        if not isinstance(got, Mapping):
            raise GradingError(f"{name}: expected a dict with keys {sorted(expected)}, got {type(got).__name__}")
        missing = [k for k in expected if k not in got]
        if missing:
            raise GradingError(f"{name}: the dict lacks key(s) {missing}; expected keys {sorted(expected)}")
        for k in expected:
            check_value(got[k], expected[k], name=f"{name}[{k!r}]", rel_tol=rel_tol)
        return
    if isinstance(expected, (tuple, list)):
        if not isinstance(got, (tuple, list)) or len(got) != len(expected):
            raise GradingError(f"{name}: expected a sequence of length {len(expected)} ({expected!r}), got {got!r}")
        for i, (g, e) in enumerate(zip(got, expected)):
            check_value(g, e, name=f"{name}[{i}]", rel_tol=rel_tol)
        return
    _check_plain(got, name)
    if isinstance(got, _TB) and _TB.numel(got) == 1:
        got = _TB.item(got)
    if isinstance(expected, bool) or isinstance(expected, str):
        ok = got == expected
    elif isinstance(expected, int) and rel_tol == 0.0:
        ok = isinstance(got, (int, float)) and not isinstance(got, bool) and got == expected
    elif isinstance(expected, (int, float)):
        ok = isinstance(got, (int, float)) and not isinstance(got, bool) and math.isclose(
            got, expected, rel_tol=rel_tol, abs_tol=0.0 if rel_tol else 1e-12
        )
    else:
        ok = got == expected
    if not ok:
        extra = ""
        if isinstance(got, (int, float)) and isinstance(expected, (int, float)) and expected:
            extra = f" (off by {got - expected:+g}, {100.0 * (got - expected) / expected:+.2f}%)"
        raise GradingError(f"{name}: expected {expected!r}, got {got!r}{extra}")


# --------------------------------------------------------------------------------------------
# Watching the student's call
# --------------------------------------------------------------------------------------------
class GradingTimeout(GradingError):
    pass


def _effective_timeout(seconds: float | None) -> float | None:
    """``seconds``, shortened by the environment variable ``CNNVIT_GRADING_TIMEOUT`` if set.

    The instructor's autograder sets it to grade faster; it can only *shorten* the limit, so a
    notebook that sets it to a large value gains nothing.
    """
    raw = os.environ.get("CNNVIT_GRADING_TIMEOUT", "")
    try:
        cap = float(raw)
    except ValueError:
        return seconds
    if not (cap > 0 and math.isfinite(cap)):
        return seconds
    return cap if seconds is None else min(seconds, cap)


def _inside_import(frame) -> bool:
    while frame is not None:
        if frame.f_code.co_filename.startswith("<frozen importlib"):
            return True
        frame = frame.f_back
    return False


@contextlib.contextmanager
def time_limit(seconds: float | None, name: str):
    """Raise :class:`GradingTimeout` if the block runs longer than ``seconds`` (POSIX main thread).

    ``CNNVIT_GRADING_TIMEOUT`` (seconds) in the environment caps the limit (never raises it).
    """
    seconds = _effective_timeout(seconds)
    usable = (
        seconds is not None
        and hasattr(signal, "SIGALRM")
        and threading.current_thread() is threading.main_thread()
    )
    if not usable:
        yield
        return

    def _alarm(signum, frame):
        if _inside_import(frame):
            # An exception in the middle of an import leaves a half-initialised module behind that
            # breaks every later test: let the import finish, then stop.
            signal.setitimer(signal.ITIMER_REAL, 0.05)
            return
        raise GradingTimeout(
            f"{name} did not finish within {seconds:g} s (an endless loop? a Python loop over every "
            "element?). Only this test loses its points."
        )

    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class _Watch:
    """What the student's call touched that it must not have."""

    def __init__(self, forbid: Iterable[str]):
        self.forbid = frozenset(forbid)
        self.hits: list[str] = []

    def hit(self, what: str) -> None:
        if what not in self.hits:
            self.hits.append(what)


class _FunctionWatch(TorchFunctionMode):
    def __init__(self, watch: _Watch):
        super().__init__()
        self.watch = watch

    def __torch_function__(self, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", "")
        if name in self.watch.forbid:
            module = getattr(func, "__module__", None) or "torch"
            self.watch.hit(f"{module}.{name}")
        return func(*args, **(kwargs or {}))


class _DispatchWatch(TorchDispatchMode):
    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        # By default torch wraps a mode's __torch_dispatch__ in torch._disable_dynamo, whose first
        # call imports torch._dynamo (~800 modules, sympy among them: 3-8 s per grading kernel).
        # Nothing here is ever compiled, so the wrapper buys nothing.
        return False

    def __init__(self, watch: _Watch):
        super().__init__()
        self.watch = watch

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        packet = getattr(getattr(func, "overloadpacket", None), "__name__", "")
        if packet in self.watch.forbid:
            self.watch.hit(f"torch.ops.aten.{packet}")
        return func(*args, **(kwargs or {}))


@contextlib.contextmanager
def no_delegation(forbid: Iterable[str], name: str):
    """Record, inside the block, calls of forbidden torch ops and of the ``cnnvit_ref`` package.

    ``forbid`` holds names of torch functions (``"conv2d"``) and of aten operator packets
    (``"convolution"``); both levels are watched. Yields a :class:`_Watch`; the caller fails the
    test when ``watch.hits`` is not empty (the block itself runs normally, so a student's
    ``try/except`` around a forbidden call changes nothing).
    """
    watch = _Watch(forbid)
    previous_profile = sys.getprofile()

    def _profile(frame, event, arg):
        # function calls only (CO_OPTIMIZED): executing a module or class body on import is not a call
        if event == "call" and frame.f_code.co_flags & inspect.CO_OPTIMIZED:
            filename = frame.f_code.co_filename
            if filename.startswith(_PACKAGE_DIR + os.sep) and os.path.abspath(filename) != _THIS_FILE:
                rel = os.path.relpath(filename, os.path.dirname(_PACKAGE_DIR))
                watch.hit(f"{rel}:{frame.f_code.co_name}")
        if previous_profile is not None:
            previous_profile(frame, event, arg)

    sys.setprofile(_profile)
    try:
        with _FunctionWatch(watch), _DispatchWatch(watch):
            yield watch
    finally:
        if sys.getprofile() is not _profile:  # the block switched the watch off
            watch.hit("sys.setprofile (the checker's watch was removed)")
        sys.setprofile(previous_profile)


def _warm_up() -> None:
    """Enter the watch once outside any time limit: the first use of torch's function and dispatch
    modes imports several hundred modules (sympy among them; seconds on a busy CPU), which must not
    count against the student's first test."""
    with no_delegation((), "warm-up"):
        _VF.add(_VF.ones(1), 1)


def _delegation_error(name: str, hits: Sequence[str]) -> GradingError:
    listed = ", ".join(hits[:5]) + (" ..." if len(hits) > 5 else "")
    return GradingError(
        f"{name} must be written from basic tensor operations, but inside it these ran: {listed}. "
        "The task is to re-implement that operation, not to call it (nor the reference package cnnvit_ref)."
    )


# --------------------------------------------------------------------------------------------
# The main check
# --------------------------------------------------------------------------------------------
def _as_oracle(oracle: str | Callable) -> tuple[Callable, str]:
    if isinstance(oracle, str):
        if oracle.startswith("torch."):
            return torch_op(oracle), oracle
        return reference(oracle), oracle
    return oracle, getattr(oracle, "__qualname__", repr(oracle))


def _call_student(fn: Callable, kwargs: dict, *, label: str, forbid: Sequence[str], timeout: float | None):
    __tracebackhide__ = True  # IPython and pytest leave the checker's own frames out of tracebacks
    try:
        with time_limit(timeout, label), no_delegation(forbid, label) as watch:
            out = fn(**kwargs)
    except GradingError:
        raise
    except NotImplementedError:
        raise GradingError(f"{label}: not implemented yet (the stub still raises NotImplementedError).") from None
    except Exception as exc:  # the student's own error: say where and what
        raise GradingError(f"{label} raised {type(exc).__name__}: {exc}") from exc
    if watch.hits:
        raise _delegation_error(label, watch.hits)
    return out


def _weighted_sum(pairs: Sequence[tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
    """sum_i (t_i * w_i).sum(): the scalar whose gradient compares the backward passes."""
    total = None
    for t, w in pairs:
        term = _TB.sum(_TB.mul(t, _TB.to(w, _TB.device.__get__(t))))
        total = term if total is None else _TB.add(total, term)
    return total


def check_function(
    fn: Callable,
    oracle: str | Callable,
    cases: Sequence[Mapping[str, Any]],
    *,
    name: str | None = None,
    grad: bool = True,
    forbid: Sequence[str] = (),
    atol: float = 1e-5,
    rtol: float = 1e-4,
    dtype: torch.dtype = torch.float64,
    seed: int = 0,
    timeout: float | None = 20.0,
    on: torch.device | str | None = None,
    quiet: bool = False,
) -> None:
    """Compare ``fn`` with ``oracle`` on every case; outputs, then gradients.

    ``cases`` are keyword arguments; :class:`Rand` values (``randn(2, 3)``) become tensors made
    from ``seed + case index``; tensors marked ``requires_grad`` get gradients compared when
    ``grad`` is true (the loss is a fixed random weighting of every output). ``forbid`` lists
    the torch/aten op names the student's call must not run (see :func:`no_delegation`).
    """
    __tracebackhide__ = True  # IPython and pytest leave the checker's own frames out of tracebacks
    _check_checker_intact()
    _warm_up()
    label_fn = name or getattr(fn, "__name__", "the function")
    if not callable(fn):
        raise GradingError(f"{label_fn} is not a function (got {type(fn).__name__}): run the cell that defines it.")
    oracle_fn, oracle_name = _as_oracle(oracle)
    dev = torch.device(on) if on is not None else device()
    worst = 0.0
    for i, case in enumerate(cases):
        label = f"{label_fn}, case {i + 1} of {len(cases)} ({_describe_case(case)})"
        values = _make_inputs(case, seed + i, dtype, dev)
        student_in = _copy_inputs(case, values)
        oracle_in = _copy_inputs(case, values)

        got = _call_student(fn, student_in, label=label, forbid=forbid, timeout=timeout)
        expected = oracle_fn(**oracle_in)

        got_items = _flatten_outputs(got, "output")
        exp_items = _flatten_outputs(expected, "output")
        if len(got_items) != len(exp_items):
            raise GradingError(f"{label}: expected {len(exp_items)} output(s) like {oracle_name}, got {len(got_items)}")
        for (lab, g), (_, e) in zip(got_items, exp_items):
            if e is None:
                if g is not None:
                    raise GradingError(f"{label}: {lab} should be None, got {type(g).__name__}")
                continue
            if isinstance(e, _TB):
                worst = max(worst, assert_close(g, e, name=f"{label}: {lab}", atol=atol, rtol=rtol))
            else:
                check_value(g, e, name=f"{label}: {lab}")

        wrt = [k for k, v in case.items() if _is_rand(v) and v.requires_grad]
        if not (grad and wrt):
            continue
        gen = torch.Generator().manual_seed(10_000 + seed + i)
        weights = [
            _TB.to(_VF.randn(_TB.size(e), generator=gen, dtype=torch.float64), _TB.dtype.__get__(e))
            if isinstance(e, _TB) and _TB.is_floating_point(e) else None
            for _, e in exp_items
        ]
        tensors_e = [(e, w) for (_, e), w in zip(exp_items, weights) if w is not None]
        tensors_g = [(g, w) for (_, g), w in zip(got_items, weights) if w is not None]
        needs_grad = [bool(_TB.requires_grad.__get__(g)) for g, _ in tensors_g]
        if not any(needs_grad):
            raise GradingError(
                f"{label}: the output carries no gradient (requires_grad=False). Stay in torch: no numpy, "
                "no .item(), no .detach(), no torch.no_grad() on the way from the inputs to the output."
            )
        loss_e = _weighted_sum([(e, w) for e, w in tensors_e])
        loss_g = _weighted_sum([(g, w) for (g, w), ng in zip(tensors_g, needs_grad) if ng])
        grads_e = torch.autograd.grad(loss_e, [oracle_in[k] for k in wrt], allow_unused=True)
        try:
            with time_limit(timeout, label + " backward"):
                grads_g = torch.autograd.grad(loss_g, [student_in[k] for k in wrt], allow_unused=True)
        except GradingError:
            raise
        except Exception as exc:
            raise GradingError(f"{label}: backward pass raised {type(exc).__name__}: {exc}") from exc
        for k, gg, ge in zip(wrt, grads_g, grads_e):
            ge = _VF.zeros_like(oracle_in[k]) if ge is None else ge
            if gg is None:
                if _TB.item(_TB.max(_TB.abs(ge))) > 0:
                    raise GradingError(f"{label}: the output does not depend on '{k}' (its gradient is missing)")
                continue
            assert_close(gg, ge, name=f"{label}: gradient w.r.t. '{k}'", atol=atol * 10, rtol=rtol * 10)
    if not quiet:
        where = f"on {dev.type}"
        grads = " and gradients" if grad else ""
        print(f"✓ {label_fn}: {len(cases)} case(s) match {oracle_name}{grads} {where} (max abs error {worst:.2g})")


def check_raises(fn: Callable, kwargs: Mapping[str, Any], exc_types: type | tuple, *, name: str, must_mention: str = "") -> None:
    """The call must raise one of ``exc_types`` and its message must mention ``must_mention``."""
    __tracebackhide__ = True  # IPython and pytest leave the checker's own frames out of tracebacks
    try:
        fn(**kwargs)
    except NotImplementedError:
        raise GradingError(f"{name}: not implemented yet (the stub still raises NotImplementedError).") from None
    except exc_types as exc:
        if must_mention and must_mention not in str(exc):
            raise GradingError(f"{name}: raised {type(exc).__name__} as expected, but its message {str(exc)!r} "
                               f"does not mention {must_mention!r}") from None
        return
    except Exception as exc:
        raise GradingError(f"{name}: expected {exc_types} but got {type(exc).__name__}: {exc}") from exc
    raise GradingError(f"{name}: expected an exception ({exc_types}) for this bad input, but the call returned normally")
