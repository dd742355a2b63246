"""Chapter 6, where training memory goes: the budget on paper, the meter's figures, the checks.

A training step holds five kinds of bytes: parameters, their gradients, the optimizer's state
(Adam: two values per parameter; SGD with momentum: one; plain SGD: none), the activations
autograd saves for backward, and short-lived temporaries. The first three persist from step
to step and scale with the model; activations scale with batch x sequence x width.

Three layers, as elsewhere: pure arithmetic (`bytes_per_parameter`, `persistent_bytes`,
`saved_bytes`, `predict`), measurement (`mlp_setup`, a setup in the meter's sense built on the
shared `memory.make_mlp`, so the hidden tests can measure it in a fresh process;
`allocator_demo` on a GPU), display (`prediction_rows`, `calculator`). The checks grade a
student's versions of the three predictions against what the meter measures, never against
this module's arithmetic.

The exercise's model: Linear layers of `widths` with ReLU between them (none after the last),
input x of shape (batch, widths[0]), loss = mse_loss(model(x), y). What autograd keeps:
each Linear its input, each ReLU its output (the next Linear's input: one storage, counted
once), mse_loss its input and its target. The pre-ReLU outputs are freed during the forward.

Known limitations: the predictions count tensors, not allocator blocks: a GPU rounds each
storage up to 512 bytes, so the checks compare them with the meter's figures in tensor bytes
(`memory.in_tensor_bytes`), and show the allocator's beside them; the calculator's activation term
assumes the chapter's MLP, not attention, whose saved tensors grow with the sequence squared.
"""
from __future__ import annotations

import dataclasses
import os
import random
import tempfile
import weakref

import torch
from torch import nn

from . import memory
from .answers import answer_int

SLUG = "ch06_where_memory_goes"
FALLBACK = ("The meter's CPU storage tracker measures parameters, gradients, optimizer state "
            "and activations exactly as a GPU holds them; allocator figures (reserved memory, "
            "empty_cache, memory_summary, snapshots) need CUDA and come from recorded GPU runs.")
STATE_COPIES = {"adam": 2, "sgd_momentum": 1, "sgd": 0}   # optimizer values kept per parameter
OPTIMIZERS = tuple(STATE_COPIES)
PAGE_WIDTHS, PAGE_BATCH = [256, 1024, 1024, 1024, 256], 512   # the page's model


# ---------------------------------------------------------------- the step the chapter measures
def mlp_setup(widths, batch: int, optimizer: str = "adam", precision: str = "float32",
              frozen: int = 0, bias: bool = True, seq: int | None = None, seed: int = 0,
              device: str | None = None, activation: str = "relu", groups=None) -> dict:
    """The chapter's training step on `memory.make_mlp`, for `memory.measure` or
    `measure_isolated` (by name); on the meter's device unless told. `groups`: one dict of
    options per Linear, making the exercise's optimizer (`grouped_optimizer`)."""
    dev = device or memory.resolve_backend()
    model = memory.make_mlp(widths, frozen, bias, precision, dev, seed, activation)
    opt = memory.make_optimizer(optimizer, model.parameters()) if groups is None else \
        grouped_optimizer(optimizer, model, groups)
    shape = (batch,) if seq is None else (batch, seq)
    x = torch.randn(*shape, widths[0], device=dev, dtype=memory.DTYPES[precision])
    y = torch.randn(*shape, widths[-1], device=dev, dtype=memory.DTYPES[precision])
    return memory.mse_step(model, opt, x, y)


def grouped_optimizer(kind: str, model: nn.Module, groups) -> torch.optim.Optimizer:
    """The exercise's optimizer: Adam or SGD ("adam", "sgd") with one parameter group per
    Linear of `model`, frozen ones included, each with its own options (`groups`, one dict
    per Linear: {"amsgrad": True}, {"momentum": 0.9}, ...), all foreach."""
    linears = [m for m in model if isinstance(m, nn.Linear)]
    spec = [{"params": list(lin.parameters()), **g} for lin, g in zip(linears, groups)]
    if kind == "adam":
        return torch.optim.Adam(spec, lr=1e-3, foreach=True)
    return torch.optim.SGD(spec, lr=1e-2, foreach=True)


