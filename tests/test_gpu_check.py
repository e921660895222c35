"""tools/gpu_check.py (``make gpu-check``): it skips cleanly without CUDA, finds the CUDA tests, compares two
executions of a notebook cell by cell, and (``--allow-cpu``, both runs on the CPU) runs end to end."""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tools" / "gpu_check.py"
_spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
gpu_check = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gpu_check)


def run_script(*args, hide_cuda=True, timeout=120):
    env = dict(os.environ)
    if hide_cuda:
        env["CUDA_VISIBLE_DEVICES"] = ""  # skip even where a GPU is present
    return subprocess.run([sys.executable, str(SCRIPT), *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


def executed(*cells):
    """A notebook as it comes back from execution: each cell given as (source, outputs)."""
    nb = nbformat.v4.new_notebook()
    for source, outputs in cells:
        cell = nbformat.v4.new_code_cell(source)
        cell.outputs = outputs
        nb.cells.append(cell)
    return nb


def stdout(text):
    return nbformat.v4.new_output("stream", name="stdout", text=text)


def result(text):
    return nbformat.v4.new_output("execute_result", data={"text/plain": text}, execution_count=1)


def error(name, value):
    return nbformat.v4.new_output("error", ename=name, evalue=value, traceback=[])


# --------------------------------------------------------------------------------------------
# skipping
# --------------------------------------------------------------------------------------------
def test_skips_cleanly_without_cuda(tmp_path):
    proc = run_script("--out", str(tmp_path / "report"))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "gpu-check: skipped: no CUDA device (torch.cuda.is_available() is False)"
    # a second line only where torch itself has no CUDA, saying so
    assert lines[1:] == ([] if torch.version.cuda else [lines[1]])
    assert all(line.startswith("gpu-check: note: torch ") and "CPU-only" in line for line in lines[1:])
    assert proc.stderr == ""
    assert not (tmp_path / "report").exists()  # nothing written, nothing run


# --------------------------------------------------------------------------------------------
# comparing outputs
# --------------------------------------------------------------------------------------------
def test_split_numbers_reads_printed_numbers_not_names():
    skeleton, numbers = gpu_check.split_numbers("ViT-B/16 86,567,656 params at 224 x 224, err 1.4e-06, vit_n4000 -0.5")
    assert numbers == [16.0, 86567656.0, 224.0, 224.0, 1.4e-06, -0.5]
    assert skeleton == "ViT-B/# # params at # x #, err #, vit_n4000 #"


def test_compare_agreeing_notebooks():
    cuda = executed(
        ("print(model)", [stdout("ViT(dim=48, heads=3)\n")]),
        ("loss", [stdout("loss 0.123456, 1,024 images\n")]),
        ("out", [result("tensor([1.0000, 2.0000])")]),
        ("torch.manual_seed(0)", [result("<torch._C.Generator at 0x7fc8f2779830>")]),
    )
    cpu = executed(
        ("print(model)", [stdout("ViT(dim=48, heads=3)\n")]),
        ("loss", [stdout("loss 0.123457, 1,024 images\n")]),
        ("out", [result("tensor([1.0000, 2.0001])")]),
        ("torch.manual_seed(0)", [result("<torch._C.Generator at 0x7fb098669830>")]),
    )
    got = gpu_check.compare_notebooks(cuda, cpu, rtol=1e-3, atol=1e-6)
    assert got["counts"] == {"same": 1, "close": 3, "differs": 0, "text": 0, "error": 0}
    assert [c["index"] for c in got["cells"]] == [1, 2, 3]
    assert {c["status"] for c in got["cells"]} == {"close"}


def test_compare_differing_notebooks():
    cuda = executed(
        ("acc", [stdout("test accuracy 0.91 after 350 steps\n")]),
        ("dev", [stdout("tests run on: cuda\n")]),
        ("check", [stdout("max |diff| = 1e-07\n"), error("AssertionError", "too far")]),
        ("same", [stdout("197 tokens\n")]),
    )
    cpu = executed(
        ("acc", [stdout("test accuracy 0.85 after 350 steps\n")]),
        ("dev", [stdout("tests run on: cpu\n")]),
        ("check", [stdout("max |diff| = 1e-07\n")]),
        ("same", [stdout("197 tokens\n")]),
    )
    probe = nbformat.v4.new_code_cell(gpu_check.PROBE_SOURCE, metadata={"tags": [gpu_check.PROBE_TAG]})
    probe.outputs = [stdout(gpu_check.PROBE_PREFIX + '{"cuda_initialized": true}\n')]
    cuda.cells.append(probe)  # only one side has it: it must be left out of the comparison
    got = gpu_check.compare_notebooks(cuda, cpu, rtol=1e-3, atol=1e-6)
    assert got["counts"] == {"same": 1, "close": 0, "differs": 1, "text": 1, "error": 1}
    by_index = {c["index"]: c for c in got["cells"]}
    assert by_index[0]["status"] == "differs"
    assert by_index[0]["examples"] == [[0.91, 0.85]]
    assert by_index[0]["max_rel_diff"] == pytest.approx(0.06 / 0.91)
    assert by_index[1] == {"index": 1, "first_line": "dev", "status": "text",
                           "cuda": "tests run on: cuda", "cpu": "tests run on: cpu"}
    assert by_index[2]["status"] == "error"
    assert (by_index[2]["cuda"], by_index[2]["cpu"]) == ("AssertionError: too far", None)
    # a tolerance wide enough turns the accuracy into "close"
    assert gpu_check.compare_notebooks(cuda, cpu, rtol=0.1)["counts"]["differs"] == 0


def test_compare_refuses_different_notebooks():
    with pytest.raises(ValueError, match="same code cells"):
        gpu_check.compare_notebooks(executed(("a = 1", [])), executed(("a = 2", [])))


# --------------------------------------------------------------------------------------------
# finding the CUDA tests
# --------------------------------------------------------------------------------------------
def test_finds_the_cuda_tests_of_the_suite():
    found = gpu_check.cuda_tests()
    for known in ("tests/test_conv.py::test_cuda_matches_torch",
                  "tests/test_grading.py::test_check_function_on_cuda_reports_device_mismatch",
                  "tests/test_representations.py::test_cuda_gives_the_cpu_values_on_the_device"):
        assert known in found
    assert "tests/test_conv.py::test_conv2d_matches_torch" not in found
    assert all("::" in node and (ROOT / node.split("::")[0]).is_file() for node in found)


def test_finds_marked_skipped_and_module_wide_cuda_tests(tmp_path):
    tests = tmp_path / "tests"
    tests.mkdir()
    (tests / "test_a.py").write_text(
        "import pytest, torch\n"
        "@pytest.mark.skipif(not torch.cuda.is_available(), reason='x')\n"
        "def test_skipif(): pass\n"
        "@pytest.mark.cuda\n"
        "def test_marked(): pass\n"
        "@pytest.mark.skipif(sys.platform == 'win32', reason='x')\n"
        "def test_other_skip(): pass\n"
        "def test_plain(): pass\n"
        "class TestGroup:\n"
        "    @pytest.mark.skipif(not torch.cuda.is_available(), reason='x')\n"
        "    def test_in_class(self): pass\n"
        "    def test_not(self): pass\n"
    )
    (tests / "test_b.py").write_text(
        "import pytest, torch\n"
        "pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason='no GPU')\n"
        "def test_one(): pass\n"
    )
    assert gpu_check.cuda_tests(tests) == [
        "tests/test_a.py::test_skipif", "tests/test_a.py::test_marked",
        "tests/test_a.py::TestGroup::test_in_class", "tests/test_b.py::test_one",
    ]


# --------------------------------------------------------------------------------------------
# end to end, both runs on the CPU
# --------------------------------------------------------------------------------------------
@pytest.mark.slow  # executes a notebook twice (two kernels)
def test_pipeline_end_to_end_with_allow_cpu(tmp_path):
    path = tmp_path / "mixed.ipynb"
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in (
        "x = 21 * 2", "print(f'answer {x}')", "assert x == 42", "assert 1 + 1 == 3, 'arithmetic'", "print('after')"
    )]
    nbformat.write(nb, path)
    out = tmp_path / "out"
    proc = run_script("--allow-cpu", "--skip-tests", "--out", str(out), "--notebooks", str(path), "--timeout", "60")
    assert proc.returncode == 1, proc.stdout + proc.stderr  # the failing assert cell fails the check
    report = json.loads((out / gpu_check.REPORT_NAME).read_text())
    assert report["status"] == "failed" and report["cuda_tests"] is None
    (entry,) = report["notebooks"]
    assert entry["notebook"] == "mixed.ipynb" and entry["kind"] == "chapter" and not entry["ok"]
    assert entry["comparison"]["counts"] == {"same": 4, "close": 0, "differs": 0, "text": 0, "error": 1}
    for device in ("cuda", "cpu"):
        assert entry[device]["errors"] == [{"index": 3, "error": "AssertionError: arithmetic"}]
        assert entry[device]["aborted"] is None
        assert entry[device]["used_cuda"] is False  # the probe ran: no torch imported, no CUDA
        assert entry[device]["probe"]["torch_imported"] is False
    # every cell ran, after the failing one too; the executed copies are kept
    again = nbformat.read(out / "executed" / "cpu" / "mixed.ipynb", as_version=4)
    assert gpu_check.cell_text(again.cells[1]) == "answer 42\n"
    assert gpu_check.cell_text(again.cells[4]) == "after\n"
    assert "gpu-check: failed" in proc.stdout and "FAILED" in proc.stdout


def test_a_solution_that_never_touched_cuda_fails_on_a_gpu_only():
    def run(used_cuda, errors=()):
        return {"errors": list(errors), "aborted": None, "used_cuda": used_cuda}

    solution = {"kind": "solution", "cuda": run(False), "cpu": run(False)}
    chapter = {"kind": "chapter", "cuda": run(False), "cpu": run(False)}
    assert gpu_check.problems(solution, real_cuda=True) == [
        "no CUDA memory allocated with the GPU visible: its tests did not run on CUDA"]
    assert gpu_check.problems(solution, real_cuda=False) == []  # --allow-cpu: nothing to expect
    assert gpu_check.problems(chapter, real_cuda=True) == []  # chapters: reported, not required
    assert gpu_check.problems({**solution, "cuda": run(True)}, real_cuda=True) == []
    broken = {**chapter, "cpu": run(False, [{"index": 4, "error": "AssertionError: 197"}])}
    assert gpu_check.problems(broken, real_cuda=True) == ["1 cell(s) raised on cpu: AssertionError: 197"]
