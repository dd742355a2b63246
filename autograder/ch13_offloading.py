"""Chapter 13, offloading: the page's model and demos, the exercise's baseline, the checks.

Offloading keeps what autograd saves for backward in host memory instead of on the compute
device: saved-tensor hooks pack each tensor into a host buffer as the forward pass saves it, and
unpack it back to the device when backward needs it (`torch.autograd.graph.save_on_cpu`, or
one's own pair of hooks). Parameters and optimizer state can live on the host too, copied in for
each use (DeepSpeed's ZeRO-Offload, FSDP's CPUOffload). The price is the copies: bytes over PCIe,
twice per step, which pinned host memory makes faster and asynchronous.

On a machine without a GPU the compute device *is* host memory: nothing can leave it, and the
peak does not fall. What the checks measure there, honestly, is what stays on the compute device
in the sense a GPU would give it: the course's watch (`memory.watch`) classifies the storages
the forward pass leaves for backward by how they were made (a copy into a new host buffer made
by a factory op, `torch.empty(...)` + `copy_`, or `.to("cpu", copy=True)`, is host memory;
`t.cpu()` of a CPU tensor is the tensor itself, and moves nothing). With a GPU it reads the
tensors' devices, and asks that the host buffers be pinned.

The page's model is an MLP (`page_setup`: plain, `save_on_cpu` with and without pinned memory,
the page's own hooks; `host_adam_setup`: the optimizer's state and master weights on the host).
The exercise's baseline (`baseline_setup`) is a small CNN (convolutions, BatchNorm, pooling);
the student writes hooks that offload saved tensors of at least MIN_BYTES and keep smaller ones.

The checks: (a) a student's `pack_to_host`/`unpack_from_host` on tensors of the compute device:
large ones copied into a new host buffer (pinned where a GPU is) with the original not kept,
small ones kept as they are, and every round trip exact; (b) `offload_setup(batch, seed)` has
the baseline's gradients; (c) in the measured step: the same gradients, the bytes the forward
pass left on the compute device for backward at least TARGET lower, the moved bytes in host
memory (pinned with a GPU); hidden: fresh draws, and the meter's saved-for-backward figure
measured again in fresh processes.

Known limitations: on a CPU-only machine a copy into `torch.empty(..., device=t.device)` reads
as a host copy (see `memory.watch`); transfer times are only meaningful on a GPU (the page
shows them from recorded figures, or says none are recorded).
"""
from __future__ import annotations

import functools
import random

import torch
import torch.nn.functional as F
from torch import nn

from . import memory
from .answers import probe
from .memory.timing import copy_times, step_times
from .memory.watch import HOST, Watch, gradient_gap, measurement, observe, require_same_gradients

SLUG = "ch13_offloading"
FALLBACK = ("No GPU: the compute device is host memory here, so offloading moves nothing and the "
            "peak does not fall. The course's watch measures what a GPU would keep on the device "
            "(copies into new host buffers count as moved), and says so in every check.")
TARGET = 0.90                      # COURSE.md: device-resident saved activations at least 90% lower
GRAD_RTOL = 1e-5
MIN_BYTES = 64 * 1024              # the exercise's hooks keep smaller tensors on the device
WIDTH, DEPTH, BATCH = 512, 8, 512   # the page's MLP: one activation is 1 MiB
CHANNELS, SIZE, CLASSES, EX_BATCH = 16, 32, 10, 32
DRAWS = (16, 24, 32, 48)


def device() -> str:
    return memory.resolve_backend(None)


def pin() -> bool:
    """Pinned (page-locked) host memory exists only where a CUDA device does."""
    return torch.cuda.is_available()


# ---------------------------------------------------------------- the page's model
def page_pack(t: torch.Tensor):
    """The page's pack hook: every saved tensor into a new host buffer (pinned with a GPU)."""
    buf = torch.empty(t.size(), dtype=t.dtype, layout=t.layout, device="cpu", pin_memory=pin())
    buf.copy_(t, non_blocking=pin())
    return t.device, buf


def page_unpack(packed) -> torch.Tensor:
    dev, buf = packed
    return buf.to(dev, non_blocking=pin())


