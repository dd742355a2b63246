"""A small GPT and its training step with every memory technique of Part III as a switch.

The capstone (chapter 17) measures the techniques combined on one model, so the model and the
switches live here, once, beside the workloads the chapters share: embeddings, pre-norm blocks
of causal self-attention and an MLP, a final LayerNorm and a head, over bytes (a byte-level
tokenizer: 256 tokens, no vocabulary file). The corpus is text that every machine running the
course has offline, the sandboxed grader included: the docstrings and code of this package's
memory meter (`autograder/memory/*.py`, sorted by name), read as UTF-8 bytes.

    spec = gpt_setup(ACTIVATION, batch=16, seed=0, precision="autocast", ckpt=True, micro=16)
    spec["step"]()          # one optimizer step over the whole batch, as `micro` micro-batches

The data order is fixed: step i of seed s reads the same windows of the corpus on every
machine. Switches (each one chapter's technique): precision "fp32" | "autocast" (bf16 autocast,
fp32 weights: chapter 7) | "bf16" (bf16 weights: chapter 8); inplace (in-place masking and
scaling of the attention scores: chapter 9); optimizer "adam" | "sgd" (chapter 10); ckpt
(a non-reentrant checkpoint per block: chapter 11); micro (micro-batches: chapter 12); fused
(`scaled_dot_product_attention` instead of the written-out softmax: chapter 16). Sharding
(chapter 15) wraps the model from outside (`fully_shard` on `model.blocks` and the model).

Known limitations: no dropout (so checkpointing recomputes exactly); the corpus changes when
the meter's source does, so figures are compared within one run, never across versions.
"""
from __future__ import annotations

import contextlib
import functools
import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

VOCAB = 256
# the two regimes: where the memory of the step goes
ACTIVATION = dict(d=32, heads=2, layers=2, seq=256)        # long sequences, a moderate model
PARAMETER = dict(d=256, heads=4, layers=4, seq=16)         # a wider model, short sequences
PRECISIONS = ("fp32", "autocast", "bf16")


@functools.lru_cache(maxsize=1)
def corpus() -> torch.Tensor:
    """The corpus as a 1-D uint8 tensor of bytes (about 100 kB)."""
    text = b"\n".join(p.read_bytes() for p in sorted(Path(__file__).parent.glob("*.py")))
    return torch.frombuffer(bytearray(text), dtype=torch.uint8)


def batch_at(step: int, batch: int, seq: int, seed: int = 0, device: str = "cpu"):
    """x, y (batch, seq) token ids of step `step`: random windows of the corpus, y shifted by one."""
    data = corpus()
    g = torch.Generator().manual_seed(1_000_003 * seed + step)
    starts = torch.randint(0, len(data) - seq - 1, (batch,), generator=g)
    rows = torch.stack([data[s:s + seq + 1] for s in starts.tolist()]).long()
    return rows[:, :-1].to(device), rows[:, 1:].to(device)


