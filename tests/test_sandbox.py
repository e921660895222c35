"""The sandbox of student kernels (cnnvit_grader.sandbox), on tiny notebooks without torch.

Each test runs a hostile cell through the course's ResilientExecute (so through the
SandboxedKernelManager that nbgrader uses) and checks, from outside, that it changed nothing and
was stopped by the limit it hit: writes to the course folder, the package, the gradebook, the
home folder and another submission; the network; a fork bomb; memory; disk; a flood of output.
The end-to-end version (real assignments, graded by nbgrader) is in test_grading_pipeline.py.
"""
from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

import nbformat
import pytest
from traitlets.config import Config

from cnnvit_grader import instructor, nbgrader_plugins, sandbox

ROOT = Path(__file__).resolve().parents[1]
PROBLEM = sandbox.sandbox_problem() if sys.platform.startswith("linux") else "not Linux"
needs_sandbox = pytest.mark.skipif(PROBLEM is not None and not os.environ.get("CI"),
                                   reason=f"no sandbox here: {PROBLEM}")


def run_cells(*sources: str, course: Path | None = None, **sandbox_config) -> nbformat.NotebookNode:
    cfg = Config()
    for key, value in sandbox_config.items():
        cfg.Sandbox[key] = value
    if course is not None:
        cfg.CourseDirectory.root = str(course)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    ex = nbgrader_plugins.ResilientExecute(kernel_name="python3", timeout=60, config=cfg)
    nb, _ = ex.preprocess(nb, {"metadata": {"path": str(course or ROOT)}})
    return nb


def text(cell) -> str:
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")