def forward_setup(widths, batch: int, optimizer: str = "adam", seed: int = 0) -> dict:
    """For the page's picture: the chapter's step cut after the loss, once a whole step has made
    the optimizer's state. Its peak is the forward pass's: activations held for backward, which
    the whole step's peak, later (Adam's update), need not show."""
    spec = mlp_setup(widths, batch, optimizer, seed=seed)
    spec["step"]()
    model, opt = spec["model"], spec["optimizer"]
    dev = next(model.parameters()).device
    x, y = torch.randn(batch, widths[0], device=dev), torch.randn(batch, widths[-1], device=dev)

    def step():
        opt.zero_grad(set_to_none=True)
        return nn.functional.mse_loss(model(x), y)   # the graph, and what it saved, still held
    return {"step": step, "model": model, "optimizer": opt}


def measure_mlp(widths, batch, label="", **kwargs) -> memory.Measurement:
    return memory.measure(memory.build(mlp_setup, widths, batch, **kwargs), label=label)


# ---------------------------------------------------------------- the budget on paper
def bytes_per_parameter(optimizer: str, precision: str = "float32") -> int:
    """Persistent bytes per parameter: the value, its gradient, the optimizer's copies.
    float32 Adam: 4 + 4 + 2 * 4 = 16."""
    size = torch.tensor([], dtype=memory.DTYPES[precision]).element_size()
    return size * (2 + STATE_COPIES[optimizer])


def persistent_bytes(model: nn.Module, optimizer: str) -> dict[str, int]:
    """Parameters, gradients and optimizer state after a step: frozen parameters
    (requires_grad=False) get no gradient, so the optimizer keeps no state for them."""
    params = sum(p.numel() * p.element_size() for p in model.parameters())
    trained = sum(p.numel() * p.element_size() for p in model.parameters() if p.requires_grad)
    return {"parameters": params, "gradients": trained,
            "optimizer_state": STATE_COPIES[optimizer] * trained}


def saved_bytes(widths, batch: int, itemsize: int = 4, seq: int = 1) -> int:
    """Bytes the chapter's MLP saves for backward at the end of its forward pass:
    x, each ReLU output (shared with the next Linear), mse_loss's input and target."""
    return batch * seq * itemsize * (sum(widths[:-1]) + 2 * widths[-1])


def predict(parameters: int, batch: int, seq: int, hidden: int, layers: int,
            precision: str = "float32", optimizer: str = "adam") -> dict[str, int]:
    """The calculator: persistent bytes for `parameters`, and the activations of `layers`
    Linear(hidden, hidden) layers with ReLU between, on (batch, seq, hidden) inputs."""
    size = bytes_per_parameter("sgd", precision) // 2
    out = {"parameters": parameters * size, "gradients": parameters * size,
           "optimizer_state": STATE_COPIES[optimizer] * parameters * size,
           "activations": saved_bytes([hidden] * (layers + 1), batch, size, seq)}
    out["total"] = sum(out.values())
    return out


def mlp_parameters(hidden: int, layers: int) -> int:
    return layers * (hidden * hidden + hidden)


# ---------------------------------------------------------------- display
def _mib(n) -> str:
    return "" if n is None else f"{n / 2**20:,.2f} MiB"


def prediction_rows(pred: dict, m: memory.Measurement | None = None) -> str:
    """An HTML table: predicted bytes by kind, and beside them what the meter measured."""
    got = {} if m is None else {**m.persistent, "activations": m.saved,
                                "total": sum(m.persistent.values()) + m.saved}
    names = {"activations": "activations (saved for backward)",
             "total": "sum of the above (a first estimate of the peak)"}
    head = "<th>predicted</th>" + ("" if m is None else "<th>measured by the meter</th>")
    rows = "".join(f"<tr><td>{names.get(k, k.replace('_', ' '))}</td><td>{_mib(v)}</td>"
                   + ("" if m is None else f"<td>{_mib(got.get(k))}</td>") + "</tr>"
                   for k, v in pred.items())
    if m is not None:
        rows += (f"<tr><td>measured peak, inputs and targets left out</td><td></td>"
                 f"<td>{_mib(m.total - m.breakdown.get('other', 0))}</td></tr>")
    return f"<table class='table'><tr><th>kind</th>{head}</tr>{rows}</table>"


