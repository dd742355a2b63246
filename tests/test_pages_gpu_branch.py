"""Each page's GPU half, built from fixture results: the figures a GPU run records, plotted
and quoted beside the live CPU ones, labelled with the device and the date.

The fixtures (tests/fixtures/results/) are a dry run's files relabelled as a GPU's, so they have
exactly the schema `dev.py gpu-figures` writes (tests/grading/test_record.py checks that). The
CPU half, with no results at all, is the book build's (test_book.py builds with an empty folder).
"""
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


@pytest.mark.parametrize("page", PAGES)
def test_page_plots_recorded_gpu_figures_labelled(page, monkeypatch):
    fixture = FIXTURES / f"{page}.json"
    assert fixture.exists(), f"no fixture results for {page}: add tests/fixtures/results/{page}.json"
    monkeypatch.setenv("COURSE_RESULTS_DIR", str(FIXTURES))
    src = ROOT / "book" / f"{page}.md"
    nb = read_myst_markdown_notebook(src.read_text(), path=src)
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(ROOT / "book")}}).execute()
    label = results.label(json.loads(fixture.read_text()))
    text = _text(nb)
    assert label in text, f"{page}: the recorded figures are not shown labelled '{label}'"
    assert "No GPU figures" not in text and "no GPU figures are recorded" not in text.lower()
