"""How much of each function of a chapter module only validates its arguments.

    python tools/check_share.py [module ...]        # default: every chapter module

A *check statement* is an ``if ...:`` whose body only raises, a bare ``raise``, or a statement that calls
an argument-check helper (``_check_*``, ``check_*``, ``positive_int``, ``non_negative_int``, ``pair``).
For each public function and ``forward`` this prints the number of check statements and the share of the
function's code lines (docstring, comments and blank lines excluded) that they take. The course's rule
(CONTRIBUTING.md): one check statement per public function, out of the reading path.
"""
from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "cnnvit_ref"
CHAPTER_MODULES = ("conv", "rnn", "attention", "vit", "swin", "resnet", "mobilenet")
CHECK_HELPERS = ("positive_int", "positive_ints", "non_negative_int", "pair")


def _called_name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Call):
        f = node.func
        return f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None
    return None


def _is_check_call(stmt: ast.stmt) -> bool:
    value = getattr(stmt, "value", None)
    name = _called_name(value) if value is not None else None
    return bool(name) and (name.startswith(("_check", "check_")) or name in CHECK_HELPERS)


def _only_raises(body: list[ast.stmt]) -> bool:
    return all(isinstance(s, ast.Raise) or (isinstance(s, ast.If) and _only_raises(s.body) and _only_raises(s.orelse))
               for s in body)


def check_statements(fn: ast.FunctionDef) -> list[ast.stmt]:
    """The check statements of ``fn``, outermost first (a check inside a check is not counted twice)."""
    found: list[ast.stmt] = []

    def visit(body: list[ast.stmt]) -> None:
        for s in body:
            if isinstance(s, ast.Raise) or (isinstance(s, ast.If) and _only_raises(s.body) and _only_raises(s.orelse)):
                found.append(s)
            elif _is_check_call(s):
                found.append(s)
            elif isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                continue
            else:
                for field in ("body", "orelse", "finalbody", "handlers"):
                    child = getattr(s, field, None)
                    if isinstance(child, list) and child and isinstance(child[0], ast.AST):
                        visit([c for c in child if isinstance(c, ast.stmt)] if field != "handlers"
                              else [x for h in child for x in h.body])

    visit(fn.body)
    return found


def code_lines(fn: ast.FunctionDef, source_lines: list[str], nodes: list[ast.stmt] | None = None) -> set[int]:
    """Line numbers of code (not blank, not comment-only) covered by ``nodes`` (default: the body)."""
    body = fn.body
    if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant):
        body = body[1:]  # the docstring
    lines = set()
    for s in nodes if nodes is not None else body:
        for n in range(s.lineno, s.end_lineno + 1):
            text = source_lines[n - 1].strip()
            if text and not text.startswith("#"):
                lines.add(n)
    return lines


def functions(module: str):
    """(qualified name, node, source lines) of every public function and forward() of a chapter module."""
    path = PACKAGE / f"{module}.py"
    source = path.read_text()
    tree = ast.parse(source)
    lines = source.splitlines()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and not node.name.startswith("_"):
            yield node.name, node, lines
        elif isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and (item.name in ("forward", "__init__") or not item.name.startswith("_")):
                    yield f"{node.name}.{item.name}", item, lines


def report(modules) -> list[tuple[str, int, int, int]]:
    rows = []
    for module in modules:
        for name, fn, lines in functions(module):
            checks = check_statements(fn)
            total = len(code_lines(fn, lines))
            checked = len(code_lines(fn, lines, checks))
            rows.append((f"{module}.{name}", len(checks), checked, total))
    return rows


if __name__ == "__main__":
    mods = sys.argv[1:] or CHAPTER_MODULES
    for name, n, checked, total in report(mods):
        share = checked / total if total else 0.0
        flag = "" if n <= 1 else "   <- more than one check statement"
        print(f"{name:55s} checks {n:2d}  lines {checked:3d}/{total:3d} = {share:4.0%}{flag}")
