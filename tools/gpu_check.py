"""``make gpu-check``: the CUDA path of the course, run where there is a GPU and compared with the CPU.

    .venv/bin/python tools/gpu_check.py --out _build/gpu-check          (what ``make gpu-check`` runs)

Without a CUDA device (``torch.cuda.is_available()`` is False) it prints one line,
``gpu-check: skipped: no CUDA device (torch.cuda.is_available() is False)``, and exits 0. With one:

1. **The CUDA tests.** Every test in ``tests/`` that is marked ``cuda`` or skipped by a ``skipif`` whose
   condition mentions CUDA (found by reading the test files, so a new one is picked up) runs with pytest.
   On a CUDA machine none of them may fail or be skipped.
2. **The notebooks.** Every solution notebook (``solutions/*/*.ipynb``, nbgrader source: solutions and
   hidden tests) and every chapter (``book/NN_*.ipynb``) is executed twice with nbclient, in its own folder,
   as the book build does: once as it is (they pick CUDA through ``cnnvit_ref.grading.device()`` when it is
   there) and once with ``CUDA_VISIBLE_DEVICES=""`` (CPU). A probe cell appended to each copy records
   whether the kernel really allocated CUDA memory, so a notebook that never touches the GPU is reported
   as such instead of counting as a GPU pass.
3. **The comparison** (:func:`compare_notebooks`), code cell by code cell, of the text outputs (stdout and
   ``text/plain``): ``same`` (identical), ``close`` (same text around the numbers, every number within
   ``--rtol``/``--atol``), ``differs`` (a number outside the tolerance: training noise, a timing),
   ``text`` (the text around the numbers differs: a device name, a different count) or ``error``.
4. **A summary** on stdout and ``gpu_check_report.json`` in ``--out`` (with the executed notebooks under
   ``executed/cuda`` and ``executed/cpu``).

Exit status 1 when a CUDA test failed or was skipped, a cell raised on either device (an assert cell of a
chapter, a test cell of a solution), or a solution notebook allocated no CUDA memory with the GPU visible (the
exercises promise to test on the GPU when there is one; for chapters CUDA use is only reported); numbers that
differ are reported, not failures (training runs are not
bitwise reproducible across devices), unless ``--strict``. ``--allow-cpu`` runs the whole pipeline without a
GPU (both runs on the CPU): it exists to test this tool.
"""
from __future__ import annotations

import argparse
import ast
import concurrent.futures
import datetime
import json
import math
import os
import platform
import re
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SKIP_MESSAGE = "gpu-check: skipped: no CUDA device (torch.cuda.is_available() is False)"
REPORT_NAME = "gpu_check_report.json"
PROBE_TAG = "gpu-check-probe"
PROBE_PREFIX = "GPU_CHECK_PROBE "
PROBE_SOURCE = f"""\
# appended by tools/gpu_check.py (not part of the notebook): did this kernel use CUDA?
import json as _gc_json, sys as _gc_sys
_gc_torch = _gc_sys.modules.get("torch")
_gc = {{"python": _gc_sys.executable, "torch_imported": _gc_torch is not None, "cuda_available": False,
       "cuda_initialized": False, "max_memory_allocated": 0}}
if _gc_torch is not None:
    _gc["cuda_available"] = bool(_gc_torch.cuda.is_available())
    _gc["cuda_initialized"] = bool(_gc_torch.cuda.is_initialized())
    if _gc["cuda_initialized"]:
        _gc["max_memory_allocated"] = int(_gc_torch.cuda.max_memory_allocated())
print({PROBE_PREFIX!r} + _gc_json.dumps(_gc))
"""
# a number as it is printed: 86,567,656 | -0.25 | 1.4e-06 | .5 ; not the digits inside a name (vit_n4000, x224)
NUMBER = re.compile(
    r"(?<![\w.])[-+]?(?:(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?(?![\w])"
)
# an object's address in a repr (<torch._C.Generator at 0x7fc8f2779830>): differs from run to run, means nothing
ADDRESS = re.compile(r"\b0x[0-9a-fA-F]+\b")
STATUSES = ("same", "close", "differs", "text", "error")