def calculator():
    """An ipywidgets calculator (7.7 API): sizes in, predicted bytes out; on a static page, the
    same table at the starting sizes (`widgets.WithStatic`)."""
    import ipywidgets as w
    from IPython.display import HTML, display
    from .widgets import WithStatic
    start = {"parameters": mlp_parameters(1024, 4), "batch": 32, "seq": 128, "hidden": 1024,
             "layers": 4, "precision": "float32", "optimizer": "adam"}
    ins = {k: w.IntText(v, description={"seq": "sequence"}.get(k, k))
           for k, v in start.items() if isinstance(v, int)}
    ins["precision"] = w.Dropdown(options=list(memory.DTYPES), value="float32", description="precision")
    ins["optimizer"] = w.Dropdown(options=list(OPTIMIZERS), value="adam", description="optimizer")

    def show(**kw):
        display(HTML(prediction_rows(predict(**kw))))
    out = w.interactive_output(show, ins)
    ui = w.VBox([w.HBox([w.VBox(list(ins.values())[:4]), w.VBox(list(ins.values())[4:])]), out])
    settings = ", ".join(f"{k} {v:,}" if isinstance(v, int) else f"{k} {v}" for k, v in start.items())
    static = (f"<p><i>The calculator at its starting values ({settings}); run the page as a "
              f"notebook to change them.</i></p>{prediction_rows(predict(**start))}")
    return WithStatic(ui, {"text/html": static}, text=f"(interactive calculator; at {settings})")


