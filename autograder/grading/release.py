"""Regenerate exercises/ from solutions/, and the pages' notebooks: `python3 dev.py exercises`.

For every solutions/<slug>/<slug>.ipynb: stamp the Colab badge and the setup cell from
the repository URL in _config.yml (set once, there), strip outputs, then let
`nbgrader generate_assignment` write exercises/<slug>/. For every page of book/ with code,
write book/<page>.ipynb: the page as a notebook, setup cell first, which its Colab launch
button opens (Colab reads no MyST Markdown; Sphinx ignores these). A test regenerates into a
temporary directory and fails when exercises/ or book/*.ipynb differ.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parents[2]
COLAB = "https://colab.research.google.com/github/{repo}/blob/{branch}/exercises/{slug}/{slug}.ipynb"
BADGE = ("[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({url})\n"
         "\n"
         "*Course exercise `{slug}`. Open it in Colab with the badge, run the setup cell first, "
         "then work from top to bottom.*")
INSTALL = '''\
#@title Setup: run this cell first {{ display-mode: "form" }}
# Outside the course's own environment (in Colab, say) this installs the course's small
# `autograder` package from the course repository; it never installs or replaces torch, cupy
# or numba. {then}
import importlib, importlib.util, subprocess, sys
if importlib.util.find_spec("autograder") is None:
    tried = []
    for source in ("git+{url}@{branch}", "{url}/archive/refs/heads/{branch}.zip"):
        cmd = [sys.executable, "-m", "pip", "install", "-q", "--retries", "2",
               "gpu-course-autograder @ " + source]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode == 0:
            break
        said = [l.strip() for l in (done.stderr + done.stdout).splitlines() if l.strip()]
        why = [l for l in said if l.startswith(("fatal:", "ERROR:"))] or said[-1:] or ["no message"]
        tried.append(f"  pip install '{{cmd[-1]}}'\\n      failed: {{why[0][:300]}}")
    else:
        print("The course package could not be installed. Tried:", *tried, "Is this notebook "
              "online, and can it reach {url}? Offline: download\\n  {url}/archive/refs/heads/"
              "{branch}.zip\\nwhere you are online, put the file beside this notebook, and run in a "
              "cell:\\n  %pip install ./{repo_name}-{branch}.zip", sep="\\n", file=sys.stderr)
        raise ModuleNotFoundError("the course package `autograder` is not installed (see above)") from None
    importlib.invalidate_caches()
'''
SETUP = INSTALL.replace("{then}", "Then it says which device this notebook runs on, and the "
                        "fallback\n# without a GPU.") + """\
from autograder import notebook, {slug} as chapter
notebook.start(chapter.FALLBACK)"""
PAGE_SETUP = INSTALL.replace("{then}", "The page's own cells follow, as in the book.").rstrip()



def tool_env() -> dict:
    """os.environ with this interpreter's bin/ first on PATH: nbgrader runs `alembic` from there."""
    return dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")


def repository(root: Path = ROOT) -> tuple[str, str]:
    """(url, branch) from _config.yml's `repository` section."""
    cfg = yaml.safe_load((root / "_config.yml").read_text())["repository"]
    return cfg["url"].rstrip("/"), cfg.get("branch", "main")


def solutions(root: Path = ROOT) -> list[str]:
    return sorted(p.name for p in (root / "solutions").iterdir()
                  if (p / f"{p.name}.ipynb").is_file())


def stamp(nb, slug: str, url: str, branch: str) -> None:
    """Write the badge and setup cells (tagged colab-badge and setup); clear all outputs."""
    repo = url.split("github.com/", 1)[-1]
    texts = {"colab-badge": BADGE.format(slug=slug, url=COLAB.format(repo=repo, branch=branch, slug=slug)),
             "setup": SETUP.format(url=url, branch=branch, slug=slug, repo_name=repo.rsplit("/", 1)[-1])}
    found = set()
    for cell in nb.cells:
        for tag, text in texts.items():
            if tag in cell.metadata.get("tags", []):
                cell.source = text
                found.add(tag)
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    missing = set(texts) - found
    if missing:
        raise ValueError(f"solutions/{slug}: no cell tagged {sorted(missing)}")


def pages(root: Path = ROOT) -> dict[str, nbformat.NotebookNode]:
    """book/<page>.md -> the notebook that the page's Colab launch button opens: the setup cell
    (install the package), then the page's cells, without outputs. Pages with code only."""
    from myst_nb.core.read import read_myst_markdown_notebook
    url, branch = repository(root)
    name = url.rsplit("/", 1)[-1]
    out = {}
    for md in sorted((root / "book").glob("*.md")):
        text = md.read_text()
        if not text.startswith("---") or "kernelspec:" not in text.split("---", 2)[1]:
            continue
        nb = read_myst_markdown_notebook(text)
        nb.cells.insert(0, nbformat.v4.new_code_cell(
            PAGE_SETUP.format(url=url, branch=branch, repo_name=name), metadata={"tags": ["setup"]}))
        for i, cell in enumerate(nb.cells):
            cell.id = f"{md.stem[:40]}-{i}"          # stable ids: regenerating changes nothing
            if cell.cell_type == "code":
                cell.outputs, cell.execution_count = [], None
        out[md.stem] = nb
    return out


def generate(root: Path = ROOT, out: Path | None = None) -> None:
    """Stamp every solution in place, then generate the release into `out` (default exercises/)."""
    url, branch = repository(root)
    slugs = solutions(root)
    for slug in slugs:
        path = root / "solutions" / slug / f"{slug}.ipynb"
        nb = nbformat.read(path, as_version=4)
        stamp(nb, slug, url, branch)
        nbformat.write(nb, path)
    out = (out or root / "exercises").resolve()
    with tempfile.TemporaryDirectory() as tmp:   # a throwaway gradebook: never in the repo
        for slug in slugs:
            cmd = [sys.executable, "-m", "nbgrader", "generate_assignment", slug, "--force",
                   f"--CourseDirectory.root={root}", f"--CourseDirectory.release_directory={out}",
                   f"--CourseDirectory.db_url=sqlite:///{tmp}/gradebook.db", "--log-level=WARN"]
            done = subprocess.run(cmd, cwd=root, capture_output=True, text=True, env=tool_env())
            if done.returncode:
                raise RuntimeError(f"nbgrader generate_assignment {slug} failed:\n{done.stderr}")
    for stale in set(p.name for p in out.iterdir() if p.is_dir()) - set(slugs):
        shutil.rmtree(out / stale)
    made = pages(root)
    for stem, nb in made.items():
        nbformat.write(nb, root / "book" / f"{stem}.ipynb")
    for stale in (root / "book").glob("*.ipynb"):
        if stale.stem not in made:
            stale.unlink()


if __name__ == "__main__":
    generate()
    print(f"exercises/ regenerated from solutions/: {', '.join(solutions())}; "
          f"book/*.ipynb (for Colab) from the pages")
