"""Release: exercises/ is what nbgrader generates from solutions/, stamped from _config.yml."""
import shutil

import nbformat
import pytest

from autograder.grading import release
from conftest import NOTEBOOKS, ROOT, read


def test_exercises_are_what_nbgrader_generates(tmp_path):
    """Regenerate from solutions/ in a copy of the repository, then diff (drift fails)."""
    for f in ("_config.yml", "nbgrader_config.py"):
        shutil.copy(ROOT / f, tmp_path)
    shutil.copytree(ROOT / "solutions", tmp_path / "solutions")
    shutil.copytree(ROOT / "book", tmp_path / "book", ignore=shutil.ignore_patterns("*.ipynb"))
    release.generate(tmp_path, tmp_path / "exercises")
    for sub in ("solutions", "exercises", "book"):    # stamping may change solutions/ too
        for nb in (tmp_path / sub).rglob("*.ipynb"):
            committed = ROOT / nb.relative_to(tmp_path)
            assert committed.exists(), f"{committed.relative_to(ROOT)} is missing"
            assert read(nb) == read(committed), \
                f"{committed.relative_to(ROOT)} differs from what `python3 dev.py exercises` makes"
    made = {p.relative_to(tmp_path) for p in (tmp_path / "exercises").rglob("*.ipynb")}
    assert made == {p for p in NOTEBOOKS if p.parts[0] == "exercises"}
    made = {p.name for p in (tmp_path / "book").glob("*.ipynb")}
    assert made == {p.name for p in (ROOT / "book").glob("*.ipynb")}, "stale book/*.ipynb"


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


def test_setup_cell_says_what_it_tried_when_the_repository_is_unreachable(tmp_path):
    """No CalledProcessError: both installs named, pip's reason, and how to install by hand."""
    import subprocess
    import sys
    url = "http://127.0.0.1:9/nowhere/course"     # nothing listens on port 9: refused at once
    cell = release.SETUP.format(url=url, branch="main", slug="ch07_mixed_precision", repo_name="course")
    cell = cell.replace('importlib.util.find_spec("autograder") is None', "True")
    done = subprocess.run([sys.executable, "-c", cell], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode != 0
    err = done.stderr
    assert "CalledProcessError" not in err and "could not be installed" in err, err
    assert f"git+{url}@main" in err and f"{url}/archive/refs/heads/main.zip" in err
    assert err.count("failed:") == 2 and "%pip install ./course-main.zip" in err
    assert err.rstrip().endswith("is not installed (see above)"), err
