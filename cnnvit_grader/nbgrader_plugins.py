"""nbgrader preprocessors of the course (used through ``nbgrader_config.py``).

Four gaps between nbgrader 0.9 and the grading promises of the course (COURSE.md §5):

* :class:`ResilientExecute` starts every kernel through
  :class:`cnnvit_grader.sandbox.SandboxedKernelManager`: bubblewrap, resource limits, a pristine
  ``cnnvit_ref`` (see :mod:`cnnvit_grader.sandbox`), and it keeps at most ``Sandbox.output_kb``
  of a notebook's output (a submission that prints megabytes cannot fill the grader's memory,
  the gradebook or the feedback; error outputs, which decide the grades, are always kept).

* :class:`ResilientExecute` replaces nbgrader's ``Execute``. When the kernel dies inside a cell
  (``os._exit``, a segfault, running out of memory) or a cell outlives ``Execute.timeout``,
  nbgrader would fail the whole submission. Here the cell gets an error output saying what
  happened, the kernel is restarted and the notebook is executed again from the top without
  that cell (at most ``max_restarts`` times). A crash in one task then costs only the tests
  that need that task. What happened is recorded in the notebook metadata under
  ``cnnvit_grading`` so that the instructor's log can say why points were lost, with where the
  seconds went (``timing``: kernel start, set-up cell, cells, shut-down; wall and the kernel's CPU),
  which ``tools/benchmark.py autograde`` reports. A kernel is killed, not shut down gracefully, once
  its notebook is done (nothing of it is kept; waiting for it to exit cost 1-2 s per student).
* :class:`PlainOutputsInTestCells` makes an *error* the only way a test cell fails. nbgrader
  also gives zero to a test cell that wrote to stderr (a harmless ``UserWarning`` raised by
  the student's code) and gives *partial credit* equal to a number that the cell's last
  expression evaluates to (``grading.assert_close(...)`` returns the max error, e.g. 3e-8
  points). Both outputs are turned into plain display outputs of grade cells.
* :class:`HideHiddenTests` runs in ``generate_feedback``: nbgrader's feedback shows the
  autograded notebook, whose test cells hold the hidden tests (restored from the gradebook).
  This removes the hidden regions from the sources and shortens the tracebacks of those
  cells to the checker's message, so the feedback tells *what* failed but not the hidden code.

This module imports nbgrader, never torch: it runs in the grader's process, not the kernel.
"""
from __future__ import annotations

import copy
import re
import time
from typing import Any

from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbclient.util import run_sync
from nbformat.notebooknode import NotebookNode
from traitlets import Bool, Integer, Unicode, default

from nbgrader import utils
from nbgrader.preprocessors import Execute, NbGraderPreprocessor

from .sandbox import Sandbox, SandboxedKernelManager

__all__ = [
    "ResilientExecute",
    "PlainOutputsInTestCells",
    "HideHiddenTests",
    "autograde_preprocessors",
    "feedback_preprocessors",
    "METADATA_KEY",
]

#: Notebook metadata key under which :class:`ResilientExecute` records incidents.
METADATA_KEY = "cnnvit_grading"

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _error_output(ename: str, evalue: str) -> NotebookNode:
    return NotebookNode(
        output_type="error",
        ename=ename,
        evalue=evalue,
        traceback=[f"\x1b[0;31m{ename}\x1b[0m: {evalue}"],
    )


def _cell_label(cell: NotebookNode, index: int) -> str:
    grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
    return grade_id if grade_id else f"cell {index}"


#: Seconds recorded per notebook under ``cnnvit_grading.timing``: wall seconds to start the kernel
#: and wait until it answers, of the set-up cell (torch and the checker imported) and of all cells,
#: and of the shut-down; CPU seconds of the kernel's processes when it answered, in the set-up
#: cell, and in all (read from /proc, see SandboxedKernelManager.cpu_seconds).
_TIMING_KEYS = ("kernel_start_s", "ready_cpu_s", "setup_cell_s", "setup_cpu_s", "cells_s", "kernel_cpu_s",
                "shutdown_s")