# --------------------------------------------------------------------------------------------
# comparing two executions of a notebook
# --------------------------------------------------------------------------------------------
def cell_text(cell) -> str:
    """The text a code cell showed: its stdout/stderr streams and the ``text/plain`` of its results."""
    parts = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream":
            parts.append(_joined(out.get("text", "")))
        elif out.get("output_type") in ("execute_result", "display_data"):
            plain = out.get("data", {}).get("text/plain")
            if plain is not None:
                parts.append(_joined(plain))
    return "".join(parts)


def cell_error(cell) -> str | None:
    """``"Name: value"`` of the first error output of a code cell, or None."""
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error":
            return f"{out.get('ename', '?')}: {out.get('evalue', '')}".strip()
    return None


def split_numbers(text: str) -> tuple[str, list[float]]:
    """The text with every number replaced by ``#``, and the numbers (thousands separators removed);
    memory addresses (``0x7fc8...``) are masked, not compared."""
    text = ADDRESS.sub("0x?", text)
    numbers = [float(m.group().replace(",", "")) for m in NUMBER.finditer(text)]
    return NUMBER.sub("#", text), numbers


def compare_texts(a: str, b: str, rtol: float, atol: float) -> dict:
    """Compare two outputs: ``same``, ``close``, ``differs`` (numbers) or ``text`` (the words differ)."""
    if a == b:
        return {"status": "same"}
    skeleton_a, numbers_a = split_numbers(a)
    skeleton_b, numbers_b = split_numbers(b)
    if skeleton_a != skeleton_b or len(numbers_a) != len(numbers_b):
        line_a, line_b = _first_different_line(a, b)
        return {"status": "text", "cuda": line_a, "cpu": line_b}
    worst, examples = 0.0, []
    for x, y in zip(numbers_a, numbers_b):
        if math.isclose(x, y, rel_tol=rtol, abs_tol=atol) or (math.isnan(x) and math.isnan(y)):
            continue
        rel = abs(x - y) / max(abs(x), abs(y))
        worst = max(worst, rel)
        if len(examples) < 3:
            examples.append([x, y])
    if not examples:
        return {"status": "close"}
    line_a, line_b = _first_different_line(a, b)
    return {"status": "differs", "max_rel_diff": worst, "examples": examples, "cuda": line_a, "cpu": line_b}


def compare_notebooks(nb_cuda, nb_cpu, rtol: float = 1e-3, atol: float = 1e-6) -> dict:
    """Compare two executions of the same notebook code cell by code cell (the probe cell left out).

    Returns ``{"counts": {status: n}, "cells": [...]}`` with one entry per code cell that is not ``same``
    (``index`` = its position among the code cells, ``status``, and what differs). A cell that raised on
    either side is ``error`` (``cuda``/``cpu``: the error, or None).
    """
    cells_a, cells_b = _code_cells(nb_cuda), _code_cells(nb_cpu)
    if [c["source"] for c in cells_a] != [c["source"] for c in cells_b]:
        raise ValueError("compare_notebooks(): the two notebooks do not have the same code cells")
    counts = dict.fromkeys(STATUSES, 0)
    cells = []
    for index, (a, b) in enumerate(zip(cells_a, cells_b)):
        err_a, err_b = cell_error(a), cell_error(b)
        if err_a or err_b:
            result = {"status": "error", "cuda": err_a, "cpu": err_b}
        else:
            result = compare_texts(cell_text(a), cell_text(b), rtol, atol)
        counts[result["status"]] += 1
        if result["status"] != "same":
            cells.append({"index": index, "first_line": _joined(a["source"]).split("\n")[0][:100], **result})
    return {"counts": counts, "cells": cells}


def graded_cells(nb) -> list[dict]:
    """nbgrader's test cells of a solution notebook: ``grade_id``, points, and the error if one raised."""
    found = []
    for cell in _code_cells(nb):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("grade") and not meta.get("solution"):
            found.append({"grade_id": meta.get("grade_id"), "points": meta.get("points", 0),
                          "error": cell_error(cell)})
    return found


