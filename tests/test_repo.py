"""The repository's own rules: generated files match their sources, notebooks carry no outputs."""
import shutil

import nbformat
import pytest

from autograder.grading import release
from conftest import ROOT, read

NOTEBOOKS = sorted(p.relative_to(ROOT) for d in ("solutions", "exercises")
                   for p in (ROOT / d).rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)


def test_every_chapter_has_its_pieces():
    slugs = release.solutions()
    assert slugs, "no exercises found in solutions/"
    for slug in slugs:
        assert (ROOT / "autograder" / f"{slug}.py").is_file(), f"autograder/{slug}.py"
        assert (ROOT / "book" / f"{slug}.md").is_file(), f"book/{slug}.md"
        assert (ROOT / "tests" / f"test_{slug}.py").is_file(), f"tests/test_{slug}.py"
        assert (ROOT / "exercises" / slug / f"{slug}.ipynb").is_file(), f"exercises/{slug}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=str)
def test_notebooks_are_committed_without_outputs(path):
    nb = read(ROOT / path)
    for c in nb.cells:
        if c.cell_type == "code":
            assert not c.outputs and c.execution_count is None, \
                f"{path}: a cell has outputs; regenerate with `python3 dev.py exercises`"


def test_exercises_are_what_nbgrader_generates(tmp_path):
    """Regenerate from solutions/ in a copy of the repository, then diff (drift fails)."""
    for f in ("_config.yml", "nbgrader_config.py"):
        shutil.copy(ROOT / f, tmp_path)
    shutil.copytree(ROOT / "solutions", tmp_path / "solutions")
    release.generate(tmp_path, tmp_path / "exercises")
    for sub in ("solutions", "exercises"):    # stamping may change solutions/ too
        for nb in (tmp_path / sub).rglob("*.ipynb"):
            committed = ROOT / nb.relative_to(tmp_path)
            assert committed.exists(), f"{committed.relative_to(ROOT)} is missing"
            assert read(nb) == read(committed), \
                f"{committed.relative_to(ROOT)} differs from what `python3 dev.py exercises` makes"
    made = {p.relative_to(tmp_path) for p in (tmp_path / "exercises").rglob("*.ipynb")}
    assert made == {p for p in NOTEBOOKS if p.parts[0] == "exercises"}


def test_colab_links_follow_the_configured_repository():
    url, branch = release.repository()
    for slug in release.solutions():
        nb = read(ROOT / "exercises" / slug / f"{slug}.ipynb")
        text = "\n".join(c.source for c in nb.cells[:3])
        assert f"colab.research.google.com/github/{url.split('github.com/')[1]}/blob/{branch}" in text
        assert f"git+{url}@{branch}" in text


def test_release_refuses_a_notebook_without_setup_cell():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("", metadata={"tags": ["colab-badge"]})])
    with pytest.raises(ValueError, match="setup"):
        release.stamp(nb, "chXX", "https://github.com/a/b", "main")


def test_gpu_figures_refuse_a_machine_without_gpu(capsys, monkeypatch):
    """CPU figures must never be saved as a GPU's: no GPU, nothing written, exit status 2."""
    from autograder import device, results
    from autograder.grading import record
    monkeypatch.setenv("COURSE_FORCE_CPU", "1")
    device.detect.cache_clear()
    saved = []
    monkeypatch.setattr(results, "save", lambda *a, **k: saved.append(a))
    try:
        assert record.main([]) == 2
    finally:
        device.detect.cache_clear()
    assert not saved and "No GPU" in capsys.readouterr().err
    assert "ch01_cpu_vs_gpu" in record.chapters()
