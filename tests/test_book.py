"""The book builds from clean with warnings as errors; every chapter has its page, Chapter 1 its plot.

Built with no recorded GPU figures (an empty results folder): every page's CPU half. The GPU
halves are built from fixture results in test_pages_gpu_branch.py.
"""
import subprocess
import sys
from pathlib import Path

from autograder.grading import release
from autograder.grading.release import tool_env
from conftest import ROOT


def test_book_builds_from_clean(tmp_path):
    done = subprocess.run(
        [str(Path(sys.executable).parent / "jupyter-book"), "build", "--all", "-W", "-n", "--keep-going",
         "--path-output", str(tmp_path), str(ROOT)],
        capture_output=True, text=True, timeout=1200,
        env=dict(tool_env(), COURSE_RESULTS_DIR=str(tmp_path / "no-results")))
    assert done.returncode == 0, done.stdout[-5000:] + done.stderr[-5000:]
    html = tmp_path / "_build" / "html" / "book"
    for slug in release.solutions():   # every chapter with an exercise has its page
        page = (html / f"{slug}.html").read_text()
        assert "Traceback (most recent call last)" not in page and "<h1>" in page, slug
    page = (html / "ch01_cpu_vs_gpu.html").read_text()
    assert "<img" in page and "CPU vs GPU design" in page
