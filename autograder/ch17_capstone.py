"""Chapter 17, the capstone: every technique of Part III on one small GPT, the "about 20x" measured.

The model is `memory.gpt` (byte-level, trained on the meter's own source text, fixed seed and
data order). Two regimes, because the claim depends on where the memory goes: activation-heavy
(long sequences, a moderate model: the activations dwarf the 16 bytes per parameter of fp32
Adam) and parameter-heavy (a wider model, short sequences, a small batch: parameters,
gradients and Adam's state are nearly all of it). Each regime climbs a ladder of techniques,
each rung adding one to the one before and measured as it stands (never summed from the
chapters' figures): the per-device figure is everything the device holds during the step, the
bytes live before it plus the step's peak above them (`Measurement.total`).

The activation-heavy ladder is measured with the meter's storage tracker, whose breakdown says
where the bytes are. The parameter-heavy ladder shards over ranks simulated in one process
(FSDP2's fake process group, `memory.sharded`), whose sharded parameters the tracker counts
whole, so all its rungs, the unsharded ones included, are measured alike: rank 0's own
persistent bytes plus the peak the CPU profiler sees above them (`memory.profiled`).
`real_ranks` measures the top rung again on real gloo ranks (`memory.ranks`), one process each,
beside the simulated rank 0: the buffers real collectives need are what simulation leaves out.

The exercise fits another GPT's step into a budget: `check_budget` trains the student's setup
and the baseline in fresh processes (`memory.trial`: the measured run is the checked run), and
requires the same model, every parameter trained, every row of the batch seen, the losses
within LOSS_RTOL of the baseline's, and the measured total at most the budget.

Known limitations: simulated ranks compute wrong numbers by design (collectives move no data),
so the sharded rungs' losses are not those of real training (chapter 15 checks those on real
gloo ranks), and their peaks lack the collectives' buffers (`real_ranks` shows how much).
Offloading "to" the CPU from the CPU cannot lower a CPU's figure: the page says so.
"""
from __future__ import annotations

import random
import warnings

import torch
from torch import nn

from . import memory
from .answers import probe
from .memory.gpt import ACTIVATION, PARAMETER, batch_at, gpt_setup, gpt_step, make_gpt, make_opt
from .memory.profiled import profile_call
from .memory.ranks import on_ranks
from .memory.sharded import local_persistent, simulated
from .memory.tracker import held_bytes
from .memory.watch import measurement, observe
from .memory.timing import step_times

SLUG = "ch17_capstone"
FALLBACK = ("Everything runs on the CPU here: the meter's storage tracker and the CPU profiler "
            "count the bytes a GPU would hold; sharded ranks are simulated in one process. "
            "Times are the CPU's.")
TARGET = 20.0
REGIMES = {"activation-heavy": (ACTIVATION, 16), "parameter-heavy": (PARAMETER, 4)}
# each rung adds its switches to the rung before; "world" shards over that many simulated ranks
LADDERS = {
    "activation-heavy": [("fp32 + Adam (baseline)", {}), ("+ bf16 autocast", {"precision": "autocast"}),
                         ("+ in-place scores", {"inplace": True}), ("+ fused attention", {"fused": True}),
                         ("+ checkpointing", {"ckpt": True}), ("+ micro-batches of 1 row", {"micro": 16})],
    "parameter-heavy": [("fp32 + Adam (baseline)", {}), ("+ bf16 autocast", {"precision": "autocast"}),
                        ("+ checkpointing", {"ckpt": True}), ("+ sharded, 8 ranks", {"world": 8}),
                        ("+ sharded, 32 ranks", {"world": 32}), ("+ sharded, 64 ranks", {"world": 64})],
}
CURVE_STEPS, CURVE_RTOL = 6, 0.02       # the combined loss curve within 2% of the baseline's
# the exercise: another GPT, and a budget of an eighth of its baseline's total
EX_REGIME, EX_BATCH, EX_BUDGET = dict(d=32, heads=4, layers=3, seq=128), 8, 0.125
LOSS_RTOL = 0.02
# Python objects a fitted step makes (checkpoints of micro-batches: 0.9 MiB measured for the
# solution) outweigh its tiny peak; data hidden outside torch's tensors must stay under this
OUTSIDE_LIMIT = 2 * 2**20


def device() -> str:
    return memory.resolve_backend(None)


def combined(regime: str) -> dict:
    """The switches of the ladder's top rung."""
    out = {}
    for _, kw in LADDERS[regime]:
        out.update(kw)
    return out


