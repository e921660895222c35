"""Benchmarks of the course's budgets (COURSE.md §7), printed as ratios against the torch twins.

    .venv/bin/python tools/benchmark.py              # everything (about 10 minutes on 2 cores)
    .venv/bin/python tools/benchmark.py ops counting # only some sections

Sections: ops (reference ops vs their torch twins, same inputs), counting (MACs of every full preset at its
resolution on the meta device: time and peak RSS, one fresh process each), cka (MinibatchCKA over 12 x 12 layer
pairs at 2,500 and 10,000 examples: time and peak memory), chapters (each book chapter executed on its own), book (the
strict build from a clean cache), autograde (honest submissions graded per hour per assignment, sandboxed, 2
jobs, and where the seconds go, wall and CPU; --compare-no-sandbox adds the sandbox's cost).

    .venv/bin/python tools/benchmark.py autograde --assignments 01_convolutions --students 8

Timings are medians of repeated runs after a warm-up; machines are noisy, which is why budgets are checked
here and not by timed tests.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable


def median_time(fn, repeat: int = 7, warmup: int = 2) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def row(what: str, ours: float, twin: float, budget: float | None) -> dict:
    ratio = ours / twin
    verdict = "" if budget is None else ("ok" if ratio <= budget else "OVER BUDGET")
    b = "" if budget is None else f"<= {budget:g}x"
    print(f"  {what:<58} {ours * 1e3:9.2f} ms {twin * 1e3:9.2f} ms {ratio:6.2f}x {b:>8} {verdict}")
    return {"what": what, "ours_ms": ours * 1e3, "twin_ms": twin * 1e3, "ratio": ratio, "budget": budget}


def bench_ops() -> list[dict]:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    torch.manual_seed(0)
    print(f"\n[ops] torch {torch.__version__}, {torch.get_num_threads()} threads; ours vs twin (median)")
    print(f"  {'':<58} {'ours':>12} {'twin':>12} {'ratio':>7}")
    out = []
    from cnnvit_ref import conv

    for (n, c, h, k, s, g) in [(32, 64, 56, 3, 1, 1), (8, 128, 28, 3, 2, 1), (16, 64, 56, 3, 1, 4), (32, 256, 14, 1, 1, 1)]:
        x = torch.randn(n, c, h, h)
        w = torch.randn(c, c // g, k, k)
        out.append(row(f"conv2d fwd N{n} C{c} {h}x{h} k{k} s{s} g{g}",
                       median_time(lambda: conv.conv2d(x, w, None, s, k // 2, 1, g)),
                       median_time(lambda: F.conv2d(x, w, None, s, k // 2, 1, g)), 2.0))
    x = torch.randn(8, 64, 28, 28, requires_grad=True)
    w = torch.randn(64, 64, 3, 3, requires_grad=True)
    out.append(row("conv2d fwd+bwd N8 C64 28x28 k3",
                   median_time(lambda: conv.conv2d(x, w, None, 1, 1).sum().backward()),
                   median_time(lambda: F.conv2d(x, w, None, 1, 1).sum().backward()), 2.0))
    xd = torch.randn(8, 64, 28, 28)
    off = torch.zeros(8, 18, 28, 28)
    out.append(row("deform_conv2d vs cnnvit_ref conv2d, N8 C64 28x28 k3 (no budget)",
                   median_time(lambda: conv.deform_conv2d(xd, off, w.detach(), None, 1, 1), repeat=5),
                   median_time(lambda: conv.conv2d(xd, w.detach(), None, 1, 1)), None))

    try:
        from cnnvit_ref import rnn
    except ImportError:
        rnn = None
    if rnn is not None:
        ref = nn.LSTM(256, 256)
        ours = rnn.LSTM(256, 256)
        ours.load_state_dict(ref.state_dict())
        xs = torch.randn(128, 64, 256)
        with torch.no_grad():
            out.append(row("LSTM fwd T128 B64 I256 H256", median_time(lambda: ours(xs), 5, 1),
                           median_time(lambda: ref(xs), 5, 1), 2.0))
        xg = xs.clone().requires_grad_(True)
        out.append(row("LSTM fwd+bwd T128 B64 I256 H256", median_time(lambda: ours(xg)[0].sum().backward(), 3, 1),
                       median_time(lambda: ref(xg)[0].sum().backward(), 3, 1), 2.0))
    try:
        from cnnvit_ref import attention
    except ImportError:
        attention = None
    if attention is not None and hasattr(attention, "MultiheadAttention"):
        ref = nn.MultiheadAttention(256, 8, batch_first=True)
        ours = attention.MultiheadAttention(256, 8, batch_first=True)
        ours.load_state_dict(ref.state_dict())
        q = torch.randn(32, 128, 256)
        for mode in ("train", "eval"):
            ref.train(mode == "train")
            ours.train(mode == "train")
            with torch.no_grad():
                out.append(row(f"MultiheadAttention fwd B32 L128 E256 h8 ({mode}, need_weights=False)",
                               median_time(lambda: ours(q, q, q, need_weights=False)),
                               median_time(lambda: ref(q, q, q, need_weights=False)), 1.3))
        qg = q.clone().requires_grad_(True)
        ref.train()
        ours.train()
        out.append(row("MultiheadAttention fwd+bwd B32 L128 E256 h8",
                       median_time(lambda: ours(qg, qg, qg, need_weights=False)[0].sum().backward(), 5, 1),
                       median_time(lambda: ref(qg, qg, qg, need_weights=False)[0].sum().backward(), 5, 1), 1.3))
        qq, kk, vv = (torch.randn(32, 8, 128, 32) for _ in range(3))
        out.append(row("scaled_dot_product_attention B32 h8 L128 d32 (no budget)",
                       median_time(lambda: attention.scaled_dot_product_attention(qq, kk, vv)),
                       median_time(lambda: F.scaled_dot_product_attention(qq, kk, vv)), None))
    return out


_COUNT_SNIPPET = """
import json, re, time, torch
t0 = time.perf_counter()
from cnnvit_ref import flops, models
with torch.device("meta"):
    model = models.create({name!r})
