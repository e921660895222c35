"""The grading pipeline end to end: release, autograde, feedback, export (cnnvit_grader.instructor,
the nbgrader plugins and the sandbox of cnnvit_grader), on every assignment found in solutions/.

For each assignment, students are crafted here from its own solution and release notebooks (no
hand-made copies, so a new assignment is covered without new files), graded in ONE autograde run
in a temporary copy of the course, and the guarantees of COURSE.md §5 are read back from
nbgrader's gradebook, the autograde log, the feedback HTML and grades.csv:

* the solution notebook scores full autograded marks, the untouched release notebook zero; written
  answers (manually graded cells) are pending in the export until a grade is entered in the gradebook,
  then counted;
* edited, deleted or unmarked test cells are restored and graded as if untouched;
* a task whose function loops forever costs that task's tests only;
* a kernel killed by ``os._exit`` or a segfault costs that task's tests only, with a reason;
* delegating to the torch twin or to cnnvit_ref, and patching the checker or torch's oracles,
  score zero on the tasks concerned;
* feedback shows no hidden test; export has a row, a score and a reason for every student;
* student code is untrusted input (every kernel is sandboxed, the log says so): a *tamperer* who
  appends code that rebinds every public function to ``lambda *a, **k: True`` to each file of the
  installed cnnvit_ref scores no more than the same wrong code without the tampering; a *vandal*
  who deletes the course's solutions/ and exercises/, truncates every gradebook below the course
  root, writes next to the package, forks until it cannot, fills memory and disk and prints
  megabytes, changes nothing: the course folder and the package are byte-identical afterwards,
  its output is capped, and the honest students graded after both attackers score full marks
  (``a_tamperer`` and ``a_vandal`` are graded first: students are graded in name order).

"Tests of task T" are the test cells whose source (hidden part included) names T or a task whose
solution uses T; the expected per-cell scores follow from that and from the cells' points.
"""
from __future__ import annotations

import ast
import copy
import csv
import hashlib
import html
import importlib
import inspect
import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest
from nbformat.notebooknode import NotebookNode

from cnnvit_grader import instructor, nbgrader_plugins

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENTS = instructor.find_assignments(ROOT)
# Where a task's reference lives: the chapter modules first, then every other public module of the
# package (a new chapter's modules are found without a change here); not the package's machinery.
_FIRST = ("conv", "rnn", "attention", "vit", "swin")
_MACHINERY = {"grading", "models", "data", "flops", "experiments", "trained"}
CHAPTER_MODULES = _FIRST + tuple(sorted(
    p.stem for p in (ROOT / "cnnvit_ref").glob("*.py")
    if not p.stem.startswith("_") and p.stem not in _FIRST and p.stem not in _MACHINERY))
BEGIN_HIDDEN, END_HIDDEN = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"

pytestmark = pytest.mark.slow
needs_assignments = pytest.mark.skipif(not ASSIGNMENTS, reason="no assignment in solutions/ yet")


# --------------------------------------------------------------------------------------------
# Reading an assignment: its tasks, its test cells, which tests need which task
# --------------------------------------------------------------------------------------------
def _meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def _is_test(cell) -> bool:
    m = _meta(cell)
    return cell.cell_type == "code" and bool(m.get("grade")) and not m.get("solution")