class Attention(nn.Module):
    """Causal multi-head self-attention: (b, t, d) -> (b, t, d)."""

    def __init__(self, d: int, heads: int, seq: int):
        super().__init__()
        self.heads, self.qkv, self.proj = heads, nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.register_buffer("mask", torch.ones(seq, seq, dtype=torch.bool).triu(1), persistent=False)
        self.fused = self.inplace = False

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        if self.fused:
            out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            mask = self.mask[:t, :t]
            scores = q @ k.transpose(-2, -1)                           # (b, heads, t, t)
            if self.inplace:
                scores = scores.mul_(1 / math.sqrt(d // self.heads)).masked_fill_(mask, float("-inf"))
            else:
                scores = (scores / math.sqrt(d // self.heads)).masked_fill(mask, float("-inf"))
            out = scores.softmax(-1) @ v                               # (b, heads, t, d/heads)
        return self.proj(out.transpose(1, 2).reshape(b, t, d))


class Block(nn.Module):
    """x + attention(LN(x)), then + MLP(LN(x)) with a 4x hidden GELU layer."""

    def __init__(self, d: int, heads: int, seq: int):
        super().__init__()
        self.ln1, self.attn, self.ln2 = nn.LayerNorm(d), Attention(d, heads, seq), nn.LayerNorm(d)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class GPT(nn.Module):
    """Tokens (b, t) -> logits (b, t, VOCAB)."""

    def __init__(self, d: int, heads: int, layers: int, seq: int, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.tok, self.pos = nn.Embedding(VOCAB, d), nn.Embedding(seq, d)
        self.blocks = nn.ModuleList(Block(d, heads, seq) for _ in range(layers))
        self.ln, self.head = nn.LayerNorm(d), nn.Linear(d, VOCAB)
        self.ckpt = False

    def forward(self, idx):
        h = self.tok(idx) + self.pos(torch.arange(idx.shape[1], device=idx.device))
        for block in self.blocks:
            h = checkpoint(block, h, use_reentrant=False) if self.ckpt else block(h)
        return self.head(self.ln(h))


def make_gpt(regime: dict, seed: int = 0, precision: str = "fp32", ckpt: bool = False,
             fused: bool = False, inplace: bool = False, device: str = "cpu") -> GPT:
    if precision not in PRECISIONS:
        raise ValueError(f"precision should be one of {PRECISIONS}, got {precision!r}")
    model = GPT(**regime, seed=seed).to(device)
    if precision == "bf16":
        model = model.to(torch.bfloat16)
    model.ckpt = ckpt
    for block in model.blocks:
        block.attn.fused, block.attn.inplace = fused, inplace
    return model


def make_opt(model: nn.Module, optimizer: str = "adam"):
    """Adam (lr 3e-3) or plain SGD (lr 0.3, no state), both foreach."""
    if optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=3e-3, foreach=True)
    if optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=0.3, foreach=True)
    raise ValueError(f"optimizer should be 'adam' or 'sgd', got {optimizer!r}")


def _offloading():
    """Saved tensors in host memory until backward: `save_on_cpu` (pinned) with a GPU; without
    one, where `save_on_cpu` keeps a CPU tensor itself, a copy (`.to("cpu", copy=True)`), so that
    `memory.watch` sees the bytes a GPU would move (the CPU's total cannot fall: one memory)."""
    if torch.cuda.is_available():
        return torch.autograd.graph.save_on_cpu(pin_memory=True)
    return torch.autograd.graph.saved_tensors_hooks(lambda t: (t.device, t.to("cpu", copy=True)),
                                                    lambda packed: packed[1].to(packed[0]))


def gpt_step(model, opt, regime: dict, batch: int, seed: int = 0, precision: str = "fp32",
             micro: int = 1, device: str = "cpu", offload: bool = False):
    """The step: step i's batch as `micro` micro-batches (loss / micro, backward each), one
    optimizer step; returns the batch's mean loss (a float tensor). `offload`: what autograd
    saves goes to host memory until backward needs it (`_offloading`)."""
    if batch % micro:
        raise ValueError(f"micro-batches must split the batch evenly: {batch} rows in {micro}")
    count = [0]
    autocast = (torch.autocast(device_type=device.split(":")[0], dtype=torch.bfloat16)
                if precision == "autocast" else None)
    saved = _offloading if offload else contextlib.nullcontext

    def step():
        x, y = batch_at(count[0], batch, regime["seq"], seed, device)
        count[0] += 1
        opt.zero_grad(set_to_none=True)
        total = torch.zeros((), device=device)
        for xb, yb in zip(x.chunk(micro), y.chunk(micro)):
            with saved():
                if autocast is None:
                    logits = model(xb)
                else:
                    with autocast:
                        logits = model(xb)
            loss = F.cross_entropy(logits.flatten(0, 1).float(), yb.flatten())
            (loss / micro).backward()
            total += loss.detach() / micro
        opt.step()
        return total
    return step


def gpt_setup(regime: dict, batch: int, seed: int = 0, precision: str = "fp32", ckpt: bool = False,
              micro: int = 1, optimizer: str = "adam", fused: bool = False, inplace: bool = False,
              device: str = "cpu", offload: bool = False) -> dict:
    """The GPT of `regime` with the techniques switched on, as a setup: {step, model, optimizer}."""
    model = make_gpt(regime, seed, precision, ckpt, fused, inplace, device)
    opt = make_opt(model, optimizer)
    return {"step": gpt_step(model, opt, regime, batch, seed, precision, micro, device, offload),
            "model": model, "optimizer": opt}