size = getattr(model.config, "img_size", 224)  # each preset at the resolution of its paper's table
macs = flops.count_macs(model, (1, 3, size, size))
dt = time.perf_counter() - t0
hwm_kb = int(re.search(r"VmHWM:\\s+(\\d+) kB", open("/proc/self/status").read()).group(1))  # own peak RSS
print(json.dumps({{"macs": macs, "img_size": size, "seconds": dt, "max_rss_mb": hwm_kb / 1024}}))
"""


def bench_counting() -> list[dict]:
    print("\n[counting] MACs of every full preset at its resolution, on the meta device, one fresh process each "
          "(time includes building the model; RSS includes importing torch)")
    from cnnvit_ref import models

    full = [n for n in models.list_models() if "tiny" not in n and not n.endswith("_32")]
    out = []
    for name in full:
        res = subprocess.run([PY, "-c", _COUNT_SNIPPET.format(name=name)], capture_output=True, text=True, cwd=ROOT)
        if res.returncode != 0:
            print(f"  {name}: failed: {res.stderr.strip().splitlines()[-1] if res.stderr else '?'}")
            continue
        r = json.loads(res.stdout.strip().splitlines()[-1])
        ok = "ok" if r["seconds"] < 10 and r["max_rss_mb"] < 500 else "OVER BUDGET"
        print(f"  {name:<30} {r['img_size']:4d}px {r['macs'] / 1e9:7.2f} GMACs  {r['seconds']:5.2f} s  "
              f"{r['max_rss_mb']:6.0f} MB peak RSS"
              f"  (budget < 10 s, < 500 MB) {ok}")
        out.append({"model": name, **r})
    return out


def _chapters() -> list[Path]:
    return sorted((ROOT / "book").glob("[0-9][0-9]_*.ipynb"))


def bench_chapters() -> list[dict]:
    import nbformat
    from nbclient import NotebookClient

    print("\n[chapters] each chapter executed on its own (budget 90 s on 2 cores)")
    out = []
    for nb_path in _chapters():
        nb = nbformat.read(nb_path, as_version=4)
        client = NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(nb_path.parent)}})
        t0 = time.perf_counter()
        client.execute()
        dt = time.perf_counter() - t0
        print(f"  {nb_path.name:<34} {dt:6.1f} s  {'ok' if dt <= 90 else 'OVER BUDGET'}")
        out.append({"chapter": nb_path.name, "seconds": dt})
    return out


def bench_book() -> list[dict]:
    print("\n[book] strict build from a clean cache (budget 10 min)")
    with tempfile.TemporaryDirectory() as tmp:
        jb = Path(PY).with_name("jupyter-book")
        t0 = time.perf_counter()
        res = subprocess.run([str(jb), "build", "-W", "-n", "--keep-going", "--path-output", tmp, str(ROOT)],
                             capture_output=True, text=True)
        dt = time.perf_counter() - t0
    print(f"  jupyter-book build: exit {res.returncode}, {dt:6.1f} s  {'ok' if dt <= 600 and res.returncode == 0 else 'OVER BUDGET / FAILED'}")
    return [{"seconds": dt, "exit": res.returncode}]


GOAL_PER_HOUR = 2000  # honest submissions graded per hour on 2 cores, sandboxed (COURSE.md §7)
AUTOGRADE_ASSIGNMENTS: list[str] = []  # --assignments: only these (default: every assignment)
AUTOGRADE_OPTIONS = {"students": 8, "jobs": 2, "compare": False, "cold": False}  # --students, --jobs, ...


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _autograde_course(tmp: Path, assignment: str, sol: Path, students: int, no_sandbox: bool,
                      jobs: int = 2) -> dict:
    """Grade ``students`` copies of the reference solution in a throwaway course: wall and CPU
    seconds of the whole run, per student, and per phase (from the autograded notebooks' record)."""
    sys.path.insert(0, str(ROOT))
    from cnnvit_grader.nbgrader_plugins import METADATA_KEY

    course = tmp / ("course-plain" if no_sandbox else "course-sandboxed")  # its own gradebook and grading/
    course.mkdir()
    shutil.copy(ROOT / "nbgrader_config.py", course)
    shutil.copytree(ROOT / "solutions" / assignment, course / "solutions" / assignment)
    inbox = tmp / ("inbox-plain" if no_sandbox else "inbox-sandboxed")
    inbox.mkdir()
    for i in range(students):
        shutil.copy(sol, inbox / f"student{i}.ipynb")
    cli = [PY, "-m", "cnnvit_grader.instructor", "--root", str(course)]
    subprocess.run([*cli, "release", assignment], capture_output=True, text=True, check=True)
    cpu0, t0 = _children_cpu(), time.perf_counter()
    res = subprocess.run([*cli, "autograde", assignment, "--submissions", str(inbox), "--jobs", str(jobs),
                          *(["--no-sandbox"] if no_sandbox else []), *(["--cold"] if AUTOGRADE_OPTIONS["cold"] else [])],
                         capture_output=True, text=True)
    dt, host_cpu = time.perf_counter() - t0, _children_cpu() - cpu0
    log = course / "grading" / f"{assignment}_autograde_log.csv"
    rows = list(csv.DictReader(log.open())) if log.is_file() else []
    timings = []
    for nb_path in sorted((course / "grading" / "autograded").glob(f"*/{assignment}/*.ipynb")):
        timing = json.loads(nb_path.read_text()).get("metadata", {}).get(METADATA_KEY, {}).get("timing")
        if timing:
            timings.append(timing)
    # a no-sandbox kernel is reaped by nbgrader, so its CPU is in host_cpu already; a sandboxed one's is not
    kernel_cpu = 0.0 if no_sandbox else sum(t["kernel_cpu_s"] for t in timings)
    return {"exit": res.returncode, "seconds_total": dt, "per_student": [float(r["seconds"]) for r in rows],
            "cpu_total": host_cpu + kernel_cpu, "cpu_host": host_cpu, "timings": timings,
            "scores": sorted({f"{r['score']}/{r['max_score']}" for r in rows}),
            "modes": sorted({r.get("mode", "") for r in rows}), "error": res.stderr[-500:] if res.returncode else ""}


def _phases(run: dict) -> dict[str, float]:
    """Median wall and CPU seconds per submission and phase of one autograde run."""
    ts = run["timings"]
    med = lambda key: statistics.median(t[key] for t in ts) if ts else float("nan")  # noqa: E731
    wall = statistics.median(run["per_student"]) if run["per_student"] else float("nan")
    kernel = med("kernel_start_s") + med("cells_s") + med("shutdown_s")
    n = max(1, len(run["per_student"]))
    kernel_cpu = med("kernel_cpu_s")
    return {
        "wall": wall, "nbgrader_wall": wall - kernel, "kernel_start_wall": med("kernel_start_s"),
        "setup_cell_wall": med("setup_cell_s"), "other_cells_wall": med("cells_s") - med("setup_cell_s"),
        "shutdown_wall": med("shutdown_s"),
        "cpu": run["cpu_total"] / n, "kernel_start_cpu": med("ready_cpu_s"), "setup_cell_cpu": med("setup_cpu_s"),
        "other_cells_cpu": kernel_cpu - med("ready_cpu_s") - med("setup_cpu_s"),
        "grader_cpu": run["cpu_total"] / n - kernel_cpu,
    }


def _kernel_lifecycles(rounds: int = 8) -> dict[str, float]:
    """Median seconds of one grading kernel's life (start, import torch and the checker, shut down),
    sandboxed and not, alternated: the sandbox's own cost, free of nbgrader's and the notebook's."""
    import asyncio

    from traitlets.config import Config

    sys.path.insert(0, str(ROOT))
    from cnnvit_grader.sandbox import SandboxedKernelManager

    async def once(enabled: bool) -> float:
        cfg = Config()
        cfg.Sandbox.enabled = enabled
        t0 = time.perf_counter()
        km = SandboxedKernelManager(kernel_name="python3", config=cfg)
        await km.start_kernel()
        kc = km.client()
        kc.start_channels()
        try:
            await kc.wait_for_ready(timeout=120)
            await kc.execute_interactive("import torch, cnnvit_ref.grading", timeout=120)
            await km.shutdown_kernel(now=False)
        finally:
            kc.stop_channels()
        return time.perf_counter() - t0

    async def run() -> dict[str, list[float]]:
        times: dict[str, list[float]] = {"sandboxed": [], "plain": []}
        for i in range(rounds):
            for mode in (("plain", "sandboxed") if i % 2 else ("sandboxed", "plain")):
                times[mode].append(await once(mode == "sandboxed"))
        return times

    times = asyncio.run(run())
    return {mode: statistics.median(v) for mode, v in times.items()}


def _nbgrader_import_cost(as_worker: bool = False) -> dict[str, float]:
    """Wall and CPU seconds of a fresh Python importing nbgrader's autograde app (median of 3); with
    ``as_worker``, as a warm worker does it (cnnvit_grader.workers.main: without rfc3987_syntax)."""
    walls, cpus = [], []
    code = "import nbgrader.apps.nbgraderapp, nbgrader.converters.autograde, nbgrader.api"
    if as_worker:
        code = "import sys; sys.modules['rfc3987_syntax'] = None; " + code
    for _ in range(3):
        cpu0, t0 = _children_cpu(), time.perf_counter()
        subprocess.run([PY, "-c", code], check=True, cwd=ROOT)
        walls.append(time.perf_counter() - t0)
        cpus.append(_children_cpu() - cpu0)
    return {"wall": statistics.median(walls), "cpu": statistics.median(cpus)}


def bench_autograde(students: int | None = None) -> list[dict]:
    """Honest submissions (the solution notebooks) graded per hour, sandboxed, per assignment, and
    where the seconds go. Throughput = students / wall seconds of the whole ``instructor autograde``
    run (its fixed costs included); the CPU bound = cores x 3600 / CPU seconds per submission (what
    2 cores could do with nothing else running: the machine may be shared, so wall time is noisy)."""
    students = students or AUTOGRADE_OPTIONS["students"]
    jobs = AUTOGRADE_OPTIONS["jobs"]
    cores = os.cpu_count() or 1
    how = "a new nbgrader process per student (--cold)" if AUTOGRADE_OPTIONS["cold"] else "warm nbgrader workers"
    print(f"\n[autograde] the reference solution submitted by {students} students per assignment, "
          f"{jobs} jobs, {how}, sandboxed; goal >= {GOAL_PER_HOUR:,} honest submissions an hour on 2 cores "
          f"(ratio = per hour / goal); budget 20 s per student's assignment")
    imp, imp_worker = _nbgrader_import_cost(), _nbgrader_import_cost(as_worker=True)
    print(f"  importing nbgrader (a fresh Python): {imp['wall']:.2f} s wall, {imp['cpu']:.2f} s cpu; as a warm "
          f"worker does (no rfc3987_syntax): {imp_worker['wall']:.2f} s wall, {imp_worker['cpu']:.2f} s cpu")
    out: list[dict] = [{"nbgrader_import": imp, "worker_import": imp_worker}]
    first = next((a for a in sorted(p.parent.name for p in (ROOT / "solutions").glob("[0-9][0-9]_*/[0-9][0-9]_*.ipynb"))
                  if not AUTOGRADE_ASSIGNMENTS or a in AUTOGRADE_ASSIGNMENTS), None)
    fixed = {"wall": 0.0, "cpu": 0.0}
    if first is not None:  # what a run costs before its first student: gradebook set-up, snapshot, probes
        with tempfile.TemporaryDirectory() as tmp:
            empty = _autograde_course(Path(tmp), first, ROOT / "solutions" / first / f"{first}.ipynb", 0,
                                      no_sandbox=False, jobs=jobs)
        workers = 0 if AUTOGRADE_OPTIONS["cold"] else min(jobs, students)  # each warm worker imports nbgrader once
        fixed = {"wall": empty["seconds_total"] + (imp_worker["wall"] if workers else 0.0),
                 "cpu": empty["cpu_total"] + workers * imp_worker["cpu"]}
        print(f"  fixed cost of a run (no submissions: gradebook set-up, snapshot, sandbox probe; plus {workers} "
              f"worker start(s)): {fixed['wall']:.1f} s wall, {fixed['cpu']:.1f} s cpu")
    out.append({"fixed": fixed})
    if AUTOGRADE_OPTIONS["compare"]:
        life = _kernel_lifecycles()
        print(f"  one kernel (start, import torch + checker, shut down; median of 8, alternated): sandboxed "
              f"{life['sandboxed']:.2f} s, no sandbox {life['plain']:.2f} s, sandbox "
              f"{life['sandboxed'] - life['plain']:+.2f} s")
        out.append({"kernel_lifecycle": life})
    print(f"  {'assignment':<20} {'exit':>4} {'scores':>9} {'wall/sub':>8} {'cpu/sub':>7} {'per hour':>8} "
          f"{'ratio':>5} {'cpu bound':>9} {'ratio':>5} {'steady':>6} {'ratio':>5} {'steady cpu':>10} {'ratio':>5}   "
          f"wall (cpu) s per submission: "
          f"nbgrader | kernel start | set-up cell (torch, checker) | other cells | shut down")
    print("  (per hour: students / wall seconds of the whole run, fixed cost included; cpu bound: 2 cores x 3600 / cpu "
          "seconds per submission; steady, steady cpu: both without the run's fixed cost, i.e. for a large class)")
    for sol in sorted((ROOT / "solutions").glob("[0-9][0-9]_*/[0-9][0-9]_*.ipynb")):
        assignment = sol.parent.name
        if AUTOGRADE_ASSIGNMENTS and assignment not in AUTOGRADE_ASSIGNMENTS:
            continue
        with tempfile.TemporaryDirectory() as tmp:
            run = _autograde_course(Path(tmp), assignment, sol, students, no_sandbox=False, jobs=jobs)
        ph = _phases(run)
        per_hour = students * 3600 / run["seconds_total"]
        bound = min(cores, jobs) * 3600 / ph["cpu"]
        steady_cpu = (run["cpu_total"] - fixed["cpu"]) / students
        steady = min(cores, jobs) * 3600 / steady_cpu
        steady_wall = max(1e-9, run["seconds_total"] - fixed["wall"]) / students
        steady_per_hour = 3600 / steady_wall
        print(f"  {assignment:<20} {run['exit']:>4} {','.join(run['scores']):>9} {run['seconds_total'] / students:7.2f}s "
              f"{ph['cpu']:6.2f}s {per_hour:8.0f} {per_hour / GOAL_PER_HOUR:5.2f} {bound:9.0f} "
              f"{bound / GOAL_PER_HOUR:5.2f} {steady_per_hour:6.0f} {steady_per_hour / GOAL_PER_HOUR:5.2f} "
              f"{steady:10.0f} {steady / GOAL_PER_HOUR:5.2f}   "
              f"{ph['nbgrader_wall']:.2f} ({steady_cpu - ph['cpu'] + ph['grader_cpu']:.2f}) | {ph['kernel_start_wall']:.2f} "
              f"({ph['kernel_start_cpu']:.2f}) | {ph['setup_cell_wall']:.2f} ({ph['setup_cell_cpu']:.2f}) | "
              f"{ph['other_cells_wall']:.2f} ({ph['other_cells_cpu']:.2f}) | {ph['shutdown_wall']:.2f}")
        if run["error"]:
            print("    " + run["error"].replace("\n", "\n    "))
        entry = {"assignment": assignment, "students": students, "jobs": jobs, "run": run, "phases": ph,
                 "per_hour": per_hour, "cpu_bound_per_hour": bound, "steady_cpu": steady_cpu,
                 "steady_wall": steady_wall, "steady_per_hour": steady_per_hour,
                 "steady_cpu_bound_per_hour": steady}
        if AUTOGRADE_OPTIONS["compare"]:  # the sandbox's cost: plain, sandboxed, sandboxed, plain
            runs: dict[str, list[dict]] = {"plain": [], "sandboxed": []}
            for mode in ("plain", "sandboxed", "sandboxed", "plain"):
                with tempfile.TemporaryDirectory() as tmp:
                    runs[mode].append(_autograde_course(Path(tmp), assignment, sol, students,
                                                        no_sandbox=(mode == "plain"), jobs=jobs))
            med = {m: statistics.median(x for r in rs for x in r["per_student"]) for m, rs in runs.items()}
            overhead = med["sandboxed"] / med["plain"] - 1
            print(f"    per student (median): sandboxed {med['sandboxed']:5.1f} s, no sandbox {med['plain']:5.1f} s, "
                  f"sandbox {overhead:+.0%} {'ok' if overhead < 0.10 else 'OVER BUDGET'}")
            entry.update(median_sandboxed=med["sandboxed"], median_plain=med["plain"], overhead=overhead)
        out.append(entry)
    graded = [o for o in out if "assignment" in o]
    if graded:
        total_students = sum(o["students"] for o in graded)
        total_wall = sum(o["run"]["seconds_total"] for o in graded)
        total_cpu = sum(o["run"]["cpu_total"] for o in graded)
        per_hour = total_students * 3600 / total_wall
        bound = min(cores, jobs) * 3600 * total_students / total_cpu
        steady_wall = sum(o["steady_wall"] * o["students"] for o in graded) / total_students
        steady_cpu = sum(o["steady_cpu"] * o["students"] for o in graded) / total_students
        steady, steady_bound = 3600 / steady_wall, min(cores, jobs) * 3600 / steady_cpu
        print(f"  all {len(graded)} assignment(s), {students} students each: {total_wall / total_students:.2f} s wall "
              f"and {total_cpu / total_students:.2f} s cpu per honest submission: {per_hour:,.0f} an hour "
              f"({per_hour / GOAL_PER_HOUR:.2f} of the goal), cpu bound {bound:,.0f} ({bound / GOAL_PER_HOUR:.2f})")
        print(f"  without the fixed cost of a run (a large class): {steady_wall:.2f} s wall and {steady_cpu:.2f} s cpu "
              f"per honest submission: {steady:,.0f} an hour ({steady / GOAL_PER_HOUR:.2f}), cpu bound "
              f"{steady_bound:,.0f} ({steady_bound / GOAL_PER_HOUR:.2f}) "
              f"{'ok' if steady >= GOAL_PER_HOUR else 'UNDER THE GOAL'} (wall figures count other load on the machine)")
    return out


def bench_cka() -> list[dict]:
    """MinibatchCKA over 12 x 12 layer pairs: time, and memory that grows with the batch, not the data set."""
    sys.path.insert(0, str(ROOT / "tools"))
    from bench_cka import _in_fresh_process

    print("\n[cka] MinibatchCKA, 12 x 12 layer pairs, 4,160 features per layer, one thread, fresh process each")
    out = []
    for n, batch in ((2_500, 256), (10_000, 256), (10_000, 512)):
        r = _in_fresh_process(n_examples=n, batch_size=batch)
        print(f"  {n:>6} examples, batch {batch}: {r['seconds']:6.1f} s in update_state, "
              f"peak RSS growth {r['peak_rss_growth_mb']:6.0f} MB")
        out.append(r)
    return out


SECTIONS = {"ops": bench_ops, "counting": bench_counting, "cka": bench_cka, "chapters": bench_chapters, "autograde": bench_autograde,
            "book": bench_book}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sections", nargs="*", metavar="section", help=f"some of {', '.join(SECTIONS)} (default: all)")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    parser.add_argument("--assignments", nargs="+", default=[], help="autograde section: only these assignments")
    parser.add_argument("--students", type=int, default=8, help="autograde section: submissions per assignment")
    parser.add_argument("--jobs", type=int, default=2, help="autograde section: students graded at a time")
    parser.add_argument("--compare-no-sandbox", action="store_true",
                        help="autograde section: also the sandbox's cost (plain, sandboxed, sandboxed, plain runs)")
    parser.add_argument("--cold", action="store_true",
                        help="autograde section: a new nbgrader process per student (instructor autograde --cold)")
    args = parser.parse_args()
    AUTOGRADE_ASSIGNMENTS[:] = args.assignments
    AUTOGRADE_OPTIONS.update(students=args.students, jobs=args.jobs, compare=args.compare_no_sandbox, cold=args.cold)
    unknown = [name for name in args.sections if name not in SECTIONS]
    if unknown:
        parser.error(f"unknown section(s) {unknown}; choose from {list(SECTIONS)}")
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    results = {name: SECTIONS[name]() for name in (args.sections or SECTIONS)}
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
