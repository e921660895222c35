"""Several machines, one gradebook: ``instructor autograde A --shard K/N`` on a PostgreSQL server.

* The split of a class into shards is deterministic and a partition (always runs, no server).
* With a real PostgreSQL server, started here as a throw-away cluster that listens only on a Unix
  socket in a temporary folder (``initdb``, ``pg_ctl``; as the user ``nobody`` when the tests run as
  root, since PostgreSQL refuses root), on a small class of exercise 01 (two honest students, an
  untouched release, one wrong task, an unreadable notebook, a folder without the notebook):

  - two shards graded in parallel into one PostgreSQL gradebook, then one ``export``, give the same
    ``grades.csv`` as one machine grading the whole class into SQLite;
  - a shard SIGKILLed while a student is being graded leaves no orphan nbgrader process; until it is
    re-run, export reports that student as unfinished (score 0, not the half-written one); after the
    re-run, every student is graded once (one submission row, every test cell scored) and the export
    is again the single-machine one;
  - two runs that overlap by mistake (the whole class and shard 1/2, at once) grade the shared
    students one after the other, fail nobody and count nobody twice.

These skip, with the reason in pytest's summary, where the PostgreSQL binaries (Debian's
``postgresql``; ``.ci/run`` installs it) or the driver ``psycopg2`` (``make install``) are missing;
with ``CNNVIT_REQUIRE_POSTGRES=1`` (set by ``.ci/run``) they fail instead. ``CNNVIT_PG_BIN`` names the
folder of ``initdb``/``pg_ctl`` when they are elsewhere.
"""
from __future__ import annotations

import csv
import hashlib
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import pytest

from cnnvit_grader import instructor
from test_grading_pipeline import course_copy, filled, load_assignment, wrong

ASSIGNMENT = "01_convolutions"
COURSE_ID = "cnn-vs-vit"
# shard_of(s, 2): ada, bo, cy -> 1; dee, eve -> 2 (test_split_is_deterministic_and_a_partition)
PLAN = {"ada": "solution", "bo": "release", "cy": "unreadable", "dee": "wrong", "eve": "no notebook"}
GRADED = ["ada", "bo", "dee"]


# --------------------------------------------------------------------------------------------
# The split (no server)
# --------------------------------------------------------------------------------------------
def test_split_is_deterministic_and_a_partition():
    students = [f"student{i:03d}" for i in range(300)] + ["a", "Z", "x.y@uni.edu", "o'neil-2"]
    for n in (1, 2, 3, 7):
        shards = {s: instructor.shard_of(s, n) for s in students}
        assert set(shards.values()) == set(range(1, n + 1))  # every shard gets students, none outside 1..N
        counts = [list(shards.values()).count(k) for k in range(1, n + 1)]
        assert sum(counts) == len(students) and min(counts) > 0.5 * len(students) / n, counts
    for s in PLAN:  # the documented rule: the first 8 bytes of sha1(id), mod N, plus 1
        assert instructor.shard_of(s, 2) == int(hashlib.sha1(s.encode()).hexdigest()[:16], 16) % 2 + 1
    assert {s: instructor.shard_of(s, 2) for s in PLAN} == {"ada": 1, "bo": 1, "cy": 1, "dee": 2, "eve": 2}
    # the same split in another process whatever its hash seed (sha1, not Python's hash())
    out = subprocess.run([sys.executable, "-c", "from cnnvit_grader.instructor import shard_of as f; "
                          "print([f('student%03d' % i, 7) for i in range(20)])"],
                         capture_output=True, text=True, check=True, env={**os.environ, "PYTHONHASHSEED": "123"})
    assert out.stdout.strip() == str([instructor.shard_of(f"student{i:03d}", 7) for i in range(20)])


@pytest.mark.parametrize("text, want", [("1/1", (1, 1)), ("2/4", (2, 4)), (" 4 / 4 ", (4, 4))])
def test_parse_shard(text, want):
    assert instructor.parse_shard(text) == want


@pytest.mark.parametrize("text", ["0/4", "5/4", "1", "a/b", "1/0", "-1/2", "1/2/3", ""])
def test_parse_shard_rejects(text):
    with pytest.raises(ValueError) as info:
        instructor.parse_shard(text)
    for word in ("--shard", "1 <= K <= N", repr(text)):
        assert word in str(info.value)


def test_command_line_names_the_bad_shard(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "cnnvit_grader.instructor", "autograde", ASSIGNMENT,
                           "--submissions", str(tmp_path), "--shard", "3/2"], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "argument --shard must be K/N with 1 <= K <= N" in proc.stderr and "'3/2'" in proc.stderr