def _hooks(how: str):
    if how == "save_on_cpu, pinned":
        return torch.autograd.graph.save_on_cpu(pin_memory=True)
    if how == "save_on_cpu":
        return torch.autograd.graph.save_on_cpu()
    if how == "own hooks":
        return torch.autograd.graph.saved_tensors_hooks(page_pack, page_unpack)
    raise ValueError(f"unknown offloading {how!r}")


HOWS = ("plain", "save_on_cpu", "save_on_cpu, pinned", "own hooks")


def page_setup(how: str = "plain", batch: int = BATCH, seed: int = 0) -> dict:
    """The page's step: DEPTH Linear(WIDTH, WIDTH)-GELU blocks, MSE, Adam; the forward pass and
    the loss under the offloading `how` names (HOWS)."""
    model = memory.mlp(batch, WIDTH, DEPTH, device=device(), seed=seed)["model"]
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, foreach=True)
    g = torch.Generator().manual_seed(10_000 + seed)
    x = torch.randn(batch, WIDTH, generator=g).to(device())
    y = torch.tanh(x).flip(1)

    def step():
        opt.zero_grad(set_to_none=True)
        if how == "plain":
            loss = F.mse_loss(model(x), y)
        else:
            with _hooks(how):
                loss = F.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        return loss.detach()
    return {"step": step, "model": model, "optimizer": opt}


def compare_hows(batch: int = BATCH) -> dict[str, dict]:
    """Each HOW observed: held for backward on the device and in host memory (and pinned), the
    meter's peak, the gradients' largest difference from plain, and the step's time."""
    runs = {h: observe(page_setup, h, batch) for h in HOWS}
    times = step_times({h: (page_setup, (h, batch), {}) for h in HOWS}, repeat=5)
    base = runs["plain"]
    out = {}
    for h, d in runs.items():
        gap = gradient_gap(d["grads"], base["grads"], rtol=0.0)
        out[h] = {**d["held"][0], "peak": measurement(d).peak, "seconds": times[h],
                  "gradient_gap": 0.0 if gap is None else gap[1]}
    return out


def host_adam_setup(batch: int = BATCH, seed: int = 0) -> dict:
    """Optimizer offloading by hand, as ZeRO-Offload does it: the model computes on the device;
    float32 master weights and Adam's state live on the host. Each step copies the gradients to
    the host, steps Adam there, and copies the new weights back to the device."""
    spec = page_setup("plain", batch, seed)
    model = spec["model"]
    host = [torch.empty(p.shape, dtype=p.dtype, device="cpu", pin_memory=pin()).copy_(p.detach())
            for p in model.parameters()]
    for h in host:
        h.requires_grad_(True)
    opt = torch.optim.Adam(host, lr=1e-3, foreach=True)
    g = torch.Generator().manual_seed(10_000 + seed)
    x = torch.randn(batch, WIDTH, generator=g).to(device())
    y = torch.tanh(x).flip(1)

    def step():
        for p in model.parameters():
            p.grad = None
        loss = F.mse_loss(model(x), y)
        loss.backward()
        for h, p in zip(host, model.parameters()):
            h.grad = p.grad.to("cpu", non_blocking=pin())        # device -> host
            p.grad = None
        if pin():
            torch.cuda.synchronize()
        opt.step()                                              # on the host
        with torch.no_grad():
            for h, p in zip(host, model.parameters()):
                p.copy_(h, non_blocking=pin())                  # host -> device
        return loss.detach()
    return {"step": step, "model": model, "optimizer": opt}


def host_adam_losses(steps: int = 5, batch: int = 128) -> dict[str, list[float]]:
    """Losses of the plain step and of the host-Adam step, from the same weights and data."""
    return {name: memory.train(setup, steps, batch) for name, setup in
            (("Adam on the device", functools.partial(page_setup, "plain")),
             ("Adam on the host", host_adam_setup))}


