"""JupyterHub's workflow through nbgrader's exchange, end to end, with the course's configuration.

One instructor and two students, each with a home folder of their own, share a temporary exchange
folder (``c.Exchange.root``), set in each user's ``~/.jupyter/nbgrader_config.py`` as the README's
*JupyterHub* section says. The instructor's config also loads the course's ``nbgrader_config.py``
(so the formgrader, started in the home folder, grades with the course's folders and sandbox):

    instructor (home)    nbgrader release_assignment A
    each student (home)  nbgrader fetch_assignment A; edit; nbgrader submit A
    instructor (home)    nbgrader collect A
    instructor (course)  python -m cnnvit_grader.instructor autograde A   (grading/submitted/, sandboxed)
    instructor (course)  python -m cnnvit_grader.instructor feedback A    (hidden tests removed)
    instructor (home)    nbgrader release_feedback A
    each student (home)  nbgrader fetch_feedback A

``alice`` submits the release with the solution's cells (every test cell's points; written answers,
if the assignment has any, wait for a person), ``bob`` the untouched release (zero). Everyone runs
as the current user (root or not); on a hub every student is a Unix user of their own and nbgrader
takes the student id from it, here ``--student`` stands in for that.

Before the instructor's autograde could grade nbgrader's collected folder, pointing it there
deleted the first student's submission (it cleared ``grading/submitted/<student>/<A>`` before
copying from it) and stopped with FileNotFoundError.
"""
from __future__ import annotations

import copy
import csv
import hashlib
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from test_grading_pipeline import _hidden_lines, _html_text, course_copy, filled, load_assignment

from cnnvit_grader import nbgrader_plugins

ASSIGNMENT = "01_convolutions"  # the quickest to grade
COURSE_ID = "cnn-vs-vit"
STUDENTS = ("alice", "bob")

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(sys.platform == "win32", reason="nbgrader's exchange needs a POSIX system")]


