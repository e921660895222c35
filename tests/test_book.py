"""The book pipeline: _config.yml, _toc.yml, references.bib, the chapters in book/, the
self-hosted widget JavaScript, and (slow) the strict Jupyter Book build itself.

Fast tests read the configuration the way jupyter-book / myst-nb / sphinx-book-theme read it
(the same YAML, the same ``PurePosixPath.match`` for execution exclusions, the same Colab URL
recipe) and check the repository's files against it. The slow tests build the book with
``jupyter-book build -W -n --keep-going`` into a temporary copy and read the HTML back: executed
figures, Colab links, self-hosted widget scripts, no solution or hidden test anywhere; and, when a
Chromium is installed, that the widget really renders with the network off.
"""
from __future__ import annotations

import html as html_lib
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path, PurePosixPath

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
TOC = yaml.safe_load((ROOT / "_toc.yml").read_text())
SPHINX = (CONFIG.get("sphinx") or {}).get("config") or {}

CHAPTERS = sorted(ROOT.glob("book/[0-9][0-9]_*.ipynb"))
EXERCISES = sorted(ROOT.glob("exercises/*/*.ipynb"))
SOLUTIONS = sorted(ROOT.glob("solutions/*/*.ipynb"))
CDN_HOSTS = ("cdnjs.cloudflare.com", "cdn.jsdelivr.net", "unpkg.com")
GIT_URL = re.compile(r"git\+https?://[^\s\"'\\]+")


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------
def toc_files() -> list[str]:
    """Every `file:` of _toc.yml (root included), as written (no suffix)."""
    found = [TOC["root"]]

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                found.append(node["file"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk({k: v for k, v in TOC.items() if k != "root"})
    return found


def source_of(entry: str) -> Path | None:
    for suffix in (".ipynb", ".md"):
        path = ROOT / f"{entry}{suffix}"
        if path.is_file():
            return path
    return None


def excluded_from_execution(path: Path) -> bool:
    """myst-nb's rule (myst_nb/core/execute/__init__.py): PurePosixPath(path).match(pattern)."""
    posix = PurePosixPath(path.resolve().as_posix())
    return any(posix.match(p) for p in CONFIG["execute"].get("exclude_patterns", []))


def colab_url(relpath: str) -> str:
    """sphinx-book-theme's recipe for the Colab launch button of a page."""
    repo = CONFIG["repository"]
    org_repo = repo["url"].rstrip("/").split("github.com/")[1]
    prefix = str(repo.get("path_to_book", "")).strip("/")
    prefix = prefix + "/" if prefix else ""
    return (f"{CONFIG['launch_buttons']['colab_url'].rstrip('/')}/github/{org_repo}"
            f"/blob/{repo['branch']}/{prefix}{relpath}")


def notebook_text(path: Path) -> str:
    nb = nbformat.read(path, as_version=4)
    return "\n".join(cell.source for cell in nb.cells)


def solution_only_lines() -> set[str]:
    """Distinctive code lines of the instructor notebooks' solution and hidden-test blocks that
    appear in no student or book source. None of them may reach the built site."""
    # Public = anything the student notebooks or the chapters show: a hidden-test line that is also
    # part of a longer visible line (the same case in a visible test's list) is not a leak.
    public = "\n".join(notebook_text(p) for p in EXERCISES + CHAPTERS)
    secret = set()
    block = re.compile(r"### BEGIN (SOLUTION|HIDDEN TESTS)\n(.*?)### END \1", re.S)
    for path in SOLUTIONS:
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            for _, body in block.findall(cell.source):
                for line in body.splitlines():
                    line = line.strip()
                    if len(line) >= 25 and line not in public and not line.startswith("#"):
                        secret.add(line)
    return secret


# --------------------------------------------------------------------------------------------
# table of contents and what gets built / executed
# --------------------------------------------------------------------------------------------
def test_toc_entries_exist_and_are_unique():
    entries = toc_files()
    assert len(entries) == len(set(entries)), f"duplicate toc entries: {entries}"
    missing = [e for e in entries if source_of(e) is None]
    assert not missing, f"_toc.yml lists files that do not exist (.ipynb or .md): {missing}"


def test_every_chapter_and_exercise_is_in_the_toc_in_order():
    entries = toc_files()
    listed = {e for e in entries}
    for path in CHAPTERS + EXERCISES:
        entry = path.relative_to(ROOT).with_suffix("").as_posix()
        assert entry in listed, f"{entry} exists but is not in _toc.yml (only_build_toc_files hides it)"
    chapters = [e for e in entries if re.fullmatch(r"book/\d\d_\w+", e)]
    assert chapters == sorted(chapters), f"chapters out of order in _toc.yml: {chapters}"
    assert chapters[:2] == ["book/00_introduction", "book/01_convolutions"], chapters
    # chapters come before the exercises
    first_exercise = min((entries.index(e) for e in entries if e.startswith("exercises/")), default=len(entries))
    assert max(entries.index(c) for c in chapters) < first_exercise


def test_solutions_and_private_folders_never_built():
    assert CONFIG["only_build_toc_files"] is True
    excluded = set(CONFIG["exclude_patterns"])
    for folder in ("solutions", "grading", "tests", ".venv", "cnnvit_ref", "_build"):
        assert folder in excluded, f"{folder!r} missing from exclude_patterns in _config.yml"
    private = ("solutions/", "grading/", "tests/", "cnnvit_ref/", ".venv/")
    leaked = [e for e in toc_files() if e.startswith(private)]
    assert not leaked, f"_toc.yml lists private files: {leaked}"


def test_chapters_execute_and_exercises_do_not():
    assert CONFIG["execute"]["execute_notebooks"] in ("force", "cache")
    assert CONFIG["execute"]["timeout"] >= 60
    assert CONFIG["execute"].get("allow_errors", False) is False
    for path in CHAPTERS:
        assert not excluded_from_execution(path), f"{path.name} would not be executed"
    assert EXERCISES, "no exercise notebook found in exercises/*/"
    for path in EXERCISES:
        assert excluded_from_execution(path), f"{path} would be executed (it raises NotImplementedError)"
    # the rule is about the folder, not about today's names
    assert excluded_from_execution(ROOT / "exercises/99_new/99_new.ipynb")
    assert not excluded_from_execution(ROOT / "book/99_new.ipynb")


def test_notebooks_committed_without_outputs():
    for path in CHAPTERS + EXERCISES:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        for i, cell in enumerate(nb.cells):
            if cell.cell_type == "code":
                assert cell.outputs == [], f"{path.name} cell {i} has committed outputs"
                assert cell.execution_count is None, f"{path.name} cell {i} has an execution count"
        assert "widgets" not in nb.metadata, f"{path.name} has committed widget state"
        assert nb.metadata["kernelspec"]["name"] == "python3", path.name


# --------------------------------------------------------------------------------------------
# Colab and the repository URL (set in exactly one place)
# --------------------------------------------------------------------------------------------
def test_colab_launch_settings():
    repo = CONFIG["repository"]
    assert repo["url"] == "https://github.com/cnn-vs-vit/cnn-vs-vit-course"
    assert repo["branch"] == "main"
    assert str(repo.get("path_to_book", "")).strip("/.") == "", "the book root is the repository root"
    assert CONFIG["launch_buttons"]["colab_url"] == "https://colab.research.google.com"
    assert colab_url("book/01_convolutions.ipynb") == (
        "https://colab.research.google.com/github/cnn-vs-vit/cnn-vs-vit-course/blob/main/book/01_convolutions.ipynb"
    )
    # pages readers should open in Colab must be notebooks (a .md page opens nothing)
    for entry in toc_files():
        if entry.startswith(("book/0", "exercises/")) and entry != "book/benchmarks":
            assert source_of(entry).suffix == ".ipynb", entry


def test_git_urls_everywhere_match_config():
    """Every pip-installable URL in a notebook is exactly git+<repository.url>@<repository.branch>."""
    repo = CONFIG["repository"]
    expected = f"git+{repo['url']}@{repo['branch']}"
    checked = 0
    for path in EXERCISES + SOLUTIONS + CHAPTERS:
        for url in GIT_URL.findall(path.read_text()):
            assert url == expected, f"{path.relative_to(ROOT)}: {url!r} != {expected!r} (from _config.yml)"
            checked += 1
    assert checked >= len(CHAPTERS), "the chapters' Colab set-up cells should install the package"
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert f'Homepage = "{repo["url"]}"' in pyproject, "pyproject's Homepage differs from repository.url"


def test_url_check_catches_a_wrong_url():
    """The pattern used above really finds URLs in notebook JSON (quoted, escaped, in a list)."""
    cell = '"subprocess.run([sys.executable, \\"-m\\", \\"pip\\", \\"install\\", \\"git+https://github.com/x/y@dev\\"])"'
    assert GIT_URL.findall(cell) == ["git+https://github.com/x/y@dev"]
    assert GIT_URL.findall('%pip install "git+https://github.com/a/b@main"\\n') == ["git+https://github.com/a/b@main"]


# --------------------------------------------------------------------------------------------
# widgets: self-hosted JavaScript
# --------------------------------------------------------------------------------------------
def test_widget_js_self_hosted_and_referenced():
    scripts = SPHINX["nb_ipywidgets_js"]
    static = SPHINX["html_static_path"]
    assert "_static" not in [Path(p).name for p in static], "the widget JS needs a folder of its own"
    assert set(scripts) == {"require.js", "embed-amd.js"}, scripts
    for name, attrs in scripts.items():
        assert "://" not in name, f"{name} is loaded from the network"
        assert not any(h in json.dumps(attrs) for h in CDN_HOSTS), f"{name} attributes point at a CDN: {attrs}"
        hits = [ROOT / d / name for d in static if (ROOT / d / name).is_file()]
        assert len(hits) == 1, f"{name} not found in html_static_path {static}"
    folder = ROOT / static[0]
    assert sorted(p.name for p in folder.glob("*.js")) == ["embed-amd.js", "require.js"], "only what is needed"
    require = (folder / "require.js").read_text()
    assert "RequireJS 2.3" in require and "define.amd" in require
    embed = (folder / "embed-amd.js").read_text()
    for module in ("@jupyter-widgets/base", "@jupyter-widgets/controls", "@jupyter-widgets/html-manager/dist/libembed-amd"):
        assert f'define("{module}"' in embed, f"embed-amd.js does not bundle {module}"


def test_widget_js_matches_installed_ipywidgets():
    """The bundled html-manager is a release that this ipywidgets accepts, and it understands the
    model versions that this ipywidgets writes into the widget state."""
    from ipywidgets import _version

    folder = ROOT / SPHINX["html_static_path"][0]
    embed = (folder / "embed-amd.js").read_text()
    named = re.search(r"@jupyter-widgets/html-manager (\d+\.\d+\.\d+)", (folder / "README.txt").read_text())
    assert named, "README.txt must name the html-manager release it holds"
    # webpack keeps each bundled package's version as {rE:"x.y.z"}; the html-manager's must be there
    assert f'{{rE:"{named.group(1)}"}}' in embed, f"embed-amd.js is not html-manager {named.group(1)}"
    version = tuple(int(v) for v in named.group(1).split("."))
    wanted = _version.__html_manager_version__  # a caret range, e.g. "^1.0.1"
    assert wanted.startswith("^"), wanted
    floor = tuple(int(v) for v in wanted[1:].split("."))
    assert version[0] == floor[0] and version >= floor, f"html-manager {named.group(1)} does not satisfy {wanted}"
    # htmlmanager picks its controls by model version: maxSatisfying(["1.5.0", "2.0.0"], version)
    assert '["1.5.0","2.0.0"]' in embed
    assert _version.__jupyter_widgets_controls_version__.split(".")[0] == "2"
    assert _version.__jupyter_widgets_base_version__.split(".")[0] == "2"


# --------------------------------------------------------------------------------------------
# citations
# --------------------------------------------------------------------------------------------
def bib_keys() -> list[str]:
    return re.findall(r"^@\w+\{([^,\s]+),", (ROOT / "references.bib").read_text(), flags=re.M)


def test_references_bib_is_sane():
    keys = bib_keys()
    assert len(keys) == len(set(keys)), "duplicate keys in references.bib"
    assert CONFIG["bibtex_bibfiles"] == ["references.bib"]
    text = (ROOT / "references.bib").read_text()
    assert text.count("{") == text.count("}"), "unbalanced braces in references.bib"


def test_every_citation_resolves_and_chapters_have_a_bibliography():
    keys = set(bib_keys())
    role = re.compile(r"\{cite(?::[pt])?\}`([^`]+)`")
    for path in CHAPTERS:
        nb = nbformat.read(path, as_version=4)
        text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
        cited = {k.strip() for group in role.findall(text) for k in group.split(",")}
        assert cited, f"{path.name} cites no paper"
        assert cited <= keys, f"{path.name} cites unknown keys: {sorted(cited - keys)}"
        assert "```{bibliography}" in text and ":filter: docname in docnames" in text, path.name


def test_chapters_end_with_summary_and_exercise_link():
    for path in CHAPTERS:
        nb = nbformat.read(path, as_version=4)
        text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
        assert "## Summary" in text, f"{path.name} has no summary"
        stem = path.stem
        exercise = ROOT / "exercises" / stem / f"{stem}.ipynb"
        if exercise.is_file():
            assert f"../exercises/{stem}/{stem}.ipynb" in text, f"{path.name} does not link its exercise"


# --------------------------------------------------------------------------------------------
# slow: the strict build, read back
# --------------------------------------------------------------------------------------------
IGNORE = shutil.ignore_patterns(".venv", "_build", ".git", "grading", "__pycache__", ".pytest_cache",
                                "*.egg-info", ".ipynb_checkpoints")


def _build(folder: Path) -> dict:
    src = folder / "book"
    shutil.copytree(ROOT, src, ignore=IGNORE)
    jb = Path(sys.executable).with_name("jupyter-book")
    start = time.perf_counter()
    proc = subprocess.run([str(jb), "build", "-W", "-n", "--keep-going", str(src)],
                          capture_output=True, text=True, timeout=1200)
    return {"rc": proc.returncode, "seconds": time.perf_counter() - start,
            "log": (proc.stdout + proc.stderr)[-6000:], "html": str(src / "_build" / "html")}


@pytest.fixture(scope="session")
def built(shared_once) -> dict:
    return shared_once("book-build", _build)


def _pages(html_dir: Path) -> dict[Path, str]:
    return {p: p.read_text(errors="replace") for p in html_dir.rglob("*") if p.suffix in (".html", ".js", ".ipynb", ".txt")}


@pytest.mark.slow
def test_strict_build_passes(built):
    assert built["rc"] == 0, f"jupyter-book build -W -n failed:\n{built['log']}"


@pytest.mark.slow
def test_chapter_pages_are_executed_with_figures_and_colab_links(built):
    assert built["rc"] == 0, built["log"]
    html_dir = Path(built["html"])
    for path in CHAPTERS:
        rel = path.relative_to(ROOT)
        page = html_dir / rel.with_suffix(".html")
        assert page.is_file(), f"{page} was not built"
        text = page.read_text()
        images = re.findall(r'<img[^>]+src="([^"]*_images/[^"]+\.png)"', text)
        assert len(images) >= 2, f"{rel}: {len(images)} executed figures"
        for src in images:
            assert (page.parent / src).resolve().is_file(), f"{rel}: missing image {src}"
        assert 'class="cell_output' in text, f"{rel} shows no executed output"
        assert colab_url(rel.as_posix()) in text, f"{rel}: no Colab link to {colab_url(rel.as_posix())}"
    for path in EXERCISES:  # shown, with a Colab button, but never executed
        rel = path.relative_to(ROOT)
        text = (html_dir / rel.with_suffix(".html")).read_text()
        assert colab_url(rel.as_posix()) in text
        assert 'class="cell_output' not in text, f"{rel} was executed"


@pytest.mark.slow
def test_widget_pages_load_only_self_hosted_js(built):
    assert built["rc"] == 0, built["log"]
    html_dir = Path(built["html"])
    for name in SPHINX["nb_ipywidgets_js"]:
        assert (html_dir / "_static" / name).is_file(), f"_static/{name} was not copied"
    widget_pages = []
    for page in html_dir.rglob("*.html"):
        text = page.read_text()
        for host in CDN_HOSTS:
            for lib in ("require.js", "require.min.js", "embed-amd.js", "html-manager"):
                assert not re.search(rf'src="[^"]*{re.escape(host)}[^"]*{re.escape(lib)}', text), (page, host, lib)
        if "application/vnd.jupyter.widget-state+json" in text:
            widget_pages.append(page)
            scripts = re.findall(r'<script[^>]*src="([^"]+)"', text)
            for name in ("require.js", "embed-amd.js"):
                assert any(s.split("?")[0].endswith(f"_static/{name}") for s in scripts), (page, name)
    assert html_dir / "book" / "01_convolutions.html" in widget_pages, "the receptive-field explorer lost its state"


@pytest.mark.slow
def test_every_script_is_served_by_the_book(built):
    """Offline readers: no page loads JavaScript from another host (MathJax included)."""
    assert built["rc"] == 0, built["log"]
    html_dir = Path(built["html"])
    assert (html_dir / "_static" / "tex-svg.js").is_file(), "MathJax was not copied into _static/"
    chapter = (html_dir / "book" / "01_convolutions.html").read_text()
    assert re.search(r'<script[^>]*src="[^"]*_static/tex-svg\.js', chapter), "chapter 01 does not load the local MathJax"
    for page in html_dir.rglob("*.html"):
        remote = [s for s in re.findall(r'<script[^>]*src="([^"]+)"', page.read_text()) if re.match(r"(https?:)?//", s)]
        assert not remote, f"{page.relative_to(html_dir)} loads scripts from the network: {remote}"


@pytest.mark.slow
def test_no_solution_or_hidden_test_in_the_site(built):
    assert built["rc"] == 0, built["log"]
    html_dir = Path(built["html"])
    assert not (html_dir / "solutions").exists()
    assert not (html_dir / "_sources" / "solutions").exists()
    secret = solution_only_lines()
    assert not SOLUTIONS or secret, "could not read any solution line to look for"
    markers = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")
    for page, text in _pages(html_dir).items():
        for marker in markers:
            assert marker not in text, f"{page.relative_to(html_dir)} contains {marker!r}"
        plain = html_lib.unescape(re.sub(r"<[^>]+>", "", text)) if page.suffix == ".html" else text
        leaked = [line for line in secret if line in plain]
        assert not leaked, f"{page.relative_to(html_dir)} shows solution code: {leaked[:3]}"


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.mark.slow
@pytest.mark.skipif(_chromium() is None, reason="no Chromium to render the page")
def test_widget_renders_offline_in_headless_chromium(built, tmp_path):
    assert built["rc"] == 0, built["log"]
    page = Path(built["html"]) / "book" / "01_convolutions.html"
    cmd = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path}",
           "--virtual-time-budget=10000", "--dump-dom", page.as_uri()]
    dom = subprocess.run(cmd, capture_output=True, text=True, timeout=180).stdout
    assert "widget-slider" not in page.read_text(), "the static page already contains the widget?"
    assert "widget-slider" in dom, "the IntSlider was not rendered: widget JavaScript did not run"
    output = dom.split("widget-output", 1)
    assert len(output) == 2 and "<img" in output[1], "the explorer's figure was not rendered"