def _task_defs(source: str) -> list[ast.FunctionDef | ast.ClassDef]:
    """Top-level public functions and classes of a solution cell (its tasks, e.g. 07's MinibatchCKA)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    return [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and not n.name.startswith("_")]


def _names(name: str, source: str) -> bool:
    return re.search(rf"\b{re.escape(name)}\b", source) is not None


@dataclass
class Assignment:
    name: str
    notebook: str  # notebook id (file stem)
    source: NotebookNode  # solutions/<A>/<nb>.ipynb
    release: NotebookNode  # exercises/<A>/<nb>.ipynb (what students got)
    tasks: dict[str, str]  # task function -> grade_id of its solution cell
    points: dict[str, float]  # test cell grade_id -> points
    tests_of: dict[str, set[str]]  # task -> test cells that need it
    code_cells_of: dict[str, int]  # task -> code cells (any) that need it
    oracles: dict[str, list[str]]  # task -> oracle paths named in its test cells
    manual: dict[str, float]  # written answers (graded by a person): grade_id -> points

    @property
    def total(self) -> float:
        """The autograded maximum (test cells)."""
        return sum(self.points.values())

    @property
    def manual_total(self) -> float:
        return sum(self.manual.values())

    def expected(self, broken: set[str]) -> dict[str, float]:
        """Per test cell: zero if it needs a broken task, else its points."""
        lost = set().union(*(self.tests_of[t] for t in broken)) if broken else set()
        return {g: (0.0 if g in lost else p) for g, p in self.points.items()}

    def cheapest_tasks(self, n: int) -> list[str]:
        """Tasks whose failure touches the fewest cells (the others keep their points)."""
        functions = [t for t in self.tasks if not t[:1].isupper()]  # endless() patches a function's body
        return sorted(functions, key=lambda t: (self.code_cells_of[t], len(self.tests_of[t])))[:n]


def load_assignment(root: Path, name: str) -> Assignment:
    (notebook,) = instructor.assignment_notebooks(root, name)  # one notebook per assignment
    source = nbformat.read(root / "solutions" / name / f"{notebook}.ipynb", as_version=4)
    release = nbformat.read(root / "exercises" / name / f"{notebook}.ipynb", as_version=4)
    tasks, solution_src = {}, {}
    for cell in source.cells:
        if cell.cell_type == "code" and _meta(cell).get("solution"):
            for fdef in _task_defs(cell.source):
                tasks[fdef.name] = _meta(cell)["grade_id"]
                solution_src[fdef.name] = cell.source
    # task U depends on task T when U's solution cell names T
    users = {t: {u for u in tasks if u != t and _names(t, solution_src[u])} | {t} for t in tasks}
    changed = True
    while changed:
        changed = False
        for t in tasks:
            more = set().union(*(users[u] for u in users[t])) - users[t]
            if more:
                users[t] |= more
                changed = True
    points = {_meta(c)["grade_id"]: float(_meta(c).get("points", 0)) for c in source.cells if _is_test(c)}
    manual = {_meta(c)["grade_id"]: float(_meta(c).get("points", 0)) for c in source.cells
              if _meta(c).get("grade") and _meta(c).get("solution")}
    tests_of, code_cells_of, oracles = {}, {}, {}
    for t in tasks:
        needs = [c for c in source.cells if c.cell_type == "code" and not _meta(c).get("solution")
                 and any(_names(u, c.source) for u in users[t])]
        tests_of[t] = {_meta(c)["grade_id"] for c in needs if _is_test(c)}
        code_cells_of[t] = len(needs)
        oracles[t] = sorted({m for c in source.cells if _is_test(c) and _names(t, c.source)
                             for m in re.findall(rf"check_function\(\s*{t}\s*,\s*\"([\w.]+)\"", c.source)})
    return Assignment(name, notebook, source, release, tasks, points, tests_of, code_cells_of, oracles, manual)


def find_reference(name: str):
    """The function (or class) ``name`` in a chapter module of cnnvit_ref, or None."""
    for module in CHAPTER_MODULES:
        if not (ROOT / "cnnvit_ref" / f"{module}.py").is_file():
            continue
        mod = importlib.import_module(f"cnnvit_ref.{module}")
        fn = getattr(mod, name, None)
        if (inspect.isfunction(fn) or inspect.isclass(fn)) and fn.__module__ == mod.__name__:
            return fn
    return None


# --------------------------------------------------------------------------------------------
# Crafting submissions from the assignment's own notebooks
# --------------------------------------------------------------------------------------------
def _cell(nb: NotebookNode, grade_id: str) -> NotebookNode:
    return next(c for c in nb.cells if _meta(c).get("grade_id") == grade_id)


def filled(a: Assignment) -> NotebookNode:
    """The release notebook with every solution cell written as in the solution."""
    nb = copy.deepcopy(a.release)
    for cell in nb.cells:
        if _meta(cell).get("solution"):
            cell.source = _cell(a.source, _meta(cell)["grade_id"]).source
    return nb


def with_prefix(nb: NotebookNode, grade_id: str, code: str) -> NotebookNode:
    cell = _cell(nb, grade_id)
    cell.source = code + "\n" + cell.source
    return nb


def endless(nb: NotebookNode, a: Assignment, task: str) -> NotebookNode:
    """The task's function starts with an endless loop whenever the checker calls it.

    The checker watches the call with a profiler, so ``while sys.getprofile() is not None`` is
    ``while True`` for every test of the task, while ungraded "try it" cells run normally: there,
    a plain ``while True`` is only stopped by nbgrader's cell time limit and a re-run, which
    test_resilient_execute_abandons_a_cell_that_ignores_interrupts covers on a tiny notebook.
    """
    cell = _cell(nb, a.tasks[task])
    (fdef,) = [f for f in _task_defs(cell.source) if f.name == task]
    lines = cell.source.split("\n")
    body = fdef.body[0]
    indent = " " * body.col_offset
    lines.insert(body.lineno - 1, f"{indent}import sys\n{indent}while sys.getprofile() is not None:  # endless\n"
                                  f"{indent}    pass")
    cell.source = "\n".join(lines)
    return nb


def delegating(nb: NotebookNode, a: Assignment, tasks: set[str]) -> NotebookNode:
    """These tasks call the op they should re-implement: torch's twin if a test names one, else cnnvit_ref."""
    for task in tasks:
        grade_id = a.tasks[task]
        twin = next((o for o in a.oracles[task] if o.startswith("torch.")), None)
        ref = find_reference(task)
        target = twin or (f"{ref.__module__}.{task}" if ref else None)
        if target is None:
            continue
        module = target.rsplit(".", 1)[0]
        _cell(nb, grade_id).source += (
            f"\n\n\ndef {task}(*args, **kwargs):  # delegates\n"
            f"    import {module}\n"
            f"    return {target}(*args, **kwargs)\n"
        )
    return nb


PATCH_CHECKER = """\
import importlib, types
import torch
import cnnvit_ref.grading as _g
_g.check_function = lambda *args, **kwargs: None
_g.check_value = lambda *args, **kwargs: None
_g.assert_close = lambda *args, **kwargs: 0.0
_g.check_raises = lambda *args, **kwargs: None
grading = types.SimpleNamespace(check_function=lambda *a, **k: None, check_value=lambda *a, **k: None,
                                torch_op=lambda path: None, reference=lambda path: None)
torch.Tensor.any = lambda self, *args, **kwargs: torch.tensor(False)


def _first_tensor(args, kwargs):
    return next(v for v in [*args, *kwargs.values()] if isinstance(v, torch.Tensor))
"""


def patching(nb: NotebookNode, a: Assignment, tasks: set[str]) -> NotebookNode:
    """The checker patched (first solution cell); these tasks redefined wrong, with torch's oracles
    and cnnvit_ref's reference rebound to the wrong function."""
    first_cell = _cell(nb, next(iter(a.tasks.values())))
    first_cell.source = PATCH_CHECKER + "\n\n" + first_cell.source
    for task in tasks:
        code = f"\n\n\ndef {task}(*args, **kwargs):  # wrong: returns its first tensor argument\n"
        code += "    return _first_tensor(args, kwargs)\n\n\n"
        for oracle in a.oracles[task]:
            module, attr = oracle.rsplit(".", 1)
            code += f"import {module}\n{module}.{attr} = {task}  # the oracle is now this function\n"
        _cell(nb, a.tasks[task]).source += code
    return nb


def tampered(nb: NotebookNode) -> NotebookNode:
    """Test cells edited to ``pass`` (with 100 points), deleted, or unmarked (metadata removed)."""
    tests = [c for c in nb.cells if _is_test(c)]
    for i, cell in enumerate(tests):
        if i % 3 == 0:
            cell.source = "pass  # edited"
            cell.metadata["nbgrader"]["points"] = 100
        elif i % 3 == 2:
            cell.source = "pass  # unmarked"
            del cell.metadata["nbgrader"]
    deleted = {id(c) for i, c in enumerate(tests) if i % 3 == 1}
    nb.cells = [c for c in nb.cells if id(c) not in deleted]
    return nb


