"""The book pipeline: _config.yml, _toc.yml, references.bib, the chapters in book/, the
self-hosted widget JavaScript, and (slow) the strict Jupyter Book build itself.

Fast tests read the configuration the way jupyter-book / myst-nb / sphinx-book-theme read it
(the same YAML, the same ``PurePosixPath.match`` for execution exclusions, the same Colab URL
recipe) and check the repository's files against it. The slow tests build the book with
``jupyter-book build -W -n --keep-going`` into a temporary copy and read the HTML back: executed
figures, Colab links, self-hosted widget scripts, no solution or hidden test anywhere; and that
every page with a widget really renders it in headless Chromium with the network off (skipped
only off CI when no Chromium is installed; on CI, ``.ci/run`` installs Debian's ``chromium`` and a
missing browser fails the test).
"""
from __future__ import annotations

import html as html_lib
import json
import os
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
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
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


def test_chapter_code_lines_fit_the_rendered_column():
    """The rendered book clips its code column at about 80 characters: every code line of every
    chapter, trailing comments included, is at most 79 characters long."""
    limit = 79
    assert CHAPTERS, "no chapter notebook found in book/"
    too_long = []
    for path in CHAPTERS:
        nb = nbformat.read(path, as_version=4)
        for i, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            for j, line in enumerate(cell.source.splitlines(), start=1):
                if len(line) > limit:
                    too_long.append(f"{path.name} cell {i} ({cell.get('id')}) line {j}: "
                                    f"{len(line)} characters: {line.strip()}")
    assert not too_long, f"{len(too_long)} code lines over {limit} characters:\n" + "\n".join(too_long)


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
        if WIDGET_STATE in text:
            widget_pages.append(page)
            scripts = re.findall(r'<script[^>]*src="([^"]+)"', text)
            for name in ("require.js", "embed-amd.js"):
                assert any(s.split("?")[0].endswith(f"_static/{name}") for s in scripts), (page, name)
    # every chapter that uses ipywidgets kept its widget state (01, 03, 05 at least)
    expected = {html_dir / p.relative_to(ROOT).with_suffix(".html") for p in chapters_with_widgets()}
    assert {"01_convolutions", "05_swin"} <= {p.stem for p in expected}, expected
    missing = sorted(str(p.relative_to(html_dir)) for p in expected - set(widget_pages))
    assert not missing, f"pages whose widgets lost their state: {missing}"


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


def chapters_with_widgets() -> list[Path]:
    """Chapters whose code imports ipywidgets: their pages must show a rendered widget."""
    uses = re.compile(r"^\s*(import ipywidgets|from ipywidgets )", re.M)
    return [p for p in CHAPTERS if uses.search(notebook_text(p))]


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def _chromium_or_skip() -> str:
    """The browser; on CI (``CI`` or ``CNNVIT_REQUIRE_CHROMIUM`` set, as ``.ci/run`` does) a missing
    one is a failure, not a skip."""
    exe = _chromium()
    if exe is None:
        if os.environ.get("CI") or os.environ.get("CNNVIT_REQUIRE_CHROMIUM"):
            pytest.fail("no Chromium on CI: .ci/run installs Debian's chromium when it is missing")
        pytest.skip("no Chromium to render the pages (CI installs one: see .ci/run)")
    return exe


def render_offline(exe: str, page: Path, profile: Path) -> str:
    """The page's DOM after its scripts ran in headless Chromium with the network off: no host name
    resolves and every connection goes to a closed local port, so only the book's own files load."""
    cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9",
           f"--user-data-dir={profile}", "--virtual-time-budget=10000", "--dump-dom", page.as_uri()]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180).stdout


VIEW_SCRIPT = re.compile(r'<script type="application/vnd\.jupyter\.widget-view\+json">(.*?)</script>', re.S)
STATE_SCRIPT = re.compile(r'<script type="application/vnd\.jupyter\.widget-state\+json">(.*?)</script>', re.S)
# what the html-manager draws for a model (the CSS class of its view)
RENDERED_AS = {"IntSliderModel": "widget-slider", "FloatSliderModel": "widget-slider",
               "DropdownModel": "widget-dropdown", "OutputModel": "widget-output",
               "HBoxModel": "widget-hbox", "VBoxModel": "widget-vbox"}


