"""The book builds from clean with warnings as errors, and reads well as a reader meets it: every
chapter has its page and its Colab button, every widget a static rendering, the exercise index
every exercise, and a dangling cross-reference fails the build.

Built with no recorded GPU figures (an empty results folder): every page's CPU half. The GPU
halves are built from fixture results in test_pages_gpu_branch.py.
"""
import re
import subprocess
import sys
from pathlib import Path

import nbformat

from autograder.grading import catalog, release
from autograder.grading.release import tool_env
from conftest import ROOT

VIEW = "application/vnd.jupyter.widget-view+json"
STATIC = ("image/png", "image/svg+xml", "text/html")


def jupyter_book(*args, cwd=ROOT, env=None):
    return subprocess.run([str(Path(sys.executable).parent / "jupyter-book"), "build", *args],
                          capture_output=True, text=True, env=env or tool_env(), timeout=1200, cwd=cwd)


def test_book_builds_from_clean(tmp_path):
    """One build (a fixture would build once per xdist worker), then what a reader meets."""
    done = jupyter_book("--all", "-W", "-n", "--keep-going", "--path-output", str(tmp_path), str(ROOT),
                        env=dict(tool_env(), COURSE_RESULTS_DIR=str(tmp_path / "no-results")))
    assert done.returncode == 0, done.stdout[-5000:] + done.stderr[-5000:]
    built = tmp_path / "_build"
    html = built / "html" / "book"
    for slug in release.solutions():   # every chapter with an exercise has its page
        page = (html / f"{slug}.html").read_text()
        assert "Traceback (most recent call last)" not in page and "<h1>" in page, slug
    page = (html / "ch01_cpu_vs_gpu.html").read_text()
    assert "<img" in page and "CPU vs GPU design" in page
    assert "<dl" in (html / "intro.html").read_text(), "the intro's plan is a definition list"
    every_widget_output_has_a_static_rendering_in_the_html(built)
    the_exercise_index_lists_every_exercise(built)
    every_chapter_page_opens_its_notebook_in_colab(built)


def every_widget_output_has_a_static_rendering_in_the_html(built):
    """A widget view needs a kernel: each one carries a figure or table in the same output, and
    the HTML shows that (no widget view, no widget script, no "VBox(...)" placeholder)."""
    widgets = 0
    for nb_path in (built / "jupyter_execute").rglob("*.ipynb"):
        nb = nbformat.read(nb_path, as_version=4)
        page = (built / "html" / nb_path.relative_to(built / "jupyter_execute")).with_suffix(".html")
        text = page.read_text()
        assert f'type="{VIEW}"' not in text, page     # no widget view left for a browser to draw
        for cell in nb.cells:
            for out in cell.get("outputs", []):
                data = out.get("data", {})
                if VIEW in data:
                    widgets += 1
                    static = [k for k in STATIC if k in data]
                    plain = data.get("text/plain", "")
                    assert static or not plain.startswith(("VBox(", "HBox(", "interactive(")), \
                        f"{page.name}: a widget output without a static rendering: {plain[:80]}"
        assert not re.search(r"(VBox|HBox|interactive|FloatProgress)\(children=", text), page
    assert widgets >= 3, "the calculator, the explorer and the progress bars"


def the_exercise_index_lists_every_exercise(built):
    page = (built / "html" / "book" / "exercises.html").read_text()
    rows = catalog.exercises()
    assert [r["slug"] for r in rows] == release.solutions()
    for r in rows:
        nb = nbformat.read(ROOT / r["notebook"], as_version=4)
        points = sum(c.metadata.get("nbgrader", {}).get("points", 0) for c in nb.cells)
        assert r["points"] == points and r["writes"], r
        assert r["colab"] in page and f"{r['slug']}.ipynb" in page, r["slug"]
    downloads = {p.name for p in (built / "html" / "_downloads").rglob("*.ipynb")}
    assert downloads >= {f"{s}.ipynb" for s in release.solutions()}


def every_chapter_page_opens_its_notebook_in_colab(built):
    url, branch = release.repository()
    repo = url.split("github.com/", 1)[1]
    for slug in release.solutions():
        page = (built / "html" / "book" / f"{slug}.html").read_text()
        link = f"https://colab.research.google.com/github/{repo}/blob/{branch}/book/{slug}.ipynb"
        assert link in page, slug
        nb = nbformat.read(ROOT / "book" / f"{slug}.ipynb", as_version=4)
        assert "setup" in nb.cells[0].metadata.get("tags", []) and f"git+{url}@{branch}" in nb.cells[0].source


def _without_roles(text: str) -> str:
    text = re.sub(r"\{(doc|ref|term|download)\}`[^`]*`", "", text)
    return re.sub(r"```.*?```", "", text, flags=re.S)   # code cells: Markdown() outputs are plain


def test_pages_name_other_chapters_by_reference():
    """'Chapter 4' in prose must be {doc}`Chapter 4 <ch04_2d_grids>`: a build with -n fails
    when the page it names does not exist (a dangling plain 'chapter 16' would not)."""
    for page in sorted((ROOT / "book").glob("*.md")):
        text = _without_roles(page.read_text())
        hits = re.findall(r"[^\n]*\b(?:[Cc]hapters? \d+|(?:next|previous|last) chapter)\b[^\n]*", text)
        assert not hits, f"{page.name}: {hits[:3]}"


def test_every_glossary_word_is_linked_from_a_page():
    text = (ROOT / "book" / "glossary.md").read_text()
    body = text.split("```{glossary}", 1)[1].split("```", 1)[0]
    entries, block = [], []
    for line in body.splitlines():
        if line and not line.startswith(" "):
            block.append(line.strip())
        elif block:
            entries.append(block)
            block = []
    linked = set()
    for page in (ROOT / "book").glob("*.md"):
        for m in re.finditer(r"\{term\}`([^`]*)`", page.read_text()):
            target = re.search(r"<([^>]*)>$", m.group(1))
            linked.add((target.group(1) if target else m.group(1)).lower())
    missing = [e[0] for e in entries if not linked & {t.lower() for t in e}]
    assert not missing, f"glossary words no page links to: {missing}"


def test_a_dangling_cross_reference_fails_the_build(tmp_path):
    (tmp_path / "_config.yml").write_text("title: t\nexecute:\n  execute_notebooks: 'off'\n")
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: intro\n")
    (tmp_path / "intro.md").write_text("# Intro\n\nSee {doc}`Chapter 16 <ch16_compilation>`.\n")
    done = jupyter_book("-W", "-n", "--keep-going", str(tmp_path), cwd=tmp_path)
    assert done.returncode != 0 and "ch16_compilation" in done.stdout + done.stderr