def _quiet():
    warnings.filterwarnings("ignore", message="FSDP2-wrapped module")


def shard(model: nn.Module, mesh, precision: str) -> nn.Module:
    """FSDP2 on every Linear and Embedding, then the model (the root); with a bf16 precision the
    gathered parameters are bf16, gradients reduced in fp32."""
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard
    mp = (MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32)
          if precision != "fp32" else MixedPrecisionPolicy())
    for m in [m for m in model.modules() if isinstance(m, (nn.Linear, nn.Embedding))]:
        fully_shard(m, mesh=mesh, mp_policy=mp)
    fully_shard(model, mesh=mesh, mp_policy=mp)
    return model


def _profiled(model, opt, step) -> dict:
    step()                                        # Adam makes its state on the first step
    before = sum(local_persistent(model, opt).values())
    _, p = profile_call(step)
    return {"total": before + p.peak, "peak": p.peak, "persistent": before, "method": p.method}


def measure_rung(regime: str, world: int = 0, how: str = "tracker", **kw) -> dict:
    """One rung's per-device bytes: {"total", "peak", ...}; `how` "tracker" (the meter, with its
    breakdown) or "profiler" (the only one for world > 0: rank 0 of `world` simulated ranks)."""
    shape, batch = REGIMES[regime]
    kw.setdefault("micro", 1)
    dev = memory.resolve_backend(None)
    if world:
        with simulated(world, dev) as mesh:
            _quiet()
            return {**_profiled(*_sharded(shape, batch, mesh, kw, device=dev)), "world": world}
    before = held_bytes(dev)        # an earlier cell's or test's tensors: not the rung's
    spec = gpt_setup(shape, batch, device=dev, **kw)
    if how == "profiler":
        return {**_profiled(spec["model"], spec["optimizer"], spec["step"]), "world": 1}
    m = memory.measure(spec["step"], model=spec["model"], optimizer=spec["optimizer"])
    breakdown = {**m.breakdown, "other": max(0, m.breakdown.get("other", 0) - before)}
    return {"total": m.total - before, "peak": m.peak, "breakdown": breakdown, "method": m.method,
            "measurement": m, "world": 1}


def _sharded(shape: dict, batch: int, mesh, switches: dict, seed: int = 0, device: str = "cpu"):
    """(model, optimizer, step): the GPT with `switches` (a rung's), sharded over `mesh` (its
    parameters fp32, gathered in bf16 under autocast), its step on seed `seed`'s rows."""
    kw = dict(switches)
    precision = kw.pop("precision", "fp32")
    model = shard(make_gpt(shape, 0, ckpt=kw.pop("ckpt", False), fused=kw.pop("fused", False),
                           inplace=kw.pop("inplace", False), device=device), mesh, precision)
    opt = make_opt(model, kw.pop("optimizer", "adam"))
    return model, opt, gpt_step(model, opt, shape, batch, seed=seed, precision=precision, device=device, **kw)


def _rank_job(rank: int, world: int, regime: str, switches: dict) -> dict:
    """One of `world` real ranks (gloo, `memory.ranks`): the regime's GPT sharded over the group,
    stepped on this rank's own rows (seed = rank); its bytes, measured as a simulated rank's."""
    from torch.distributed.device_mesh import init_device_mesh
    model, opt, step = _sharded(*REGIMES[regime], init_device_mesh("cpu", (world,)), switches, seed=rank)
    return {**_profiled(model, opt, step), "loss": float(step())}


def unsharded(regime: str) -> dict:
    """The switches of the ladder's top rung but sharding (simulated ranks compute no real numbers)."""
    return {k: v for k, v in combined(regime).items() if k != "world"}


def real_ranks(regime: str = "parameter-heavy", world: int = 2) -> dict:
    """The regime's top rung, its sharding on `world` real gloo ranks (one process each) and on
    `world` simulated ones: each real rank's figure beside the simulated rank 0's, which the
    ladder's sharded rungs are."""
    switches = unsharded(regime)
    real = on_ranks(f"{__name__}:_rank_job", world, timeout=300, regime=regime, switches=switches)
    sim = measure_rung(regime, world=world, how="profiler", **switches)
    return {"world": world, "real": real, "simulated": {k: sim[k] for k in ("total", "persistent", "peak")}}


