"""The reading conventions of the chapter modules (CONTRIBUTING.md), checked mechanically.

A student reads a chapter's module top to bottom after the chapter: one header layout, one section
rule, and argument checks kept to one statement per public function (tools/check_share.py counts them).
"""
from __future__ import annotations

import ast
import importlib.util
import re
from pathlib import Path

import pytest

from cnnvit_ref import models

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("check_share", ROOT / "tools" / "check_share.py")
check_share = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check_share)

MODULES = sorted(
    set(check_share.CHAPTER_MODULES)
    | {m.__name__.rsplit(".", 1)[-1] for m in models._families()}
    | {p.stem for p in (ROOT / "cnnvit_ref").glob("representations.py")}
)
HEADER = ("Chapter\n", "Papers\n", "Official code\n", "Symbols in the shape comments\n")
RULE = "# " + "-" * 92


@pytest.mark.parametrize("module", MODULES)
def test_one_check_statement_per_public_function(module):
    crowded = [f"{name}: {n} check statements" for name, n, _, _ in check_share.report([module]) if n > 1]
    assert not crowded, "move the checks into one _check_... call at the bottom of the module:\n" + "\n".join(crowded)


@pytest.mark.parametrize("module", MODULES)
def test_one_header_layout(module):
    doc = ast.get_docstring(ast.parse((ROOT / "cnnvit_ref" / f"{module}.py").read_text()), clean=False)
    positions = [doc.find(h) for h in HEADER]
    assert -1 not in positions, f"{module}.py: the header lacks {[h.strip() for h, p in zip(HEADER, positions) if p < 0]}"
    assert positions == sorted(positions), f"{module}.py: header sections out of order"
    assert "arxiv.org/abs/" in doc, f"{module}.py: cite the papers with their arXiv links"


@pytest.mark.parametrize("module", MODULES)
def test_one_section_rule(module):
    lines = (ROOT / "cnnvit_ref" / f"{module}.py").read_text().splitlines()
    rules = [(i + 1, line) for i, line in enumerate(lines) if re.fullmatch(r"#\s*[-=#]{10,}.*", line)]
    other = [i for i, line in rules if line != RULE]
    assert not other, f"{module}.py lines {other}: use the one section rule ({len(RULE)} characters of '# ---')"


def test_the_counter_sees_a_crowded_function():
    # tools/check_share.py itself, on a hand-made function: 3 check statements over 5 code lines.
    source = (
        "def f(x, n):\n"
        "    '''doc'''\n"
        "    check_tensor('f', 'x', x, ndim=2)\n"
        "    if n < 1:\n"
        "        raise ValueError('n')\n"
        "    n = positive_int('f', 'n', n)\n"
        "    return x * n\n"
    )
    fn = ast.parse(source).body[0]
    checks = check_share.check_statements(fn)
    assert len(checks) == 3
    assert len(check_share.code_lines(fn, source.splitlines(), checks)) == 4
    assert len(check_share.code_lines(fn, source.splitlines())) == 5