def duplicate_packs() -> dict[str, int]:
    """Why the host holds more than the device did: ReLU keeps its output and the next Linear
    keeps the same tensor as its input; per-tensor hooks pack it twice. Bytes held for backward
    by a Linear-ReLU-Linear on the device (plain), and in host memory (own hooks)."""
    def setup(how="plain", batch=256, seed=0):
        torch.manual_seed(seed)
        model = nn.Sequential(nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 256)).to(device())
        opt = torch.optim.SGD(model.parameters(), lr=0.1, foreach=True)
        x = torch.randn(batch, 256, device=device())

        def step():
            opt.zero_grad(set_to_none=True)
            if how == "plain":
                loss = model(x).square().mean()
            else:
                with _hooks(how):
                    loss = model(x).square().mean()
            loss.backward()
            opt.step()
            return loss.detach()
        return {"step": step, "model": model, "optimizer": opt}
    plain, hooked = observe(setup, "plain"), observe(setup, "own hooks")
    return {"activation": 256 * 256 * 4, "device, plain": plain["held"][0]["device"],
            "host, own hooks": hooked["held"][0]["host"]}


# ---------------------------------------------------------------- the exercise's baseline
def make_model(seed: int = 0):
    """A small CNN for 3 x SIZE x SIZE images: three 3x3 convolutions with BatchNorm and ReLU,
    a max pool, a global average pool and a Linear to CLASSES; and its Adam."""
    torch.manual_seed(seed)
    c = CHANNELS
    model = nn.Sequential(
        nn.Conv2d(3, c, 3, padding=1), nn.BatchNorm2d(c), nn.ReLU(),
        nn.Conv2d(c, c, 3, padding=1), nn.BatchNorm2d(c), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(c, 2 * c, 3, padding=1), nn.BatchNorm2d(2 * c), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2 * c, CLASSES)).to(device())
    return model, torch.optim.Adam(model.parameters(), lr=1e-3, foreach=True)


def make_data(batch: int = EX_BATCH, seed: int = 0):
    """x: (batch, 3, SIZE, SIZE) images, y: (batch,) labels."""
    g = torch.Generator().manual_seed(40_000 + seed)
    x = torch.randn(batch, 3, SIZE, SIZE, generator=g)
    y = torch.randint(0, CLASSES, (batch,), generator=g)
    return x.to(device()), y.to(device())


def baseline_setup(batch: int = EX_BATCH, seed: int = 0) -> dict:
    """The exercise's baseline: the CNN, cross-entropy, backward, Adam."""
    model, opt = make_model(seed)
    x, y = make_data(batch, seed)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss.detach()
    return {"step": step, "model": model, "optimizer": opt}


# ---------------------------------------------------------------- the checks
def _where() -> str:
    if memory.resolve_backend(None) == "cuda":
        return "[cuda: where each storage lives, read by the course's watch]"
    return ("[cpu, no GPU: the compute device is host memory here; the course's watch counts as "
            "moved what was copied into a new host buffer (torch.empty(...) + copy_, or "
            ".to('cpu', copy=True)), as a GPU would hold it]")


def _tensors(obj) -> list[torch.Tensor]:
    if isinstance(obj, torch.Tensor):
        return [obj]
    if isinstance(obj, (tuple, list)):
        return [t for o in obj for t in _tensors(o)]
    if isinstance(obj, dict):
        return [t for o in obj.values() for t in _tensors(o)]
    return []


