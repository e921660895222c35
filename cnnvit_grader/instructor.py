"""The instructor's commands: release, autograde, feedback, export (nbgrader underneath).

One line each, from the repository root (``make release``, ``make autograde ...`` call the same)::

    python -m cnnvit_grader.instructor release                  # exercises/ <- solutions/, every assignment
    python -m cnnvit_grader.instructor release --check          # exit 1 if exercises/ drifted from solutions/
    python -m cnnvit_grader.instructor autograde 01_convolutions --submissions path/to/folder --jobs 2
    python -m cnnvit_grader.instructor feedback 01_convolutions  # HTML per student, hidden tests removed
    python -m cnnvit_grader.instructor export                    # grading/grades.csv, one row per student

Submissions folder: ``<student>.ipynb`` or ``<student>/<notebook>.ipynb`` (or nbgrader's
``<student>/<assignment>/<notebook>.ipynb``); the student id is the file or folder name. Without
``--submissions``: ``grading/submitted/``, where ``nbgrader collect`` puts the submissions of
JupyterHub's exchange; they are graded where they lie (release_feedback needs their timestamp.txt
and submission_secret.txt), not copied.

Everything is written under ``grading/`` (ignored by git): ``submitted/``, ``autograded/``,
``feedback/``, ``gradebook.db``, ``logs/<assignment>/<student>.log``,
``<assignment>_autograde_log.csv`` (student, status, score, max_score, seconds, mode, reason) and
``grades.csv``. ``mode`` is ``sandbox`` or ``no-sandbox``: how that student's code ran. ``status`` is ``ok`` (graded; ``reason`` may carry notes such as restored test
cells), ``incident`` (graded, but the kernel died, a cell was stuck or a test hit its time limit:
``reason`` says where), ``failed`` (could not be graded: score 0 and why) or ``missing``.
The log's ``score`` is what autograding gave; its ``max_score`` includes the written answers.

Written answers (markdown cells marked "manually graded answer") are graded by a person in the
formgrader. ``grades.csv`` keeps them apart, per assignment ``A``: ``A`` (score so far) and
``A_max``; ``A_auto`` and ``A_auto_max`` (test cells); ``A_manual`` (empty while a written answer
is ungraded) and ``A_manual_max``; ``A_pending`` (manual points not graded yet; an answer left as
released is scored 0 by nbgrader, not pending). Then ``total``, ``max_total``, ``pending_total``.

Each student is graded by nbgrader's ``autograde A --student S``, in parallel (``--jobs``), with
``OMP_NUM_THREADS=1``: one student's crash, endless loop or broken notebook never stops the others.
Each job keeps one warm nbgrader process (:mod:`cnnvit_grader.workers`) that grades its students one
after the other, each in a fresh sandboxed kernel of its own (importing nbgrader once per job, not
once per student, halves the CPU per submission); ``--cold`` starts a new ``nbgrader autograde``
process per student instead. Every kernel runs in the sandbox of :mod:`cnnvit_grader.sandbox`
(bubblewrap, limits from ``c.Sandbox.*`` in ``nbgrader_config.py``), importing a snapshot of
``cnnvit_ref`` taken here before the first student runs. Where the sandbox cannot start,
``autograde`` stops with the reason unless ``--no-sandbox`` is given (student code then runs with
the instructor's rights: see the README's instructor section). ``--task-timeout S`` shortens the checker's per-test time limit
(``CNNVIT_GRADING_TIMEOUT``; it can only shorten it), ``--cell-timeout S`` sets nbgrader's
per-cell backstop (``Execute.timeout``).

Several machines, one gradebook: ``--db-url URL`` (or ``CNNVIT_DB_URL``; any SQLAlchemy URL, e.g. a
PostgreSQL server) names the gradebook, and ``autograde A --shard K/N`` grades only shard K of N
(1 <= K <= N; a student's shard is sha1(id) mod N, :func:`shard_of`), with its own log
``<assignment>_autograde_log.shard-K-of-N.csv``; one ``export`` then gives the whole class. The
assignment's cells are written to the gradebook once (under a lock, only when they differ); each
student is graded under a gradebook lock (PostgreSQL advisory lock; ``flock`` for SQLite), so
shards that overlap grade a student one after the other, into nbgrader's one row per (assignment,
student); a student's old autograde scores are cleared before it is graded, so a shard killed
mid-student leaves a submission that export reports as unfinished (score 0) until a re-run grades
it; nbgrader processes die with the instructor process (``setpriv --pdeathsig``).
"""
from __future__ import annotations

import argparse
import collections
import concurrent.futures
import contextlib
import csv
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

__all__ = [
    "course_root",
    "find_assignments",
    "assignment_notebooks",
    "release",
    "diff_release",
    "collect_submissions",
    "autograde",
    "feedback",
    "export",
    "main",
]

LOG_FIELDS = ("student", "status", "score", "max_score", "seconds", "mode", "reason")
_STUDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@+-]*$")
_PACKAGE_DIR = Path(__file__).resolve().parent


# --------------------------------------------------------------------------------------------
# The course folder
# --------------------------------------------------------------------------------------------
def course_root(root: str | os.PathLike | None = None) -> Path:
    """The folder holding ``nbgrader_config.py``: ``root``, else the current folder, else the checkout."""
    candidates = [Path(root)] if root is not None else [Path.cwd(), _PACKAGE_DIR.parent]
    for c in candidates:
        if (c / "nbgrader_config.py").is_file():
            return c.resolve()
    raise SystemExit(f"instructor: no nbgrader_config.py in {', '.join(map(str, candidates))}")


def _config(root: Path):
    """The course's nbgrader configuration (nbgrader_config.py executed as nbgrader would)."""
    from traitlets.config import Config

    c = Config()
    path = root / "nbgrader_config.py"
    code = compile(path.read_text(), str(path), "exec")
    exec(code, {"get_config": lambda: c, "__file__": str(path), "__name__": "nbgrader_config"})
    return c


def _db_url(root: Path) -> str:
    return _config(root).CourseDirectory.db_url


def _course_id(root: Path) -> str:
    return _config(root).CourseDirectory.course_id