def _env(home: Path, user: str) -> dict[str, str]:
    """A login shell of ``user``: its own HOME (so its own ~/.jupyter and nbgrader cache)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "XDG_"))}
    env.update(HOME=str(home), USER=user, LOGNAME=user, OMP_NUM_THREADS="1")
    return env


def _run(log: list, home: Path, user: str, cwd: Path, *args: str, timeout: float = 600) -> str:
    proc = subprocess.run([sys.executable, *args], cwd=cwd, env=_env(home, user), capture_output=True,
                          text=True, timeout=timeout)
    out = proc.stdout + proc.stderr
    log.append((user, " ".join(args), out))
    assert proc.returncode == 0, f"{user}: {' '.join(args)} failed (exit {proc.returncode}):\n{out[-4000:]}"
    return out


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def hub(tmp_path_factory) -> dict:
    base = tmp_path_factory.mktemp("hub")
    exchange = base / "srv" / "nbgrader" / "exchange"
    exchange.mkdir(parents=True)
    exchange.chmod(0o777)  # what the hub's admin creates: writable by every user
    homes = {u: base / "home" / u for u in ("instructor", *STUDENTS)}
    course = course_copy(homes["instructor"] / COURSE_ID, [ASSIGNMENT])
    for user, home in homes.items():
        (home / ".jupyter").mkdir(parents=True)
        lines = ["c = get_config()  # noqa: F821", f"c.Exchange.root = {str(exchange)!r}"]
        if user == "instructor":  # the course's own settings, wherever the instructor runs nbgrader
            lines.insert(1, f"load_subconfig({str(course / 'nbgrader_config.py')!r})  # noqa: F821")
        else:
            lines.append(f"c.CourseDirectory.course_id = {COURSE_ID!r}")
        (home / ".jupyter" / "nbgrader_config.py").write_text("\n".join(lines) + "\n")
    log: list = []
    ins = homes["instructor"]

    def nbgrader(user: str, *args: str, cwd: Path | None = None) -> str:
        return _run(log, homes[user], user, cwd or homes[user], "-m", "nbgrader", *args)

    def instructor(*args: str) -> str:
        return _run(log, ins, "instructor", course, "-m", "cnnvit_grader.instructor", *args)

    # the config the formgrader loads in the instructor's home (NbGrader.load_config_file)
    probe = _run(log, ins, "instructor", ins, "-c", (
        "from nbgrader.apps.baseapp import NbGrader\n"
        "app = NbGrader(); app.load_config_file(); c = app.config\n"
        "print('root', c.CourseDirectory.root); print('course', c.CourseDirectory.course_id)\n"
        "print('source', c.CourseDirectory.source_directory); print('exchange', c.Exchange.root)\n"
        "print('sandbox', c.Sandbox.enabled)\n"
        "print('pre', ' '.join(p.__name__ for p in c.Autograde.autograde_preprocessors))\n"))

    nbgrader("instructor", "release_assignment", ASSIGNMENT)
    modes = {p: stat.S_IMODE((exchange / p).stat().st_mode) for p in ("", COURSE_ID, f"{COURSE_ID}/inbound",
                                                                    f"{COURSE_ID}/outbound")}
    a = load_assignment(course, ASSIGNMENT)
    release = course / "exercises" / ASSIGNMENT / f"{a.notebook}.ipynb"
    fetched, submitted = {}, {}
    for student in STUDENTS:
        nbgrader(student, "fetch_assignment", ASSIGNMENT)
        mine = homes[student] / ASSIGNMENT / f"{a.notebook}.ipynb"
        fetched[student] = mine.read_bytes() == release.read_bytes()
        if student == "alice":  # writes the solution's cells into the notebook she fetched
            nbformat.write(filled(a), mine)
        submitted[student] = mine.read_bytes()
        nbgrader(student, "submit", ASSIGNMENT, "--student", student)

    nbgrader("instructor", "collect", ASSIGNMENT)
    collected = course / "grading" / "submitted"
    before = _digest(collected)
    instructor("autograde", ASSIGNMENT, "--jobs", "2", "--task-timeout", "10")
    after = _digest(collected)
    instructor("feedback", ASSIGNMENT)
    nbgrader("instructor", "release_feedback", ASSIGNMENT)
    modes[f"{COURSE_ID}/feedback"] = stat.S_IMODE((exchange / COURSE_ID / "feedback").stat().st_mode)
    for student in STUDENTS:
        nbgrader(student, "fetch_feedback", ASSIGNMENT, "--student", student)

    from nbgrader.api import Gradebook

    with Gradebook("sqlite:///" + str(course / "grading" / "gradebook.db"), COURSE_ID) as gb:
        scores = {s: gb.find_submission(ASSIGNMENT, s).score for s in STUDENTS}
    with (course / "grading" / f"{ASSIGNMENT}_autograde_log.csv").open(newline="") as f:
        log_rows = {r["student"]: r for r in csv.DictReader(f)}
    return dict(base=base, exchange=exchange, homes=homes, course=course, a=a, probe=probe, modes=modes,
                fetched=fetched, submitted=submitted, collected_before=before, collected_after=after,
                scores=scores, log_rows=log_rows, log=log)


def _points(a) -> tuple[float, float]:
    """(points of the test cells, points of every graded cell) in the source notebook: autograding
    gives the first to the solution's code; written answers (manually graded cells) count in the
    second only, until a person grades them."""
    tests = total = 0.0
    for cell in a.source.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade"):
            total += float(meta.get("points", 0))
            if cell.cell_type == "code" and not meta.get("solution"):
                tests += float(meta.get("points", 0))
    return tests, total


def _feedback_pages(home: Path) -> list[Path]:
    return sorted(home.glob(f"{ASSIGNMENT}/feedback/*/*.html"))


def test_the_instructors_home_config_carries_the_course_config(hub):
    """The formgrader on a hub starts in the home folder: the course's settings (folders, course id,
    the sandboxed autograde) must reach it from ~/.jupyter/nbgrader_config.py."""
    keys = ("root", "course", "source", "exchange", "sandbox", "pre")
    probe = dict(ln.split(" ", 1) for ln in hub["probe"].splitlines() if ln.split(" ", 1)[0] in keys)
    assert probe["root"] == str(hub["course"]), probe
    assert probe["course"] == COURSE_ID and probe["source"] == "solutions", probe
    assert probe["exchange"] == str(hub["exchange"]) and probe["sandbox"] == "True", probe
    assert "ResilientExecute" in probe["pre"].split(), probe


def test_release_and_fetch_give_each_student_the_release_in_their_home(hub):
    assert hub["fetched"] == {s: True for s in STUDENTS}
    # nbgrader's permission model: everyone may enter the exchange and read what is released;
    # submissions can be dropped into inbound/ but not listed, feedback fetched only by its hash
    assert hub["modes"] == {"": 0o777, COURSE_ID: 0o755, f"{COURSE_ID}/inbound": 0o2733,
                            f"{COURSE_ID}/outbound": 0o755, f"{COURSE_ID}/feedback": 0o711}, hub["modes"]


def test_collect_puts_each_submission_where_autograde_reads_it_and_autograde_keeps_it(hub):
    collected = hub["course"] / "grading" / "submitted"
    for student in STUDENTS:
        folder = collected / student / ASSIGNMENT
        assert (folder / f"{hub['a'].notebook}.ipynb").read_bytes() == hub["submitted"][student]
        assert (folder / "timestamp.txt").is_file() and (folder / "submission_secret.txt").is_file()
    assert hub["collected_after"] == hub["collected_before"], "autograde changed the collected submissions"


def test_collected_submissions_are_graded_in_the_sandbox(hub):
    auto, total = _points(hub["a"])
    assert auto > 0
    assert hub["scores"] == {"alice": auto, "bob": 0.0}, hub["scores"]
    rows = hub["log_rows"]
    assert sorted(rows) == sorted(STUDENTS), rows
    for student in STUDENTS:
        assert rows[student]["status"] == "ok" and rows[student]["mode"] == "sandbox", rows[student]
        assert float(rows[student]["max_score"]) == total


def test_each_student_fetches_their_own_feedback_with_their_score(hub):
    auto, total = _points(hub["a"])
    for student, want in (("alice", auto), ("bob", 0.0)):
        pages = _feedback_pages(hub["homes"][student])
        assert len(pages) == 1, f"{student}: {pages}"
        text = _html_text(pages[0])
        score = re.search(r"Score: ([\d.]+) / ([\d.]+)", text)
        assert score and (float(score[1]), float(score[2])) == (want, total), (student, score and score[0])
        assert pages[0].name == f"{hub['a'].notebook}.html"


def test_released_feedback_shows_no_hidden_tests(hub):
    a = hub["a"]
    rest, _ = nbgrader_plugins.HideHiddenTests().preprocess(copy.deepcopy(a.source), {})
    shown = " ".join(re.sub(r"\s+", " ", c.source) for c in rest.cells)
    hidden = [h for h in _hidden_lines(a.source) if h not in shown]
    assert hidden, "the assignment has no hidden test lines to look for"
    pages = [p for s in STUDENTS for p in _feedback_pages(hub["homes"][s])]
    pages += sorted((hub["exchange"] / COURSE_ID / "feedback").glob("*.html"))
    assert len(pages) == 2 * len(STUDENTS)
    for page in pages:
        text = _html_text(page)
        assert "BEGIN HIDDEN TESTS" not in text, page
        leaked = [h for h in hidden if h in text]
        assert not leaked, f"{page} shows hidden test lines: {leaked[:3]}"
