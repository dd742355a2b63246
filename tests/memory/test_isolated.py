"""The isolated measurement: a fresh process per figure, setups sent by name or by source,
failures reported, the measuring processes reused and restarted (all on the CPU backend)."""
from __future__ import annotations

import dataclasses
import textwrap

import pytest
import torch

from autograder import memory, shipping
from autograder.memory import MeterError, measure, measure_isolated
from autograder import isolation
from autograder.memory.workloads import mlp


def test_isolated_measurement_matches_in_process_and_ignores_monkeypatching(monkeypatch):
    s = mlp(batch=32, width=256, depth=2)
    here = measure(s["step"], model=s["model"], optimizer=s["optimizer"])
    fake = dataclasses.replace(here, peak=1)
    monkeypatch.setattr(memory, "measure", lambda *a, **k: fake)   # a student's "help"
    monkeypatch.setattr(memory.meter, "measure", lambda *a, **k: fake)
    monkeypatch.setattr(torch.Tensor, "untyped_storage", lambda self: None)
    far = measure_isolated("autograder.memory.workloads:mlp", batch=32, width=256, depth=2)
    monkeypatch.undo()
    assert far.isolated and far.backend == "cpu"
    for f in ("peak", "saved", "persistent", "tracked_peak", "retained"):
        assert getattr(far, f) == getattr(here, f), f
    assert {k: v for k, v in far.breakdown.items() if k != "other"} == \
        {k: v for k, v in here.breakdown.items() if k != "other"}


NOTEBOOK = '''
import torch
import torch.nn as nn
from torch import optim
WIDTH = 256

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.f = nn.Sequential(nn.Linear(WIDTH, WIDTH), nn.ReLU(), nn.Linear(WIDTH, WIDTH))

    def forward(self, x):
        return self.f(x)

def loss_of(model, x):
    return model(x).square().mean()

def setup(batch):
    torch.manual_seed(0)
    model = Net()
    opt = optim.Adam(model.parameters(), foreach=True)
    x = torch.randn(batch, WIDTH)
    def step():
        opt.zero_grad()
        loss_of(model, x).backward()
        opt.step()
    return step, model, opt
'''


def test_a_notebook_function_is_sent_by_source(tmp_path):
    path = tmp_path / "cell.py"
    path.write_text(NOTEBOOK)
    ns = {"__name__": "__main__"}                   # what a notebook cell's globals look like
    exec(compile(NOTEBOOK, str(path), "exec"), ns)
    src = shipping.ship(ns["setup"]).text()
    assert "class Net" in src and "def loss_of" in src and "WIDTH = 256" in src
    far = measure_isolated(ns["setup"], 16)
    step, model, opt = ns["setup"](16)
    here = measure(step, model=model, optimizer=opt)
    # Linear(256, 256) twice: 2 * (256*256 + 256) * 4 = 526,336 bytes; Adam keeps 2x
    assert far.persistent == here.persistent == {
        "parameters": 526_336, "gradients": 526_336, "optimizer_state": 2 * 526_336}
    assert far.peak == here.peak


def test_isolated_failures_are_clear():
    def setup_fails():
        raise ValueError("no model here")
    src = textwrap.dedent('''
        def setup_fails():
            raise ValueError("no model here")
    ''')
    with pytest.raises(ValueError, match="no model here"):      # as the notebook would see it
        measure_isolated(setup_fails, source=src)
    with pytest.raises(MeterError, match="do not pickle"):
        measure_isolated("autograder.memory.workloads:mlp", lambda: 0)
    with pytest.raises(MeterError, match="closure"):
        k = 3
        measure_isolated(lambda: k)


def test_isolated_children_are_forked_warm_killed_on_time_and_restarted_on_a_new_environment(monkeypatch):
    """The measuring children fork from one clean process that imported torch once; a child
    past its time or killed is reported, and the next measurement still works."""
    src = textwrap.dedent('''
        def sleeps():
            import time
            time.sleep(60)

        def dies():
            import os
            os.kill(os.getpid(), 9)
    ''')
    def sleeps(): ...
    def dies(): ...
    with pytest.raises(MeterError, match="did not finish in 2 s"):
        measure_isolated(sleeps, source=src, timeout=2)
    with pytest.raises(MeterError, match="killed by signal 9"):
        measure_isolated(dies, source=src)
    first = measure_isolated("autograder.memory.workloads:mlp")
    zygote = isolation._Zygote._proc.pid
    assert measure_isolated("autograder.memory.workloads:mlp").peak == first.peak
    assert isolation._Zygote._proc.pid == zygote                      # reused: a fork, not an import
    monkeypatch.setenv("COURSE_METER_TEST", "1")                  # children must see the new value
    assert measure_isolated("autograder.memory.workloads:mlp").peak == first.peak
    assert isolation._Zygote._proc.pid != zygote


def test_a_measuring_process_that_cannot_start_says_why(monkeypatch):
    monkeypatch.setattr(isolation, "_ZYGOTE", "import sys; sys.exit('no torch here, on purpose')")
    monkeypatch.setenv("COURSE_METER_TEST", "broken")            # a new zygote, the broken one
    with pytest.raises(MeterError, match="could not start: no torch here, on purpose"):
        measure_isolated("autograder.memory.workloads:mlp")
