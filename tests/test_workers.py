"""Warm grading workers (cnnvit_grader/workers.py): one nbgrader process grades student after student,
each in a fresh sandboxed kernel; a student past the time limit costs only that student.

A tiny torch-free assignment keeps this fast: its first test cell passes only in a kernel (and a
/scratch) that no other student's code has run in; its solution cell leaves traces of itself in both.
"""
from __future__ import annotations

import csv
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from cnnvit_grader.sandbox import sandbox_problem

ROOT = Path(__file__).resolve().parents[1]
NAME = "00_tiny"

FRESH = '''import builtins, os
assert not hasattr(builtins, "left_behind"), "this kernel ran another student's code"
assert not os.path.exists("/scratch/left_behind") and not os.path.exists("left_behind"), "a file of another student"
'''
SOLUTION = '''### BEGIN SOLUTION
import builtins
builtins.left_behind = True
open("left_behind", "w").write("x")
{extra}
def answer():
    return 42
### END SOLUTION
'''
CHECK = "assert answer() == 42\n"


def _cell(source: str, grade_id: str, *, grade: bool, solution: bool, points: float = 0):
    meta = {"grade": grade, "solution": solution, "locked": not solution, "grade_id": grade_id,
            "schema_version": 3}
    if grade:
        meta["points"] = points
    return new_code_cell(source, metadata={"nbgrader": meta})


def _notebook(extra: str = "") -> nbformat.NotebookNode:
    nb = new_notebook(cells=[
        _cell(FRESH, "fresh", grade=True, solution=False, points=1),
        _cell(SOLUTION.format(extra=extra), "answer", grade=False, solution=True),
        _cell(CHECK, "check", grade=True, solution=False, points=1),
    ])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def _instructor(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cnnvit_grader.instructor", "--root", str(root), *args],
                          capture_output=True, text=True, timeout=600)


@pytest.mark.skipif(sandbox_problem() is not None, reason=f"no sandbox here: {sandbox_problem()}")
def test_one_worker_grades_students_in_fresh_kernels_and_a_slow_one_costs_only_itself(tmp_path):
    root = tmp_path / "course"
    (root / "solutions" / NAME).mkdir(parents=True)
    shutil.copy(ROOT / "nbgrader_config.py", root)
    nbformat.write(_notebook(), root / "solutions" / NAME / f"{NAME}.ipynb")
    subs = tmp_path / "submissions"
    subs.mkdir()
    nbformat.write(_notebook(), subs / "a_first.ipynb")
    nbformat.write(_notebook(), subs / "b_second.ipynb")
    nbformat.write(_notebook("import time; time.sleep(40)"), subs / "c_sleeper.ipynb")  # past the limit below
    nbformat.write(_notebook(), subs / "d_after.ipynb")
    proc = _instructor(root, "autograde", NAME, "--submissions", str(subs), "--jobs", "1",
                       "--student-timeout", "25")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = {r["student"]: r for r in csv.DictReader((root / "grading" / f"{NAME}_autograde_log.csv").open())}
    for student in ("a_first", "b_second", "d_after"):  # full marks: none saw another student's traces
        assert (rows[student]["status"], rows[student]["score"]) == ("ok", "2"), rows[student]
    assert rows["c_sleeper"]["status"] == "failed" and "longer than 25 s" in rows["c_sleeper"]["reason"], rows
    pids = {}
    for student in rows:
        header = (root / "grading" / "logs" / NAME / f"{student}.log").read_text().splitlines()[0]
        pids[student] = re.search(r"warm worker, pid (\d+)", header).group(1)
    # one process graded the first three; the slow student's was killed, a new one graded the last
    assert pids["a_first"] == pids["b_second"] == pids["c_sleeper"] != pids["d_after"]