def _joined(text) -> str:
    return "".join(text) if isinstance(text, list) else str(text)


def _code_cells(nb) -> list:
    """The notebook's code cells, without the probe cell this tool appends."""
    return [c for c in nb["cells"]
            if c["cell_type"] == "code" and PROBE_TAG not in c.get("metadata", {}).get("tags", [])]


def _first_different_line(a: str, b: str) -> tuple[str, str]:
    lines_a, lines_b = a.splitlines(), b.splitlines()
    for i in range(max(len(lines_a), len(lines_b))):
        la = lines_a[i] if i < len(lines_a) else ""
        lb = lines_b[i] if i < len(lines_b) else ""
        if la != lb:
            return la[:200], lb[:200]
    return "", ""


# --------------------------------------------------------------------------------------------
# the CUDA tests
# --------------------------------------------------------------------------------------------
def cuda_tests(test_dir: Path = ROOT / "tests") -> list[str]:
    """Node ids (``tests/test_x.py::test_y``, ``::Class::test_y``) of the tests that need CUDA: marked
    ``cuda``, or skipped by a ``skipif`` whose condition mentions cuda; a module whose ``pytestmark``
    mentions cuda counts whole."""
    ids = []
    for path in sorted(test_dir.glob("test_*.py")):
        tree = ast.parse(path.read_text())
        rel = path.relative_to(test_dir.parent).as_posix()
        module_wide = any(
            isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "pytestmark" for t in node.targets)
            and _mentions_cuda(node.value)
            for node in tree.body
        )
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test"):
                if module_wide or any(_mentions_cuda(d) for d in node.decorator_list):
                    ids.append(f"{rel}::{node.name}")
            elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
                whole = module_wide or any(_mentions_cuda(d) for d in node.decorator_list)
                for item in node.body:
                    if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and item.name.startswith("test"):
                        if whole or any(_mentions_cuda(d) for d in item.decorator_list):
                            ids.append(f"{rel}::{node.name}::{item.name}")
    return ids


def _mentions_cuda(node: ast.AST) -> bool:
    """A decorator/marker that is ``pytest.mark.cuda`` or a ``skipif`` whose condition names cuda."""
    text = ast.unparse(node)
    if re.search(r"\bmark\.cuda\b", text):
        return True
    return "skipif" in text and "cuda" in text.lower()


def run_cuda_tests(ids: list[str], out: Path, timeout: int) -> dict:
    """Run the tests with pytest; each test's outcome from its JUnit XML (passed, failed, skipped)."""
    xml = out / "cuda_tests.xml"
    if not ids:
        return {"ids": [], "passed": 0, "failed": 0, "skipped": 0, "ok": True, "results": {}}
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:xdist", "-p", "no:cacheprovider", "-rA",
           f"--junitxml={xml}", *ids]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    results = {}
    if xml.is_file():
        for case in ET.parse(xml).getroot().iter("testcase"):
            name = f"{case.get('classname', '')}::{case.get('name', '')}"
            outcome = "passed"
            for child in case:
                if child.tag in ("failure", "error"):
                    outcome = "failed"
                elif child.tag == "skipped":
                    outcome = "skipped"
            results[name] = outcome
    counts = {k: sum(v == k for v in results.values()) for k in ("passed", "failed", "skipped")}
    ok = proc.returncode == 0 and counts["failed"] == counts["skipped"] == 0 and counts["passed"] == len(ids)
    return {"ids": ids, **counts, "ok": ok, "returncode": proc.returncode, "results": results,
            "seconds": round(time.perf_counter() - start, 1), "output_tail": proc.stdout[-3000:]}


