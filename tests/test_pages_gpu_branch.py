"""Each page's GPU half, built from fixture results: the figures a GPU run records, plotted
and quoted beside the live CPU ones, labelled with the device and the date.

The fixtures (tests/fixtures/results/) are a dry run's files relabelled as a GPU's, so they have
exactly the schema `dev.py gpu-figures` writes (tests/grading/test_record.py checks that). The
CPU half, with no results at all, is the book build's (test_book.py builds with an empty folder).
Only the cells the GPU half needs run here (those that read `recorded`, and the earlier cells
that define what they use): the rest is the book build's, and running every page twice would be
a quarter of the suite's time.
"""
import ast
import json
from pathlib import Path

import pytest
from myst_nb.core.read import read_myst_markdown_notebook
from nbclient import NotebookClient

from autograder import results
from conftest import ROOT

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "results"
PAGES = sorted(p.stem for p in (ROOT / "book").glob("ch[0-9][0-9]_*.md"))


def _text(nb) -> str:
    out = []
    for c in nb.cells:
        for o in c.get("outputs", []):
            out.append(o.get("text", ""))
            for kind in ("text/plain", "text/markdown", "text/html"):
                out.append(str(o.get("data", {}).get(kind, "")))
    return "\n".join(out)


def _names(cell) -> tuple[set[str], set[str]] | None:
    """(names a code cell defines, names it reads from earlier cells), or None where it does not
    parse."""
    src = "\n".join(line for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!")))
    try:
        tree = ast.parse(src)
    except SyntaxError:
        return None
    made, used = set(), set()
    for n in ast.walk(tree):
        if isinstance(n, ast.Name):
            (used if isinstance(n.ctx, ast.Load) else made).add(n.id)
        elif isinstance(n, (ast.FunctionDef, ast.ClassDef)):
            made.add(n.name)
        elif isinstance(n, (ast.Import, ast.ImportFrom)):
            made |= {(a.asname or a.name).split(".")[0] for a in n.names}
    return made, used - made          # a name the cell binds itself (a loop's `r`) it does not need


def gpu_half(nb):
    """The notebook cut to the cells that read `recorded` and what they need, in order."""
    code = [c for c in nb.cells if c.cell_type == "code"]
    facts = [_names(c) for c in code]
    keep = {i for i, f in enumerate(facts) if f is None or "recorded" in f[1]}
    need = set().union(*(facts[i][1] for i in keep if facts[i]))
    for i in range(len(code) - 1, -1, -1):
        if i not in keep and facts[i] is not None and facts[i][0] & need:
            keep.add(i)
            need |= facts[i][1]
    nb.cells = [c for i, c in enumerate(code) if i in keep]
    return nb


@pytest.mark.parametrize("page", PAGES)
def test_page_plots_recorded_gpu_figures_labelled(page, monkeypatch):
    fixture = FIXTURES / f"{page}.json"
    assert fixture.exists(), f"no fixture results for {page}: add tests/fixtures/results/{page}.json"
    monkeypatch.setenv("COURSE_RESULTS_DIR", str(FIXTURES))
    src = ROOT / "book" / f"{page}.md"
    nb = gpu_half(read_myst_markdown_notebook(src.read_text(), path=src))
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(ROOT / "book")}}).execute()
    label = results.label(json.loads(fixture.read_text()))
    text = _text(nb)
    assert label in text, f"{page}: the recorded figures are not shown labelled '{label}'"
    assert "No GPU figures" not in text and "no GPU figures are recorded" not in text.lower()
