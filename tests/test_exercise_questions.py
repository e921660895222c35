"""The exercises' "predict, then check" questions and written answers (issue 11 §5), and the export
of manually graded points.

* Every value a hidden check accepts is right: it is computed here independently (a measurement with
  torch, the torch twin, a construction written here), never read from the notebook; the hidden cell
  passes with it, and fails with a GradingError (the cell's points, nothing more) on a wrong value, a
  wrong type or no answer. The release's cell cannot tell a right answer from a wrong one.
* Every written answer is an nbgrader "manually graded answer" cell whose rubric lies in a hidden
  region inside the solution region: the release shows *YOUR ANSWER HERE* only, feedback's
  preprocessor drops the rubric.
* The points table of each exercise's intro adds up to its cells' points.
* ``instructor.export`` shows written answers as pending until a person grades them (a gradebook
  built here with nbgrader's API), then as graded.

The end-to-end version (autograde, feedback, export of real submissions) is in
tests/test_grading_pipeline.py.
"""
from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import torch
import torch.nn.functional as F

from cnnvit_grader import instructor, nbgrader_plugins

ROOT = Path(__file__).resolve().parents[1]
REQUIRED = ("01_convolutions", "02_rnn_lstm", "03_attention", "04_vit", "05_swin", "06_hybrids", "07_representations")
BEGIN_SOL, END_SOL = "### BEGIN SOLUTION", "### END SOLUTION"
BEGIN_HIDDEN, END_HIDDEN = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
ANSWER = re.compile(r"answer = globals\(\)\.get\(['\"](\w+)['\"]\)")


def _meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def _notebook(folder: str, name: str) -> nbformat.NotebookNode:
    return nbformat.read(ROOT / folder / name / f"{name}.ipynb", as_version=4)


def _questions(nb) -> dict[str, nbformat.NotebookNode]:
    """Answer variable -> its test cell (a graded code cell that reads the variable)."""
    out = {}
    for c in nb.cells:
        m = _meta(c)
        if c.cell_type == "code" and m.get("grade") and not m.get("solution") and ANSWER.search(c.source):
            out[ANSWER.search(c.source).group(1)] = c
    return out


def _written(nb) -> list[nbformat.NotebookNode]:
    return [c for c in nb.cells if _meta(c).get("grade") and _meta(c).get("solution")]