def tree_digest(folder: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file() and "__pycache__" not in p.parts:
            h.update(str(p.relative_to(folder)).encode() + b"\0" + p.read_bytes())
    return h.hexdigest()


def test_the_sandbox_starts_here():
    """CI and the course's machines are Linux with user namespaces: the sandbox must work there."""
    assert PROBLEM is None, PROBLEM


@needs_sandbox
def test_nothing_outside_scratch_is_writable_nor_visible(tmp_path):
    course = tmp_path / "course"
    (course / "grading" / "submitted" / "other" / "01_x").mkdir(parents=True)
    other = course / "grading" / "submitted" / "other" / "01_x" / "01_x.ipynb"
    other.write_text("{}")
    (course / "grading" / "gradebook.db").write_bytes(b"SQLite format 3\0")
    (course / "nbgrader_config.py").write_text("# course\n")
    import cnnvit_ref

    package = Path(cnnvit_ref.__file__).parent
    before = tree_digest(course), tree_digest(package)
    targets = [course / "nbgrader_config.py", course / "grading" / "gradebook.db", other,
               package / "grading.py", package / "new.py", Path.home() / "cnnvit-sandbox-test",
               Path(sys.prefix) / "pwned", ROOT / "pwned"]
    nb = run_cells(f"""
import os, json, socket
targets = {[str(t) for t in targets]!r}
result = {{}}
for t in targets:
    try:
        with open(t, "a") as f:
            f.write("x")
        result[t] = "WROTE"
    except OSError as e:
        result[t] = type(e).__name__
try:
    socket.create_connection(("1.1.1.1", 53), timeout=3)
    result["net"] = "CONNECTED"
except OSError as e:
    result["net"] = type(e).__name__
result["visible"] = sorted(os.listdir("/"))
result["course"] = os.path.exists({str(course)!r})
result["solutions"] = os.path.exists({str(ROOT / "solutions")!r})
result["uid"] = os.getuid()
result["env"] = sorted(os.environ)
open("scratch-file", "w").write("fine")
result["cwd"] = os.getcwd()
print(json.dumps(result))
""", course=course)
    import json

    result = json.loads(text(nb.cells[0]))
    assert not [t for t in map(str, targets) if result[t] == "WROTE"], result
    assert result["net"] != "CONNECTED"
    assert result["course"] is False and result["solutions"] is False, result
    assert "etc" not in result["visible"] and "home" not in result["visible"], result["visible"]
    assert result["cwd"] == sandbox.SCRATCH
    assert "JPY_PARENT_PID" not in result["env"] and not [e for e in result["env"] if "TOKEN" in e], result["env"]
    if os.geteuid() == 0:
        assert result["uid"] != 0  # root grades: the kernel runs as an unprivileged uid of its own
    assert (tree_digest(course), tree_digest(package)) == before
    assert not (Path.home() / "cnnvit-sandbox-test").exists()


@needs_sandbox
def test_the_package_seen_by_the_kernel_is_the_snapshot(tmp_path):
    snap = sandbox.take_snapshot(Path(__import__("cnnvit_ref").__file__).parent, tmp_path / "snap" / "cnnvit_ref")
    (tmp_path / "marker").write_text("")
    os.chmod(snap, 0o755)
    (snap / "SNAPSHOT_MARKER").write_text("")
    os.chmod(snap, 0o555)
    nb = run_cells("import os, cnnvit_ref; print(sorted(os.listdir(os.path.dirname(cnnvit_ref.__file__))))",
                   package_snapshot=str(snap))
    assert "SNAPSHOT_MARKER" in text(nb.cells[0])
    sandbox.remove_snapshot(tmp_path / "snap")


@needs_sandbox
def test_fork_bomb_memory_and_disk_hit_their_limits():
    nb = run_cells("""
import os, time
n = 0
try:
    for _ in range(5000):
        pid = os.fork()
        if pid == 0:
            time.sleep(3)
            os._exit(0)
        n += 1
except OSError as e:
    print("fork stopped after", n, type(e).__name__)
""", """
try:
    blob = bytearray(64 * 1024**3)
except MemoryError:
    print("memory stopped")
""", """
import os
written = 0
try:
    for i in range(10_000):
        with open(f"/tmp/fill{i}", "wb") as f:
            f.write(b"x" * (1 << 20))
        written += 1
except OSError as e:
    print("disk stopped after", written, "MB", e.errno)
for i in range(written + 1):
    if os.path.exists(f"/tmp/fill{i}"):
        os.remove(f"/tmp/fill{i}")
""", "print('still alive')", processes=64, memory_mb=1024, disk_mb=32)
    out = [text(c) for c in nb.cells]
    assert out[0].startswith("fork stopped after") and int(out[0].split()[3]) < 64, out[0]
    assert out[1] == "memory stopped\n", out[1]
    assert out[2].startswith("disk stopped after") and int(out[2].split()[3]) <= 32, out[2]
    assert out[3] == "still alive\n"


def test_output_is_capped_but_errors_are_kept():
    nb = run_cells("for i in range(3000):\n    print('x' * 999)", "raise ValueError('y' * 100)", output_kb=64,
                   enabled=PROBLEM is None)
    printed = text(nb.cells[0])
    assert len(printed) <= 64 * 1024 + 200 and "output cut here" in printed
    errors = [o for o in nb.cells[1].outputs if o.output_type == "error"]
    assert errors and errors[0].ename == "ValueError"  # an error past the cap still fails its cell


def test_no_sandbox_mode_keeps_the_limits():
    nb = run_cells("import resource; print(resource.getrlimit(resource.RLIMIT_AS)[0] // 2**20, "
                   "resource.getrlimit(resource.RLIMIT_NPROC)[0])", enabled=False, memory_mb=3000, processes=77)
    assert text(nb.cells[0]).split() == ["3000", "77"]


def test_autograde_refuses_without_a_sandbox_unless_told(tmp_path, monkeypatch):
    course = tmp_path / "course"
    (course / "solutions" / "01_x").mkdir(parents=True)
    nbformat.write(nbformat.v4.new_notebook(), course / "solutions" / "01_x" / "01_x.ipynb")
    (course / "nbgrader_config.py").write_text(
        (ROOT / "nbgrader_config.py").read_text() + "\nc.Sandbox.bwrap = '/nonexistent/bwrap'\n")
    (tmp_path / "inbox").mkdir()
    sandbox._PROBED.clear()
    with pytest.raises(SystemExit) as err:
        instructor.autograde(course, "01_x", tmp_path / "inbox")
    message = str(err.value)
    assert "cannot be sandboxed" in message and "--no-sandbox" in message and "no bwrap executable" in message


def test_plain_nbgrader_without_a_sandbox_says_why_and_how():
    """`nbgrader autograde` (no instructor command) where bwrap is missing: a clear error, not a hang."""
    sandbox._PROBED.clear()
    with pytest.raises(RuntimeError) as err:
        run_cells("print('never runs')", bwrap="/nonexistent/bwrap")
    assert "cannot start the student's kernel in the sandbox" in str(err.value)
    assert "--Sandbox.enabled=False" in str(err.value) and "no bwrap executable" in str(err.value)


@needs_sandbox
def test_an_interrupt_reaches_the_sandboxed_kernel_and_it_shuts_down_cleanly():
    """nbclient interrupts a kernel (and jupyter_client does before every shutdown): a SIGINT to bwrap's
    process group would end the sandbox instead; the interrupt travels as a message."""
    import asyncio

    async def go():
        km = sandbox.SandboxedKernelManager(kernel_name="python3")
        await km.start_kernel()
        kc = km.client()
        kc.start_channels()
        try:
            await kc.wait_for_ready(timeout=60)
            msg_id = kc.execute("import time; time.sleep(60)")
            await asyncio.sleep(2)
            await km.interrupt_kernel()
            reply = await kc.get_shell_msg(timeout=20)
            assert reply["parent_header"]["msg_id"] == msg_id
            assert reply["content"]["status"] == "error" and reply["content"]["ename"] == "KeyboardInterrupt"
            assert await km.is_alive()  # interrupted, not killed
            process = km.provisioner.process
            await km.shutdown_kernel(now=False)
            assert process.returncode == 0  # the kernel exited by itself
        finally:
            kc.stop_channels()

    asyncio.run(go())
