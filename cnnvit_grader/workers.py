"""Warm nbgrader processes: one per grading job, each grading one student after another.

``python -m nbgrader autograde A --student S`` spends about 2.3 s of CPU before it grades anything
(importing nbgrader, SQLAlchemy, nbconvert, jupyter_client; asking the kernel's Python where it
lives): as much as the student's notebook costs in its kernel. A worker (``python -m
cnnvit_grader.workers``) imports all that once and then runs nbgrader's own ``AutogradeApp``
once per student it is given: a new app each time (the configuration read again, the same
``autograde A --student S --force ...`` arguments, nbgrader's converters, preprocessors and
gradebook calls unchanged). It also skips ``rfc3987_syntax`` (1.1 s of the 2.3 s) and validates
notebooks with fastjsonschema (0.3 s a student): see :func:`main`. ``instructor autograde`` keeps one worker per job (``--jobs``) and
hands it the students its thread of the pool takes. What stays per student:

* the kernel: every student's notebook runs in a kernel of its own, started fresh in its own
  bubblewrap sandbox (:class:`cnnvit_grader.sandbox.SandboxedKernelManager`) and ended when
  that student is done. Student code never runs in the worker, no kernel sees two students, and
  no writable folder is shared (each kernel's ``/scratch`` is its own tmpfs);
* the outcome and the log: each student's app succeeds or fails on its own (nbgrader's
  ``sys.exit(1)`` and any exception are caught per student); its log lines, exit code, wall and
  CPU seconds come back for that student alone, closed by a marker line that carries a token only
  the instructor knows (a notebook cannot forge it);
* the time limit: a student graded past ``student_timeout`` has the worker killed (its process
  group: nbgrader and, through ``--die-with-parent``, the sandboxed kernel) and fails with the usual
  message; the next student gets a new worker. A worker that dies fails only the student it was
  grading. After ``max_students`` students a worker is replaced (bounded memory).

The instructor's per-student steps around nbgrader (the gradebook lock, clearing old scores,
reading the score, the log file) are unchanged: :meth:`Workers.run` has the signature and result
of ``instructor._nbgrader``.
"""
from __future__ import annotations

import collections
import contextlib
import json
import os
import queue
import resource
import secrets
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

__all__ = ["Workers", "WorkerRun", "main"]

TOKEN_ENV = "CNNVIT_WORKER_TOKEN"
_HEAD_LINES, _TAIL_CHARS = 200, 1_000_000  # a student's log keeps its start and its last ~1 MB