class _CellStuck(CellTimeoutError):
    """The kernel did not answer within ``Execute.timeout``: the cell is abandoned."""


class ResilientExecute(Execute):
    """nbgrader's ``Execute`` that survives a kernel death or a stuck cell.

    The cell in which the kernel died (or which ran past ``timeout``) is recorded, the kernel
    is restarted, and the notebook is executed again from the top, skipping every such cell;
    a skipped cell carries an error output, so a test cell skipped this way scores zero and a
    solution cell skipped this way leaves its functions undefined (their tests fail by
    themselves). After ``max_restarts`` restarts the cells that never ran get an error output
    too, so that a cell which was not executed is never graded as passed.

    Configuration is inherited from ``Execute`` (``c.Execute.timeout`` applies here).
    """

    max_restarts = Integer(
        4, help="How many times the kernel is restarted (one killer cell each) before giving up."
    ).tag(config=True)

    ungraded_cell_timeout = Integer(
        30,
        help="Time limit (s) of the cells that carry no points: set-up, solution and 'try it' cells. "
        "A student's function that loops forever hangs the first cell that calls it, usually a "
        "'try it' cell; stopping that cell after 30 s instead of Execute.timeout keeps one student's "
        "endless loop from costing minutes of grading. Test cells keep Execute.timeout.",
    ).tag(config=True)

    died_ename = Unicode("KernelDied").tag(config=True)
    stuck_ename = Unicode("CellTimeoutError").tag(config=True)

    @default("shutdown_kernel")
    def _kill_when_done(self):
        # nbclient's "graceful" shut-down waits 1-2 s per notebook for the kernel to exit by itself
        # (ipykernel's and torch's clean-up), time in which a grading job does nothing. Every output
        # has arrived by then and the kernel's state is thrown away: it is killed at once (its
        # process group; bwrap's --die-with-parent takes the sandbox with it).
        return "immediate"

    def __init__(self, *args, **kwargs):
        # every kernel is sandboxed (or, with c.Sandbox.enabled = False, only resource-limited)
        kwargs.setdefault("kernel_manager_class", SandboxedKernelManager)
        super().__init__(*args, **kwargs)

    def preprocess(self, nb: NotebookNode, resources: Any = None, km: Any = None):
        self._output_cap = Sandbox(config=self.config).output_kb * 1024
        pristine = copy.deepcopy(nb)
        self._skip: dict[int, tuple[str, str]] = {}  # cell index -> (ename, evalue)
        self._timing = dict.fromkeys(_TIMING_KEYS, 0.0)
        incidents: list[dict[str, Any]] = []
        for attempt in range(self.max_restarts + 1):
            work = copy.deepcopy(pristine)
            self._current: int | None = None
            self._output_used, self._cut_noted = 0, set()
            try:
                work, resources = super().preprocess(work, resources, km)
                break
            except (DeadKernelError, _CellStuck) as exc:
                index = self._current
                if index is None or km is not None:
                    raise  # died before the first cell, or a kernel we do not own: nothing to skip
                cell = work.cells[index]
                stuck = isinstance(exc, _CellStuck)
                what = (
                    f"this cell ran longer than {self._get_timeout(cell)} s and was stopped"
                    if stuck
                    else "the kernel died while running this cell (os._exit, a crash in compiled "
                    "code, or out of memory)"
                )
                last = attempt == self.max_restarts
                evalue = what + (
                    "; the kernel was restarted and the notebook run again without this cell."
                    if not last
                    else f"; after {self.max_restarts} restarts grading gave up, the cells below did not run."
                )
                ename = self.stuck_ename if stuck else self.died_ename
                incidents.append({"cell": _cell_label(cell, index), "index": index,
                                  "what": "timeout" if stuck else "kernel died"})
                self.log.warning("%s in %s (attempt %d)", ename, _cell_label(cell, index), attempt + 1)
                if not last:
                    self._skip[index] = (ename, evalue)
                    continue
                # Out of restarts: the killer cell and every code cell after it count as failed.
                cell.outputs = [_error_output(ename, evalue)]
                for later in work.cells[index + 1:]:
                    if later.cell_type == "code":
                        later.outputs = [_error_output(
                            "NotExecuted", "not run: grading gave up after the kernel died repeatedly above.")]
                        later.execution_count = None
                self.nb = work
                break
        record = dict(work.metadata.get(METADATA_KEY, {}))
        record["incidents"] = incidents
        record["restarts"] = len(self._skip)
        record["gave_up"] = len(incidents) > len(self._skip)
        record["timing"] = {k: round(v, 3) for k, v in self._timing.items()}
        work.metadata[METADATA_KEY] = record
        nb.cells = work.cells
        nb.metadata = work.metadata
        return nb, resources

    def preprocess_cell(self, cell, resources, index):
        if index in self._skip:
            ename, evalue = self._skip[index]
            cell.outputs = [_error_output(ename, evalue)]
            cell.execution_count = None
            return cell, resources
        self._current = index
        t0 = time.perf_counter()
        try:
            return super().preprocess_cell(cell, resources, index)
        finally:
            self._timing["cells_s"] += time.perf_counter() - t0
            if cell.cell_type == "code" and not self._timing["setup_cell_s"]:
                # the set-up cell (imports torch and the checker)
                self._timing["setup_cell_s"] = time.perf_counter() - t0
                self._timing["setup_cpu_s"] = self._kernel_cpu() - self._timing["ready_cpu_s"]

    # where the seconds go (notebook metadata cnnvit_grading.timing; tools/benchmark.py reads it)
    def _kernel_cpu(self) -> float:
        km = getattr(self, "km", None)
        cpu = km.cpu_seconds() if km is not None and hasattr(km, "cpu_seconds") else None
        return cpu or 0.0

    async def async_start_new_kernel(self, **kwargs):
        t0 = time.perf_counter()
        try:
            return await super().async_start_new_kernel(**kwargs)
        finally:
            self._timing["kernel_start_s"] += time.perf_counter() - t0

    async def async_start_new_kernel_client(self):
        t0 = time.perf_counter()
        try:
            return await super().async_start_new_kernel_client()
        finally:
            self._timing["kernel_start_s"] += time.perf_counter() - t0
            if not self._timing["ready_cpu_s"]:
                self._timing["ready_cpu_s"] = self._kernel_cpu()

    async def _async_cleanup_kernel(self):
        self._timing["kernel_cpu_s"] += self._kernel_cpu()
        t0 = time.perf_counter()
        try:
            return await super()._async_cleanup_kernel()
        finally:
            self._timing["shutdown_s"] += time.perf_counter() - t0

    # nbclient's sync entry points are bound to its own async methods: bound again to these
    start_new_kernel = run_sync(async_start_new_kernel)
    start_new_kernel_client = run_sync(async_start_new_kernel_client)
    _cleanup_kernel = run_sync(_async_cleanup_kernel)

    def output(self, outs, msg, display_id, cell_index):
        out = super().output(outs, msg, display_id, cell_index)
        if out is None:
            return out
        self._output_used += _output_size(out)
        if self._output_used <= getattr(self, "_output_cap", 1 << 62):
            return out
        if out.output_type == "error":  # decides the grade: kept, shortened
            out.evalue = str(out.get("evalue", ""))[:2000]
            out.traceback = [str(t)[:2000] for t in out.get("traceback", [])[-20:]]
            return out
        if display_id:  # keep the slot that update_display_data refers to, empty
            out.pop("text", None)
            if "data" in out:
                out.data = {"text/plain": ""}
        elif outs and outs[-1] is out:
            outs.pop()
        if cell_index not in self._cut_noted:
            self._cut_noted.add(cell_index)
            outs.append(NotebookNode(output_type="stream", name="stderr", text=(
                f"[grader: output cut here; a notebook may print at most {self._output_cap // 1024} kB "
                "(Sandbox.output_kb)]\n")))
        return None

    def _get_timeout(self, cell):
        timeout = super()._get_timeout(cell)
        if cell is None or timeout is None:
            return timeout
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("grade") and not meta.get("solution"):
            return timeout  # a test cell
        return min(timeout, self.ungraded_cell_timeout)

    async def _async_handle_timeout(self, timeout, cell=None):
        # nbgrader interrupts and goes on; a kernel that ignores the interrupt then blocks every
        # later cell. Abandon the kernel instead: preprocess() restarts without this cell.
        self.log.error("Cell did not finish within %s s: restarting the kernel without it", timeout)
        raise _CellStuck(f"Cell execution timed out after {timeout} s")