def _shares(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.device == b.device and a.untyped_storage().data_ptr() == b.untyped_storage().data_ptr()


def _hook_cases(rng: random.Random, n: int):
    dev = device()
    shapes = [((64, 256), torch.float32), ((8, 16, 32, 32), torch.float32), ((3, 5), torch.float32),
              ((512, 64), torch.float16), ((128, 128), torch.int64), ((100,), torch.bool),
              ((256, 128), torch.float32)]
    shapes += [((rng.randint(1, 300), rng.randint(1, 300)), rng.choice([torch.float32, torch.float16]))
               for _ in range(n)]
    for i, (shape, dt) in enumerate(shapes):
        g = torch.Generator().manual_seed(rng.randrange(10**6))
        t = (torch.randn(shape, generator=g) * 4).to(dt).to(dev)
        if i == len(shapes) - 1 or (i > 6 and rng.random() < 0.3):
            t = t.t() if t.dim() == 2 else t        # a non-contiguous view, as autograd saves
        yield t


def check_hooks(pack, unpack, hidden=False):
    """(a) On tensors of the compute device: one of at least MIN_BYTES is copied into a new host
    buffer (pinned with a GPU) and the original is not kept; a smaller one is kept as it is;
    unpack(pack(t)) equals t, with its dtype, shape and device."""
    seed = random.randrange(10**9) if hidden else 3
    big = probe(pack, _probe_hooks, unpack, seed, 8 if hidden else 2)
    print(f"hooks: {big} large tensors copied to {'pinned ' if pin() else ''}host buffers, the "
          f"small ones kept, every round trip exact [{device()}]")


def _probe_hooks(pack, unpack, seed: int, count: int) -> int:
    """Runs where the answer lives: the hooks on `count` drawn tensors, watched; the number of
    large ones copied (a failure raises the check's message)."""
    rng, big = random.Random(seed), 0
    for t in _hook_cases(rng, count):
        want = t.clone()
        watch = Watch(memory.resolve_backend(None))
        try:
            with watch:                      # sees how the copies are made (see memory.watch)
                packed = pack(t)
            held = _tensors(packed)
            where = [watch.where(h) for h in held]
        finally:
            watch.close()
        if not torch.equal(t, want):
            raise AssertionError("pack_to_host changed the tensor it was given; it must only copy it")
        size, what = t.numel() * t.element_size(), f"a {t.dtype} tensor of shape {tuple(t.shape)}"
        if size >= MIN_BYTES:
            big += 1
            if any(_shares(h, t) for h in held):
                cpu_note = (" On a machine without a GPU, t.cpu() and t.to('cpu') return t itself: "
                            "allocate a host buffer (torch.empty(t.size(), dtype=t.dtype, "
                            "device='cpu', pin_memory=...)) and copy_ into it"
                            if t.device.type == "cpu" else "")
                raise AssertionError(f"pack_to_host({what}, {size:,} bytes) keeps the tensor "
                                     f"itself: it should be copied to host memory.{cpu_note}")
            host = [h for h, w in zip(held, where) if w == HOST and h.numel() == t.numel()]
            if not host:
                raise AssertionError(f"pack_to_host({what}, {size:,} bytes) returned no host "
                                     f"copy of its size (got {type(packed).__name__}); a copy "
                                     "made where t lives (t.clone(), torch.empty_like(t)) stays "
                                     f"on the compute device {_where()}")
            if pin() and not all(h.is_pinned() for h in host):
                raise AssertionError(f"pack_to_host({what}): the host copy is not pinned; make it "
                                     "with pin_memory=True (a plain .cpu() copy is not)")
        elif not any(_shares(h, t) for h in held):
            raise AssertionError(f"pack_to_host({what}, {size:,} bytes, under MIN_BYTES = "
                                 f"{MIN_BYTES:,}) copied it; small tensors stay as they are "
                                 "(their copy costs more time than its bytes are worth)")
        got = unpack(packed)
        if not (isinstance(got, torch.Tensor) and got.shape == t.shape and got.dtype == t.dtype
                and got.device == t.device and torch.equal(got, want)):
            raise AssertionError(f"unpack_from_host(pack_to_host(t)) for {what} on {t.device}: got "
                                 f"{type(got).__name__} {getattr(got, 'dtype', '')} "
                                 f"{tuple(getattr(got, 'shape', ()))} on {getattr(got, 'device', '?')}; "
                                 "it should be equal to t, on t's device")
    return big


def _draw(hidden: bool) -> tuple[int, int]:
    return (random.choice(DRAWS), random.randrange(1, 10**6)) if hidden else (EX_BATCH, 0)


def _probe_step(setup, batch: int, seed: int) -> dict:
    """Runs in the measuring process: the setup observed (measured, watched), as data."""
    return observe(setup, batch=batch, seed=seed, rng=seed, like="baseline_setup")


@functools.lru_cache(maxsize=4)
def _reference(batch: int, seed: int) -> dict:
    return _probe_step(baseline_setup, batch, seed)


def _same_gradients(cand: dict, base: dict, batch: int, seed: int) -> None:
    require_same_gradients(cand["grads"], base["grads"], GRAD_RTOL, f"batch {batch}, seed {seed}",
                           "Offloading moves bytes and changes no number: unpack must give back "
                           "exactly what pack was given, and the forward pass must stay inside "
                           "autograd (no .detach(), no .data)")


def check_gradients(setup, hidden=False):
    """(b) After one step and in the second, every gradient equals the baseline's."""
    batch, seed = _draw(hidden)
    base, cand = _reference(batch, seed), probe(setup, _probe_step, batch=batch, seed=seed)
    _same_gradients(cand, base, batch, seed)
    print(f"gradients (batch {batch}{', hidden draw' if hidden else ''}): all "
          f"{len(base['grads'])} equal to the baseline's")


def check_offload(setup, hidden=False):
    """(c) In the measured step: the same gradients; what the forward pass leaves on the compute
    device for backward at least TARGET lower; the moved bytes in host memory (pinned with a GPU).
    Hidden: a fresh draw, and the meter's saved-for-backward figure again in fresh processes."""
    batch, seed = _draw(hidden)
    base, cand = _reference(batch, seed), probe(setup, _probe_step, batch=batch, seed=seed)
    _same_gradients(cand, base, batch, seed)
    hb, hc = base["held"][0], max(cand["held"], key=lambda h: h["device"], default=None)
    if hc is None:
        raise AssertionError("the step ran no backward pass")
    need = memory.required_at_most(hb["device"], TARGET)
    if hc["device"] > need:
        raise AssertionError(
            f"saved for backward on the compute device: candidate {hc['device']:,} bytes, baseline "
            f"{hb['device']:,}; needs at most {need:,} ({TARGET:.0%} lower), measured "
            f"{1 - hc['device'] / hb['device']:.0%} lower {_where()}. Is the forward pass, loss "
            "included, inside torch.autograd.graph.saved_tensors_hooks(pack_to_host, unpack_from_host)?")
    if hc["host"] < (hb["device"] - hc["device"]) // 2:
        raise AssertionError(f"the bytes that left the compute device ({hb['device'] - hc['device']:,}) "
                             f"are not in host memory (found {hc['host']:,} bytes there) {_where()}: "
                             "were they dropped instead of moved?")
    if pin() and hc["pinned"] < 0.9 * hc["host"]:
        raise AssertionError(f"of {hc['host']:,} bytes in host memory only {hc['pinned']:,} are "
                             "pinned: copy into buffers made with pin_memory=True")
    line = ""
    if hidden:    # the meter's own saved-for-backward figure, both setups in fresh processes
        b2, c2 = memory.measure_pair(f"autograder.{SLUG}:baseline_setup", setup, hidden=True,
                                     labels=("baseline", "offloaded"), batch=batch, seed=seed)
        got = memory.require_reduction(memory.compare(b2, c2, what="saved"), at_least=TARGET)
        line = f"; the meter's saved for backward {got:.0%} lower in fresh processes"
    print(f"offload (batch {batch}{', hidden draw' if hidden else ''}): gradients equal; on the "
          f"compute device {hc['device']:,} bytes held for backward against {hb['device']:,} "
          f"({1 - hc['device'] / hb['device']:.1%} lower, target {TARGET:.0%}); {hc['host']:,} bytes "
          f"in host memory{line} {_where()}")


# ---------------------------------------------------------------- figures recorded on a GPU
def record(dry: bool = False) -> dict:
    """What `dev.py gpu-figures` stores: the page's four steps on the GPU (held for backward on
    the device and the host, peak, time) and raw copy times, pageable against pinned. (dry: the same walk on this CPU's meter, for `--dry-run`.)"""
    if not dry and memory.resolve_backend(None) != "cuda":
        raise RuntimeError("no GPU: chapter 13 records nothing on a CPU-only machine")
    return {"hows": compare_hows(), "transfer_64MiB": copy_times(64, dry=dry),
            "device": "cpu (dry run)" if dry else torch.cuda.get_device_name()}