TAMPER_MARK = "# --- appended by a submission (tests/test_grading_pipeline.py) ---"
TAMPER = f'''
import glob as _glob, os as _os, cnnvit_ref as _pkg
_lines = """

{TAMPER_MARK}
import os as _tamper_os
if "autograded" in _tamper_os.getcwd():  # inside a grading kernel only: harmless if it ever lands
    import inspect as _tamper_inspect
    for _tamper_name, _tamper_value in list(globals().items()):
        if _tamper_inspect.isfunction(_tamper_value) and not _tamper_name.startswith("_"):
            globals()[_tamper_name] = lambda *a, **k: True
"""
for _path in _glob.glob(_os.path.join(_os.path.dirname(_pkg.__file__), "*.py")):
    try:
        with open(_path, "a") as _f:
            _f.write(_lines)
    except OSError as _e:
        print("could not tamper with", _path, type(_e).__name__)
'''


def wrong(nb: NotebookNode, a: Assignment, task: str, *, tamper: bool = False) -> NotebookNode:
    """The task is wrong (returns ``torch.zeros(1)``); with ``tamper``, its cell first appends, to every
    file of the installed cnnvit_ref, lines that rebind each public function to ``lambda *a, **k: True``."""
    cell = _cell(nb, a.tasks[task])
    cell.source = ((TAMPER + "\n\n" if tamper else "") + cell.source
                   + f"\n\n\ndef {task}(*args, **kwargs):  # wrong\n    import torch\n    return torch.zeros(1)\n")
    return nb


VANDAL = '''
import glob, os, shutil, cnnvit_ref
roots = [COURSE]  # the course folder, known to the attacker, and any course folder above the kernel
here = os.getcwd()
while here != os.path.dirname(here):
    if os.path.exists(os.path.join(here, "nbgrader_config.py")):
        roots.append(here)
    here = os.path.dirname(here)
done = []
for root in roots:
    for folder in ("solutions", "exercises", os.path.join("grading", "submitted")):
        if os.path.isdir(os.path.join(root, folder)):
            shutil.rmtree(os.path.join(root, folder), ignore_errors=True)
            done.append(folder)
    for db in glob.glob(os.path.join(root, "**", "gradebook.db"), recursive=True):
        try:
            open(db, "w").close()
            done.append(db)
        except OSError:
            pass
try:
    open(os.path.join(os.path.dirname(os.path.dirname(cnnvit_ref.__file__)), "VANDAL_WAS_HERE"), "w").close()
    done.append("VANDAL_WAS_HERE")
except OSError:
    pass
print("vandal did:", done)
'''

# Bounded, so that even without a sandbox it cannot take the machine down: 2000 processes, 16 GB of
# (untouched) memory, 2 GB of disk, 3 MB of output -- each above the course's caps.
HOG = '''
import os, time
forks = 0
try:
    for _ in range(2000):
        pid = os.fork()
        if pid == 0:
            time.sleep(0.5)
            os._exit(0)
        forks += 1
except OSError:
    pass
for _ in range(forks):
    os.wait()
hoard = []
try:
    for _ in range(64):
        hoard.append(bytearray(256 * 2**20))
except MemoryError:
    pass
memory_mb = 256 * len(hoard)
del hoard
disk_mb = 0
try:
    for i in range(2048):
        with open(f"/tmp/cnnvit-fill-{os.getpid()}-{i}", "wb") as f:
            f.write(b"x" * 2**20)
        disk_mb += 1
except OSError:
    pass
for i in range(disk_mb + 1):
    if os.path.exists(f"/tmp/cnnvit-fill-{os.getpid()}-{i}"):
        os.remove(f"/tmp/cnnvit-fill-{os.getpid()}-{i}")
print(f"HOG forks={forks} memory_mb={memory_mb} disk_mb={disk_mb}")
'''
PRINTER = "for i in range(3000):\n    print(str(i).rjust(999, 'y'))  # 3 MB of output\n"


def vandalising(nb: NotebookNode, a: Assignment, course: Path) -> NotebookNode:
    """The solution, with three extra cells after the first solution cell: the vandal, the hog, the printer."""
    first = _cell(nb, next(iter(a.tasks.values())))
    at = nb.cells.index(first) + 1
    extra = [VANDAL.replace("COURSE", repr(str(course))), HOG, PRINTER]
    nb.cells[at:at] = [nbformat.v4.new_code_cell(src) for src in extra]
    return nb


def craft_submissions(a: Assignment, folder: Path, course: Path) -> dict:
    """Write the crafted students into ``folder``; return what each one should score.

    Eight graded students (one nbgrader run each, so an assignment costs 9 notebook executions):
    ``a_tamperer`` (the first task wrong and tampering, see :func:`wrong`; it must score no more
    than ``a_wrong``, the same wrong code without the tampering) and ``a_vandal`` (the solution, see
    :func:`vandalising`), graded first, then
    ``solution``, ``blank``, ``tampered``; ``incidents``: the solution with an endless loop in one
    task and ``os._exit`` in another task's cell (each costs its own tests; a segfault and a cell
    stuck past nbgrader's time limit are tested on tiny notebooks below: the same re-run);
    ``cheater``: half the tasks delegate to the op they re-implement, the other half are wrong and
    rebind the oracles to themselves, and the checker is patched (everything scores zero).
    """
    nb_name = f"{a.notebook}.ipynb"
    order = list(a.tasks)  # notebook order
    cheap = sorted(a.cheapest_tasks(2), key=order.index)
    loop_task = cheap[-1]  # after the crash in the notebook: its time limits are waited for once
    crash_tasks = cheap[:-1]
    incidents = endless(filled(a), a, loop_task)
    for task in crash_tasks:
        with_prefix(incidents, a.tasks[task], "import os; os._exit(1)  # kills the kernel")
    delegated = set(order[0::2])
    cheater = delegating(patching(filled(a), a, set(order) - delegated), a, delegated)
    tamper_task = order[0]
    plan: dict[str, tuple[NotebookNode, dict[str, float]]] = {
        "a_tamperer": (wrong(filled(a), a, tamper_task, tamper=True), None),  # compared with a_wrong
        "a_wrong": (wrong(filled(a), a, tamper_task), None),
        "a_vandal": (vandalising(filled(a), a, course), a.expected(set())),
        "solution": (copy.deepcopy(a.source), a.expected(set())),
        "blank": (copy.deepcopy(a.release), {g: 0.0 for g in a.points}),
        "tampered": (tampered(filled(a)), a.expected(set())),
        "incidents": (incidents, a.expected({loop_task, *crash_tasks})),
        "cheater": (cheater, a.expected(set(a.tasks))),
    }
    for i, (student, (nb, _)) in enumerate(sorted(plan.items())):
        if i % 2:  # both layouts: <student>.ipynb and <student>/<notebook>.ipynb
            nbformat.write(nb, folder / f"{student}.ipynb")
        else:
            (folder / student).mkdir()
            nbformat.write(nb, folder / student / nb_name)
    (folder / "broken.ipynb").write_text('{"cells": [ this is not json')
    (folder / "misnamed").mkdir()
    nbformat.write(a.release, folder / "misnamed" / "Untitled.ipynb")
    return {
        "expected": {s: e for s, (_, e) in plan.items()},
        "loop_task": loop_task,
        "crash_cells": [a.tasks[t] for t in crash_tasks],
        "delegated": sorted(delegated),
        "tamper_task": tamper_task,
    }


