"""The setup cell as a student meets it: a sentence about the device, and a failed check that
shows its message with the student's frames only, still graded as a failure."""
import nbformat

from autograder import notebook
from conftest import execute, release


def _run(cells):
    """Run the ch07 setup cell and `cells` in a real kernel; a raising cell is kept, not fatal."""
    setup = next(c for c in release("ch07_mixed_precision").cells if "setup" in c.metadata.get("tags", []))
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(setup.source)]
                                  + [nbformat.v4.new_code_cell(c) for c in cells])
    for c in nb.cells[1:]:
        c.metadata["tags"] = ["raises-exception"]   # nbclient keeps going past these
    return execute(nb, timeout=120).cells


def test_setup_says_the_device_in_a_sentence_and_check_failures_hide_the_course():
    student = ("def scaler_step(grads, scale):\n"
               "    return grads, scale     # forgot the trip through float16\n")
    check = ("from autograder.ch07_mixed_precision import check_scaler_step\n"
             "check_scaler_step(scaler_step)")
    own = ("def broken(grads, scale):\n"
           "    return helper(grads)\n"
           "def helper(g):\n"
           "    raise ValueError('my own bug')\n"
           "check_scaler_step(broken)")
    setup, _, failed, mine = _run([student, check, own])

    text = "".join(o.get("text", "") for o in setup.outputs)
    assert setup.outputs and all(o.output_type == "stream" for o in setup.outputs), setup.outputs
    assert "Device(" not in text and ("GPU:" in text or "running on the CPU" in text), text

    err = [o for o in failed.outputs if o.output_type == "error"]
    assert len(err) == 1 and err[0].ename == "AssertionError", failed.outputs   # nbgrader: a failure
    tb = "\n".join(err[0].traceback)
    assert "should reach the optimizer as" in err[0].evalue and "check_scaler_step(scaler_step)" in tb
    assert "autograder/" not in tb and "site-packages/IPython" not in tb, tb
    assert notebook.NOTE in tb

    err = [o for o in mine.outputs if o.output_type == "error"]
    tb = "\n".join(err[0].traceback)
    assert err[0].ename == "ValueError" and "my own bug" in err[0].evalue
    assert "helper" in tb and "broken" in tb, tb     # the student's own frames stay
    assert "autograder/" not in tb, tb


def test_trimmed_keeps_frames_outside_the_hidden_folders(tmp_path):
    import sys

    def inner():
        raise KeyError("x")
    try:
        inner()
    except KeyError:
        tb = sys.exc_info()[2]
    kept, cut = notebook.trimmed(tb, hidden=(tmp_path,))
    assert not cut and kept.tb_frame.f_code.co_name == tb.tb_frame.f_code.co_name
    from pathlib import Path
    kept, cut = notebook.trimmed(tb, hidden=(Path(__file__).resolve().parent,))
    assert cut and kept is None