def offloaded(regime: str = "activation-heavy") -> dict[str, dict]:
    """The baseline and the top rung (unsharded), each with what autograd saves kept and
    offloaded to the host (`save_on_cpu`): the most bytes the forward pass leaves for backward
    on the device and on the host (`memory.watch`; on a CPU-only machine, by how each storage
    was made), and the per-device total the meter measures (on a CPU, host memory included)."""
    shape, batch = REGIMES[regime]
    top = unsharded(regime)
    out = {}
    for name, kw in (("baseline", {}), ("top rung", top)):
        for how, more in (("kept", {}), ("offloaded", {"offload": True})):
            data = observe(gpt_setup, shape, batch, device=device(), **kw, **more)
            out[f"{name}, {how}"] = {"device": max(h["device"] for h in data["held"]),
                                     "host": max(h["host"] for h in data["held"]),
                                     "total": measurement(data).total}
    return out


def ladder(regime: str, times: bool = True, ends: bool = False) -> list[dict]:
    """Each rung measured as it stands; its ratio to the baseline; CPU seconds per step.
    `ends`: the baseline and the top rung only."""
    how = "profiler" if regime == "parameter-heavy" else "tracker"
    shape, batch = REGIMES[regime]
    rows, kw, last = [], {}, len(LADDERS[regime]) - 1
    for i, (name, more) in enumerate(LADDERS[regime]):
        kw.update(more)
        if not ends or i in (0, last):
            rows.append({"rung": name, **measure_rung(regime, how=how, **kw), "switches": dict(kw)})
    if times:
        unsharded = {r["rung"]: (gpt_setup, (shape, batch), {k: v for k, v in r["switches"].items()
                                                              if k != "world"})
                     for r in rows if "world" not in r["switches"]}
        secs = step_times(unsharded, repeat=1)
        for r in rows:
            r["seconds"] = secs.get(r["rung"])
    for r in rows:
        r["ratio"] = rows[0]["total"] / r["total"]
    return rows


def one_by_one(regime: str = "activation-heavy") -> dict[str, float]:
    """Each technique alone against the baseline: the baseline's total over the technique's."""
    base = measure_rung(regime)["total"]
    alone = {name: measure_rung(regime, **kw)["total"] for name, kw in LADDERS[regime][1:]
             if "world" not in kw}
    alone["+ plain SGD (changes the algorithm)"] = measure_rung(regime, optimizer="sgd")["total"]
    return {name.lstrip("+ "): base / total for name, total in alone.items()}


def curves(regime: str, steps: int = CURVE_STEPS, **switches) -> dict[str, list[float]]:
    """The baseline's losses and those of the switches given (default: the top rung's, without
    sharding, whose simulated ranks compute no real numbers), step by step on the same data."""
    shape, batch = REGIMES[regime]
    switches = switches or unsharded(regime)
    out = {}
    for name, kw in (("baseline", {}), ("combined", switches)):
        step = gpt_setup(shape, batch, device=memory.resolve_backend(None), **kw)["step"]
        out[name] = [float(step()) for _ in range(steps)]
    return out


def curve_gap(c: dict[str, list[float]]) -> float:
    """The largest relative gap of the two curves, step by step."""
    return max(abs(a - b) / abs(b) for a, b in zip(c["combined"], c["baseline"]))


def plot_ladder(rows: list[dict], ax, title: str = ""):
    """A waterfall: each rung's measured bytes (MiB, log scale), the factor it reached on top."""
    names, mib = [r["rung"] for r in rows], [r["total"] / 2**20 for r in rows]
    ax.bar(range(len(rows)), mib, color=["#888"] + ["#3a7"] * (len(rows) - 1))
    for i, r in enumerate(rows):
        ax.text(i, mib[i], f"{r['ratio']:.1f}x", ha="center", va="bottom", fontsize=8)
    ax.axhline(mib[0] / TARGET, ls="--", color="#c33", lw=1, label=f"1/{TARGET:.0f} of the baseline")
    ax.set_yscale("log")
    from matplotlib.ticker import FormatStrFormatter, LogLocator, NullFormatter
    ax.yaxis.set_major_locator(LogLocator(subs=(1, 2, 5)))
    ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_xticks(range(len(rows)), names, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("MiB on the device during the step")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)


# ---------------------------------------------------------------- the exercise
def baseline_setup(batch: int = EX_BATCH, seed: int = 0) -> dict:
    """The exercise's step: the exercise's GPT, fp32, Adam, the whole batch at once."""
    return gpt_setup(EX_REGIME, batch, seed, device=device())