# --------------------------------------------------------------------------------------------
# executing the notebooks
# --------------------------------------------------------------------------------------------
def execute_notebook(source: Path, target: Path, timeout: int) -> None:
    """Execute ``source`` (in its own folder) with nbclient, the probe cell appended; errors are kept as
    outputs (every cell runs); write it to ``target`` with the seconds and any abort in its metadata."""
    import nbclient
    import nbformat

    nb = nbformat.read(source, as_version=4)
    probe = nbformat.v4.new_code_cell(PROBE_SOURCE)
    probe.metadata["tags"] = [PROBE_TAG]
    nb.cells.append(probe)
    client = nbclient.NotebookClient(
        nb, timeout=timeout, allow_errors=True, resources={"metadata": {"path": str(source.parent)}}
    )
    start, aborted = time.perf_counter(), None
    try:
        client.execute()
    except Exception as exc:  # a timeout, a dead kernel: record it, keep the cells that ran
        aborted = f"{type(exc).__name__}: {str(exc).strip().splitlines()[-1] if str(exc).strip() else ''}"
    nb.metadata["gpu_check"] = {"seconds": round(time.perf_counter() - start, 1), "aborted": aborted,
                                "CUDA_VISIBLE_DEVICES": os.environ.get("CUDA_VISIBLE_DEVICES")}
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, target)


def run_notebook(source: Path, target: Path, device: str, timeout: int) -> None:
    """:func:`execute_notebook` in a child process whose kernel sees CUDA (``cuda``) or not (``cpu``)."""
    env = dict(os.environ)
    if device == "cpu":
        env["CUDA_VISIBLE_DEVICES"] = ""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--execute-one", str(source), str(target),
           "--timeout", str(timeout)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0 or not target.is_file():
        raise RuntimeError(f"executing {source} on {device} failed:\n{proc.stderr[-2000:]}")


def probe_of(nb) -> dict:
    """What the probe cell printed (an empty dict if it did not run)."""
    for cell in nb["cells"]:
        if PROBE_TAG in cell.get("metadata", {}).get("tags", []):
            for line in cell_text(cell).splitlines():
                if line.startswith(PROBE_PREFIX):
                    return json.loads(line[len(PROBE_PREFIX):])
    return {}


def summarise_run(nb) -> dict:
    """Errors, seconds, abort and CUDA use of one execution."""
    errors = [{"index": i, "error": cell_error(c)} for i, c in enumerate(_code_cells(nb)) if cell_error(c)]
    meta = nb.get("metadata", {}).get("gpu_check", {})
    probe = probe_of(nb)
    return {"errors": errors, "seconds": meta.get("seconds"), "aborted": meta.get("aborted"), "probe": probe,
            "used_cuda": bool(probe.get("cuda_initialized") and probe.get("max_memory_allocated", 0) > 0)}


def problems(entry: dict, real_cuda: bool) -> list[str]:
    """Why a notebook fails the check (empty: it passes): a run aborted (timeout, dead kernel), a cell raised
    on either device, or, on a real GPU, a solution notebook whose kernel allocated no CUDA memory (the
    exercises promise to run their tests on the GPU when there is one; the chapters do not, so for them
    CUDA use is reported, not required)."""
    why = []
    for device in ("cuda", "cpu"):
        run = entry[device]
        if run["aborted"]:
            why.append(f"{device} run aborted: {run['aborted']}")
        if run["errors"]:
            why.append(f"{len(run['errors'])} cell(s) raised on {device}: {run['errors'][0]['error']}")
    if real_cuda and entry["kind"] == "solution" and not entry["cuda"]["used_cuda"]:
        why.append("no CUDA memory allocated with the GPU visible: its tests did not run on CUDA")
    return why


def check_notebook(path: Path, out: Path, rtol: float, atol: float, real_cuda: bool = True) -> dict:
    """Read the two executions of one notebook back and judge them (:func:`problems`)."""
    import nbformat

    rel = _rel(path)
    runs = {d: nbformat.read(out / "executed" / d / rel, as_version=4) for d in ("cuda", "cpu")}
    entry = {"notebook": rel, "kind": "solution" if rel.startswith("solutions/") else "chapter"}
    for device, nb in runs.items():
        entry[device] = summarise_run(nb)
        if entry["kind"] == "solution":
            graded = graded_cells(nb)
            entry[device]["test_cells"] = {"total": len(graded), "passed": sum(g["error"] is None for g in graded),
                                           "failed": [g["grade_id"] for g in graded if g["error"]]}
    entry["comparison"] = compare_notebooks(runs["cuda"], runs["cpu"], rtol, atol)
    entry["problems"] = problems(entry, real_cuda)
    entry["ok"] = not entry["problems"]
    return entry


