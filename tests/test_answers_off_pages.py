"""An exercise asks another case than its page shows, and the package does not hold its answer.

A student who can copy the page's code, or import the package's, into an answer cell learns
nothing and is graded on nothing. Two checks per chapter, over every function and class an
answer cell of solutions/ defines:
- no page holds the source of a function or class an answer cell defines (whitespace aside);
- no answer of at least MIN_TOKENS tokens is more than SIMILAR alike (difflib's ratio over the
  tokens of the normalised syntax tree: names, docstrings and layout gone) to a function or
  class of the chapter's page, the chapter's module, memory/ or kernels/.
"""
from __future__ import annotations

import ast
import difflib
import json
import re
from pathlib import Path

import pytest

from autograder.grading.own import normalised

ROOT = Path(__file__).resolve().parents[1]
SLUGS = sorted(p.name for p in (ROOT / "solutions").iterdir() if p.is_dir() and p.name[:2] == "ch")
SIMILAR = 0.8
MIN_TOKENS = 100     # below this, an honest answer (`return 3 * n * itemsize`) coincides by need
# "slug:answer" -> why an answer that asks another case still reads like the page's code
SAME_SHAPE: dict[str, str] = {
    "ch07_mixed_precision:amp_clip_setup": "the page's autocast step plus the two lines of the case "
    "it does not show (unscale_, then clip); a setup's model, data, scaler and autocast are the same by need",
    "ch09_inplace:res_forward_inplace": "an in-place version of the exercise's own baseline (given "
    "in the notebook, not the page's block) differs from it only by its underscores",
    "ch13_offloading:offload_setup": "the exercise's own CNN baseline (printed in the notebook; the "
    "package's copy is the checks' reference and scores 0 on them) plus the hooks' `with` line; "
    "what the exercise asks beyond the page (the MIN_BYTES threshold, the CNN) is in the hooks",
    "ch01_cpu_vs_gpu:product_flops": "one line, a product of its arguments (2 m k n): the function's "
                                     "frame is most of its tokens, as in any one-line byte count",
    "ch04_2d_grids:transpose": "a 2-D kernel of one guarded line: cuda.grid(2) and the 2-D guard are "
                               "most of its tokens, as in the page's sigmoid_2d; the exercise is in "
                               "the rest (out[col, row], the guard on A's shape, not out's)",
    "ch02_first_kernels:adjacent_diff": "a one-line elementwise kernel: the page's index and guard by need; "
                                        "its case (n - 1 outputs, a neighbour's read) is not the page's",
    "ch08_bf16:bf16_class_setup": "the given float32 classifier step (fp32_class_setup, which the checks "
    "need) plus its two casts; nearest to that baseline, not to the page's bf16 step",
}


def _tokens(node: ast.AST) -> list[str]:
    return re.findall(r"\w+|[^\w\s]", normalised(node))


def _defs(text: str) -> list[ast.AST]:
    text = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith(("%", "!")))
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return []
    return [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]


def _page_cells(slug: str) -> list[str]:
    page = (ROOT / "book" / f"{slug}.md").read_text()
    cells = re.findall(r"```\{code-cell\}[^\n]*\n(.*?)```", page, re.S)
    return [re.sub(r"^:\w+:.*\n", "", c, flags=re.M) for c in cells]


def _answer_cells(slug: str) -> list[str]:
    nb = json.loads((ROOT / "solutions" / slug / f"{slug}.ipynb").read_text())
    return ["".join(c["source"]) for c in nb["cells"]
            if c["cell_type"] == "code" and c["metadata"].get("nbgrader", {}).get("solution")]


def _course(slug: str) -> list[tuple[str, list[str]]]:
    files = [ROOT / "autograder" / f"{slug}.py", *sorted((ROOT / "autograder" / "memory").glob("*.py")),
             *sorted((ROOT / "autograder" / "kernels").glob("*.py"))]
    out = [(f"page:{n.name}", _tokens(n)) for cell in _page_cells(slug) for n in _defs(cell)]
    out += [(f"{f.relative_to(ROOT)}:{n.name}", _tokens(n)) for f in files for n in _defs(f.read_text())]
    return out


def _squash(text: str) -> str:
    return "\n".join(" ".join(line.split()) for line in text.splitlines() if line.strip())


@pytest.mark.parametrize("slug", SLUGS)
def test_no_page_shows_an_answer(slug):
    pages = [_squash(c) for c in _page_cells(slug)]
    for cell in _answer_cells(slug):
        for n in _defs(cell):
            answer = _squash(ast.unparse(n))
            assert not any(answer in _squash(ast.unparse(m)) for p in _page_cells(slug) for m in _defs(p)) \
                and not any(answer in p for p in pages), \
                f"book/{slug}.md shows {n.name}, an answer of solutions/{slug}"


@pytest.mark.parametrize("slug", SLUGS)
def test_answers_are_not_the_course_code(slug):
    course = _course(slug)
    alike = []
    for cell in _answer_cells(slug):
        for n in _defs(cell):
            mine = _tokens(n)
            if len(mine) < MIN_TOKENS or f"{slug}:{n.name}" in SAME_SHAPE:
                continue
            for where, theirs in course:
                m = difflib.SequenceMatcher(None, mine, theirs, autojunk=False)
                if m.real_quick_ratio() > SIMILAR and m.quick_ratio() > SIMILAR and m.ratio() > SIMILAR:
                    alike.append(f"{n.name} ~ {where} ({m.ratio():.2f})")
    assert not alike, (f"answers of solutions/{slug} that the page or the package already hold "
                       f"(ask another case than the page shows): {alike}")