def _probe_rows(setup, batch: int, seed: int) -> dict:
    """In the answer's process: rows and tokens given to the token embedding in one step, which
    parameters got a gradient, and whether the step is the course's own."""
    built = memory.build(setup, batch=batch, seed=seed, like="baseline_setup")
    seen = {"rows": 0, "tokens": 0}

    def count(_, args):
        seen["rows"] += int(args[0].shape[0])
        seen["tokens"] += int(args[0].numel())
    from .memory import gpt
    step_file = getattr(getattr(built.step, "__code__", None), "co_filename", "")
    own = [f"the course's {what}" for what, used in (
        ("gpt_step (its step)", step_file == gpt.__file__),
        ("model.ckpt switch", getattr(built.model, "ckpt", False)),
        ("attention switches (fused, inplace)", any(getattr(m, "fused", False) or getattr(m, "inplace", False)
                                                    for m in built.model.modules())))
           if used]
    hook = built.model.tok.register_forward_pre_hook(count)      # every token goes through it
    built.step()
    hook.remove()
    params = list(built.model.parameters())
    return {**seen, "no_grad": sum(p.grad is None for p in params), "params": len(params), "own": own,
            "values": sum(p.numel() for p in params)}


def check_budget(setup, hidden=False):
    """The step of `setup(batch, seed)` within the budget, training the baseline's model on the
    baseline's batch: same losses (LOSS_RTOL), every parameter updated, every row seen."""
    batch, seed = (EX_BATCH, 0) if not hidden else (random.choice([8, 10, 12]), random.randrange(1, 10**6))
    seq = EX_REGIME["seq"]
    rows = probe(setup, _probe_rows, batch=batch, seed=seed)
    if rows["own"]:
        raise AssertionError(f"the step uses {' and '.join(rows['own'])}: write the techniques yourself")
    want = sum(p.numel() for p in make_gpt(EX_REGIME).parameters())
    if rows["values"] != want:
        raise AssertionError(f"the model has {rows['values']:,} parameter values, the baseline's {want:,}: "
                             "train the same model (a smaller one fits, and is another model)")
    if rows["tokens"] < batch * seq:
        raise AssertionError(f"in one step the model saw {rows['rows']} rows ({rows['tokens']:,} tokens) of "
                             f"a batch of {batch} rows of {seq} tokens ({batch * seq:,}): the step "
                             "must train on the whole effective batch (split it, don't shrink it), every "
                             "token through the model's embedding model.tok")
    if rows["no_grad"]:
        raise AssertionError(f"{rows['no_grad']} of {rows['params']} parameters got no gradient: every "
                             "layer must be trained (a frozen layer changes what is trained)")
    base = memory.trial(f"autograder.{SLUG}:baseline_setup", batch, seed, steps=3, measure_at=2,
                        hidden=True, perturb="draw", like="baseline_setup", label="baseline")
    # isolated even for the notebook's own check: a total counts what the process holds
    cand = memory.trial(setup, batch, seed, steps=3, measure_at=2, hidden=True,
                        perturb=base.perturb, like="baseline_setup", label="yours")
    memory.require_same_work(cand, base, loss_rtol=LOSS_RTOL, min_cosine=0.8, outside_limit=OUTSIDE_LIMIT)
    if cand.extra.get("untrained"):
        raise AssertionError(f"{cand.extra['untrained']} parameters are not in the optimizer: train them all")
    limit = int(EX_BUDGET * base.measurement.total)
    got = cand.measurement.total
    where = f"[{cand.measurement.backend}: {cand.measurement.method}{', hidden draw' if hidden else ''}]"
    if got > limit:
        raise AssertionError(f"the step holds {got:,} bytes at its peak, the budget is {limit:,} "
                             f"({EX_BUDGET:.1%} of the baseline's {base.measurement.total:,}) {where}")
    print(f"budget (batch {batch}): {got:,} bytes, {base.measurement.total / got:.1f}x below the "
          f"baseline's {base.measurement.total:,} (budget {limit:,}); losses within {LOSS_RTOL:.0%} "
          f"{where}")


# ---------------------------------------------------------------- figures recorded on a GPU
def record(dry: bool = False) -> dict:
    """What `dev.py gpu-figures` stores: both ladders' per-device totals and ratios. On a GPU the
    tracker rungs are the caching allocator's figures. (dry: this CPU's meter, for `--dry-run`,
    the baseline and the top rung only, to keep the dry run short.)"""
    if not dry and memory.resolve_backend(None) != "cuda":
        raise RuntimeError("no GPU: chapter 17 records nothing on a CPU-only machine")
    out = {regime: [{k: r[k] for k in ("rung", "total", "ratio")} for r in ladder(regime, times=False, ends=dry)]
           for regime in REGIMES}
    return {**out, "device": "cpu (dry run)" if dry else torch.cuda.get_device_name()}
