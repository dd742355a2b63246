"""The repository's own rules: every chapter has its pieces, notebooks carry no outputs."""
import pytest

from autograder.grading import release
from conftest import NOTEBOOKS, ROOT, read


def test_every_chapter_has_its_pieces():
    slugs = release.solutions()
    assert slugs, "no exercises found in solutions/"
    for slug in slugs:
        assert (ROOT / "autograder" / f"{slug}.py").is_file(), f"autograder/{slug}.py"
        assert (ROOT / "book" / f"{slug}.md").is_file(), f"book/{slug}.md"
        assert (ROOT / "tests" / "chapters" / f"test_{slug}.py").is_file(), f"tests/chapters/test_{slug}.py"
        assert (ROOT / "exercises" / slug / f"{slug}.ipynb").is_file(), f"exercises/{slug}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=str)
def test_notebooks_are_committed_without_outputs(path):
    nb = read(ROOT / path)
    for c in nb.cells:
        if c.cell_type == "code":
            assert not c.outputs and c.execution_count is None, \
                f"{path}: a cell has outputs; regenerate with `python3 dev.py exercises`"