# --------------------------------------------------------------------------------------------
# A throw-away PostgreSQL server
# --------------------------------------------------------------------------------------------
def _pg_bindir() -> Path | None:
    """The folder of initdb/pg_ctl/postgres: CNNVIT_PG_BIN if set (only there), else PATH, else Debian's."""
    if os.environ.get("CNNVIT_PG_BIN"):
        candidates = [Path(os.environ["CNNVIT_PG_BIN"])]
    else:
        candidates = [Path(shutil.which("initdb")).parent] if shutil.which("initdb") else []
        versions = [p for p in Path("/usr/lib/postgresql").glob("*/bin") if p.parent.name.isdigit()]
        candidates += sorted(versions, key=lambda p: int(p.parent.name), reverse=True)  # Debian's layout
    return next((c for c in candidates if all((c / x).is_file() for x in ("initdb", "pg_ctl", "postgres"))), None)


def _why_no_postgres() -> str | None:
    if _pg_bindir() is None:
        return ("PostgreSQL server binaries (initdb, pg_ctl, postgres) not found: install Debian's postgresql "
                "(apt-get install postgresql; .ci/run does), or set CNNVIT_PG_BIN to their folder")
    try:
        import psycopg2  # noqa: F401
    except ImportError:
        return "the PostgreSQL driver psycopg2 is not installed: make install (dev extras: psycopg2-binary)"
    if os.geteuid() == 0 and not shutil.which("setpriv"):
        return "running as root and util-linux's setpriv is missing: PostgreSQL cannot be started as another user"
    return None


class Postgres:
    def __init__(self, folder: Path):
        self.folder = folder  # the cluster and its socket
        self.bindir = _pg_bindir()
        self.as_user: list[str] = []
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root: the server runs as nobody
            nobody = pwd.getpwnam("nobody")
            os.chown(folder, nobody.pw_uid, nobody.pw_gid)
            self.as_user = [shutil.which("setpriv"), f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}",
                            "--clear-groups", "--"]

    def run(self, tool: str, *args: str) -> None:
        subprocess.run([*self.as_user, str(self.bindir / tool), *args], cwd=self.folder, check=True,
                       capture_output=True, text=True, timeout=120)

    def start(self) -> None:
        self.run("initdb", "-D", str(self.folder / "data"), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                 "--no-sync")
        options = f"-c listen_addresses='' -k {self.folder} -c fsync=off -c max_connections=100"
        self.run("pg_ctl", "-D", str(self.folder / "data"), "-l", str(self.folder / "server.log"), "-w",
                 "-t", "60", "-o", options, "start")

    def stop(self) -> None:
        self.run("pg_ctl", "-D", str(self.folder / "data"), "-m", "immediate", "stop")

    def create_database(self, name: str) -> str:
        import psycopg2

        conn = psycopg2.connect(host=str(self.folder), user="postgres", dbname="postgres")
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
        conn.close()
        return f"postgresql+psycopg2://postgres@/{name}?host={self.folder}"


@pytest.fixture(scope="module")
def postgres():
    why = _why_no_postgres()
    if why:
        if os.environ.get("CNNVIT_REQUIRE_POSTGRES"):
            pytest.fail(f"CNNVIT_REQUIRE_POSTGRES is set, but {why}")
        pytest.skip(why)
    # in /tmp, not pytest's tmp_path: nobody must reach it, and a socket path has at most 107 bytes
    server = Postgres(Path(tempfile.mkdtemp(prefix="cnnvit-pg-", dir="/tmp")))
    try:
        server.start()
        yield server
    finally:
        try:
            server.stop()
        except Exception:  # a server that did not start
            pass
        shutil.rmtree(server.folder, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# A small class, graded by one machine into SQLite (what the shards must reproduce)
# --------------------------------------------------------------------------------------------
def make_class(folder: Path, release: Path) -> tuple[Path, Path]:
    """A course copy with exercise 01 (its release generated from its solution: ``release``) and the
    submissions of PLAN."""
    root = course_copy(folder / "course", [ASSIGNMENT])
    shutil.rmtree(root / "exercises" / ASSIGNMENT, ignore_errors=True)
    shutil.copytree(release, root / "exercises" / ASSIGNMENT)
    a = load_assignment(root, ASSIGNMENT)
    subs = folder / "submissions"
    subs.mkdir()
    nb_name = f"{a.notebook}.ipynb"
    nbformat.write(a.source, subs / "ada.ipynb")
    nbformat.write(a.release, subs / "bo.ipynb")
    (subs / "cy.ipynb").write_text('{"cells": [ not json')
    (subs / "dee").mkdir()
    nbformat.write(wrong(filled(a), a, next(iter(a.tasks))), subs / "dee" / nb_name)
    (subs / "eve").mkdir()
    nbformat.write(a.release, subs / "eve" / "Untitled.ipynb")
    return root, subs


def cli(root: Path, *args: str, db: str | None = None) -> subprocess.Popen:
    """``python -m cnnvit_grader.instructor [--db-url DB] ARGS`` in the background (its own process group)."""
    cmd = [sys.executable, "-m", "cnnvit_grader.instructor", "--root", str(root), *(["--db-url", db] if db else []),
           *args]
    env = {k: v for k, v in os.environ.items() if k != "CNNVIT_DB_URL"}
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                            start_new_session=True)