# --------------------------------------------------------------------------------------------
# One autograde run per assignment (shared by the tests below and by xdist workers)
# --------------------------------------------------------------------------------------------
def course_copy(dest: Path, assignments: list[str]) -> Path:
    """The repo's nbgrader layout (config, solutions/, exercises/) for some assignments, in ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "nbgrader_config.py", dest)
    for a in assignments:
        shutil.copytree(ROOT / "solutions" / a, dest / "solutions" / a)
        if (ROOT / "exercises" / a).is_dir():
            shutil.copytree(ROOT / "exercises" / a, dest / "exercises" / a)
    return dest


def course_digest(root: Path) -> dict[str, str]:
    """sha256 of every file of the course copy outside grading/ (what an instructor must not lose)."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and p.relative_to(root).parts[0] != "grading"}


def package_tampered() -> list[str]:
    """Files of the real cnnvit_ref that carry the tamperer's lines; they are cut off again here, so
    that a failing run does not leave the checkout changed (other tests would fail for that reason)."""
    hit = []
    for path in sorted((ROOT / "cnnvit_ref").glob("*.py")):
        text = path.read_text()
        if TAMPER_MARK in text:
            hit.append(path.name)
            path.write_text(text[: text.index(TAMPER_MARK)].rstrip("\n") + "\n")
    return hit


def instructor_cli(root: Path, *args: str, timeout: float = 1500) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cnnvit_grader.instructor", "--root", str(root), *args],
                          capture_output=True, text=True, timeout=timeout)


def grade_everything(folder: Path, name: str) -> dict:
    from nbgrader.api import Gradebook, MissingEntry

    root = course_copy(folder / "course", [name])
    a = load_assignment(root, name)
    subs = folder / "submissions"
    subs.mkdir()
    plan = craft_submissions(a, subs, root)
    course_before = course_digest(root)
    steps = {}
    for step, args in [
        ("autograde", ["autograde", name, "--submissions", str(subs), "--jobs", "2",
                       "--task-timeout", "5", "--cell-timeout", "60"]),
        ("feedback", ["feedback", name]),
        ("export", ["export"]),
    ]:
        proc = instructor_cli(root, *args)
        steps[step] = {"returncode": proc.returncode, "output": proc.stdout + proc.stderr}
    scores = {}
    db = "sqlite:///" + str(root / "grading" / "gradebook.db")
    with Gradebook(db) as gb:
        for student in plan["expected"]:
            try:
                scores[student] = {g: gb.find_grade(g, a.notebook, name, student).score for g in a.points}
            except MissingEntry:
                scores[student] = None
    with Gradebook(db) as gb:
        gradebook_students = sorted(s.id for s in gb.students)
        manual_pending = {g: gb.find_grade(g, a.notebook, name, "solution").needs_manual_grade for g in a.manual}
    # A grader's marks for the solution's written answers, as the formgrader stores them; then export again.
    with Gradebook(db) as gb:
        for g, points in a.manual.items():
            grade = gb.find_grade(g, a.notebook, name, "solution")
            grade.manual_score, grade.needs_manual_grade = points, False
        gb.db.commit()
    graded_path = root / "grading" / "grades_after_manual_grading.csv"
    proc = instructor_cli(root, "export", "--out", str(graded_path))
    steps["export after manual grading"] = {"returncode": proc.returncode, "output": proc.stdout + proc.stderr}
    log_path = root / "grading" / f"{name}_autograde_log.csv"
    grades_path = root / "grading" / "grades.csv"
    vandal_nb = root / "grading" / "autograded" / "a_vandal" / name / f"{a.notebook}.ipynb"
    vandal_out = ""
    if vandal_nb.is_file():
        vandal_out = "".join(o.get("text", "") for c in nbformat.read(vandal_nb, as_version=4).cells
                             if c.cell_type == "code" for o in c.get("outputs", []))
    return {
        "course_changed": course_before != course_digest(root),
        "package_tampered": package_tampered(),
        "vandal_marker": (ROOT / "VANDAL_WAS_HERE").exists(),
        "vandal_notebook_bytes": vandal_nb.stat().st_size if vandal_nb.is_file() else None,
        "vandal_output": vandal_out[:20000],
        "gradebook_students": gradebook_students,
        "root": str(root),
        "plan": plan,
        "steps": steps,
        "scores": scores,
        "log": list(csv.DictReader(log_path.open())) if log_path.is_file() else [],
        "grades": list(csv.DictReader(grades_path.open())) if grades_path.is_file() else [],
        "grades_after_manual_grading": list(csv.DictReader(graded_path.open())) if graded_path.is_file() else [],
        "auto_max": a.total,
        "manual_max": a.manual_total,
        "manual_pending": manual_pending,
    }


