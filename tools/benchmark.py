"""Benchmarks of the course's budgets (COURSE.md §7), printed as ratios against the torch twins.

    .venv/bin/python tools/benchmark.py              # everything (about 10 minutes on 2 cores)
    .venv/bin/python tools/benchmark.py ops counting # only some sections

Sections: ops (reference ops vs their torch twins, same inputs), counting (MACs of every full preset at its
resolution on the meta device: time and peak RSS, one fresh process each), cka (MinibatchCKA over 12 x 12 layer
pairs at 2,500 and 10,000 examples: time and peak memory), chapters (each book chapter executed on its own), book (the
strict build from a clean cache), autograde (seconds per submission of the reference solution, sandboxed
and with --no-sandbox).

Timings are medians of repeated runs after a warm-up; machines are noisy, which is why budgets are checked
here and not by timed tests.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
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


def _autograde_course(tmp: Path, assignment: str, sol: Path, students: int, no_sandbox: bool) -> dict:
    """Grade ``students`` copies of the reference solution in a throwaway course; per-student seconds."""
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
    t0 = time.perf_counter()
    res = subprocess.run([*cli, "autograde", assignment, "--submissions", str(inbox), "--jobs", "2",
                          *(["--no-sandbox"] if no_sandbox else [])], capture_output=True, text=True)
    dt = time.perf_counter() - t0
    log = course / "grading" / f"{assignment}_autograde_log.csv"
    rows = list(csv.DictReader(log.open())) if log.is_file() else []
    return {"exit": res.returncode, "seconds_total": dt, "per_student": [float(r["seconds"]) for r in rows],
            "scores": sorted({f"{r['score']}/{r['max_score']}" for r in rows}),
            "modes": sorted({r.get("mode", "") for r in rows}), "error": res.stderr[-500:] if res.returncode else ""}


AUTOGRADE_ASSIGNMENTS: list[str] = []  # --assignments: only these (default: every assignment)


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


def bench_autograde(students: int = 4) -> list[dict]:
    print(f"\n[autograde] the reference solution submitted by {students} students, per assignment, 2 jobs, "
          "sandboxed (bubblewrap) and --no-sandbox, in the order plain, sandboxed, sandboxed, plain; "
          "budget 20 s per student's assignment, sandbox < 10 % dearer")
    life = _kernel_lifecycles()
    print(f"  one kernel (start, import torch + checker, shut down; median of 8, alternated): sandboxed "
          f"{life['sandboxed']:.2f} s, no sandbox {life['plain']:.2f} s, sandbox {life['sandboxed'] - life['plain']:+.2f} s")
    out = [{"kernel_lifecycle": life}]
    for sol in sorted((ROOT / "solutions").glob("[0-9][0-9]_*/[0-9][0-9]_*.ipynb")):
        assignment = sol.parent.name
        if AUTOGRADE_ASSIGNMENTS and assignment not in AUTOGRADE_ASSIGNMENTS:
            continue
        runs: dict[str, list[dict]] = {"plain": [], "sandboxed": []}
        for mode in ("plain", "sandboxed", "sandboxed", "plain"):  # ABBA: drift in load cancels out
            with tempfile.TemporaryDirectory() as tmp:
                runs[mode].append(_autograde_course(Path(tmp), assignment, sol, students,
                                                    no_sandbox=(mode == "plain")))
        per = {m: [x for r in rs for x in r["per_student"]] for m, rs in runs.items()}
        med = {m: statistics.median(v) if v else float("nan") for m, v in per.items()}
        worst = max((x for v in per.values() for x in v), default=float("nan"))
        overhead = med["sandboxed"] / med["plain"] - 1
        exits = {r["exit"] for rs in runs.values() for r in rs}
        scores = sorted({s for rs in runs.values() for r in rs for s in r["scores"]})
        print(f"  {assignment:<20} exit {','.join(map(str, sorted(exits)))}  scores {', '.join(scores)}  per student "
              f"(median of {len(per['sandboxed'])}): sandboxed {med['sandboxed']:5.1f} s, no sandbox "
              f"{med['plain']:5.1f} s, sandbox {overhead:+.0%}  "
              f"{'ok' if worst <= 20 and overhead < 0.10 else 'OVER BUDGET'}")
        for rs in runs.values():
            for r in rs:
                if r["error"]:
                    print("    " + r["error"].replace("\n", "\n    "))
        out.append({"assignment": assignment, "runs": runs, "median_sandboxed": med["sandboxed"],
                    "median_plain": med["plain"], "overhead": overhead})
    graded = [o for o in out if "assignment" in o]
    if graded:
        sandboxed = statistics.median(o["median_sandboxed"] for o in graded)
        plain = statistics.median(o["median_plain"] for o in graded)
        print(f"  all assignments: {sandboxed:.1f} s per honest submission sandboxed, {plain:.1f} s without "
              f"({sandboxed / plain - 1:+.0%})")
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
    args = parser.parse_args()
    AUTOGRADE_ASSIGNMENTS[:] = args.assignments
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