def find_assignments(root: str | os.PathLike) -> list[str]:
    """Assignment ids: the folders of ``solutions/`` that hold a notebook, sorted."""
    src = Path(root) / "solutions"
    if not src.is_dir():
        return []
    return sorted(d.name for d in src.iterdir() if d.is_dir() and not d.name.startswith(".")
                  and any(d.glob("*.ipynb")))


def assignment_notebooks(root: str | os.PathLike, assignment: str) -> list[str]:
    """Notebook names (without ``.ipynb``) of an assignment's source folder."""
    return sorted(p.stem for p in (Path(root) / "solutions" / assignment).glob("*.ipynb"))


def _check_assignment(root: Path, assignment: str) -> None:
    if assignment not in find_assignments(root):
        raise SystemExit(
            f"instructor: unknown assignment {assignment!r}; solutions/ has {find_assignments(root) or 'none'}"
        )


def _child_env(task_timeout: float | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    # nbgrader calls the `alembic` script of its environment when it creates a gradebook, and
    # the kernels it starts must be this environment's: its bin/ goes first on PATH.
    bindir = str(Path(sys.executable).parent)
    env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
    if task_timeout is not None:
        env["CNNVIT_GRADING_TIMEOUT"] = str(task_timeout)
    return env


@dataclass
class _Run:
    returncode: int | None  # None: stopped at the time limit
    output: str
    seconds: float  # wall clock
    cpu_seconds: float  # user + system of nbgrader and the kernels it ran


def _nbgrader(root: Path, args: Sequence[str], *, env: dict | None = None, timeout: float | None = None,
              log: Path | None = None) -> _Run:
    """Run ``python -m nbgrader ARGS`` in ``root`` (its own process group, killed at ``timeout``)."""
    cmd = [*_die_with_parent(), sys.executable, "-m", "nbgrader", *args]
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=root, env=env or _child_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    chunks: list[str] = []

    def read() -> None:  # keeps the start and the last ~1 MB: a flood of output cannot fill memory
        head, tail, size = [], collections.deque(), 0
        for line in iter(proc.stdout.readline, ""):
            if len(head) < 200:
                head.append(line[:2000])
                continue
            tail.append(line[:2000])
            size += len(tail[-1])
            while size > 1_000_000 and len(tail) > 1:
                size -= len(tail.popleft())
        chunks.append("".join(head) + "".join(tail))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    stopped = threading.Event()

    def stop() -> None:
        stopped.set()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # the process group this call started

    timer = threading.Timer(timeout, stop) if timeout else None
    if timer:
        timer.start()
    # wait4 (not Popen.wait) also returns the CPU time of the process and of the kernels it reaped
    _, status, usage = os.wait4(proc.pid, 0)
    if timer:
        timer.cancel()
    proc.returncode = os.waitstatus_to_exitcode(status)
    reader.join()
    proc.stdout.close()
    out = "".join(chunks)
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(" ".join(cmd) + "\n" + out)
    return _Run(None if stopped.is_set() else proc.returncode, out, time.monotonic() - t0,
                usage.ru_utime + usage.ru_stime)


def _die_with_parent() -> list[str]:
    """``setpriv --pdeathsig KILL --`` (util-linux) where it exists: an nbgrader process dies with the
    instructor process that started it, also when that one is SIGKILLed (a shard stopped by Slurm or
    Kubernetes, a machine's OOM killer), so no orphan goes on writing to the gradebook beside a re-run."""
    exe = shutil.which("setpriv") if sys.platform.startswith("linux") else None
    return [exe, "--pdeathsig", "KILL", "--"] if exe else []


def _last_error(output: str) -> str:
    lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
    errors = [ln for ln in lines if "ERROR" in ln or "Error" in ln or "Exception" in ln]
    text = (errors or lines or ["no output"])[-1]
    return re.sub(r"^\[\w+App \| ERROR\]\s*", "", text)[:300]


# --------------------------------------------------------------------------------------------
# release
# --------------------------------------------------------------------------------------------
def _generate(root: Path, assignment: str, release_dir: Path, *, database: bool) -> None:
    args = ["generate_assignment", assignment, "--force",
            f"--CourseDirectory.release_directory={release_dir}"]
    with tempfile.TemporaryDirectory(prefix="release-db-") as tmp:
        if database:
            (root / "grading").mkdir(exist_ok=True)
        else:  # a throwaway gradebook (nbgrader 0.9's no_database still needs one)
            args.append(f"--CourseDirectory.db_url=sqlite:///{Path(tmp) / 'release.db'}")
        run = _nbgrader(root, args)
    if run.returncode != 0:
        raise SystemExit(f"instructor: nbgrader generate_assignment {assignment} failed:\n{run.output[-3000:]}")


def _cells_signature(path: Path) -> list[tuple[str, str, dict]]:
    import nbformat

    nb = nbformat.read(path, as_version=4)
    return [(c.cell_type, c.source, dict(c.metadata.get("nbgrader", {}))) for c in nb.cells]


def diff_release(expected: Path, actual: Path) -> list[str]:
    """Differences between two release folders (notebooks: cell types, sources, nbgrader metadata)."""
    problems = []
    exp = {p.relative_to(expected) for p in expected.rglob("*") if p.is_file() and ".ipynb_checkpoints" not in p.parts}
    act = {p.relative_to(actual) for p in actual.rglob("*") if p.is_file() and ".ipynb_checkpoints" not in p.parts} \
        if actual.is_dir() else set()
    for rel in sorted(exp - act):
        problems.append(f"{actual / rel} is missing")
    for rel in sorted(act - exp):
        problems.append(f"{actual / rel} is not generated from solutions/ any more")
    for rel in sorted(exp & act):
        a, b = expected / rel, actual / rel
        if rel.suffix != ".ipynb":
            if a.read_bytes() != b.read_bytes():
                problems.append(f"{b} differs")
            continue
        ca, cb = _cells_signature(a), _cells_signature(b)
        if len(ca) != len(cb):
            problems.append(f"{b}: {len(cb)} cells, the release from solutions/ has {len(ca)}")
            continue
        for i, (x, y) in enumerate(zip(ca, cb)):
            for what, u, v in (("cell type", x[0], y[0]), ("source", x[1], y[1]), ("nbgrader metadata", x[2], y[2])):
                if u != v:
                    problems.append(f"{b}: cell {i} ({x[2].get('grade_id', 'no id')}): {what} differs")
    return problems


def release(root: Path, assignments: Sequence[str] | None = None, *, check: bool = False) -> int:
    """Regenerate ``exercises/<A>`` from ``solutions/<A>`` (or, with ``check``, only compare)."""
    names = list(assignments) if assignments else find_assignments(root)
    for a in names:
        _check_assignment(root, a)
    if check:
        problems = []
        with tempfile.TemporaryDirectory(prefix="release-check-") as tmp:
            for a in names:
                _generate(root, a, Path(tmp), database=False)
                problems += diff_release(Path(tmp) / a, root / "exercises" / a)
        if not assignments:
            for d in sorted((root / "exercises").glob("*")) if (root / "exercises").is_dir() else []:
                if d.is_dir() and d.name not in names:
                    problems.append(f"{d} has no source in solutions/")
        for p in problems:
            print(p)
        if problems:
            print("exercises/ is out of sync with solutions/: run make release "
                  "(python -m cnnvit_grader.instructor release) and commit exercises/.")
            return 1
        print(f"exercises/ is in sync with solutions/ ({', '.join(names) or 'no assignments'})")
        return 0
    for a in names:
        _generate(root, a, root / "exercises", database=False)
        print(f"released {a} -> exercises/{a}/")
    return 0


# --------------------------------------------------------------------------------------------
# autograde
# --------------------------------------------------------------------------------------------
def collect_submissions(assignment: str, folder: str | os.PathLike, notebooks: Sequence[str]
                        ) -> tuple[dict[str, dict[str, Path]], dict[str, str]]:
    """Find each student's notebook(s) in ``folder``.

    Returns ``({student: {notebook: path}}, {student: why it cannot be graded})``.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise SystemExit(f"instructor: submissions folder {folder} does not exist")
    found: dict[str, dict[str, Path]] = {}
    problems: dict[str, str] = {}
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith((".", "_")):
            continue
        if entry.is_file() and entry.suffix == ".ipynb":
            student = entry.stem
            if len(notebooks) != 1:
                problems[student] = (f"a single notebook {entry.name} was submitted, but {assignment} has "
                                     f"{len(notebooks)}: use {student}/<notebook>.ipynb")
                continue
            found[student] = {notebooks[0]: entry}
        elif entry.is_dir():
            student = entry.name
            files: dict[str, Path] = {}
            for nb in notebooks:
                for cand in (entry / f"{nb}.ipynb", entry / assignment / f"{nb}.ipynb"):
                    if cand.is_file():
                        files[nb] = cand
                        break
            if not files:
                others = sorted(p.name for p in entry.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
                problems[student] = (f"no {' or '.join(n + '.ipynb' for n in notebooks)} in {entry}"
                                     + (f" (found {', '.join(others)})" if others else ""))
                continue
            found[student] = files
        else:
            continue
        if student in found and not _STUDENT_ID.match(student):
            del found[student]
            problems[student] = "the student id may use only letters, digits and _ . @ + - (rename the file)"
    return found, problems


_SUSPICIOUS = [
    (re.compile(r"\bimportlib\s*\.\s*reload\s*=(?!=)"), "rebinds importlib.reload"),
    (re.compile(r"\bgrading\s*\.\s*\w+\s*=(?!=)"), "assigns to the checker (grading.<name> = ...)"),
    (re.compile(r"\bcnnvit_ref\.grading\b|\bfrom\s+cnnvit_ref\s+import\b[^\n]*\bgrading\b"),
     "imports the checker in its own code"),
    (re.compile(r"^\s*grading\s*=(?!=)", re.MULTILINE), "rebinds the name grading"),
    (re.compile(r"\bcnnvit_ref\b[\w.]*\.\w+\s*=(?!=)"), "assigns into the cnnvit_ref package"),
    (re.compile(r"\b(?:torch|F|nn)\s*\.[\w.]+\s*=(?!=)"), "rebinds a torch function"),
    (re.compile(r"\bsetattr\s*\(\s*(?:torch|F|nn|grading|cnnvit_ref|importlib|sys|builtins)\b"), "setattr on a module"),
    (re.compile(r"\bsys\s*\.\s*(?:setprofile|settrace|modules)\b"), "touches sys.setprofile/settrace/modules"),
    (re.compile(r"\b(?:builtins|__builtins__)\b"), "touches builtins"),
    (re.compile(r"\bsignal\s*\.\s*(?:signal|setitimer|alarm)\b"), "touches signal handlers"),
    (re.compile(r"\bos\s*\.\s*_exit\b|\bctypes\b|\bos\s*\.\s*kill\b"), "os._exit/ctypes/os.kill"),
]


def _suspicious(nb_path: Path) -> list[str]:
    """Patterns in the student's own cells that an instructor may want to look at."""
    import nbformat

    try:
        nb = nbformat.read(nb_path, as_version=4)
    except Exception:
        return []
    flags = []
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.cell_type != "code" or meta.get("locked") or meta.get("grade") and not meta.get("solution"):
            continue
        for pattern, what in _SUSPICIOUS:
            if pattern.search(cell.source) and what not in flags:
                flags.append(what)
    return flags


def _incidents(autograded: Path) -> list[str]:
    """What cost points beyond wrong answers, read from the autograded notebook(s)."""
    import nbformat

    from .nbgrader_plugins import METADATA_KEY

    incidents = []
    for path in sorted(autograded.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        record = nb.metadata.get(METADATA_KEY, {})
        for inc in record.get("incidents", []):
            what = "the kernel died in" if inc["what"] == "kernel died" else "stuck past the cell time limit:"
            incidents.append(f"{what} {inc['cell']!r}")
        if record.get("gave_up"):
            incidents.append("gave up after repeated kernel deaths (cells below not run)")
        for cell in nb.cells:
            for out in cell.get("outputs", []):
                if out.get("output_type") == "error" and out.get("ename") == "GradingTimeout":
                    incidents.append(f"test time limit in {cell.metadata.get('nbgrader', {}).get('grade_id', '?')!r}")
    return incidents


def _tampered_tests(released: Path, submitted: Path) -> list[str]:
    """Test cells of the release that the submission edited or deleted (nbgrader restores them)."""
    import nbformat

    def tests(path: Path) -> dict[str, str]:
        nb = nbformat.read(path, as_version=4)
        return {c.metadata["nbgrader"]["grade_id"]: c.source for c in nb.cells
                if c.metadata.get("nbgrader", {}).get("grade") and not c.metadata["nbgrader"].get("solution")}

    try:
        want, got = tests(released), tests(submitted)
    except Exception:
        return []
    edited = [g for g in want if g in got and got[g] != want[g]]
    deleted = [g for g in want if g not in got]
    notes = []
    if edited:
        notes.append(f"edited test cells restored: {', '.join(edited)}")
    if deleted:
        notes.append(f"deleted test cells restored: {', '.join(deleted)}")
    return notes


@dataclass
class _Job:
    student: str
    files: dict[str, Path]
    row: dict = field(default_factory=dict)
    cpu_seconds: float = 0.0


def _grade_one(root: Path, assignment: str, job: _Job, *, env: dict, extra: list[str],
               student_timeout: float, db_retries: int = 2, runner=None) -> None:
    log = root / "grading" / "logs" / assignment / f"{job.student}.log"
    # Shards that overlap by mistake (or a re-run beside a live shard) grade a student one after the
    # other, never at once: two nbgrader processes creating the same submission collide on its key
    # (IntegrityError), and both write the same autograded/ folder.
    with gradebook_lock(root, f"student:{assignment}:{job.student}"):
        _clear_auto_scores(root, assignment, job.student)
        for _ in range(db_retries + 1):
            # runner: a warm worker's (cnnvit_grader.workers), else a new nbgrader process
            run = (runner or _nbgrader)(root, ["autograde", assignment, "--student", job.student, "--force",
                                               *extra], env=env, timeout=student_timeout, log=log)
            if run.returncode == 0 or not any(e in run.output for e in ("database is locked", "IntegrityError")):
                break
        score = _score_now(root, assignment, job.student) if run.returncode == 0 else None
    if run.returncode is None:
        status, reason = "failed", f"grading took longer than {student_timeout:g} s and was stopped"
    elif run.returncode != 0:
        status, reason = "failed", f"nbgrader autograde failed: {_last_error(run.output)} (see {log.relative_to(root)})"
    else:
        incidents = _incidents(root / "grading" / "autograded" / job.student / assignment)
        status = "incident" if incidents else "ok"
        reason = "; ".join(incidents)
    flags, notes = [], []
    for nb, p in job.files.items():
        notes += _tampered_tests(root / "grading" / "release" / assignment / f"{nb}.ipynb", p)
        flags += [f for f in _suspicious(p) if f not in flags]
    reason = "; ".join(filter(None, [reason, *notes]))
    if flags:
        reason = "; ".join(filter(None, [reason, "for review: " + ", ".join(flags)]))
    job.row = {"student": job.student, "status": status, "seconds": f"{run.seconds:.1f}", "reason": reason}
    if score is not None:
        job.row["score"] = _fmt(score)
    job.cpu_seconds = run.cpu_seconds


def _score_now(root: Path, assignment: str, student: str) -> float | None:
    """The student's score in the gradebook (None: none, or unfinished), read while its lock is held."""
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(_db_url(root), _course_id(root)) as gb:
        if student in unfinished_submissions(gb, assignment):
            return None
        try:
            return gb.find_submission(assignment, student).score
        except MissingEntry:
            return None


def _read_log(path: Path) -> dict[str, dict]:
    if not path.is_file():
        return {}
    with path.open(newline="") as f:
        return {r["student"]: r for r in csv.DictReader(f)}


def _write_csv(path: Path, fields: Sequence[str], rows: Iterable[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(fields))
        w.writeheader()
        for r in rows:
            w.writerow({k: r.get(k, "") for k in fields})
    tmp.replace(path)


def _fmt(x: float | None) -> str:
    x = 0.0 if x is None else float(x)
    return f"{x:g}"


def _kernel_python() -> str:
    """The Python of the kernel nbgrader starts (the course's ``python3`` kernel spec)."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        exe = KernelSpecManager().get_kernel_spec("python3").argv[0]
    except NoSuchKernel:
        return sys.executable
    return exe if os.path.isabs(exe) else (shutil.which(exe) or sys.executable)


NO_SANDBOX_HELP = (
    "grade without the sandbox: student code then runs with your rights and can read and change "
    "your files (the course folder, the gradebook, other submissions) and use the network; only "
    "the resource limits of c.Sandbox remain"
)


def _prepare_sandbox(root: Path, no_sandbox: bool) -> tuple[str, list[str], Path | None]:
    """The mode, nbgrader's extra arguments, and the snapshot folder of the reference package."""
    from .sandbox import Sandbox, _package_dirs, sandbox_problem, take_snapshot

    settings = Sandbox(config=_config(root))
    if no_sandbox or not settings.enabled:
        print("autograde: NO SANDBOX (--no-sandbox or c.Sandbox.enabled = False): student code runs with "
              "your rights")
        return "no-sandbox", ["--Sandbox.enabled=False"], None
    python = _kernel_python()
    problem = sandbox_problem(settings, python)
    if problem:
        raise SystemExit(
            f"instructor: student notebooks cannot be sandboxed on this machine: {problem}.\n"
            "Student code is untrusted input; autograde runs it only in bubblewrap (Linux with user "
            "namespaces). Grade on such a machine, or pass --no-sandbox (make autograde ... NO_SANDBOX=1) "
            f"to {NO_SANDBOX_HELP}.")
    package = _package_dirs(python, (settings.package,)).get(settings.package)
    if package is None:
        raise SystemExit(f"instructor: {settings.package} is not importable by {python}: run make install")
    folder = Path(tempfile.mkdtemp(prefix="cg-snapshot-"))
    snapshot = take_snapshot(package, folder / settings.package)  # before any student runs
    return "sandbox", [f"--Sandbox.package_snapshot={snapshot}"], folder


def autograde(root: Path, assignment: str, submissions: str | os.PathLike, *, jobs: int = 2,
              task_timeout: float | None = None, cell_timeout: float | None = None,
              student_timeout: float | None = None, no_sandbox: bool = False,
              shard: tuple[int, int] | None = None, warm: bool = True) -> list[dict]:
    """Grade every submission of ``assignment`` (with ``shard=(K, N)``: those of shard K of N, see
    :func:`shard_of`); write and return the log rows."""
    from .sandbox import Sandbox, remove_snapshot

    _check_assignment(root, assignment)
    if student_timeout is None:
        student_timeout = float(Sandbox(config=_config(root)).student_seconds)
    mode, extra, snapshot = _prepare_sandbox(root, no_sandbox)
    try:
        return _autograde(root, assignment, submissions, jobs=jobs, task_timeout=task_timeout,
                          cell_timeout=cell_timeout, student_timeout=student_timeout, mode=mode, extra=extra,
                          shard=shard, warm=warm)
    finally:
        if snapshot is not None:
            remove_snapshot(snapshot)


def _autograde(root: Path, assignment: str, submissions: str | os.PathLike, *, jobs: int,
               task_timeout: float | None, cell_timeout: float | None, student_timeout: float,
               mode: str, extra: list[str], shard: tuple[int, int] | None = None,
               warm: bool = True) -> list[dict]:
    from nbgrader.api import Gradebook, MissingEntry

    notebooks = assignment_notebooks(root, assignment)
    found, problems = collect_submissions(assignment, submissions, notebooks)
    if shard:  # this shard's students only (missing ones included): the N shards partition the class
        found = {s: v for s, v in found.items() if shard_of(s, shard[1]) == shard[0]}
        problems = {s: v for s, v in problems.items() if shard_of(s, shard[1]) == shard[0]}
    grading = root / "grading"
    grading.mkdir(exist_ok=True)
    # The gradebook gets the assignment's current cells (checksums, hidden tests); the release
    # copy made on the way goes to grading/, not exercises/.
    # Shards write it one at a time (at once, they collide on the notebook's key: IntegrityError),
    # and only when it differs: nbgrader replaces a notebook that has no submission yet, which would
    # pull the cells from under a shard that is already grading (ForeignKeyViolation).
    with gradebook_lock(root, f"setup:{assignment}"):
        _generate_once(root, assignment, grading / "release")

    rows: dict[str, dict] = {}
    jobs_list = []
    for student, files in found.items():
        dest = grading / "submitted" / student / assignment
        # Collected by `nbgrader collect` (JupyterHub's exchange): graded where it lies, with the
        # timestamp.txt and submission_secret.txt that nbgrader release_feedback needs.
        collected = all(p.parent.resolve() == dest.resolve() for p in files.values())
        # the same files already there: left as they are (an overlapping shard may be grading them)
        collected = collected or _same_copy(files, dest)
        if not collected:
            shutil.rmtree(dest, ignore_errors=True)
            dest.mkdir(parents=True)
        broken = []
        for nb, src in files.items():
            try:
                json.loads(src.read_text(encoding="utf-8"))
            except (ValueError, UnicodeDecodeError) as exc:
                broken.append(f"{src.name} is not a readable notebook ({type(exc).__name__}: {str(exc)[:80]})")
            if not collected:
                shutil.copyfile(src, dest / f"{nb}.ipynb")
        if broken:
            rows[student] = {"student": student, "status": "failed", "seconds": "0", "reason": "; ".join(broken)}
            continue
        jobs_list.append(_Job(student, files))
    for student, why in problems.items():
        rows[student] = {"student": student, "status": "missing", "seconds": "0", "reason": why}

    env = _child_env(task_timeout)
    extra = [*extra, *([f"--Execute.timeout={int(cell_timeout)}"] if cell_timeout is not None else [])]
    part = f" (shard {shard[0]} of {shard[1]})" if shard else ""
    print(f"autograding {assignment}{part}: {len(jobs_list)} submission(s), {jobs} at a time, {mode}")
    from .workers import Workers

    # one warm nbgrader process per job grades its students one after the other, each in a fresh kernel
    workers = Workers(root, env) if warm else None
    with workers or contextlib.nullcontext(), concurrent.futures.ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = {pool.submit(_grade_one, root, assignment, j, env=env, extra=extra, student_timeout=student_timeout,
                               runner=workers.run if workers else None): j for j in jobs_list}
        for fut in concurrent.futures.as_completed(futures):
            j = futures[fut]
            try:
                fut.result()
            except Exception as exc:  # a bug here must not stop the others either
                j.row = {"student": j.student, "status": "failed", "seconds": "0",
                         "reason": f"instructor error: {type(exc).__name__}: {exc}"}
            rows[j.student] = j.row
            # CPU seconds of nbgrader and the kernels it reaped (a sandboxed kernel's own CPU time does
            # not reach it through bubblewrap's pid namespace): a figure for no-sandbox runs
            cpu = f", {j.cpu_seconds:.1f} s cpu" if mode == "no-sandbox" else ""
            print(f"  {j.student}: {j.row['status']} ({j.row['seconds']} s wall{cpu}) "
                  f"{j.row['reason']}".rstrip())

    for student, row in rows.items():  # no stale autograded copy (nor feedback) for what failed now
        if row["status"] in ("failed", "missing"):
            shutil.rmtree(grading / "autograded" / student / assignment, ignore_errors=True)
            shutil.rmtree(grading / "feedback" / student / assignment, ignore_errors=True)

    with Gradebook(_db_url(root), _course_id(root)) as gb:
        max_score = gb.find_assignment(assignment).max_score
        for student, row in rows.items():
            _ensure_student(gb, student)  # every student has a row, graded or not
            row["mode"] = mode
            score = 0.0
            if row["status"] in ("ok", "incident"):
                try:
                    score = gb.find_submission(assignment, student).score
                except MissingEntry:
                    row["status"], row["reason"] = "failed", "no grades in the gradebook after autograding"
            row["score"], row["max_score"] = row.get("score") or _fmt(score), _fmt(max_score)

    path = _log_path(root, assignment, shard)
    merged = _read_log(path)
    merged.update(rows)
    _write_csv(path, LOG_FIELDS, [merged[s] for s in sorted(merged)])
    print(f"wrote {path.relative_to(root)}")
    return [rows[s] for s in sorted(rows)]


# --------------------------------------------------------------------------------------------
# Shards: several processes or machines grading one assignment into one gradebook
# --------------------------------------------------------------------------------------------
_SHARD = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


def parse_shard(text: str) -> tuple[int, int]:
    """``"K/N"`` -> ``(K, N)``: shard K of N, counted from 1 (like ``#SBATCH --array=1-N``)."""
    m = _SHARD.match(str(text))
    if not m or not 1 <= int(m.group(1)) <= int(m.group(2)):
        raise ValueError(f"argument --shard must be K/N with 1 <= K <= N (shard K of N, counted from 1), "
                         f"e.g. --shard 1/4; got {text!r}")
    return int(m.group(1)), int(m.group(2))


def shard_of(student: str, shards: int) -> int:
    """The shard (1..``shards``) that grades ``student``: the first 8 bytes of sha1(id), modulo ``shards``.

    It depends on the id and N only, so every machine computes the same split without asking the
    others; the N shards partition any class, and a student keeps its shard when others are added."""
    return int.from_bytes(hashlib.sha1(student.encode("utf-8")).digest()[:8], "big") % shards + 1


def _lock_key(course_id: str, name: str) -> int:
    """A signed 64-bit key (PostgreSQL's advisory lock keys are bigint)."""
    return int.from_bytes(hashlib.sha1(f"{course_id}\0{name}".encode("utf-8")).digest()[:8], "big", signed=True)


@contextlib.contextmanager
def gradebook_lock(root: Path, name: str):
    """Hold the gradebook's lock ``name`` (e.g. ``student:01_convolutions:alice``) while the block runs.

    On PostgreSQL it is a session advisory lock (``pg_advisory_lock``) held by a connection of this
    process: every machine that grades into the server waits for it, and the server releases it when
    the connection ends, also when this process is killed (SIGKILL included). On another database
    (SQLite: one machine) it is an ``flock`` on a file in ``grading/locks/``, which the kernel releases
    with the process in the same way."""
    db_url = _db_url(root)
    key = _lock_key(_course_id(root), name)
    if db_url.startswith("postgresql"):
        from sqlalchemy import create_engine, text
        from sqlalchemy.pool import NullPool

        engine = create_engine(db_url, poolclass=NullPool)
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
                conn.commit()  # no transaction stays open while the lock is held
                try:
                    yield
                finally:
                    with contextlib.suppress(Exception):  # a dropped connection has released it anyway
                        conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
                        conn.commit()
        finally:
            engine.dispose()
        return
    import fcntl

    folder = root / "grading" / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f"{key & (2**64 - 1):016x}.lock", "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _assignment_cells(db_url: str, course_id: str, assignment: str) -> dict | None:
    """What nbgrader stored of an assignment: per notebook its grade, solution, task and source cells."""
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(db_url, course_id) as gb:
        try:
            a = gb.find_assignment(assignment)
        except MissingEntry:
            return None
        return {nb.name: sorted(
            [("grade", c.name, float(c.max_score), c.cell_type) for c in nb.grade_cells]
            + [("solution", c.name) for c in nb.solution_cells]
            + [("task", c.name, float(c.max_score)) for c in nb.task_cells]
            + [("source", c.name, c.cell_type, bool(c.locked), c.source, c.checksum) for c in nb.source_cells])
            for nb in a.notebooks}


def _generate_once(root: Path, assignment: str, release_dir: Path) -> None:
    """``release_dir`` gets the assignment's release; the gradebook gets its cells only when it does
    not hold them yet, or holds other ones (the first shard writes them, the others find them).

    The release is generated with a throw-away gradebook first, and what nbgrader stored there is
    compared with the course's gradebook. ``release_dir`` is rewritten only when it differs: another
    shard may be reading it (its test cells are compared with each submission's)."""
    with tempfile.TemporaryDirectory(prefix="release-db-") as tmp:
        fresh, fresh_release = f"sqlite:///{Path(tmp) / 'fresh.db'}", Path(tmp) / "release"
        run = _nbgrader(root, ["generate_assignment", assignment, "--force",
                               f"--CourseDirectory.release_directory={fresh_release}",
                               f"--CourseDirectory.db_url={fresh}"])
        if run.returncode != 0:
            raise SystemExit(f"instructor: nbgrader generate_assignment {assignment} failed:\n{run.output[-3000:]}")
        if _assignment_cells(_db_url(root), _course_id(root), assignment) != _assignment_cells(
                fresh, _course_id(root), assignment):
            _generate(root, assignment, fresh_release, database=True)
        src, dest = fresh_release / assignment, release_dir / assignment
        files = sorted(p.relative_to(src) for p in src.rglob("*") if p.is_file())
        same = dest.is_dir() and files == sorted(p.relative_to(dest) for p in dest.rglob("*") if p.is_file()) \
            and all((src / f).read_bytes() == (dest / f).read_bytes() for f in files)
        if not same:
            shutil.rmtree(dest, ignore_errors=True)
            shutil.copytree(src, dest)


def _clear_auto_scores(root: Path, assignment: str, student: str, attempts: int = 5) -> None:
    """Before a student is graded (again): clear their autograde scores in one transaction.

    nbgrader creates the submission with empty scores and then commits one score per test cell, so
    a run stopped mid-student (a shard killed, a machine lost) leaves some scores empty, or old and
    new ones mixed on a re-grade. Clearing first makes every such stop visible: any empty autograde
    score marks the submission unfinished (:func:`unfinished_submissions`), which export reports and
    does not count until a re-run grades it; nbgrader's own (assignment, student) key keeps it one row."""
    from nbgrader.api import Gradebook, MissingEntry
    from sqlalchemy.exc import OperationalError

    for attempt in range(attempts):
        try:
            with Gradebook(_db_url(root), _course_id(root)) as gb:
                try:
                    submission = gb.find_submission(assignment, student)
                except MissingEntry:
                    return
                for nb in submission.notebooks:
                    for grade in nb.grades:
                        grade.auto_score = None
                gb.db.commit()
                return
        except OperationalError:  # SQLite: "database is locked" by another writer
            if attempt == attempts - 1:
                raise
            time.sleep(1 + attempt)


def unfinished_submissions(gb, assignment: str) -> set[str]:
    """Students whose submission of ``assignment`` has a test cell without an autograde score:
    grading started and did not finish (see :func:`_clear_auto_scores`); re-running it fixes it."""
    from nbgrader.api import Grade, GradeCell, MissingEntry, SubmittedAssignment, SubmittedNotebook

    try:
        a = gb.find_assignment(assignment)
    except MissingEntry:
        return set()
    # written answers (grade cells that are also solution cells) are graded by a person, not here
    written = {(nb.id, c.name) for nb in a.notebooks for c in nb.solution_cells}
    rows = (gb.db.query(SubmittedAssignment.student_id, GradeCell.notebook_id, GradeCell.name)
            .join(SubmittedNotebook, SubmittedNotebook.assignment_id == SubmittedAssignment.id)
            .join(Grade, Grade.notebook_id == SubmittedNotebook.id)
            .join(GradeCell, GradeCell.id == Grade.cell_id)
            .filter(SubmittedAssignment.assignment_id == a.id, Grade.auto_score.is_(None)))
    return {s for s, nb, name in rows if (nb, name) not in written}


def _same_copy(files: dict[str, Path], dest: Path) -> bool:
    """Whether ``dest`` holds exactly these notebooks, byte for byte."""
    if not dest.is_dir() or {p.name for p in dest.iterdir()} != {f"{nb}.ipynb" for nb in files}:
        return False
    return all((dest / f"{nb}.ipynb").read_bytes() == src.read_bytes() for nb, src in files.items())


def _ensure_student(gb, student: str) -> None:
    """``update_or_create_student`` that tolerates another shard creating the same student at once."""
    from nbgrader.api import InvalidEntry

    try:
        gb.update_or_create_student(student)
    except InvalidEntry:  # IntegrityError: it exists now
        gb.db.rollback()
        gb.find_student(student)


def _log_path(root: Path, assignment: str, shard: tuple[int, int] | None) -> Path:
    """``grading/<A>_autograde_log.csv``, or ``<A>_autograde_log.shard-K-of-N.csv`` for a shard."""
    suffix = f".shard-{shard[0]}-of-{shard[1]}" if shard else ""
    return root / "grading" / f"{assignment}_autograde_log{suffix}.csv"


def _autograde_logs(root: Path) -> dict[str, dict[str, dict]]:
    """``{assignment: {student: log row}}`` from every autograde log in ``grading/``, shards included;
    where logs disagree on a student, the most recently written file wins."""
    logs: dict[str, dict[str, dict]] = {}
    pattern = re.compile(r"^(.+)_autograde_log(?:\.shard-\d+-of-\d+)?\.csv$")
    paths = [p for p in (root / "grading").glob("*_autograde_log*.csv") if pattern.match(p.name)]
    for p in sorted(paths, key=lambda p: (p.stat().st_mtime, p.name)):
        logs.setdefault(pattern.match(p.name).group(1), {}).update(_read_log(p))
    return logs


# --------------------------------------------------------------------------------------------
# feedback and export
# --------------------------------------------------------------------------------------------
def feedback(root: Path, assignment: str) -> int:
    """``nbgrader generate_feedback`` (hidden tests removed by the course's plugin)."""
    _check_assignment(root, assignment)
    run = _nbgrader(root, ["generate_feedback", assignment, "--force"],
                    log=root / "grading" / "logs" / assignment / "_feedback.log")
    if run.returncode != 0:
        print(run.output[-3000:])
        return 1
    print(f"feedback in grading/feedback/<student>/{assignment}/")
    return 0


def _manual_cells(notebook) -> set[str]:
    """Grade cells of a gradebook notebook that a person grades: those that are also solution cells
    (a written answer, graded in the formgrader); the other grade cells are test cells (autograded)."""
    return {c.name for c in notebook.grade_cells} & {c.name for c in notebook.solution_cells}


def _maxima(assignment) -> tuple[float, float]:
    """(autograded, manually graded) maximum of a gradebook assignment."""
    auto = manual = 0.0
    for nb in assignment.notebooks:
        written = _manual_cells(nb)
        for cell in nb.grade_cells:
            if cell.name in written:
                manual += float(cell.max_score)
            else:
                auto += float(cell.max_score)
    return auto, manual


def _submission_scores(submission) -> tuple[float, float, float]:
    """(autograded score, manual score graded so far, manual points still pending) of a submission.

    A written answer is pending while nbgrader has neither an autograde score (it gives 0 to an
    answer left as released) nor a grader's manual score for it."""
    auto = manual = pending = 0.0
    for nb in submission.notebooks:
        written = _manual_cells(nb.notebook)
        for grade in nb.grades:
            if grade.name not in written:
                auto += float(grade.score)
            elif grade.manual_score is None and grade.auto_score is None:
                pending += float(grade.max_score)
            else:
                manual += float(grade.score)
    return auto, manual, pending


def export(root: Path, out: str | os.PathLike | None = None) -> Path:
    """Write ``grading/grades.csv``: one row per student; per assignment ``A`` (the score so far),
    ``A_max``, ``A_auto``/``A_auto_max`` (test cells), ``A_manual``/``A_manual_max`` (written answers;
    ``A_manual`` is empty while any is ungraded) and ``A_pending`` (manual points not graded yet);
    then ``total``, ``max_total``, ``pending_total`` and a reason."""
    from nbgrader.api import Gradebook, MissingEntry

    path = Path(out) if out else root / "grading" / "grades.csv"
    logs = _autograde_logs(root)  # shards' logs included
    table: dict[str, dict] = {}
    reasons: dict[str, list[str]] = {}
    maxima: dict[str, tuple[float, float]] = {}  # assignment -> (auto max, manual max)
    with Gradebook(_db_url(root), _course_id(root)) as gb:
        assignments = sorted({a.name for a in gb.assignments} | set(logs))
        students = sorted({s.id for s in gb.students} | {s for log in logs.values() for s in log})
        for a in assignments:
            try:
                maxima[a] = _maxima(gb.find_assignment(a))
            except MissingEntry:
                maxima[a] = (max((float(r.get("max_score") or 0) for r in logs.get(a, {}).values()), default=0.0),
                             0.0)
        unfinished = {a: unfinished_submissions(gb, a) for a in assignments}
        for s in students:
            row = table.setdefault(s, {"student": s})
            pending_total = 0.0
            for a in assignments:
                entry = logs.get(a, {}).get(s)
                auto = manual = pending = 0.0
                if entry is not None and entry["status"] not in ("ok", "incident"):
                    reasons.setdefault(s, []).append(f"{a}: {entry['status']}: {entry['reason']}")
                elif s in unfinished[a]:  # a run stopped mid-student: none of its scores count
                    reasons.setdefault(s, []).append(
                        f"{a}: unfinished: its grading was stopped midway (a killed shard?); re-run autograde")
                else:
                    try:
                        auto, manual, pending = _submission_scores(gb.find_submission(a, s))
                    except MissingEntry:
                        reasons.setdefault(s, []).append(f"{a}: no submission")
                    if entry is not None and entry.get("reason"):
                        reasons.setdefault(s, []).append(f"{a}: {entry['reason']}")
                auto_max, manual_max = maxima[a]
                row[a] = _fmt(auto + manual)
                row[f"{a}_max"] = _fmt(auto_max + manual_max)
                row[f"{a}_auto"], row[f"{a}_auto_max"] = _fmt(auto), _fmt(auto_max)
                row[f"{a}_manual"] = "" if pending else _fmt(manual)
                row[f"{a}_manual_max"], row[f"{a}_pending"] = _fmt(manual_max), _fmt(pending)
                pending_total += pending
            row["total"] = _fmt(sum(float(row[a]) for a in assignments))
            row["max_total"] = _fmt(sum(x + y for x, y in maxima.values()))
            row["pending_total"] = _fmt(pending_total)
            row["reason"] = " | ".join(reasons.get(s, []))
    per_assignment = ("", "_max", "_auto", "_auto_max", "_manual", "_manual_max", "_pending")
    fields = ["student", *[a + x for a in assignments for x in per_assignment], "total", "max_total",
              "pending_total", "reason"]
    _write_csv(path, fields, [table[s] for s in sorted(table)])
    print(f"wrote {path} ({len(table)} student(s), {len(assignments)} assignment(s))")
    return path


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m cnnvit_grader.instructor", description=__doc__.split("\n")[0])
    p.add_argument("--root", help="course folder (holds nbgrader_config.py); default: here, else the checkout")
    p.add_argument("--db-url", default=None,
                   help="the gradebook, any SQLAlchemy URL (sets CNNVIT_DB_URL; default: that variable, else "
                        "sqlite in grading/), e.g. postgresql+psycopg2://grader@db-host/cnnvit")
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("release", help="regenerate exercises/ from solutions/")
    r.add_argument("assignments", nargs="*", help="default: every assignment in solutions/")
    r.add_argument("--check", action="store_true", help="only compare; exit 1 when exercises/ drifted")
    a = sub.add_parser("autograde", help="grade a folder of submissions")
    a.add_argument("assignment")
    a.add_argument("--submissions", default=None,
                   help="folder of <student>.ipynb or <student>/<notebook>.ipynb; default grading/submitted/, "
                        "where `nbgrader collect` puts what students submitted through the exchange")
    a.add_argument("--jobs", type=int, default=2, help="students graded at the same time (default 2)")
    a.add_argument("--task-timeout", type=float, default=None, help="shorten the checker's per-test limit (s)")
    a.add_argument("--cell-timeout", type=float, default=None, help="nbgrader's per-cell limit (s)")
    a.add_argument("--student-timeout", type=float, default=None,
                   help="limit for one student (s); default c.Sandbox.student_seconds")
    a.add_argument("--no-sandbox", action="store_true", help=NO_SANDBOX_HELP)
    a.add_argument("--cold", action="store_true",
                   help="a new nbgrader process per student (default: one warm process per job grades student "
                        "after student, each in a fresh sandboxed kernel; cnnvit_grader/workers.py)")
    a.add_argument("--shard", default=None, metavar="K/N",
                   help="grade only shard K of N (1 <= K <= N; a student's shard is sha1(id) mod N), so that "
                        "N machines or processes grade one assignment into one gradebook (--db-url)")
    f = sub.add_parser("feedback", help="HTML feedback for every autograded student")
    f.add_argument("assignment")
    e = sub.add_parser("export", help="grades of every assignment as CSV")
    e.add_argument("--out", default=None, help="default grading/grades.csv")
    args = p.parse_args(argv)
    if args.db_url:  # nbgrader_config.py reads it, here and in every nbgrader process started below
        os.environ["CNNVIT_DB_URL"] = args.db_url
    root = course_root(args.root)
    if args.command == "release":
        return release(root, args.assignments, check=args.check)
    if args.command == "autograde":
        if args.jobs < 1:
            p.error(f"--jobs must be >= 1, got {args.jobs}")
        try:
            shard = parse_shard(args.shard) if args.shard is not None else None
        except ValueError as exc:
            p.error(str(exc))
        submissions = args.submissions or root / "grading" / "submitted"  # nbgrader collect's
        autograde(root, args.assignment, submissions, jobs=args.jobs, task_timeout=args.task_timeout,
                  cell_timeout=args.cell_timeout, student_timeout=args.student_timeout,
                  no_sandbox=args.no_sandbox, shard=shard, warm=not args.cold)
        return 0
    if args.command == "feedback":
        return feedback(root, args.assignment)
    export(root, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