@pytest.fixture(params=ASSIGNMENTS or [pytest.param(None, marks=needs_assignments)])
def graded(request, shared_once):
    name = request.param
    result = shared_once(f"graded-{name}", lambda folder: grade_everything(folder, name))
    for step, info in result["steps"].items():
        assert info["returncode"] == 0, f"instructor {step} failed:\n{info['output'][-4000:]}"
    result["name"] = name
    result["log_by_student"] = {r["student"]: r for r in result["log"]}
    return result


def assert_cell_scores(result: dict, student: str) -> None:
    got = result["scores"][student]
    assert got is not None, f"{student} has no grades in the gradebook: {result['log_by_student'].get(student)}"
    want = result["plan"]["expected"][student]
    wrong = {g: (got[g], want[g]) for g in want if got[g] is None or abs(got[g] - want[g]) > 1e-9}
    assert not wrong, (
        f"{result['name']}: student '{student}' scored (got, expected) per test cell: {wrong}; "
        f"log: {result['log_by_student'].get(student)}"
    )


# --------------------------------------------------------------------------------------------
# release: exercises/ is what solutions/ generates
# --------------------------------------------------------------------------------------------
def _cells(path: Path) -> list[tuple]:
    nb = nbformat.read(path, as_version=4)
    return [(c.cell_type, c.source, json.dumps(_meta(c), sort_keys=True)) for c in nb.cells]


@needs_assignments
@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_release_is_in_sync_with_solutions(tmp_path, name):
    committed = ROOT / "exercises" / name
    assert committed.is_dir(), f"exercises/{name}/ is missing: run make release"
    root = course_copy(tmp_path / "course", [name])
    shutil.rmtree(root / "exercises")
    proc = instructor_cli(root, "release", name)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    fresh = root / "exercises" / name
    assert sorted(p.name for p in fresh.iterdir()) == sorted(p.name for p in committed.iterdir()), \
        f"exercises/{name}/ has other files than solutions/{name}/ generates: run make release"
    for nb in sorted(fresh.glob("*.ipynb")):
        want, got = _cells(nb), _cells(committed / nb.name)
        assert len(got) == len(want), f"exercises/{name}/{nb.name}: {len(got)} cells, expected {len(want)}: run make release"
        for i, (w, g) in enumerate(zip(want, got)):
            assert g == w, f"exercises/{name}/{nb.name} cell {i} differs from the generated release: run make release"


@needs_assignments
def test_release_check_reports_drift(tmp_path):
    name = ASSIGNMENTS[0]
    root = course_copy(tmp_path / "course", [name])
    proc = instructor_cli(root, "release", "--check")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    path = next((root / "exercises" / name).glob("*.ipynb"))
    nb = nbformat.read(path, as_version=4)
    test_cell = next(c for c in nb.cells if _is_test(c))
    test_cell.source += "\n# edited by hand"
    nbformat.write(nb, path)
    proc = instructor_cli(root, "release", "--check")
    assert proc.returncode == 1
    assert f"({_meta(test_cell)['grade_id']}): source differs" in proc.stdout
    assert "run make release" in proc.stdout


# --------------------------------------------------------------------------------------------
# autograde guarantees
# --------------------------------------------------------------------------------------------
def test_solution_scores_full_marks(graded):
    """Full autograded marks; the written answers wait for a person (nbgrader: needs_manual_grade)."""
    assert_cell_scores(graded, "solution")
    row = graded["log_by_student"]["solution"]
    assert row["status"] == "ok" and float(row["score"]) == graded["auto_max"] > 0
    assert float(row["max_score"]) == graded["auto_max"] + graded["manual_max"]
    assert all(graded["manual_pending"].values()), graded["manual_pending"]


def test_untouched_release_scores_zero(graded):
    assert_cell_scores(graded, "blank")
    assert float(graded["log_by_student"]["blank"]["score"]) == 0


def test_edited_deleted_and_unmarked_test_cells_are_restored(graded):
    assert_cell_scores(graded, "tampered")
    reason = graded["log_by_student"]["tampered"]["reason"]
    assert "edited test cells restored" in reason and "deleted test cells restored" in reason


def test_endless_loop_and_kernel_deaths_cost_only_their_tasks(graded):
    assert_cell_scores(graded, "incidents")
    row = graded["log_by_student"]["incidents"]
    assert row["status"] == "incident", row
    a_loop = graded["plan"]["loop_task"]
    assert "test time limit in" in row["reason"], row  # the loop (cut by the checker, not by a restart)
    for cell in graded["plan"]["crash_cells"]:
        assert f"the kernel died in '{cell}'" in row["reason"], row["reason"]
    assert "for review: os._exit/ctypes/os.kill" in row["reason"]
    assert 0 < float(row["score"]) < float(row["max_score"]), (a_loop, row)


def test_incident_reasons_reach_the_export(graded):
    row = graded["log_by_student"]["incidents"]
    grade_row = next(r for r in graded["grades"] if r["student"] == "incidents")
    assert row["reason"] and row["reason"] in grade_row["reason"]
    assert float(grade_row[graded["name"]]) == float(row["score"])


def test_delegating_or_patching_scores_zero(graded):
    assert_cell_scores(graded, "cheater")
    reason = graded["log_by_student"]["cheater"]["reason"]
    for flag in ("imports the checker", "rebinds the name grading", "rebinds a torch function"):
        assert flag in reason, reason


def test_every_student_is_in_the_log(graded):
    log = graded["log_by_student"]
    assert set(log) == set(graded["plan"]["expected"]) | {"broken", "misnamed"}
    assert log["broken"]["status"] == "failed" and "not a readable notebook" in log["broken"]["reason"]
    assert log["misnamed"]["status"] == "missing" and "found Untitled.ipynb" in log["misnamed"]["reason"]
    for row in log.values():
        assert list(row) == list(instructor.LOG_FIELDS)
        assert float(row["max_score"]) == float(log["solution"]["max_score"])
        assert float(row["seconds"]) >= 0
        assert row["mode"] == "sandbox", row  # which mode graded each student
    assert set(graded["gradebook_students"]) == set(log)  # a gradebook row each, graded or not
    print("\n" + graded["steps"]["autograde"]["output"])  # wall seconds per student (-s shows it)


