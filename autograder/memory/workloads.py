"""Training steps that several chapters (and the meter's own agreement record) measure.

What more than one chapter builds lives here, once, so that no chapter imports another and the
hidden checks' loader can see when a notebook replaced one: the MLP and the optimizers of
chapters 6 and 10, the MSE training step, the loss-curve loop of chapters 7 and 8, and the
agreement record's MLP and transformer block. Every setup returns {"step", "model",
"optimizer"}; the agreement workloads are importable by name for `measure_isolated`.

Known limitations: optimizers use `foreach=True` everywhere (CUDA's default, so CPU and GPU run
the same update); the transformer block's attention temporaries differ between CPU and CUDA
kernels.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from .setups import build

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}
OPTIMIZERS = ("adam", "sgd_momentum", "sgd")


def make_optimizer(name: str, params):
    """Adam, SGD with momentum 0.9, or plain SGD (no state), all foreach."""
    if name == "adam":
        return torch.optim.Adam(params, lr=1e-3, foreach=True)
    if name in ("sgd", "sgd_momentum"):
        return torch.optim.SGD(params, lr=1e-2, momentum=0.9 if name == "sgd_momentum" else 0.0,
                               foreach=True)
    raise ValueError(f"unknown optimizer {name!r}; choose from {OPTIMIZERS}")


ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "gelu": nn.GELU, "silu": nn.SiLU}


def make_mlp(widths, frozen: int = 0, bias: bool = True, precision: str = "float32",
             device: str = "cpu", seed: int = 0, activation: str = "relu") -> nn.Sequential:
    """Linear(widths[i], widths[i+1]) with `activation` (ACTIVATIONS) between; the first
    `frozen` Linears frozen."""
    torch.manual_seed(seed)
    layers = []
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
        lin = nn.Linear(a, b, bias=bias)
        lin.requires_grad_(i >= frozen)
        layers += [lin, ACTIVATIONS[activation]()]
    return nn.Sequential(*layers[:-1]).to(device=device, dtype=DTYPES[precision])


def mse_step(model: nn.Module, opt, x: torch.Tensor, y: torch.Tensor) -> dict:
    """The usual step on fixed data as a setup's return: zero_grad (to None), MSE loss,
    backward, the optimizer's update; the step returns the loss, detached."""
    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        return loss.detach()
    return {"step": step, "model": model, "optimizer": opt}


def progress_range(steps: int, progress: str | None = None):
    """range(steps), shown as a progress bar when `progress` names it (a widget in Jupyter and
    Colab with its text line beside it for static pages, text elsewhere: `widgets.progress`)."""
    if not progress:
        return range(steps)
    from ..widgets import progress as bar
    return bar(range(steps), desc=progress, unit="step")


def train(setup, steps: int = 40, batch: int = 128, seed: int = 0, progress=None) -> list[float]:
    """The losses of `steps` steps of a setup's step, one per step, as floats."""
    step = build(setup, batch=batch, seed=seed).step
    losses = [float(step()) for _ in progress_range(steps, progress)]
    if progress:    # the summary line also shows on a static page
        print(f"{progress}: {steps} steps, loss {losses[0]:.4f} -> {losses[-1]:.4f}")
    return losses


# ---------------------------------------------------------------- the agreement record's workloads
class _Stack(nn.Module):
    """Blocks applied in turn, each optionally under a non-reentrant checkpoint."""

    def __init__(self, blocks, ckpt: bool):
        super().__init__()
        self.blocks, self.ckpt = nn.ModuleList(blocks), ckpt

    def forward(self, x):
        for b in self.blocks:
            x = checkpoint(b, x, use_reentrant=False) if self.ckpt else b(x)
        return x


def _stacked(blocks, shape, optimizer: str, ckpt: bool, dtype: str, device: str) -> dict:
    dt = DTYPES[dtype]
    model = _Stack(blocks, ckpt).to(device=device, dtype=dt)
    x = torch.randn(*shape, device=device, dtype=dt)
    y = torch.randn(*shape, device=device, dtype=dt)
    return mse_step(model, make_optimizer(optimizer, model.parameters()), x, y)


def mlp(batch: int = 64, width: int = 512, depth: int = 4, optimizer: str = "adam",
        ckpt: bool = False, dtype: str = "float32", device: str = "cpu", seed: int = 0) -> dict:
    """Linear-GELU blocks; x: (batch, width) -> (batch, width)."""
    torch.manual_seed(seed)
    blocks = [nn.Sequential(nn.Linear(width, width), nn.GELU()) for _ in range(depth)]
    return _stacked(blocks, (batch, width), optimizer, ckpt, dtype, device)


def transformer_block(batch: int = 8, seq: int = 128, d_model: int = 256, heads: int = 4,
                      layers: int = 2, optimizer: str = "adam", ckpt: bool = False,
                      dtype: str = "float32", device: str = "cpu", seed: int = 0) -> dict:
    """Pre-norm encoder layers; x: (batch, seq, d_model) -> same shape."""
    torch.manual_seed(seed)
    blocks = [nn.TransformerEncoderLayer(d_model, heads, 4 * d_model, dropout=0.0,
                                         batch_first=True, norm_first=True) for _ in range(layers)]
    return _stacked(blocks, (batch, seq, d_model), optimizer, ckpt, dtype, device)
