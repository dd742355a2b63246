"""The course's memory meter: how many bytes a training step needs, on a GPU or a CPU.

Part III's pages, exercises and hidden checks all read their figures here, so that a Colab GPU,
a grading GPU and a CPU-only CI machine tell the same story. In layers, each module importing
only those above it in this list:

    arithmetic  pure byte and lifetime arithmetic: KINDS, FIGURES, storage_bytes, max_live, ...
    backend     which counters to read ("cuda" or "cpu"), and MeterError
    display     tables in MiB, bar charts, GPU snapshots (matplotlib only here)
    setups      what a setup function returns, parsed once for every path (`build`)
    tracker     the CPU storage tracker: a TorchDispatchMode and saved-tensor hooks; live_bytes
    meter       Measurement, measure, Comparison, compare, require_reduction
    isolated    measure_isolated: the same, in a fresh process (the grade's figures)
    graded      measure_one, measure_pair: in process for feedback, isolated for the grade
    exact       in_tensor_bytes: a measurement in tensor bytes on any backend (byte predictions)
    workloads   steps that several chapters share: the MLP, the optimizers, the loss curve
    gpt         a small byte-level GPT with every technique a switch (the capstone's model)
    agreement   CPU tracker against CUDA allocator, recorded on a GPU (python -m ...agreement)

    from autograder import memory
    m = memory.measure(step, model=model, optimizer=opt)
    memory.require_reduction(memory.compare(m_plain, m_ckpt, what="saved"), at_least=0.5)
"""
from .arithmetic import (CUDA_BLOCK, FIGURES, KINDS, live_at, max_live, required_at_most,
                         storage_bytes, tensor_bytes)
from .backend import MeterError, resolve_backend
from .display import (format_comparison, format_measurement, plot_breakdown, plot_comparison,
                      snapshot)
from .exact import also_on, in_tensor_bytes
from .graded import measure_one, measure_pair
from .isolated import measure_isolated
from .meter import Comparison, Measurement, compare, measure, persistent, require_reduction
from .setups import Built, build, parse
from .tracker import live_bytes
from .trial import Trial, require_same_work, trial
from .workloads import (DTYPES, OPTIMIZERS, make_mlp, make_optimizer, mlp, mse_step,
                        progress_range, train,
                        transformer_block)

__all__ = [
    "CUDA_BLOCK", "FIGURES", "KINDS", "live_at", "max_live", "required_at_most", "storage_bytes",
    "tensor_bytes", "MeterError", "resolve_backend", "format_comparison", "format_measurement",
    "plot_breakdown", "plot_comparison", "snapshot", "also_on", "in_tensor_bytes", "measure_one", "measure_pair",
    "measure_isolated", "Comparison", "Measurement", "compare", "measure", "persistent",
    "require_reduction", "Built", "build", "parse", "live_bytes", "DTYPES", "OPTIMIZERS", "make_mlp",
    "make_optimizer", "mlp", "mse_step", "progress_range", "train", "transformer_block",
]
