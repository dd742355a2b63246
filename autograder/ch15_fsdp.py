"""Chapter 15, sharding with FSDP: the exercise's model, the page's demos, and the checks.

FSDP2 (`fully_shard`) splits every parameter of a module (a *unit*) across the ranks, with its
gradient and optimizer state: a rank keeps about 1/world_size of the persistent bytes. In
forward and backward it all-gathers one unit's parameters at a time and frees them after;
gradients are reduce-scattered back into shards. The root unit (the module given last) holds
what no inner unit claims, and stays gathered from its forward to its backward.

The exercise shards `TinyLM` (an embedding, residual MLP blocks, a norm and a head) with a
student's `shard(model, mesh)`. The checks: (a) on ranks simulated in one process (the fake
process group: memory is real, arithmetic is not), persistent bytes per rank at most
(1 + SLACK) / world_size of the unsharded model's, and at most GATHER_LIMIT of the parameters
gathered at once; (b) on two real processes (gloo) the losses of sharded data-parallel
training equal one process's unsharded losses on the same batches, and its measured bytes per
rank meet (a) too; (c) a student's `fsdp_traffic` predicts the bytes FSDP moves in a step.

Known limitations: world sizes and widths are chosen so that every dim 0 divides evenly (FSDP
pads uneven shards, and the padding would blur "1/world_size"); two real ranks only (two cores
here); no activation memory is sharded, by design (the page measures that).
"""
from __future__ import annotations

import random

import torch
import torch.nn.functional as F
from torch import nn
from torch.distributed.fsdp import FSDPModule, fully_shard

from . import memory
from .answers import answer_int, probe
from .memory.profiled import profile_call
from .memory.ranks import RankError, on_ranks
from .memory.sharded import (collectives, is_sharded, local_persistent, simulated,
                             watch_unsharded)

SLUG = "ch15_fsdp"
FALLBACK = ("Sharding runs on the CPU here: two real ranks with the gloo backend, and many more "
            "simulated in one process; per-rank bytes are the same a GPU rank would hold.")
SLACK = 0.10          # COURSE.md: persistent per-rank bytes at most 1/world_size, plus 10%
GATHER_LIMIT = 1 / 3  # most of the model's parameters gathered at once
LR, STEPS, LOSS_RTOL = 3e-3, 8, 1e-4
CONFIG = dict(vocab=2048, d=128, hidden=512, blocks=4)
# each a model whose embedding and head are each at most a quarter of the parameters, and
# together more than a third (so that leaving them in the root unit fails the gather limit)
HIDDEN_CONFIGS = [dict(vocab=2048, d=128, hidden=512, blocks=6), dict(vocab=1024, d=128, hidden=512, blocks=3),
                  dict(vocab=2048, d=64, hidden=512, blocks=4), dict(vocab=1024, d=64, hidden=256, blocks=4)]


# ---------------------------------------------------------------- the exercise's model
class Block(nn.Module):
    """x + MLP(LayerNorm(x)): (batch, seq, d) -> same."""

    def __init__(self, d: int, hidden: int):
        super().__init__()
        self.norm, self.up, self.down = nn.LayerNorm(d), nn.Linear(d, hidden), nn.Linear(hidden, d)

    def forward(self, x):
        return x + self.down(F.gelu(self.up(self.norm(x))))