# --------------------------------------------------------------------------------------------
# Student code is untrusted input: the sandbox
# --------------------------------------------------------------------------------------------
def test_a_tamperer_scores_no_more_than_its_wrong_code(graded):
    """Appending `lambda *a, **k: True` rebinds to the package's files fails (read-only snapshot);
    the wrong task scores what it scores without the tampering."""
    assert not graded["package_tampered"], f"the tamperer changed cnnvit_ref/{graded['package_tampered']}"
    tamperer, honest_wrong = graded["scores"]["a_tamperer"], graded["scores"]["a_wrong"]
    assert tamperer is not None and honest_wrong is not None, graded["log_by_student"]
    more = {g: (tamperer[g], honest_wrong[g]) for g in tamperer if tamperer[g] > honest_wrong[g]}
    assert not more, f"the tamperer scored more than the same wrong code: {more}"
    task = graded["plan"]["tamper_task"]
    a = load_assignment(Path(graded["root"]), graded["name"])
    own = [g for g in a.points if g.rsplit("_", 1)[0] == task]  # its own tests: <task>_visible, <task>_hidden
    assert own and all(tamperer[g] == 0 for g in own), (own, tamperer)
    row = graded["log_by_student"]["a_tamperer"]
    assert float(row["score"]) < float(row["max_score"]), row


def test_a_vandal_changes_nothing_of_the_instructors(graded):
    assert not graded["course_changed"], "the course folder (solutions/, exercises/, config) changed"
    assert not graded["vandal_marker"], "a submission wrote next to the package"
    out = graded["vandal_output"]
    assert "vandal did: []" in out, out[:2000]  # nothing to delete, nothing to truncate
    assert_cell_scores(graded, "a_vandal")  # its answers are right: full marks
    assert graded["log_by_student"]["a_vandal"]["status"] == "ok", graded["log_by_student"]["a_vandal"]


def test_fork_bomb_memory_disk_and_output_hit_the_caps(graded):
    from cnnvit_grader.sandbox import Sandbox

    caps = Sandbox(config=instructor._config(Path(graded["root"])))
    hog = re.search(r"HOG forks=(\d+) memory_mb=(\d+) disk_mb=(\d+)", graded["vandal_output"])
    assert hog, graded["vandal_output"][:2000]
    forks, memory_mb, disk_mb = map(int, hog.groups())
    assert 0 < forks < caps.processes, forks
    assert memory_mb < caps.memory_mb, memory_mb
    assert disk_mb <= caps.disk_mb, disk_mb
    assert "output cut here" in graded["vandal_output"]
    # 3 MB printed; the autograded notebook keeps the cap plus the notebook itself
    assert graded["vandal_notebook_bytes"] < caps.output_kb * 1024 + 600_000, graded["vandal_notebook_bytes"]


def test_honest_work_graded_after_the_attackers_scores_full_marks(graded):
    """Students are graded in name order, two at a time: `solution` starts after `a_tamperer` and
    `a_vandal` (and three others) have finished."""
    log = graded["log_by_student"]
    order = sorted(log)
    assert order.index("a_tamperer") < order.index("a_vandal") < order.index("solution") - 2
    assert_cell_scores(graded, "solution")


def test_export_has_one_row_per_student_with_reasons(graded):
    name, grades = graded["name"], graded["grades"]
    students = [r["student"] for r in grades]
    assert sorted(students) == sorted(set(students)) == sorted(graded["log_by_student"])
    by = {r["student"]: r for r in grades}
    for student, row in graded["log_by_student"].items():
        assert float(by[student][name]) == float(row["score"]), student
        assert float(by[student][f"{name}_max"]) == float(row["max_score"])
    assert float(by["broken"][name]) == 0 and "not a readable notebook" in by["broken"]["reason"]
    assert float(by["misnamed"][name]) == 0 and f"{name}: missing" in by["misnamed"]["reason"]
    auto_max, manual_max = graded["auto_max"], graded["manual_max"]
    for row in grades:
        assert float(row[f"{name}_auto_max"]) == auto_max and float(row[f"{name}_manual_max"]) == manual_max
        assert float(row[name]) == float(row[f"{name}_auto"]) + float(row[f"{name}_manual"] or 0)
    # written answers: pending until graded (the solution wrote them), zero when left as released (blank)
    solution, blank = by["solution"], by["blank"]
    assert float(solution[f"{name}_auto"]) == float(solution[name]) == auto_max
    assert float(solution[f"{name}_pending"]) == float(solution["pending_total"]) == manual_max
    assert solution[f"{name}_manual"] == ("" if manual_max else "0")
    assert (float(blank[name]), blank[f"{name}_manual"], float(blank[f"{name}_pending"])) == (0, "0", 0)


def test_manual_grades_show_in_the_export_once_entered(graded):
    """After a grader's marks for the solution's written answers are in the gradebook, the export
    counts them: nothing pending, full marks; the other students are unchanged."""
    name = graded["name"]
    before = {r["student"]: r for r in graded["grades"]}
    after = {r["student"]: r for r in graded["grades_after_manual_grading"]}
    assert set(after) == set(before)
    total = graded["auto_max"] + graded["manual_max"]
    solution = after["solution"]
    assert float(solution[name]) == float(solution[f"{name}_max"]) == total
    assert float(solution[f"{name}_manual"]) == graded["manual_max"]
    assert float(solution[f"{name}_pending"]) == float(solution["pending_total"]) == 0
    for student in set(after) - {"solution"}:
        assert after[student] == before[student], student


class _Text(HTMLParser):
    def __init__(self):
        super().__init__()
        self.parts: list[str] = []

    def handle_data(self, data):
        self.parts.append(data)


def _html_text(path: Path) -> str:
    parser = _Text()
    parser.feed(path.read_text())
    return re.sub(r"\s+", " ", html.unescape("".join(parser.parts)))


