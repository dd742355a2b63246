"""The course's own code is refused as an answer, honest answers are not."""
import ast
import importlib.util
import inspect
import json
import textwrap

import pytest

from autograder import ch07_mixed_precision as ch07
from autograder.grading import own
from autograder.grading.collect import _entry, answers_from
from conftest import ROOT, read

NAMES = ["amp_setup", "kernel_bytes", "fp16_roundtrip"]


def handed_in(tmp_path, source: str, name: str):
    """What the grader makes of `name`, defined by `source` in a module of the student's."""
    path = tmp_path / f"student_{abs(hash(source))}.py"
    path.write_text(textwrap.dedent(source))
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    raw = json.loads(json.dumps({name: _entry(name, getattr(module, name))}))   # as the kernel writes it
    return answers_from(raw, NAMES)[name]


def refused(answer) -> str:
    assert isinstance(answer, AssertionError), f"accepted: {answer}"
    assert "course's own code" in str(answer)
    return str(answer)


def test_an_imported_course_answer_is_refused(tmp_path):
    msg = refused(handed_in(tmp_path, "from autograder.ch07_mixed_precision import amp_setup\n", "amp_setup"))
    assert "autograder.ch07_mixed_precision" in msg


def test_a_pasted_copy_with_other_names_is_refused(tmp_path):
    src = inspect.getsource(ch07.amp_setup)
    tree = ast.parse(src)
    fn = tree.body[0]
    fn.body = fn.body[1:]                                      # its docstring gone
    renames = {a.arg: f"my_{a.arg}" for a in fn.args.args}
    for n in ast.walk(fn):
        if isinstance(n, ast.Name) and n.id in ("model", "opt", "scaler", "x", "y", *renames):
            n.id = renames.get(n.id, f"my_{n.id}")
        elif isinstance(n, ast.arg):
            n.arg = renames[n.arg]
    pasted = "from autograder.ch07_mixed_precision import *\n" + ast.unparse(tree)
    assert "my_model" in pasted and "my_batch" in pasted
    msg = refused(handed_in(tmp_path, pasted, "amp_setup"))
    assert "ch07_mixed_precision:amp_setup" in msg


@pytest.mark.parametrize("wrapper", [
    "from autograder import ch07_mixed_precision as ch07\n"
    "def amp_setup(batch=64, seed=0):\n    return ch07.amp_setup(batch, seed)\n",
    "def amp_setup(batch=64, seed=0):\n"
    "    from autograder.ch07_mixed_precision import amp_setup as theirs\n    return theirs(batch, seed)\n",
])
def test_a_wrapper_around_the_course_answer_is_refused(tmp_path, wrapper):
    refused(handed_in(tmp_path, wrapper, "amp_setup"))


def test_a_short_honest_answer_that_equals_the_course_s_is_kept(tmp_path):
    answer = handed_in(tmp_path, "def kernel_bytes(n, itemsize):\n    return 3 * n * itemsize\n", "kernel_bytes")
    assert not isinstance(answer, Exception)


def test_no_solution_answer_is_taken_for_the_course_s_own():
    """Every answer cell of every solution notebook, shipped as the grader receives it."""
    for nb_path in sorted((ROOT / "solutions").glob("*/*.ipynb")):
        nb = read(nb_path)
        cells = [c for c in nb.cells if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution")]
        texts = ["\n".join(line for line in c.source.splitlines() if not line.lstrip().startswith(("%", "!")))
                 for c in cells]
        names = {n.name for t in texts for n in ast.parse(t).body if hasattr(n, "name")}
        for t in texts:
            assert own.course_copy(t, names) is None, f"{nb_path.name}: {t[:200]}"
            for n in names:
                assert own.imports_course_answer(n, [t], {}, {}) is None, f"{nb_path.name}: {n}"