def _output_size(out: NotebookNode) -> int:
    if out.output_type == "stream":
        return len(out.get("text", ""))
    if out.output_type == "error":
        return len(str(out.get("evalue", ""))) + sum(len(str(t)) for t in out.get("traceback", []))
    return sum(len(v) if isinstance(v, str) else len(str(v)) for v in out.get("data", {}).values())


class PlainOutputsInTestCells(NbGraderPreprocessor):
    """In test (grade, non-solution) code cells, only an error output means failure.

    nbgrader scores a grade cell zero when it wrote anything to stderr and gives partial credit
    when its last expression is a number; here stderr streams and ``execute_result`` outputs of
    such cells become ``display_data`` with the same text, shown in feedback but not graded.
    """

    enabled = Bool(True).tag(config=True)

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code" and utils.is_grade(cell) and not utils.is_solution(cell):
            new = []
            for out in cell.get("outputs", []):
                if out.output_type == "stream" and out.name == "stderr":
                    out = NotebookNode(output_type="display_data", metadata={},
                                       data={"text/plain": out.text})
                elif out.output_type == "execute_result":
                    out = NotebookNode(output_type="display_data", metadata=out.get("metadata", {}),
                                       data=out.get("data", {}))
                new.append(out)
            cell.outputs = new
        return cell, resources