def finish(proc: subprocess.Popen, timeout: float = 600) -> str:
    out, _ = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, f"{' '.join(proc.args)} exited {proc.returncode}:\n{out[-4000:]}"
    return out


def autograde_args(*more: str) -> list[str]:
    # sharding is independent of the sandbox: the kernels run unsandboxed here to keep the tests short
    return ["autograde", ASSIGNMENT, "--no-sandbox", "--task-timeout", "10", *more]


def grades(root: Path) -> list[dict]:
    """grades.csv, with the submissions folder (named in a reason) written as SUBMISSIONS."""
    with (root / "grading" / "grades.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    subs = str(root.parent / "submissions")
    return [{k: v.replace(subs, "SUBMISSIONS") for k, v in r.items()} for r in rows]


@pytest.fixture
def release(shared_once) -> Path:
    """exercises/01 generated from solutions/01 once per session (the students start from it)."""

    def run(folder: Path) -> str:
        root = course_copy(folder / "course", [ASSIGNMENT])
        finish(cli(root, "release", ASSIGNMENT))
        return str(root / "exercises" / ASSIGNMENT)

    return Path(shared_once("shards-release", run))


@pytest.fixture
def one_machine(shared_once, release):
    """grades.csv of the whole class graded at once into SQLite (the default gradebook)."""

    def run(folder: Path) -> list[dict]:
        root, subs = make_class(folder, release)
        finish(cli(root, *autograde_args("--submissions", str(subs), "--jobs", "2")))
        finish(cli(root, "export"))
        return grades(root)

    rows = shared_once("shards-one-machine", run)
    by_student = {r["student"]: r for r in rows}
    assert sorted(by_student) == sorted(PLAN)
    auto = {s: float(r[ASSIGNMENT + "_auto"]) for s, r in by_student.items()}  # test cells' points
    top = float(by_student["ada"][ASSIGNMENT + "_auto_max"])
    assert auto["ada"] == top > 0 and auto["bo"] == 0 and 0 < auto["dee"] < top, auto
    assert "failed" in by_student["cy"]["reason"] and "missing" in by_student["eve"]["reason"]
    return rows


def gradebook_state(db: str) -> dict:
    """Per student of the assignment: number of submission rows, of grade rows, of test cells without
    an autograde score; and the students that instructor.unfinished_submissions reports."""
    from nbgrader.api import Gradebook, SubmittedAssignment

    state = {}
    with Gradebook(db, COURSE_ID) as gb:
        a = gb.find_assignment(ASSIGNMENT)
        cells = sum(len(nb.grade_cells) for nb in a.notebooks)
        for sub in gb.db.query(SubmittedAssignment).filter(SubmittedAssignment.assignment_id == a.id):
            grades_ = [g for nb in sub.notebooks for g in nb.grades]
            s = state.setdefault(sub.student.id, {"submissions": 0, "grades": 0, "empty": 0, "cells": cells})
            s["submissions"] += 1
            s["grades"] += len(grades_)
            # an empty autograde score of a test cell (written answers wait for a person: not those)
            written = {c.name for nb in a.notebooks for c in nb.solution_cells}
            s["empty"] += sum(g.auto_score is None and g.name not in written for g in grades_)
        state["_unfinished"] = sorted(instructor.unfinished_submissions(gb, ASSIGNMENT))
    return state


def assert_each_graded_once(db: str) -> None:
    state = gradebook_state(db)
    assert state.pop("_unfinished") == []
    assert sorted(state) == GRADED, state
    for student, s in state.items():
        assert s["submissions"] == 1 and s["grades"] == s["cells"] and s["empty"] == 0, (student, s)


def same_export(got: list[dict], want: list[dict]) -> None:
    assert [r["student"] for r in got] == [r["student"] for r in want]
    for g, w in zip(got, want):
        assert g == w, f"{g['student']}: sharded {g} != one machine {w}"


# --------------------------------------------------------------------------------------------
# Shards on PostgreSQL
# --------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_two_shards_in_parallel_equal_one_machine(tmp_path, postgres, release, one_machine):
    root, subs = make_class(tmp_path, release)
    db = postgres.create_database("two_shards")
    shards = [cli(root, *autograde_args("--submissions", str(subs), "--jobs", "1", "--shard", f"{k}/2"), db=db)
              for k in (1, 2)]
    outs = [finish(p) for p in shards]
    assert "shard 1 of 2" in outs[0] and "shard 2 of 2" in outs[1]
    logs = [instructor._read_log(root / "grading" / f"{ASSIGNMENT}_autograde_log.shard-{k}-of-2.csv")
            for k in (1, 2)]
    assert sorted(logs[0]) == ["ada", "bo", "cy"] and sorted(logs[1]) == ["dee", "eve"]
    assert not (root / "grading" / f"{ASSIGNMENT}_autograde_log.csv").exists()
    assert not (root / "grading" / "gradebook.db").exists()  # everything went to the server
    finish(cli(root, "export", db=db))
    same_export(grades(root), one_machine)
    assert_each_graded_once(db)


def _children(pid: int) -> list[int]:
    kids = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                fields = (p / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                kids.append(int(p.name))
    return kids


def _alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.slow
def test_a_killed_shard_rerun_grades_everyone_once(tmp_path, postgres, release, one_machine):
    from nbgrader.api import Gradebook, SubmittedAssignment

    root, subs = make_class(tmp_path, release)
    db = postgres.create_database("killed_shard")
    args = autograde_args("--submissions", str(subs), "--jobs", "1", "--shard", "1/2")  # ada, then bo
    victim = cli(root, *args, db=db)
    other = cli(root, *autograde_args("--submissions", str(subs), "--jobs", "1", "--shard", "2/2"), db=db)
    # kill shard 1 once ada is graded and bo is half-way: its submission exists, its scores do not yet
    deadline, state = time.monotonic() + 300, {}
    while time.monotonic() < deadline and victim.poll() is None:
        try:
            with Gradebook(db, COURSE_ID) as gb:
                a = gb.find_assignment(ASSIGNMENT)
                subs_now = {s.student.id for s in gb.db.query(SubmittedAssignment)
                            .filter(SubmittedAssignment.assignment_id == a.id)}
                unfinished = instructor.unfinished_submissions(gb, ASSIGNMENT)
        except Exception:  # the assignment is not there yet
            time.sleep(0.2)
            continue
        if "ada" in subs_now - unfinished and "bo" in unfinished:
            state = {"graded": subs_now - unfinished, "unfinished": unfinished}
            break
        time.sleep(0.1)
    assert state, f"shard 1 never had bo half-graded:\n{victim.communicate()[0][-3000:]}"
    nbgrader = _children(victim.pid)
    assert nbgrader, "no nbgrader process under the shard"
    os.kill(victim.pid, signal.SIGKILL)  # the instructor process only: its nbgrader must die with it
    victim.communicate()
    deadline = time.monotonic() + 5  # they get SIGKILL at once (setpriv --pdeathsig)
    while any(_alive(p) for p in nbgrader) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(_alive(p) for p in nbgrader), "nbgrader outlived its killed shard"
    finish(other)

    # before the re-run: bo's half-written submission is reported, not counted
    finish(cli(root, "export", db=db))
    before = {r["student"]: r for r in grades(root)}
    assert before["bo"][ASSIGNMENT] == "0" and "unfinished" in before["bo"]["reason"], before["bo"]
    assert gradebook_state(db)["_unfinished"] == ["bo"]

    finish(cli(root, *args, db=db))  # the re-run of shard 1
    finish(cli(root, "export", db=db))
    same_export(grades(root), one_machine)
    assert_each_graded_once(db)


@pytest.mark.slow
def test_overlapping_shards_do_not_double_count(tmp_path, postgres, release, one_machine):
    root, subs = make_class(tmp_path, release)
    db = postgres.create_database("overlap")
    # by mistake: the whole class (shard 1/1) and shard 1/2 at the same time; ada, bo, cy in both
    runs = [cli(root, *autograde_args("--submissions", str(subs), "--jobs", "2", "--shard", "1/1"), db=db),
            cli(root, *autograde_args("--submissions", str(subs), "--jobs", "1", "--shard", "1/2"), db=db)]
    for p in runs:
        finish(p)
    whole = instructor._read_log(root / "grading" / f"{ASSIGNMENT}_autograde_log.shard-1-of-1.csv")
    half = instructor._read_log(root / "grading" / f"{ASSIGNMENT}_autograde_log.shard-1-of-2.csv")
    assert sorted(whole) == sorted(PLAN) and sorted(half) == ["ada", "bo", "cy"]
    for log in (whole, half):  # nobody failed for the overlap (no IntegrityError, no file race)
        for s in GRADED:
            if s in log:
                assert log[s]["status"] == "ok", log[s]
    for s in ("ada", "bo"):
        assert whole[s]["score"] == half[s]["score"]
    finish(cli(root, "export", db=db))
    same_export(grades(root), one_machine)
    assert_each_graded_once(db)