# ---------------------------------------------------------------- the caching allocator (GPU)
def allocator_demo(dry: bool = False) -> list[dict]:
    """Allocated and reserved bytes as tensors come and go, and what empty_cache() returns.
    A live tensor keeps its block; a small live tensor keeps its whole 2 MiB segment.
    dry: the same walk on the CPU, where "allocated" and "reserved" are both the bytes of the
    demo's live tensors (no caching allocator: nothing is kept back)."""
    cuda = memory.resolve_backend() == "cuda"
    if not (cuda or dry):
        raise RuntimeError("no GPU: allocated and reserved memory are CUDA allocator figures")
    dev, made, rows = ("cuda" if cuda else "cpu"), weakref.WeakSet(), []

    def empty(n):
        t = torch.empty(n, device=dev)
        made.add(t)
        return t

    def empty_cache():
        if cuda:
            torch.cuda.empty_cache()

    def note(what):
        if cuda:
            torch.cuda.synchronize()
            got = torch.cuda.memory_allocated(), torch.cuda.memory_reserved()
        else:
            got = (sum(t.untyped_storage().nbytes() for t in list(made)),) * 2
        rows.append({"after": what, "allocated": got[0], "reserved": got[1]})
    empty_cache()
    note("start (empty_cache)")
    big = empty(256 * 2**20 // 4)                         # 256 MiB
    small = [empty(1024) for _ in range(512)]             # 512 x 4 KiB, small pool
    note("a 256 MiB tensor and 512 tensors of 4 KiB")
    del big
    note("del the 256 MiB tensor")
    keep, small = small[-1], None
    note("del all but one 4 KiB tensor")
    empty_cache()
    note("empty_cache()")
    del keep
    empty_cache()
    note("del the last one, empty_cache()")
    return rows


def record(dry: bool = False) -> dict:
    """What `dev.py gpu-figures` stores for this chapter: the page's step on the allocator,
    its summary, a snapshot's size, and the allocator walk-through. dry: the same walk on the
    CPU (no summary or snapshot there: they are the CUDA allocator's)."""
    cuda = memory.resolve_backend() == "cuda"
    if not (cuda or dry):
        raise RuntimeError("no GPU: chapter 6 records allocator figures on a CUDA GPU only")
    m = measure_mlp(PAGE_WIDTHS, PAGE_BATCH, label="fp32 Adam")
    out = {"measurement": dataclasses.asdict(m), "memory_summary": "(dry run on a CPU: no CUDA allocator)",
           "max_memory_allocated": m.total, "allocator": allocator_demo(dry),
           "snapshot": {"bytes": 0, "events": 0, "segments": 0}}
    if cuda:
        out.update(_allocator_figures())
    return out


def _allocator_figures() -> dict:
    """The page's step again: memory_summary after it, its peak, and a snapshot of it."""
    s = mlp_setup(PAGE_WIDTHS, PAGE_BATCH)
    s["step"]()
    torch.cuda.reset_peak_memory_stats()
    s["step"]()
    summary = torch.cuda.memory_summary(abbreviated=True)
    max_alloc = torch.cuda.max_memory_allocated()
    with tempfile.TemporaryDirectory() as tmp:
        path = memory.snapshot(s["step"], os.path.join(tmp, "snap.pickle"))
        size = os.path.getsize(path)
        import pickle
        with open(path, "rb") as f:
            snap = pickle.load(f)
    events = sum(len(t) for t in snap.get("device_traces", []))
    return {"memory_summary": summary, "max_memory_allocated": max_alloc,
            "snapshot": {"bytes": size, "events": events, "segments": len(snap.get("segments", []))}}


# ---------------------------------------------------------------- the checks
def _measured(hidden: bool, **kw) -> memory.Measurement:
    """The chapter's step, measured here or (hidden, and always while grading) in a fresh process."""
    return memory.measure_one(f"autograder.{SLUG}:mlp_setup", hidden=hidden, **kw)


def _in_tensor_bytes(hidden: bool, **kw) -> tuple[memory.Measurement, memory.Measurement]:
    """(the meter's measurement, the same in tensor bytes): predictions count tensors, and a
    GPU's allocator rounds each storage up to 512 bytes; compare like with like."""
    m = _measured(hidden, **kw)
    return m, memory.in_tensor_bytes(m, mlp_setup, **kw)


def _draw(r: random.Random, n_min=2, n_max=4) -> list[int]:
    return [16 * r.randint(1, 12) for _ in range(r.randint(n_min, n_max) + 1)]


def check_bytes_per_parameter(fn, hidden=False):
    """fn(optimizer, precision) * parameters == the persistent bytes the meter measures."""
    widths = [48, 32, 16]
    cases = [(o, "float32") for o in OPTIMIZERS] + [("adam", "bfloat16")]
    if hidden:
        r = random.Random()
        widths, cases = _draw(r), [(r.choice(OPTIMIZERS), r.choice(list(memory.DTYPES)))]
    n = sum(a * b + b for a, b in zip(widths[:-1], widths[1:]))
    for o, p in cases:
        kw = dict(widths=widths, batch=8, optimizer=o, precision=p)
        m, exact = _in_tensor_bytes(hidden, **kw)
        got = answer_int(fn(o, p), f"bytes_per_parameter({o!r}, {p!r})")
        measured = sum(exact.persistent.values())
        assert got * n == measured, (
            f"bytes_per_parameter({o!r}, {p!r}) = {got}: for {n:,} parameters that predicts "
            f"{got * n:,} bytes, but the meter measured {measured:,} bytes of parameters + "
            f"gradients + optimizer state ({measured / n:g} per parameter; {exact.persistent})"
            f"{memory.also_on(m, exact, lambda x: sum(x.persistent.values()))} [{m.backend}]")
    print(f"bytes per parameter: {len(cases)} optimizer/precision cases match the meter")


# The exercise's parts 2 and 3 ask other cases than the page's: an optimizer handed over as
# an object, whose parameter groups differ (Adam with and without AMSGrad, SGD with and without
# momentum) over a model with frozen layers; and the bytes saved by an MLP whose activation
# is not ReLU (tanh and sigmoid keep their output, GELU and SiLU their input).
def _groups(kind: str, n: int, r: random.Random) -> list[dict]:
    if kind == "adam":
        return [{"amsgrad": r.random() < 0.5} for _ in range(n)]
    return [{"momentum": r.choice((0.0, 0.9))} for _ in range(n)]


def _described(kind, groups) -> str:
    key = "amsgrad" if kind == "adam" else "momentum"
    return f"{'Adam' if kind == 'adam' else 'SGD'}, one group per Linear, {key} = {[g.get(key, 0.0 if key == 'momentum' else False) for g in groups]}"


def check_persistent(fn, hidden=False):
    """fn(model, optimizer) == the meter's parameters, gradients and optimizer state, exactly,
    for a torch optimizer (Adam or SGD) with one parameter group per Linear, each with its own
    options, over models with frozen Linears and with or without biases."""
    cases = [([64, 32, 16], 0, True, "adam", [{"amsgrad": True}, {}]),
             ([40, 24, 24, 8], 1, True, "sgd", [{"momentum": 0.9}, {"momentum": 0.9}, {"momentum": 0.0}]),
             ([40, 24, 24, 8], 0, False, "adam", [{}, {"amsgrad": True}, {"amsgrad": True}]),
             ([64, 32, 16], 1, True, "adam", [{"amsgrad": True}, {"amsgrad": False}])]
    if hidden:
        r = random.Random()
        cases = []
        for kind in ("adam", "sgd"):
            widths = _draw(r, 3, 4)
            cases.append((widths, r.randint(1, 2), r.random() < 0.7, kind, _groups(kind, len(widths) - 1, r)))
    for widths, frozen, bias, kind, groups in cases:
        kw = dict(widths=widths, batch=8, optimizer=kind, frozen=frozen, bias=bias, groups=groups)
        m, exact = _in_tensor_bytes(hidden, **kw)
        model = memory.make_mlp(widths, frozen, bias)
        opt = grouped_optimizer(kind, model, groups)
        what = (f"persistent_bytes(model, optimizer) for Linear widths {widths}, bias={bias}, first "
                f"{frozen} Linear(s) frozen, {_described(kind, groups)}")
        got = fn(model, opt)
        if not isinstance(got, dict):
            raise AssertionError(f"{what} should return a dict of bytes by kind, got {got!r}")
        for kind_, want in exact.persistent.items():
            g = answer_int(got.get(kind_), f"{what}[{kind_!r}]")
            assert g == want, (f"{what}: {kind_.replace('_', ' ')} predicted {g:,} bytes, the "
                               f"meter measured {want:,} bytes"
                               f"{memory.also_on(m, exact, lambda x: x.persistent[kind_])} [{m.backend}]")
    print(f"persistent bytes: {len(cases)} models and optimizers match the meter exactly")


EXERCISE_ACTIVATIONS = ("tanh", "sigmoid", "gelu", "silu")


def check_saved(fn, hidden=False, rtol=0.01):
    """fn(widths, batch, activation) within `rtol` of the bytes the meter saw saved for backward,
    for the MLP with tanh, sigmoid, GELU or SiLU between its Linears."""
    cases = [([32, 64, 16], 8, "gelu"), ([16, 16], 32, "tanh"), ([48, 96, 96, 32], 16, "silu"),
             ([64, 128, 32, 8], 4, "sigmoid"), ([24, 40, 40, 8], 8, "tanh")]
    if hidden:
        r = random.Random()
        cases = [(_draw(r, 2, 4), 8 * r.randint(1, 16), r.choice(pair))
                 for pair in (("tanh", "sigmoid"), ("gelu", "silu"))]
    for widths, batch, act in cases:
        m, exact = _in_tensor_bytes(hidden, widths=widths, batch=batch, activation=act)
        got = answer_int(fn(list(widths), batch, act), f"saved_bytes({widths}, {batch}, {act!r})")
        assert abs(got - exact.saved) <= rtol * exact.saved, (
            f"saved_bytes({widths}, batch={batch}, activation={act!r}): predicted {got:,} bytes, the "
            f"meter measured {exact.saved:,} bytes saved for backward at once"
            f"{memory.also_on(m, exact, lambda x: x.saved)} (needs within {rtol:.0%}); "
            f"{exact.saved / (4 * batch):g} float32 values per example [{m.backend}]")
    print(f"saved for backward: {len(cases)} models within {rtol:.0%} of the meter")