class HideHiddenTests(NbGraderPreprocessor):
    """For feedback: drop ``### BEGIN/END HIDDEN TESTS`` regions and their tracebacks."""

    begin_test_delimeter = Unicode("BEGIN HIDDEN TESTS").tag(config=True)
    end_test_delimeter = Unicode("END HIDDEN TESTS").tag(config=True)
    placeholder = Unicode("# (hidden tests ran here; they are not shown in feedback)").tag(config=True)

    def preprocess_cell(self, cell, resources, index):
        if self.begin_test_delimeter not in cell.source:
            return cell, resources
        kept, inside = [], False
        for line in cell.source.split("\n"):
            if self.begin_test_delimeter in line:
                inside = True
                kept.append(line[: len(line) - len(line.lstrip())] + self.placeholder)
            elif self.end_test_delimeter in line:
                inside = False
            elif not inside:
                kept.append(line)
        cell.source = "\n".join(kept)
        for out in cell.get("outputs", []):
            if out.output_type == "error":
                # The traceback quotes the failing line (hidden code); the checker's message
                # (ename: evalue) says what is wrong without it.
                evalue = _ANSI.sub("", str(out.get("evalue", "")))
                out.traceback = [f"{out.ename}: {evalue}"]
        return cell, resources


def autograde_preprocessors() -> list:
    """nbgrader's autograde list with ``Execute`` replaced, plain outputs added, and without
    ``ClearMetadataPreprocessor`` (which would strip the nbgrader metadata if ever enabled)."""
    from nbgrader.converters.autograde import Autograde

    out = []
    for pp in Autograde.class_traits()["autograde_preprocessors"].make_dynamic_default():
        name = getattr(pp, "__name__", str(pp))
        if name == "ClearMetadataPreprocessor":
            continue
        if pp is Execute:
            out.extend([ResilientExecute, PlainOutputsInTestCells])
            continue
        out.append(pp)
    return out


def feedback_preprocessors() -> list:
    """nbgrader's feedback list with :class:`HideHiddenTests` right after ``GetGrades``."""
    from nbgrader.converters.generate_feedback import GenerateFeedback

    out = []
    for pp in GenerateFeedback.class_traits()["preprocessors"].make_dynamic_default():
        out.append(pp)
        if getattr(pp, "__name__", "") == "GetGrades":
            out.append(HideHiddenTests)
    if HideHiddenTests not in out:
        out.insert(0, HideHiddenTests)
    return out
