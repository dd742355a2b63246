"""Every known bug class fails its chapter's check, visible and on every hidden draw, in Numba and CUDA C.

Two halves. Each wrong kernel (tests/scenarios/kernels/bug_classes.py) runs through its check
for real, visible and on one hidden draw, and must fail with the message its class deserves.
Then each bug's model runs over many hidden draws (`kernel_models`: no kernel runs, a draw
costs milliseconds), and every draw must reject it; a right kernel's model must pass them all,
so the models cannot reject everything. SWEEP_SEEDS=1000 sweeps more draws.
"""
from __future__ import annotations

import importlib
import os
import re
import zlib

import numpy as np
import pytest

import kernel_models as km
from scenarios.kernels.bug_classes import BUGS, RIGHT_RC, Bug, _loop

SEEDS = int(os.environ.get("SWEEP_SEEDS", "100"))
PAIRS = [(b, lang) for b in BUGS for lang, k in (("numba", b.numba), ("c", b.c)) if k]


def check_of(bug: Bug, lang: str):
    mod, fn = (bug.numba_check if lang == "numba" and bug.numba_check else bug.check).split(".")
    return getattr(importlib.import_module(f"autograder.{mod}"), fn)


def layer_numpy(W, x, b):
    return 1 / (1 + np.exp(-(W.astype(np.float64) @ x + b)))


def run_check(bug: Bug, lang: str, hidden: bool, seed: int):
    check, kernel = check_of(bug, lang), bug.numba if lang == "numba" else bug.c
    if check.__name__ == "check_layer":
        return check(layer_numpy, kernel, hidden=hidden, seed=seed, verbose=False)
    if check.__name__ == "check_tiled_numba":
        return check(kernel, hidden=hidden, seed=seed, verbose=False)
    if check.__name__ in ("check_vector_add", "check_scale_add"):
        return check(kernel, name=bug.c_name if lang == "c" else None, hidden=hidden, seed=seed)
    return check(kernel, name=bug.c_name if lang == "c" else None, hidden=hidden, seed=seed, verbose=False)


@pytest.mark.parametrize("bug, lang", PAIRS, ids=[f"{b.id}-{lang}" for b, lang in PAIRS])
def test_wrong_kernel_fails_visible_and_hidden(bug, lang, capsys):
    seed = zlib.crc32(bug.id.encode()) % 10_000
    message = bug.c_message if lang == "c" and bug.c_message else bug.message
    for hidden in (False, True):
        with pytest.raises(bug.error) as err:
            run_check(bug, lang, hidden, seed)
        assert re.search(message, str(err.value), re.S), f"{bug.id} ({lang}, hidden={hidden}): {err.value}"
        if bug.map or bug.values:      # the model agrees with the run
            assert km.rejected(bug, lang, hidden, seed), f"{bug.id}: the model passes what the check rejected"


SWEEPS = sorted({(b.numba_check if lang == "numba" and b.numba_check else b.check, lang)
                 for b, lang in PAIRS if b.map or b.values})
RIGHT_MAP = {  # a right kernel's model for each kind of check: it must pass every draw
    "check_vector_add": lambda t: (t.bx * t.BX + t.tx, t.bx * t.BX + t.tx < t.n),
    "check_grid_stride": lambda t: _loop(t, t.bx * t.BX + t.tx, t.BX * t.GX),
}


@pytest.mark.parametrize("check, lang", SWEEPS, ids=[f"{c.split('.')[-1]}-{l}" for c, l in SWEEPS])
def test_every_bug_class_fails_on_every_hidden_draw(check, lang):
    bugs = [b for b, l in PAIRS if l == lang and (b.map or b.values)
            and (b.numba_check if lang == "numba" and b.numba_check else b.check) == check]
    name = check.split(".")[-1]
    right = RIGHT_MAP.get(name) or (RIGHT_MAP["check_vector_add"] if name in ("check_scale_add", "check_guarded",
                                                                              "check_layer") else None)
    right_map = right or (lambda t: (RIGHT_RC(t), (RIGHT_RC(t)[0] < t.R) & (RIGHT_RC(t)[1] < t.C)))
    good = Bug("right", check, "", "", "", AssertionError, "", map=right_map)
    for seed in [None] + list(range(SEEDS)):
        hidden = seed is not None
        for bug in bugs:
            assert km.rejected(bug, lang, hidden, seed), f"{bug.id} ({lang}) passes the draw hidden={hidden}, seed={seed}"
        assert km.rejected(good, lang, hidden, seed) is None, f"the right kernel's model fails seed {seed}"