# --------------------------------------------------------------------------------------------
# inside the worker
# --------------------------------------------------------------------------------------------
def _cpu() -> float:
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def _autograde(args: list[str]) -> int:
    """nbgrader's ``autograde ARGS`` in this process, as ``python -m nbgrader autograde ARGS`` would
    run it; its exit code."""
    from nbgrader.apps.autogradeapp import AutogradeApp

    app = None
    try:
        app = AutogradeApp()
        app.initialize(args)
        app.start()
        return 0
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException as exc:  # noqa: BLE001 - one student's failure must not end the worker
        import traceback

        traceback.print_exc()
        print(f"[worker | ERROR] {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        if app is not None:
            with contextlib.suppress(Exception):  # each app adds a handler to its class's logger
                for h in list(app.log.handlers):
                    app.log.removeHandler(h)
        with contextlib.suppress(Exception):
            AutogradeApp.clear_instance()


def main() -> int:
    """Read one JSON request a line (``{"argv": ["autograde", ...]}``) from stdin, answer each with
    the log lines and a marker line ``@@cnnvit-worker TOKEN {"returncode": .., "cpu": ..}``."""
    token = os.environ.pop(TOKEN_ENV, "")
    mark = f"@@cnnvit-worker {token}"
    # jsonschema (under nbformat) imports rfc3987_syntax when it is installed, which builds ~40 lark
    # parsers on import: 1.1 s of CPU, half of what importing nbgrader costs. It serves only JSON-schema
    # "format": "iri" checks, which nbformat never asks for (it validates without a format checker).
    sys.modules.setdefault("rfc3987_syntax", None)
    # nbformat validates every notebook nbgrader reads and writes (several times a student): with
    # fastjsonschema (nbformat's documented NBFORMAT_VALIDATOR switch; the same schema, compiled) a
    # student costs the worker ~0.4 s of CPU instead of ~0.7 s.
    os.environ.setdefault("NBFORMAT_VALIDATOR", "fastjsonschema")
    for line in sys.stdin:
        request = json.loads(line)
        argv = request["argv"]
        c0 = _cpu()
        code = _autograde(argv[1:]) if argv[:1] == ["autograde"] else 2
        if argv[:1] != ["autograde"]:
            print(f"[worker | ERROR] only autograde runs in a worker, not {argv[:1]}", file=sys.stderr)
        sys.stdout.flush()
        print(f"{mark} {json.dumps({'returncode': code, 'cpu': _cpu() - c0})}", file=sys.stderr, flush=True)
    return 0


# --------------------------------------------------------------------------------------------
# the instructor's side
# --------------------------------------------------------------------------------------------
@dataclass
class WorkerRun:
    """The fields of ``instructor._Run``."""

    returncode: int | None  # None: stopped at the time limit
    output: str
    seconds: float  # wall clock
    cpu_seconds: float  # the worker's CPU for this student (and of the kernels it reaped, i.e. not sandboxed ones)


class _Worker:
    def __init__(self, root: Path, env: dict, python: str):
        self.token = secrets.token_hex(16)
        self.mark = f"@@cnnvit-worker {self.token} "
        from .instructor import _die_with_parent  # killed with the instructor (a SIGKILLed shard)

        self.cmd = [*_die_with_parent(), python, "-m", "cnnvit_grader.workers"]
        self.proc = subprocess.Popen(self.cmd, cwd=root, env={**env, TOKEN_ENV: self.token},
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, start_new_session=True)
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.graded = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in iter(self.proc.stdout.readline, ""):
            self.lines.put(line)
        self.lines.put(None)  # the worker is gone

    def kill(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)  # the process group this worker started
        self.proc.wait()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.proc.stdin.close()  # the worker ends when its stdin does
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill()


class Workers:
    """One warm worker per thread of the instructor's pool; :meth:`run` replaces ``_nbgrader``.

    Use as a context manager: the workers end with it."""

    def __init__(self, root: Path, env: dict, *, python: str = sys.executable, max_students: int = 100):
        self.root, self.env, self.python, self.max_students = Path(root), env, python, max_students
        self._local = threading.local()
        self._all: list[_Worker] = []
        self._lock = threading.Lock()

    def __enter__(self) -> "Workers":
        return self

    def __exit__(self, *exc) -> None:
        with self._lock:
            workers, self._all = self._all, []
        for w in workers:
            w.close()

    def _worker(self) -> _Worker:
        w = getattr(self._local, "worker", None)
        if w is None or w.proc.poll() is not None or w.graded >= self.max_students:
            if w is not None:
                w.close()
            w = _Worker(self.root, self.env, self.python)
            self._local.worker = w
            with self._lock:
                self._all.append(w)
        return w

    def _drop(self, w: _Worker) -> None:
        w.kill()
        self._local.worker = None
        with self._lock, contextlib.suppress(ValueError):
            self._all.remove(w)

    def run(self, root: Path, args: Sequence[str], *, env: dict | None = None, timeout: float | None = None,
            log: Path | None = None) -> WorkerRun:
        """``nbgrader ARGS`` (an ``autograde`` command) in this thread's worker; ``root`` and ``env``
        must be the ones the workers were made with."""
        if Path(root) != self.root or (env is not None and env != self.env):
            raise ValueError("Workers.run(): root and env are fixed when the workers start")
        t0 = time.monotonic()
        w = self._worker()
        w.graded += 1
        w.proc.stdin.write(json.dumps({"argv": list(args)}) + "\n")
        w.proc.stdin.flush()
        head: list[str] = []
        tail: collections.deque[str] = collections.deque()
        size, returncode, cpu = 0, None, 0.0
        deadline = None if timeout is None else t0 + timeout
        while True:
            try:
                wait = None if deadline is None else max(0.0, deadline - time.monotonic())
                line = w.lines.get(timeout=wait)
            except queue.Empty:  # past the student's time limit: the worker goes, with its kernel
                self._drop(w)
                returncode = None
                break
            if line is None:  # the worker died while grading this student
                w.proc.wait()
                returncode = w.proc.returncode or 1
                head.append(f"[worker | ERROR] the grading process ended (exit {w.proc.returncode})\n")
                self._drop(w)
                break
            if line.startswith(w.mark):
                done = json.loads(line[len(w.mark):])
                returncode, cpu = done["returncode"], done["cpu"]
                break
            if len(head) < _HEAD_LINES:
                head.append(line[:2000])
                continue
            tail.append(line[:2000])
            size += len(tail[-1])
            while size > _TAIL_CHARS and len(tail) > 1:
                size -= len(tail.popleft())
        out = "".join(head) + "".join(tail)
        if log is not None:
            log.parent.mkdir(parents=True, exist_ok=True)
            log.write_text(" ".join([*w.cmd, f"(warm worker, pid {w.proc.pid}):", "nbgrader", *args]) + "\n" + out)
        return WorkerRun(returncode, out, time.monotonic() - t0, cpu)


if __name__ == "__main__":
    sys.exit(main())
