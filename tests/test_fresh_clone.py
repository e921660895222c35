"""Standard nbgrader on a fresh clone of the course: the commands an instructor types from the
repository root, and the formgrader of JupyterLab, work without `make` having run first.

Before the grading folder was created by nbgrader_config.py, `nbgrader generate_assignment`
on a fresh clone stopped with "There was an error accessing the nbgrader database" (grading/,
the folder of the gradebook, existed only after `make autograde`), and so did the formgrader.
The clone is of the committed HEAD (what CI checks out); the student notebook graded here by a
plain `nbgrader autograde` runs in the sandbox too, and the reference solution scores full marks.
"""
from __future__ import annotations

import csv
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENT = "01_convolutions"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (ROOT / ".git").exists() or shutil.which("git") is None,
                       reason="not a git checkout: no clean clone to make"),
]


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> Path:
    dest = tmp_path_factory.mktemp("fresh") / "course"
    subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", str(ROOT), str(dest)], check=True)
    assert not (dest / "grading").exists()  # a fresh clone has no grading folder
    return dest


def _path_without_venv() -> str:
    """PATH as in a shell where the course's environment is not activated (`.venv/bin/nbgrader`)."""
    venv_bin = str(Path(sys.executable).parent)
    return os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep) if p != venv_bin)


def nbgrader(clone: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1", PATH=_path_without_venv())
    proc = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=clone, env=env, capture_output=True,
                          text=True, timeout=timeout)
    out = proc.stdout + proc.stderr
    assert "error accessing the nbgrader database" not in out, out[-3000:]
    assert proc.returncode == 0, f"nbgrader {' '.join(args)} failed:\n{out[-3000:]}"
    return proc


def test_standard_nbgrader_commands_from_the_root_of_a_fresh_clone(clone):
    nbgrader(clone, "generate_assignment", ASSIGNMENT, "--force")
    assert (clone / "grading" / "gradebook.db").is_file()
    # a student's submission where nbgrader looks for it (CourseDirectory.submitted_directory)
    submitted = clone / "grading" / "submitted" / "alice" / ASSIGNMENT
    submitted.mkdir(parents=True)
    shutil.copy(clone / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", submitted)
    nbgrader(clone, "autograde", ASSIGNMENT, "--force")
    assert (clone / "grading" / "autograded" / "alice" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").is_file()
    nbgrader(clone, "generate_feedback", ASSIGNMENT, "--force")
    assert list((clone / "grading" / "feedback" / "alice" / ASSIGNMENT).glob("*.html"))
    nbgrader(clone, "export")
    rows = list(csv.DictReader((clone / "grades.csv").open()))
    (row,) = [r for r in rows if r["student_id"] == "alice"]
    # full marks on every autograded cell; the written answers (graded by hand) score nothing yet
    source = json.loads((clone / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").read_text())
    graded = [c["metadata"]["nbgrader"] for c in source["cells"]
              if c["metadata"].get("nbgrader", {}).get("grade")]
    autograded = sum(m["points"] for m in graded if not m.get("solution"))
    assert autograded > 0 and any(m.get("solution") for m in graded)
    assert (float(row["score"]), float(row["max_score"])) == (autograded, sum(m["points"] for m in graded)), row
    status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=clone,
                            capture_output=True, text=True).stdout
    assert status == "", f"standard nbgrader changed tracked files of the clone:\n{status}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_formgrader_opens_on_a_fresh_clone(tmp_path_factory):
    dest = tmp_path_factory.mktemp("fresh-formgrader") / "course"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(dest)], check=True)
    port = _free_port()
    env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(dest.parent / "runtime"), PATH=_path_without_venv())
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyter_server", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
         "--ServerApp.token=", "--ServerApp.password=", "--ServerApp.disable_check_xsrf=True",
         f"--ServerApp.root_dir={dest}", "--allow-root"],
        cwd=dest, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(base + "/api/status", timeout=5)
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, "jupyter server did not start"
                time.sleep(0.5)
        page = urllib.request.urlopen(base + "/formgrader/manage_assignments", timeout=60)
        assert page.status == 200
        body = page.read().decode()
        assert "error accessing the nbgrader database" not in body.lower(), body[:2000]
        api = urllib.request.urlopen(base + "/formgrader/api/assignments", timeout=60)
        assignments = json.loads(api.read())
        assert ASSIGNMENT in {a["name"] for a in assignments}, assignments
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