def _hidden_lines(nb: NotebookNode) -> list[str]:
    lines = []
    for cell in nb.cells:
        inside = False
        for line in cell.source.split("\n"):
            if BEGIN_HIDDEN in line:
                inside = True
            elif END_HIDDEN in line:
                inside = False
            elif inside and len(line.strip()) >= 12:
                lines.append(re.sub(r"\s+", " ", line.strip()))
    return lines


def test_feedback_does_not_show_hidden_tests(graded):
    root, name = Path(graded["root"]), graded["name"]
    a = load_assignment(root, name)
    shown = nbgrader_plugins.HideHiddenTests()
    rest = copy.deepcopy(a.source)
    rest, _ = shown.preprocess(rest, {})  # the source without its hidden regions
    shown_text = " ".join(re.sub(r"\s+", " ", c.source) for c in rest.cells)
    hidden = [h for h in _hidden_lines(a.source) if h not in shown_text]  # e.g. a loop header also in a solution
    if a.manual:  # the rubrics of written answers sit in hidden regions (the solution student's feedback holds them)
        assert any(h.startswith("**Rubric") for h in hidden), "no rubric among the hidden lines"
    visible = [re.sub(r"\s+", " ", ln.strip()) for c in a.release.cells if _is_test(c)
               for ln in c.source.split("\n") if len(ln.strip()) >= 12]
    pages = sorted((root / "grading" / "feedback").glob(f"*/{name}/*.html"))
    assert {p.parts[-3] for p in pages} >= {"solution", "blank", "incidents"}, pages
    for page in pages:
        text = _html_text(page)
        assert "BEGIN HIDDEN TESTS" not in text, page
        leaked = [h for h in hidden if h in text]
        assert not leaked, f"{page} shows hidden test lines: {leaked[:3]}"
        # the check can see code: the visible tests are there
        assert visible and any(v in text for v in visible), page


# --------------------------------------------------------------------------------------------
# Task functions: same name and signature as the reference in cnnvit_ref
# --------------------------------------------------------------------------------------------
def _without_annotations(sig: inspect.Signature) -> inspect.Signature:
    return sig.replace(parameters=[p.replace(annotation=inspect.Parameter.empty) for p in sig.parameters.values()],
                       return_annotation=inspect.Signature.empty)


@needs_assignments
@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_task_functions_have_a_reference_with_the_same_signature(name):
    a = load_assignment(ROOT, name)
    assert a.tasks, f"{name}: no task function found in the solution cells"
    problems = []
    for cell in a.source.cells:
        if not (cell.cell_type == "code" and _meta(cell).get("solution")):
            continue
        for fdef in _task_defs(cell.source):
            ref = find_reference(fdef.name)
            if ref is None:
                problems.append(f"{fdef.name}: no function of that name in cnnvit_ref.{{{', '.join(CHAPTER_MODULES)}}}")
                continue
            # a class task (07's MinibatchCKA): every public method and __init__ of the solution's class
            methods = [m for m in fdef.body if isinstance(m, ast.FunctionDef)
                       and (m.name == "__init__" or not m.name.startswith("_"))] if isinstance(fdef, ast.ClassDef) \
                else [fdef]
            for method in methods:
                stub = copy.deepcopy(method)
                stub.body, stub.decorator_list = [ast.Pass()], []
                namespace: dict = {}
                exec(compile(ast.fix_missing_locations(ast.Module([stub], [])), "<solution>", "exec"),
                     {"torch": importlib.import_module("torch"), "math": importlib.import_module("math")}, namespace)
                got = _without_annotations(inspect.signature(namespace[method.name]))
                target = ref if method is fdef else getattr(ref, method.name, None)
                if target is None:
                    problems.append(f"{fdef.name}.{method.name}: not in {ref.__module__}.{fdef.name}")
                    continue
                want = _without_annotations(inspect.signature(target))
                if got != want:
                    label = fdef.name if method is fdef else f"{fdef.name}.{method.name}"
                    problems.append(f"{label}{got} != {ref.__module__}.{label}{want}")
    assert not problems, f"{name}: " + "; ".join(problems)


# --------------------------------------------------------------------------------------------
# The pieces on their own (fast: tiny notebooks without torch)
# --------------------------------------------------------------------------------------------
def _code(source: str, grade_id: str | None = None, points: float | None = None) -> NotebookNode:
    cell = nbformat.v4.new_code_cell(source)
    if grade_id:
        cell.metadata["nbgrader"] = {"grade": points is not None, "grade_id": grade_id, "locked": points is not None,
                                     "points": points or 0, "schema_version": 3, "solution": points is None,
                                     "task": False}
    return cell


def _execute(cells: list, **config) -> NotebookNode:
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    ex = nbgrader_plugins.ResilientExecute(kernel_name="python3", **config)
    nb, _ = ex.preprocess(nb, {"metadata": {"path": "."}})
    return nb


def _errors(cell) -> list[str]:
    return [f"{o.ename}: {o.evalue}" for o in cell.outputs if o.output_type == "error"]


def test_resilient_execute_skips_a_killer_cell_and_keeps_the_rest():
    nb = _execute([
        _code("x = 1"),
        _code("import os; os._exit(1)", "killer"),
        _code("print(x + 1)", "after", 1),
    ])
    assert "KernelDied" in _errors(nb.cells[1])[0] and "run again without this cell" in _errors(nb.cells[1])[0]
    assert nb.cells[2].outputs[0].text == "2\n"
    record = dict(nb.metadata[nbgrader_plugins.METADATA_KEY])
    # where the seconds went (kernel start, cells, shut-down): recorded, checked by the benchmark
    assert set(record.pop("timing")) >= {"kernel_start_s", "cells_s", "shutdown_s"}
    assert record == {"incidents": [{"cell": "killer", "index": 1, "what": "kernel died"}], "restarts": 1,
                      "gave_up": False}


def test_resilient_execute_survives_a_segfault():
    nb = _execute([
        _code("import ctypes; ctypes.string_at(0)", "segv"),
        _code("print('alive')", "after", 1),
    ])
    assert "KernelDied" in _errors(nb.cells[0])[0]
    assert nb.cells[1].outputs[0].text == "alive\n"