def _rel(path: Path) -> str:
    path = path.resolve()
    try:
        return path.relative_to(ROOT).as_posix()
    except ValueError:
        return path.name


def default_notebooks() -> list[Path]:
    return sorted(ROOT.glob("solutions/*/*.ipynb")) + sorted(ROOT.glob("book/[0-9][0-9]_*.ipynb"))


# --------------------------------------------------------------------------------------------
# the report
# --------------------------------------------------------------------------------------------
def environment() -> dict:
    import torch

    env = {"torch": torch.__version__, "cuda": torch.version.cuda, "python": platform.python_version(),
           "machine": platform.machine(), "cpu_count": os.cpu_count(),
           "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    if torch.cuda.is_available():
        env["device"] = torch.cuda.get_device_name(0)
        env["cudnn"] = torch.backends.cudnn.version()
    try:
        env["commit"] = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                                       timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        env["commit"] = None
    return env


def print_summary(report: dict) -> None:
    env, tests = report["environment"], report["cuda_tests"]
    print(f"gpu-check on {env.get('device', 'CPU only (--allow-cpu)')}: torch {env['torch']}, CUDA {env['cuda']}")
    if tests is not None:
        print(f"CUDA tests: {tests['passed']} passed, {tests['failed']} failed, {tests['skipped']} skipped "
              f"of {len(tests['ids'])}" + ("" if tests["ok"] else "  <- FAILED"))
    width = max([len(e["notebook"]) for e in report["notebooks"]] + [8])
    header = (f"{'notebook':{width}s} {'GPU MB':>7s} {'cuda s':>7s} {'cpu s':>6s} {'err cuda/cpu':>12s} "
              f"{'tests cuda/cpu':>14s}  {'same close differs text error':29s} verdict")
    print(header)
    print("-" * len(header))
    for e in report["notebooks"]:
        cuda, cpu, counts = e["cuda"], e["cpu"], e["comparison"]["counts"]
        mb = cuda["probe"].get("max_memory_allocated", 0) / 2**20
        gpu = f"{mb:7.0f}" if cuda["used_cuda"] else f"{'unused':>7s}"
        tests_col = ""
        if e["kind"] == "solution":
            tc = (cuda["test_cells"], cpu["test_cells"])
            tests_col = f"{tc[0]['passed']}/{tc[0]['total']} {tc[1]['passed']}/{tc[1]['total']}"
        cells = " ".join(f"{counts[s]:>{len(s)}d}" for s in STATUSES)
        verdict = "ok" if e["ok"] else "FAILED"
        print(f"{e['notebook']:{width}s} {gpu} {cuda['seconds'] or 0:7.1f} {cpu['seconds'] or 0:6.1f} "
              f"{len(cuda['errors']):>5d}/{len(cpu['errors']):<6d} {tests_col:>14s}  {cells:29s} {verdict}")
    for e in report["notebooks"]:
        for why in e["problems"]:
            print(f"  FAILED {e['notebook']}: {why[:200]}")
    for e in report["notebooks"]:
        shown = [c for c in e["comparison"]["cells"] if c["status"] != "close"][:4]
        for c in shown:
            what = (f"cuda: {c.get('cuda')!s:.90}  |  cpu: {c.get('cpu')!s:.90}")
            print(f"  {e['notebook']} code cell {c['index']} [{c['status']}] {what}")
    unused = [e["notebook"] for e in report["notebooks"] if not e["cuda"]["used_cuda"]]
    if unused:
        print(f"{len(unused)} notebook(s) allocated no CUDA memory with the GPU visible: {', '.join(unused)}")
    print(f"gpu-check: {report['status']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "_build" / "gpu-check",
                        help="folder for gpu_check_report.json and the executed notebooks")
    parser.add_argument("--notebooks", nargs="*", type=Path, default=None,
                        help="notebooks to run (default: solutions/*/*.ipynb and book/NN_*.ipynb)")
    parser.add_argument("--skip-tests", action="store_true", help="do not run the CUDA tests")
    parser.add_argument("--jobs", type=int, default=2, help="executions at a time (default 2)")
    parser.add_argument("--timeout", type=int, default=900, help="seconds per cell (notebooks) / in all (tests)")
    parser.add_argument("--rtol", type=float, default=1e-3, help="relative tolerance for printed numbers")
    parser.add_argument("--atol", type=float, default=1e-6, help="absolute tolerance for printed numbers")
    parser.add_argument("--strict", action="store_true", help="numbers outside the tolerance fail too")
    parser.add_argument("--allow-cpu", action="store_true", help="run without CUDA too (to test this tool)")
    parser.add_argument("--execute-one", nargs=2, type=Path, metavar=("SOURCE", "TARGET"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.execute_one:
        execute_notebook(*args.execute_one, timeout=args.timeout)
        return 0

    import torch

    if not torch.cuda.is_available() and not args.allow_cpu:
        print(SKIP_MESSAGE)
        if torch.version.cuda is None:  # the trap on a GPU machine: a venv made with the CPU-only wheel
            print(f"gpu-check: note: torch {torch.__version__} is a CPU-only build; on a GPU machine install a "
                  "CUDA build of the same version (PyPI's Linux wheel is one)")
        return 0

    real_cuda = torch.cuda.is_available()
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    report = {"environment": environment(), "tolerance": {"rtol": args.rtol, "atol": args.atol},
              "cuda_tests": None, "notebooks": []}
    if not args.skip_tests:
        ids = cuda_tests()
        print(f"gpu-check: {len(ids)} CUDA tests: {' '.join(ids)}", flush=True)
        report["cuda_tests"] = run_cuda_tests(ids, out, args.timeout)

    notebooks = [p.resolve() for p in (args.notebooks or default_notebooks())]
    jobs = [(nb, device) for nb in notebooks for device in ("cuda", "cpu")]
    print(f"gpu-check: executing {len(notebooks)} notebooks twice, {args.jobs} at a time", flush=True)
    failures = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futures = {pool.submit(run_notebook, nb, out / "executed" / device / _rel(nb), device, args.timeout):
                   (nb, device) for nb, device in jobs}
        for future in concurrent.futures.as_completed(futures):
            nb, device = futures[future]
            try:
                future.result()
                print(f"  done: {_rel(nb)} on {device}", flush=True)
            except Exception as exc:
                failures.setdefault(_rel(nb), []).append(str(exc))
                print(f"  FAILED to run: {_rel(nb)} on {device}", flush=True)
    for nb in notebooks:
        if _rel(nb) in failures:
            report["notebooks"].append({"notebook": _rel(nb), "ok": False, "could_not_run": failures[_rel(nb)]})
        else:
            report["notebooks"].append(check_notebook(nb, out, args.rtol, args.atol, real_cuda))

    ran = [e for e in report["notebooks"] if "could_not_run" not in e]
    ok = all(e["ok"] for e in report["notebooks"])
    ok = ok and (report["cuda_tests"] is None or report["cuda_tests"]["ok"])
    if args.strict:
        ok = ok and all(e["comparison"]["counts"]["differs"] == e["comparison"]["counts"]["text"] == 0 for e in ran)
    report["status"] = "passed" if ok else "failed"
    (out / REPORT_NAME).write_text(json.dumps(report, indent=1) + "\n")
    print_summary({**report, "notebooks": ran})
    for name, errs in failures.items():
        print(f"could not run {name}: {errs[0][:500]}")
    print(f"report: {out / REPORT_NAME}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