# --------------------------------------------------------------------------------------------
# The right answers, derived here
# --------------------------------------------------------------------------------------------
def _receptive_field_measured(kernels, strides, dilations) -> int:
    """Span of the inputs that get gradient from one output in the middle (1-D, weights of ones)."""
    x = torch.zeros(1, 1, 128, dtype=torch.float64, requires_grad=True)
    y = x
    for k, s, d in zip(kernels, strides, dilations):
        y = F.conv1d(y, torch.ones(1, 1, k, dtype=torch.float64), stride=s, dilation=d)
    y[0, 0, y.shape[-1] // 2].backward()
    seen = x.grad[0, 0].nonzero().flatten()
    return int(seen[-1] - seen[0]) + 1


def _params(module) -> int:
    return sum(p.numel() for p in module.parameters())


def _lstm_gate_that_keeps_memory() -> str:
    """Run nn.LSTMCell 100 steps with the gates of each option forced by their biases (+-20; the other
    gates' biases 0): the letter whose cell state stays where it started."""
    options = {"A": {"i": 20, "f": -20}, "B": {"f": 20, "i": -20}, "C": {"o": 20, "f": -20}, "D": {"o": -20, "g": 0}}
    H, keeps = 4, []
    for letter, gates in options.items():
        torch.manual_seed(0)
        cell = torch.nn.LSTMCell(3, H, dtype=torch.float64)
        with torch.no_grad():
            cell.weight_ih.mul_(0.1)
            cell.weight_hh.mul_(0.1)
            cell.bias_hh.zero_()
            cell.bias_ih.zero_()
            for gate, value in gates.items():  # torch's order: i, f, g, o
                k = "ifgo".index(gate)
                cell.bias_ih[k * H:(k + 1) * H] = value
            c0 = torch.tensor([[1.0, -2.0, 0.5, 3.0]], dtype=torch.float64)
            h, c = torch.zeros(1, H, dtype=torch.float64), c0
            for _ in range(100):
                h, c = cell(torch.randn(1, 3, dtype=torch.float64), (h, c))
        if torch.allclose(c, c0, atol=1e-6):
            keeps.append(letter)
    assert len(keeps) == 1, keeps
    return keeps[0]


def _causal_option() -> str:
    """The option whose logit torch's own causal mask sets to -inf."""
    mask = torch.nn.Transformer.generate_square_subsequent_mask(4)
    options = {"A": (1, 0), "B": (2, 2), "C": (1, 3), "D": (3, 0)}
    hits = [k for k, (i, j) in options.items() if mask[i, j] == float("-inf")]
    assert len(hits) == 1, hits
    return hits[0]


def _swin_masked_pairs(H, W, M, s) -> int:
    """The official construction, written out: label the rolled map's regions, count the pairs of a
    window whose labels differ."""
    label = [[0] * W for _ in range(H)]
    cuts = lambda n: [(0, n - M), (n - M, n - s), (n - s, n)]  # noqa: E731
    k = 0
    for r0, r1 in cuts(H):
        for c0, c1 in cuts(W):
            for r in range(r0, r1):
                for c in range(c0, c1):
                    label[r][c] = k
            k += 1
    masked = 0
    for wr in range(0, H, M):
        for wc in range(0, W, M):
            tokens = [label[r][c] for r in range(wr, wr + M) for c in range(wc, wc + M)]
            masked += sum(a != b for a in tokens for b in tokens)
    return masked


def _measured_attention_macs(h, w, C, M) -> int:
    """MACs of q/k/v/out projections and the two attention products over M x M windows (M = h: global),
    measured by torch's FLOP counter on meta tensors (2 FLOPs per MAC)."""
    from torch.utils.flop_counter import FlopCounterMode

    windows, n = (h // M) * (w // M), M * M
    with torch.device("meta"):
        x = torch.empty(windows, n, C)
        weights = [torch.empty(C, C) for _ in range(4)]
        with FlopCounterMode(display=False) as counter:
            q, k, v = (x @ wt.T for wt in weights[:3])
            ((q @ k.transpose(1, 2)).softmax(-1) @ v) @ weights[3].T
    return counter.get_total_flops() // 2


def _tokens_at(size: int, patch: int) -> int:
    with torch.device("meta"):
        conv = torch.nn.Conv2d(3, 768, patch, patch)
        return conv(torch.empty(1, 3, size, size)).flatten(2).shape[-1] + 1


def _measured_lmhsa_macs(side: int, C: int, k: int | None) -> int:
    """MACs of one attention layer on side x side tokens (k None: global MHSA; else CMT's keys and values from a
    k x k depthwise conv of stride k), measured by torch's FLOP counter on meta tensors (2 FLOPs per MAC)."""
    from torch.utils.flop_counter import FlopCounterMode

    with torch.device("meta"):
        x = torch.empty(1, side * side, C)
        weights = [torch.empty(C, C) for _ in range(4)]
        reduce = None if k is None else torch.nn.Conv2d(C, C, k, stride=k, groups=C, bias=False)
        with FlopCounterMode(display=False) as counter:
            kv = x if k is None else reduce(x.transpose(1, 2).reshape(1, C, side, side)).flatten(2).transpose(1, 2)
            q, key, v = x @ weights[0].T, kv @ weights[1].T, kv @ weights[2].T
            ((q @ key.transpose(1, 2)).softmax(-1) @ v) @ weights[3].T
    return counter.get_total_flops() // 2


def _uniform_head_distance(g: int, p: int) -> float:
    """Mean pixel distance between the centres of all (query, key) pairs of a g x g grid of p px patches."""
    rows, cols = torch.meshgrid(torch.arange(g, dtype=torch.float64), torch.arange(g, dtype=torch.float64),
                                indexing="ij")
    centres = p * torch.stack([rows.flatten(), cols.flatten()], dim=1)  # (g*g, 2)
    return float(torch.cdist(centres, centres).mean())


def _hybrid_tokens_at(size: int) -> int:
    """Tokens of R50+ViT-B/16 at size x size, from torch layers with the strides of its ResNet (stem conv 2,
    max-pool 2; stages 1-3: 1, 2, 2; stage 4 removed), "same" padding, a 1 x 1 patch embedding, the class token."""
    with torch.device("meta"):
        net = torch.nn.Sequential(
            torch.nn.Conv2d(3, 64, 7, stride=2, padding=3), torch.nn.MaxPool2d(3, stride=2, padding=1),
            torch.nn.Conv2d(64, 256, 3, stride=1, padding=1), torch.nn.Conv2d(256, 512, 3, stride=2, padding=1),
            torch.nn.Conv2d(512, 1024, 3, stride=2, padding=1), torch.nn.Conv2d(1024, 768, 1))
        return net(torch.empty(1, 3, size, size)).flatten(2).shape[-1] + 1


def _linear_cka_from_grams(x, y) -> float:
    """Biased linear CKA written out: cosine of the centred Gram matrices H X X^T H and H Y Y^T H."""
    n = x.shape[0]
    H = torch.eye(n, dtype=torch.float64) - 1.0 / n
    kx, ky = H @ x @ x.T @ H, H @ y @ y.T @ H
    return float((kx * ky).sum() / (kx.norm() * ky.norm()))


def _meta_bytes(*shape) -> int:
    t = torch.empty(*shape, device="meta")
    return t.numel() * t.element_size()


def expected_answers() -> dict[tuple[str, str], tuple[object, object]]:
    """(assignment, variable) -> (the right answer, computed here; a wrong answer)."""
    with torch.device("meta"):
        separable = _params(torch.nn.Conv2d(128, 128, 3, bias=False)) / (
            _params(torch.nn.Conv2d(128, 128, 3, groups=128, bias=False)) + _params(torch.nn.Conv2d(128, 128, 1, bias=False)))
        patch_embed = _params(torch.nn.Conv2d(3, 768, 16, 16))
        lstm = _params(torch.nn.LSTM(10, 20))
    square = torch.tensor([[1.0, 1.0], [1.0, -1.0], [-1.0, 1.0], [-1.0, -1.0]], dtype=torch.float64)
    conv_width = F.conv2d(torch.zeros(1, 1, 32, 32), torch.zeros(1, 1, 5, 5), stride=2, padding=1, dilation=2).shape[-1]
    return {
        ("01_convolutions", "conv_out_size"): (conv_width, 14),
        ("01_convolutions", "rf_stack"): (_receptive_field_measured([3, 3, 3, 3], [1, 2, 1, 1], [1, 1, 2, 1]), 11),
        ("01_convolutions", "separable_saving"): (separable, 9.0),
        ("02_rnn_lstm", "lstm_gate"): (_lstm_gate_that_keeps_memory(), "A"),
        ("02_rnn_lstm", "lstm_params"): (lstm, 2480),
        ("03_attention", "masked_entry"): (_causal_option(), "A"),
        ("03_attention", "attention_memory"): (_meta_bytes(8, 12, 1024, 1024) / 2**20, 32.0),
        ("04_vit", "patch_embed_params"): (patch_embed, 589_824),
        ("04_vit", "num_tokens"): (_tokens_at(384, 16), 576),
        ("05_swin", "masked_pairs"): (_swin_masked_pairs(4, 4, 2, 1), 36),
        ("05_swin", "wmsa_saving"): (_measured_attention_macs(56, 56, 96, 56) / _measured_attention_macs(56, 56, 96, 7),
                                     64.0),
        ("06_hybrids", "lmhsa_saving"): (_measured_lmhsa_macs(56, 64, None) / _measured_lmhsa_macs(56, 64, 8), 64.0),
        ("06_hybrids", "hybrid_num_tokens"): (_hybrid_tokens_at(384), 145),
        ("07_representations", "uniform_head_distance"): (_uniform_head_distance(14, 16), 112.0),
        ("07_representations", "stretched_cka"): (_linear_cka_from_grams(square, square * torch.tensor([2.0, 1.0],
                                                                                                    dtype=torch.float64)),
                                                  1.0),
    }


def test_the_derived_answers_are_the_hand_derivations():
    """The independent computations above agree with the derivations written in the solutions."""
    got = {k: v for k, (v, _) in expected_answers().items()}
    assert got[("01_convolutions", "conv_out_size")] == (32 + 2 * 1 - 2 * (5 - 1) - 1) // 2 + 1 == 13
    assert got[("01_convolutions", "rf_stack")] == 1 + 2 * 1 * 1 + 2 * 1 * 1 + 2 * 2 * 2 + 2 * 1 * 2 == 17
    assert got[("01_convolutions", "separable_saving")] == 9 * 128 * 128 / (9 * 128 + 128 * 128)
    assert got[("02_rnn_lstm", "lstm_gate")] == "B"
    assert got[("02_rnn_lstm", "lstm_params")] == 4 * 20 * (10 + 20 + 2) == 2560
    assert got[("03_attention", "masked_entry")] == "C"
    assert got[("03_attention", "attention_memory")] == 384
    assert got[("04_vit", "patch_embed_params")] == 3 * 16 * 16 * 768 + 768 == 590_592
    assert got[("04_vit", "num_tokens")] == 24 * 24 + 1 == 577
    assert got[("05_swin", "masked_pairs")] == 0 + 8 + 8 + 12
    hw, C, M = 56 * 56, 96, 7
    assert got[("05_swin", "wmsa_saving")] == pytest.approx(
        (4 * hw * C**2 + 2 * hw**2 * C) / (4 * hw * C**2 + 2 * M**2 * hw * C), rel=1e-12)
    n, C, k = 56 * 56, 64, 8
    m = n // k**2
    assert got[("06_hybrids", "lmhsa_saving")] == pytest.approx(
        (4 * n * C**2 + 2 * n**2 * C) / (n * C + 2 * n * C**2 + 2 * m * C**2 + 2 * n * m * C), rel=1e-12)
    assert got[("06_hybrids", "hybrid_num_tokens")] == (384 // 16) ** 2 + 1 == 577
    assert got[("07_representations", "uniform_head_distance")] == pytest.approx(116.49222709177168, rel=1e-9)
    # X^T X = 4 I, Y^T X = diag(8, 4), Y^T Y = diag(16, 4): 80 / (sqrt(32) sqrt(272)) = 5 / sqrt(34)
    assert got[("07_representations", "stretched_cka")] == pytest.approx(5 / 34**0.5, rel=1e-12)


# --------------------------------------------------------------------------------------------
# The hidden checks, run
# --------------------------------------------------------------------------------------------
RUNNER = r'''
import json, sys
cases = json.load(sys.stdin)
out = []
for case in cases:
    scope = {"__name__": "__main__", case["var"]: case["value"]}
    try:
        exec(compile(case["source"], "<test cell>", "exec"), scope)
        out.append("pass")
    except Exception as exc:  # the cell fails: the grader records 0 for it
        out.append(type(exc).__name__ + ": " + str(exc)[:300])
print("RESULTS" + json.dumps(out))
'''


def _run_cells(cases: list[dict]) -> list[str]:
    """Execute test cells in a fresh Python (the cells reload cnnvit_ref.grading)."""
    proc = subprocess.run([sys.executable, "-c", RUNNER], input=json.dumps(cases), capture_output=True, text=True,
                          timeout=300, env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.split("RESULTS", 1)[1])


def test_every_required_exercise_has_two_to_four_questions_and_one_written_answer():
    answers = expected_answers()
    for name in REQUIRED:
        nb = _notebook("solutions", name)
        found = set(_questions(nb))
        assert 2 <= len(found) <= 4, (name, found)
        assert found == {v for (a, v) in answers if a == name}, (name, found)
        assert len(_written(nb)) == 1, name


def test_hidden_checks_accept_the_right_answer_and_nothing_else():
    answers = expected_answers()
    cases, labels = [], []
    for (name, var), (right, wrong) in answers.items():
        source = _questions(_notebook("solutions", name))[var].source
        release = _questions(_notebook("exercises", name))[var].source
        assert BEGIN_HIDDEN not in release
        variants = {"right": right, "wrong": wrong, "none": None}
        if isinstance(right, str):
            variants.update(lower_padded=f" {right.lower()} ", not_a_letter="E", a_number=2)
        else:
            variants.update(string=str(right), boolean=True, nan=float("nan"),
                            as_float=float(right), as_int=int(right) if float(right).is_integer() else None)
        for label, value in variants.items():
            if value is None and label != "none":
                continue
            cases.append({"source": source, "var": var, "value": value})
            labels.append((name, var, "source", label))
        for label in ("right", "wrong"):  # the release's cell cannot tell them apart
            cases.append({"source": release, "var": var, "value": variants[label]})
            labels.append((name, var, "release", label))
    results = dict(zip(labels, _run_cells(cases)))
    problems = []
    for (name, var, which, label), result in results.items():
        should_pass = label in ("right", "lower_padded", "as_float", "as_int") or which == "release"
        if should_pass and result != "pass":
            problems.append(f"{name} {var} ({which}, {label}): {result}")
        if not should_pass and not result.startswith("GradingError"):
            problems.append(f"{name} {var} ({which}, {label}) should fail with a GradingError, got: {result}")
        if label == "none" and "not answered yet" not in result:
            problems.append(f"{name} {var}: no answer should say 'not answered yet', got: {result}")
    assert not problems, "\n".join(problems)


# --------------------------------------------------------------------------------------------
# Written answers and their rubrics
# --------------------------------------------------------------------------------------------
def _rubric_lines(source: str) -> list[str]:
    lines, inside = [], False
    for line in source.split("\n"):
        if BEGIN_HIDDEN in line:
            inside = True
        elif END_HIDDEN in line:
            inside = False
        elif inside and len(line.strip()) >= 12:
            lines.append(line.strip())
    return lines


@pytest.mark.parametrize("name", instructor.find_assignments(ROOT))
def test_written_answers_hide_their_rubric(name):
    source, release = _notebook("solutions", name), _notebook("exercises", name)
    written = _written(source)
    assert len(written) == 1, f"{name}: {len(written)} written answers, expected one"
    released = {_meta(c)["grade_id"]: c for c in release.cells if _meta(c).get("grade_id")}
    release_text = "\n".join(c.source for c in release.cells)
    feedback, _ = nbgrader_plugins.HideHiddenTests().preprocess(nbformat.from_dict(json.loads(json.dumps(source))), {})
    feedback_text = "\n".join(c.source for c in feedback.cells)
    for cell in written:
        m = _meta(cell)
        assert cell.cell_type == "markdown" and m["points"] > 0 and not m["locked"] and m["grade_id"] == cell.id
        src = cell.source
        order = [src.index(x) for x in (BEGIN_SOL, BEGIN_HIDDEN, END_HIDDEN, END_SOL)]
        assert order == sorted(order), f"{name} {cell.id}: the rubric must sit in a hidden region inside the solution"
        rubric = _rubric_lines(src)
        assert rubric and rubric[0].startswith("**Rubric"), rubric[:1]
        assert f"Rubric ({m['points']:g} points" in rubric[0], "the rubric's points equal the cell's"
        out = released[m["grade_id"]]
        assert out.source == "YOUR ANSWER HERE" and _meta(out)["points"] == m["points"] and _meta(out)["solution"]
        for line in rubric:
            assert line not in release_text, f"{name}: the release shows rubric line {line!r}"
            assert line not in feedback_text, f"{name}: feedback would show rubric line {line!r}"
        intro = source.cells[source.cells.index(cell) - 1]
        assert intro.cell_type == "markdown" and _meta(intro).get("locked") and "graded by your instructor" in intro.source


@pytest.mark.parametrize("name", instructor.find_assignments(ROOT))
def test_intro_points_table_adds_up(name):
    nb = _notebook("solutions", name)
    rows = re.findall(r"^\| ([0-9]+|Q[0-9]+|W) \| .* \| ([0-9]+) \|$", nb.cells[0].source, flags=re.M)
    (total,) = re.findall(r"\| \| \*\*total\*\* \| \*\*([0-9]+)\*\* \|", nb.cells[0].source)
    cells = sum(float(_meta(c).get("points", 0)) for c in nb.cells if _meta(c).get("grade"))
    assert sum(int(p) for _, p in rows) == int(total) == cells, (name, rows, total, cells)
    written = sum(float(_meta(c)["points"]) for c in _written(nb))
    assert sum(int(p) for label, p in rows if label == "W") == written


# --------------------------------------------------------------------------------------------
# Export: manual points pending until graded
# --------------------------------------------------------------------------------------------
def _course(tmp_path: Path) -> tuple[Path, str]:
    root = tmp_path / "course"
    (root / "grading").mkdir(parents=True)
    db = f"sqlite:///{root / 'grading' / 'gradebook.db'}"
    (root / "nbgrader_config.py").write_text(
        f"c = get_config()\nc.CourseDirectory.db_url = {db!r}\nc.CourseDirectory.course_id = 'test'\n")
    return root, db


def _rows(path: Path) -> dict[str, dict]:
    with path.open(newline="") as f:
        return {r["student"]: r for r in csv.DictReader(f)}


@pytest.mark.filterwarnings("ignore::sqlalchemy.exc.SAWarning")  # nbgrader's add_submission
def test_export_shows_manual_points_pending_until_graded(tmp_path, monkeypatch):
    from nbgrader.api import Gradebook

    # a new gradebook runs the `alembic` script of nbgrader's environment, found on PATH
    monkeypatch.setenv("PATH", str(Path(sys.executable).parent) + ":" + os.environ.get("PATH", ""))
    root, db = _course(tmp_path)
    with Gradebook(db, "test") as gb:
        gb.add_assignment("A1")
        gb.add_notebook("A1", "A1")
        gb.add_solution_cell("f_solution", "A1", "A1")
        gb.add_grade_cell("f_hidden", "A1", "A1", max_score=4, cell_type="code")
        gb.add_grade_cell("q_hidden", "A1", "A1", max_score=2, cell_type="code")
        gb.add_grade_cell("w_answer", "A1", "A1", max_score=3, cell_type="markdown")
        gb.add_solution_cell("w_answer", "A1", "A1")
        for student in ("ann", "bob", "cy"):
            gb.add_student(student)
            gb.add_submission("A1", student)
        scores = {"ann": (4, 2, None), "bob": (0, 0, 0.0), "cy": (4, 0, None)}  # bob left the answer as released
        for student, (f, q, w) in scores.items():
            for cell, value in (("f_hidden", f), ("q_hidden", q), ("w_answer", w)):
                grade = gb.find_grade(cell, "A1", "A1", student)
                grade.auto_score = value
                grade.needs_manual_grade = value is None
        gb.db.commit()

    rows = _rows(instructor.export(root))
    ann, bob, cy = rows["ann"], rows["bob"], rows["cy"]
    assert (ann["A1"], ann["A1_max"], ann["A1_auto"], ann["A1_auto_max"]) == ("6", "9", "6", "6")
    assert (ann["A1_manual"], ann["A1_manual_max"], ann["A1_pending"]) == ("", "3", "3")
    assert (ann["total"], ann["max_total"], ann["pending_total"]) == ("6", "9", "3")
    assert (bob["A1"], bob["A1_manual"], bob["A1_pending"], bob["pending_total"]) == ("0", "0", "0", "0")
    assert (cy["A1_auto"], cy["A1_pending"]) == ("4", "3")

    with Gradebook(db, "test") as gb:  # a grader's score, as the formgrader stores it
        grade = gb.find_grade("w_answer", "A1", "A1", "ann")
        grade.manual_score = 2.5
        grade.needs_manual_grade = False
        gb.db.commit()
    rows = _rows(instructor.export(root, tmp_path / "after.csv"))
    ann, cy = rows["ann"], rows["cy"]
    assert (ann["A1"], ann["A1_auto"], ann["A1_manual"], ann["A1_pending"]) == ("8.5", "6", "2.5", "0")
    assert (ann["total"], ann["pending_total"]) == ("8.5", "0")
    assert (cy["A1_manual"], cy["A1_pending"]) == ("", "3")  # still waiting
    assert list(rows["ann"]) == ["student", "A1", "A1_max", "A1_auto", "A1_auto_max", "A1_manual", "A1_manual_max",
                                 "A1_pending", "total", "max_total", "pending_total", "reason"]