class TinyLM(nn.Module):
    """Tokens (batch, seq) -> logits (batch, seq, vocab): embedding, blocks, norm, head."""

    def __init__(self, vocab: int = 2048, d: int = 128, hidden: int = 512, blocks: int = 4, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.emb = nn.Embedding(vocab, d)
        self.blocks = nn.ModuleList(Block(d, hidden) for _ in range(blocks))
        self.norm, self.head = nn.LayerNorm(d), nn.Linear(d, vocab)

    def forward(self, tokens):
        h = self.emb(tokens)
        for block in self.blocks:
            h = block(h)
        return self.head(self.norm(h))


def tokens(vocab: int, batch: int = 8, seq: int = 16, seed: int = 0):
    """(inputs, targets): random token ids, and the next token of each as the target."""
    g = torch.Generator().manual_seed(20_000 + seed)
    t = torch.randint(0, vocab, (batch, seq + 1), generator=g)
    return t[:, :-1], t[:, 1:]


def lm_step(model, opt, x, y):
    opt.zero_grad(set_to_none=True)
    loss = F.cross_entropy(model(x).flatten(0, 1), y.flatten())
    loss.backward()
    opt.step()
    return loss.detach()


def param_bytes(model: nn.Module) -> int:
    return sum(p.numel() * p.element_size() for p in model.parameters())


# ---------------------------------------------------------------- the page's model and demos
def page_model(width: int = 512, depth: int = 8, out: int = 16, seed: int = 0) -> nn.Sequential:
    """The page's MLP: `depth` Linear(width, width)-ReLU blocks and a Linear head."""
    torch.manual_seed(seed)
    return nn.Sequential(*[nn.Sequential(nn.Linear(width, width), nn.ReLU()) for _ in range(depth)],
                         nn.Linear(width, out))


def shard_page_model(model: nn.Sequential, mesh, how: str = "blocks") -> nn.Sequential:
    """The page's wrappings: "blocks" (each block a unit, the head in the root), "root" (one
    unit for all), "blocks, kept" (blocks not resharded after forward: ZeRO-2's memory), "none"."""
    if how in ("blocks", "blocks, kept"):
        for block in list(model)[:-1]:
            fully_shard(block, mesh=mesh, reshard_after_forward=how == "blocks")
    if how != "none":
        fully_shard(model, mesh=mesh)
    return model


def page_measure(how: str, world_size: int, width: int = 512, depth: int = 8, batch: int = 8,
                 device: str = "cpu") -> dict:
    """One wrapping of the page's MLP on `world_size` simulated ranks: rank 0's persistent bytes,
    the step's peak above its start (profiler or allocator), parameters gathered at once, and
    the bytes of the collectives."""
    with simulated(world_size, device) as mesh:
        model = shard_page_model(page_model(width, depth).to(device), mesh, how)
        opt = torch.optim.Adam(model.parameters(), lr=LR, foreach=False)
        x, y = torch.randn(batch, width, device=device), torch.randn(batch, 16, device=device)
        step = memory.mse_step(model, opt, x, y)["step"]
        step()
        with watch_unsharded(model) as seen, collectives() as sent:
            _, prof = profile_call(step, backend=device)
        return {"persistent": sum(local_persistent(model, opt).values()), "peak": prof.peak,
                "gathered": seen["max"], "collectives": dict(sent), "params": param_bytes(page_model(width, depth))}


# ---------------------------------------------------------------- probes (run where the answer lives)
def _apply(shard, model, mesh):
    out = shard(model, mesh)
    if out is not None and not isinstance(out, nn.Module):
        raise AssertionError(f"shard should shard the model in place (or return it), got {out!r:.80}")
    return model if out is None else out


def _probe_memory(shard, world_size: int, config: dict, seed: int = 0) -> dict:
    """On `world_size` simulated ranks: shard, two steps; rank 0's bytes and what FSDP did."""
    with simulated(world_size) as mesh:
        model = _apply(shard, TinyLM(**config, seed=seed), mesh)
        opt = torch.optim.Adam(model.parameters(), lr=LR, foreach=False)
        x, y = tokens(config["vocab"], seed=seed)
        lm_step(model, opt, x, y)
        with watch_unsharded(model) as seen, collectives() as sent:
            lm_step(model, opt, x, y)
        params = list(model.parameters())
        return {"persistent": local_persistent(model, opt), "gathered": seen["max"],
                "collectives": dict(sent), "sharded": sum(is_sharded(p) for p in params),
                "params": len(params), "grads": sum(p.grad is not None for p in params),
                "units": sorted(n or "(root)" for n, m in model.named_modules()
                                if isinstance(m, FSDPModule))}


def _rank_job(rank: int, world: int, shipment, config: dict, seed: int, steps: int) -> dict:
    """One real rank (gloo, `memory.ranks`): the shipped `shard`, `steps` steps on this rank's
    share of the batch; the mean loss of each step over the ranks, and this rank's bytes."""
    import torch.distributed as dist
    from torch.distributed.device_mesh import init_device_mesh
    from .shipping import land
    shard = land(shipment)[shipment.name]
    model = _apply(shard, TinyLM(**config, seed=seed), init_device_mesh("cpu", (world,)))
    opt = torch.optim.Adam(model.parameters(), lr=LR, foreach=False)
    x, y = tokens(config["vocab"], batch=4 * world, seed=seed)
    part = slice(rank * 4, (rank + 1) * 4)
    losses = []
    for _ in range(steps):
        with watch_unsharded(model) as seen:
            loss = lm_step(model, opt, x[part], y[part])
        dist.all_reduce(loss)
        losses.append(float(loss) / world)
    return {"losses": losses, "persistent": local_persistent(model, opt), "gathered": seen["max"]}


def _probe_parity(shard, config: dict, seed: int = 0, steps: int = STEPS, world_size: int = 2,
                  timeout: float = 120.0) -> list[dict]:
    """`world_size` real ranks (gloo, one process each) train with the shipped `shard`."""
    from .shipping import ShippingError, ship
    try:
        shipment = ship(shard)
    except ShippingError as exc:
        raise AssertionError(f"shard cannot be sent to the ranks' processes: {exc}") from None
    try:
        return on_ranks(f"{__name__}:_rank_job", world_size, timeout=timeout, shipment=shipment,
                        config=config, seed=seed, steps=steps)
    except RankError as exc:
        raise AssertionError(str(exc)) from None


# ---------------------------------------------------------------- the checks
def unsharded_losses(config: dict, seed: int = 0, steps: int = STEPS, world_size: int = 2) -> list[float]:
    """The reference: one process, no sharding, the whole batch each step."""
    model = TinyLM(**config, seed=seed)
    opt = torch.optim.Adam(model.parameters(), lr=LR, foreach=False)
    x, y = tokens(config["vocab"], batch=4 * world_size, seed=seed)
    return [float(lm_step(model, opt, x, y)) for _ in range(steps)]


def _memory_verdict(got: dict, config: dict, world_size: int, where: str, gather: bool = True) -> str:
    """Decide (a) from one rank's figures (`gather`: the gather limit too); the message names
    what is wrong."""
    full = param_bytes(TinyLM(**config))
    unsharded = 4 * full                      # parameters + gradients + Adam's two moments
    mine, limit = sum(got["persistent"].values()), (1 + SLACK) * unsharded / world_size
    if got.get("grads", 1) == 0:
        raise AssertionError(f"{where}: no parameter got a gradient in the step")
    if mine > limit:
        plain = got.get("params", 0) - got.get("sharded", 0)
        raise AssertionError(
            f"{where}: rank 0 keeps {mine:,} bytes of parameters, gradients and optimizer state; "
            f"1/{world_size} of the unsharded {unsharded:,} plus {SLACK:.0%} is {limit:,.0f}"
            + (f". {plain} of {got['params']} parameters are not sharded (plain tensors): every "
               "parameter must belong to a module given to fully_shard, the root included" if plain else ""))
    units = got.get("units", [])
    if gather and got["gathered"] > GATHER_LIMIT * full and units and "(root)" not in units:
        raise AssertionError(
            f"{where}: {got['gathered']:,} bytes of parameters were gathered at once, "
            f"{got['gathered'] / full:.0%} of the model's; at most {GATHER_LIMIT:.0%}. The model "
            f"itself is not a unit (units: {', '.join(units)}), so each of them is a root of its "
            "own, and a root stays gathered from its forward to its backward: call fully_shard on "
            "the model too, last")
    if gather and got["gathered"] > GATHER_LIMIT * full:
        raise AssertionError(
            f"{where}: {got['gathered']:,} bytes of parameters were gathered at once, "
            f"{got['gathered'] / full:.0%} of the model's {full:,}; at most {GATHER_LIMIT:.0%}. "
            f"FSDP gathers one unit at a time (units here: {', '.join(got.get('units', [])) or '?'}), and "
            "the root unit, which holds every parameter no inner unit claims, stays gathered from "
            "forward to backward: give the blocks and the large embedding and head units of their own")
    return (f"{mine:,} bytes per rank ({mine / unsharded:.1%} of unsharded)"
            + (f", at most {got['gathered'] / full:.0%} gathered" if gather else ""))


def check_memory(shard, hidden=False):
    """(a) Persistent bytes per rank and parameters gathered at once, on simulated ranks."""
    r = random.Random(None if hidden else 0)
    runs = ([(ws, CONFIG) for ws in (2, 8)] if not hidden else
            [(r.choice([4, 8, 16]), r.choice(HIDDEN_CONFIGS)) for _ in range(2)])
    said = []
    for ws, config in runs:
        got = probe(shard, _probe_memory, world_size=ws, config=config, seed=r.randrange(10**6))
        said.append(f"{ws} ranks: " + _memory_verdict(got, config, ws, f"{ws} simulated ranks, {config}"))
    print("memory (simulated ranks): " + "; ".join(said))


def check_parity(shard, hidden=False):
    """(b) Two real ranks (gloo): the losses equal unsharded training's, and each rank keeps
    at most (1 + SLACK) / 2 of the persistent bytes, measured in the same run."""
    config, seed = (CONFIG, 0) if not hidden else (random.choice(HIDDEN_CONFIGS), random.randrange(1, 10**6))
    want = unsharded_losses(config, seed)
    ranks = probe(shard, _probe_parity, config=config, seed=seed)
    have = ranks[0]["losses"]
    for i, (a, b) in enumerate(zip(have, want)):
        if not abs(a - b) <= LOSS_RTOL * abs(b):
            raise AssertionError(
                f"step {i + 1}: the two ranks' mean loss is {a:.6f}, unsharded training's {b:.6f} "
                f"(more than {LOSS_RTOL:g} apart). Each rank trains on half the batch (step 1, before "
                "any update, agrees by itself); only a "
                "sharded model (fully_shard) averages the gradients across ranks")
    verdict = _memory_verdict(ranks[0], config, len(ranks), "2 real ranks (gloo)", gather=False)
    print(f"parity (2 processes, gloo): {len(have)} steps equal to unsharded (last loss {have[-1]:.5f} "
          f"vs {want[-1]:.5f}); {verdict}")


def measured_traffic(world_size: int, width: int, depth: int) -> dict[str, int]:
    """Bytes a rank receives in all-gathers and sends in reduce-scatters in one step of the
    page's MLP, blocks as units and the head in the root, measured on simulated ranks."""
    sent = page_measure("blocks", world_size, width, depth)["collectives"]
    share = lambda n: n * (world_size - 1) // world_size  # noqa: E731  (the other ranks' slices)
    return {"all_gather": share(sent["all_gather"]), "reduce_scatter": share(sent["reduce_scatter"])}


def check_traffic(fn, hidden=False):
    """(c) fn(param_bytes, root_bytes, world_size) equals the bytes measured, exactly."""
    r = random.Random(None if hidden else 1)
    cases = [(2, 128, 3), (8, 256, 4)] + [(r.choice([2, 4, 8, 16]), r.choice([64, 128, 192]),
                                           r.randint(2, 5)) for _ in range(2 if hidden else 0)]
    for ws, width, depth in cases:
        model = page_model(width, depth)
        total, root = param_bytes(model), param_bytes(model[-1])
        want = measured_traffic(ws, width, depth)
        got = fn(total, root, ws)
        if not isinstance(got, dict) or set(got) != set(want):
            raise AssertionError(f"fsdp_traffic should return a dict with keys {sorted(want)}, got {got!r:.120}")
        for k in want:
            v = answer_int(got[k], f"fsdp_traffic(...)[{k!r}]")
            if v != want[k]:
                raise AssertionError(
                    f"{ws} ranks, {total:,} bytes of parameters of which {root:,} in the root: "
                    f"{k} {v:,} bytes, measured {want[k]:,}")
    print(f"fsdp_traffic: {len(cases)} models and world sizes predicted exactly")


# ---------------------------------------------------------------- figures recorded on a GPU
def record(dry: bool = False) -> dict:
    """What `dev.py gpu-figures` stores: the page's wrappings on ranks simulated on the GPU,
    rank 0's bytes measured by the caching allocator. (dry: the same walk on this CPU's meter, for `--dry-run`.)"""
    if not dry and memory.resolve_backend(None) != "cuda":
        raise RuntimeError("no GPU: chapter 15 records nothing on a CPU-only machine")
    return {f"{how}, {ws} ranks": page_measure(how, ws, device="cpu" if dry else "cuda")
            for how in ("none", "root", "blocks", "blocks, kept") for ws in (1, 2, 4, 8)}