def widget_render_problems(static: str, dom: str) -> list[str]:
    """What did not render: the page's widget views, the controls in its state, and the figures
    that its Output widgets hold. Empty when everything rendered."""
    problems = []
    views = VIEW_SCRIPT.findall(static)
    if not views:
        return ["no widget view in the page"]
    if "widget-subarea" in static:
        problems.append("the static page already contains rendered widgets")
    # the html-manager puts each rendered view, a div.widget-subarea, just before its script
    start = 0
    for m in VIEW_SCRIPT.finditer(dom):
        before = dom[start:m.start()]
        area = before.rfind('class="widget-subarea"')
        if area < 0 or "jupyter-widgets" not in before[area:]:
            problems.append(f"view {json.loads(m.group(1))['model_id']} was not rendered")
        start = m.end()
    if len(VIEW_SCRIPT.findall(dom)) != len(views):
        problems.append(f"{len(views)} views in the page, {len(VIEW_SCRIPT.findall(dom))} after rendering")
    state = json.loads(STATE_SCRIPT.search(static).group(1))["state"]
    names = [model["model_name"] for model in state.values()]
    for name, css in RENDERED_AS.items():
        if name in names and not re.search(rf'class="[^"]*\b{css}\b', dom):
            problems.append(f"{name} in the state but no rendered .{css}")
    with_figure = sum(
        any("image/png" in out.get("data", {}) for out in model["state"].get("outputs", []))
        for model in state.values() if model["model_name"] == "OutputModel")
    pieces = dom.split("widget-output")[1:]
    drawn = sum("<img" in piece.split("widget-view+json", 1)[0] for piece in pieces)
    if drawn < with_figure:
        problems.append(f"{with_figure} Output widgets hold a figure, {drawn} rendered one")
    return problems


@pytest.mark.slow
def test_widgets_render_offline_in_headless_chromium(built, tmp_path):
    """Every page with a widget (found in the built HTML, and at least every chapter that uses
    ipywidgets) renders all its widgets, controls and figures from the book's own JavaScript."""
    assert built["rc"] == 0, built["log"]
    exe = _chromium_or_skip()
    html_dir = Path(built["html"])
    pages = sorted(p for p in html_dir.rglob("*.html") if WIDGET_STATE in p.read_text(errors="replace"))
    expected = {html_dir / p.relative_to(ROOT).with_suffix(".html") for p in chapters_with_widgets()}
    assert expected and expected <= set(pages), f"widget chapters without widget state: {expected - set(pages)}"
    failures = {}
    for page in pages:
        dom = render_offline(exe, page, tmp_path / page.stem)
        problems = widget_render_problems(page.read_text(), dom)
        if problems:
            failures[str(page.relative_to(html_dir))] = problems
    assert not failures, f"widgets that did not render offline: {failures}"


def test_widget_render_check_fails_on_an_unrendered_page():
    """The render check is not vacuous: the static page itself (no script run) fails it, and a
    rendered view without its figure fails it."""
    state = {"state": {"a": {"model_name": "OutputModel", "state": {"outputs": [{"data": {"image/png": "x"}}]}}}}
    view = '<script type="application/vnd.jupyter.widget-view+json">{"model_id": "a"}</script>'
    static = f'<script type="application/vnd.jupyter.widget-state+json">{json.dumps(state)}</script><p>{view}</p>'
    assert widget_render_problems(static, static)
    rendered = '<div class="widget-subarea"><div class="lm-Widget jupyter-widgets widget-output"><img src="x"></div></div>'
    assert widget_render_problems(static, static.replace(view, rendered + view)) == []
    no_figure = rendered.replace('<img src="x">', "")
    assert any("figure" in p for p in widget_render_problems(static, static.replace(view, no_figure + view)))