def test_resilient_execute_gives_up_and_fails_the_cells_it_did_not_run():
    nb = _execute([
        _code("import os; os._exit(1)", "k1"),
        _code("import os; os._exit(2)", "k2"),
        _code("print('never')", "t", 1),
        nbformat.v4.new_markdown_cell("text"),
    ], max_restarts=1)
    assert "KernelDied" in _errors(nb.cells[0])[0]
    assert "grading gave up" in _errors(nb.cells[1])[0]
    assert _errors(nb.cells[2]) and _errors(nb.cells[2])[0].startswith("NotExecuted")  # never graded as passed
    record = nb.metadata[nbgrader_plugins.METADATA_KEY]
    assert record["gave_up"] is True and record["restarts"] == 1


def test_resilient_execute_abandons_a_cell_that_ignores_interrupts():
    nb = _execute([
        _code("import signal, time; signal.signal(signal.SIGINT, signal.SIG_IGN); time.sleep(60)", "stuck"),
        _code("print('next')", "t", 1),
    ], timeout=3)
    assert _errors(nb.cells[0])[0].startswith("CellTimeoutError: this cell ran longer than 3 s")
    assert nb.cells[1].outputs[0].text == "next\n"
    assert nb.metadata[nbgrader_plugins.METADATA_KEY]["incidents"][0]["what"] == "timeout"


def test_an_ungraded_cell_gets_the_shorter_limit_and_a_test_cell_the_full_one():
    """A 'try it' cell that calls a looping function is stopped after ungraded_cell_timeout, not
    Execute.timeout; a test cell of the same length still runs to the end."""
    nb = _execute([
        _code("import time; time.sleep(30)", "try_it"),   # solution/ungraded cell: stopped at 2 s
        _code("import time; time.sleep(3); print('test ran')", "t", 1),  # test cell: 3 s < 10 s
    ], timeout=10, ungraded_cell_timeout=2)
    assert _errors(nb.cells[0])[0].startswith("CellTimeoutError: this cell ran longer than 2 s")
    assert nb.cells[1].outputs[0].text == "test ran\n"


def test_only_errors_fail_a_test_cell():
    from nbgrader import utils

    cell = _code("import warnings; warnings.warn('x'); 0.25", "t", 3)
    cell.outputs = [nbformat.v4.new_output("stream", name="stderr", text="UserWarning: x\n"),
                    nbformat.v4.new_output("execute_result", data={"text/plain": "0.25"}, execution_count=1)]
    assert utils.determine_grade(copy.deepcopy(cell))[0] == 0  # nbgrader alone: a warning fails the test
    nb = nbformat.v4.new_notebook(cells=[cell])
    nb, _ = nbgrader_plugins.PlainOutputsInTestCells().preprocess(nb, {})
    assert utils.determine_grade(nb.cells[0]) == (3.0, 3.0)
    assert nb.cells[0].outputs[0].data["text/plain"] == "UserWarning: x\n"  # still shown
    failing = _code("assert False", "t", 3)
    failing.outputs = [nbformat.v4.new_output("error", ename="AssertionError", evalue="", traceback=[])]
    nb, _ = nbgrader_plugins.PlainOutputsInTestCells().preprocess(nbformat.v4.new_notebook(cells=[failing]), {})
    assert utils.determine_grade(nb.cells[0])[0] == 0


def test_hide_hidden_tests_removes_code_and_tracebacks():
    cell = _code("check(a)\n### BEGIN HIDDEN TESTS\nsecret_check(b)\n### END HIDDEN TESTS\nlast()", "t", 1)
    cell.outputs = [nbformat.v4.new_output("error", ename="GradingError", evalue="f: shapes differ",
                                           traceback=["----> 3 secret_check(b)", "GradingError: f: shapes differ"])]
    nb, _ = nbgrader_plugins.HideHiddenTests().preprocess(nbformat.v4.new_notebook(cells=[cell]), {})
    out = nb.cells[0]
    assert "secret_check" not in out.source and "check(a)" in out.source and "last()" in out.source
    assert out.outputs[0].traceback == ["GradingError: f: shapes differ"]


def test_collect_submissions_layouts(tmp_path):
    (tmp_path / "ann.ipynb").write_text("{}")
    (tmp_path / "bob").mkdir()
    (tmp_path / "bob" / "01_x.ipynb").write_text("{}")
    (tmp_path / "cy").mkdir()
    (tmp_path / "cy" / "01_x").mkdir()
    (tmp_path / "cy" / "01_x" / "01_x.ipynb").write_text("{}")
    (tmp_path / "dee").mkdir()
    (tmp_path / "dee" / "copy of 01_x.ipynb").write_text("{}")
    (tmp_path / "e*vil.ipynb").write_text("{}")
    (tmp_path / ".ipynb_checkpoints").mkdir()
    found, problems = instructor.collect_submissions("01_x", tmp_path, ["01_x"])
    assert found == {"ann": {"01_x": tmp_path / "ann.ipynb"}, "bob": {"01_x": tmp_path / "bob" / "01_x.ipynb"},
                     "cy": {"01_x": tmp_path / "cy" / "01_x" / "01_x.ipynb"}}
    assert "found copy of 01_x.ipynb" in problems["dee"]
    assert "student id may use only" in problems["e*vil"]
    assert set(problems) == {"dee", "e*vil"}


def test_suspicious_code_is_flagged_for_review(tmp_path):
    honest = _code("def f(x):\n    return torch.relu(x) == x  # compares, assigns nothing", "f_solution")
    sneaky = _code("import importlib\nimportlib.reload = lambda m: m\nimport torch.nn.functional as F\n"
                   "F.conv2d = f\nsetattr(torch, 'relu', f)", "g_solution")
    locked = _code("import cnnvit_ref.grading as grading", "t", 1)  # a test cell: the course's code
    path = tmp_path / "nb.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[honest, locked]), path)
    assert instructor._suspicious(path) == []
    nbformat.write(nbformat.v4.new_notebook(cells=[honest, sneaky, locked]), path)
    assert instructor._suspicious(path) == ["rebinds importlib.reload", "rebinds a torch function",
                                            "setattr on a module"]
