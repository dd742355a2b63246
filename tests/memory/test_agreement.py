"""The meter's CPU-against-GPU record, walked on a CPU with the CUDA backend forced."""
import dataclasses

import torch

from autograder.memory import agreement


def test_the_cuda_isolated_run_builds_its_model_on_the_gpu(monkeypatch):
    """A CUDA measurement of a model built on the CPU reads the allocator's counters at about 0:
    the isolated run must be told the device as well as the backend."""
    calls = []
    cpu = agreement.measure_workload("mlp_sgd", "cpu")

    def fake_isolated(setup, backend=None, **kwargs):
        calls.append((backend, kwargs))
        return dataclasses.replace(cpu, backend=backend, isolated=True)
    monkeypatch.setattr(agreement, "resolve_backend", lambda b=None: "cuda")
    monkeypatch.setattr(agreement, "measure_workload",
                        lambda n, b: dataclasses.replace(cpu, backend=b, label=n))
    monkeypatch.setattr(agreement, "measure_isolated", fake_isolated)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *a: "a forced GPU")
    monkeypatch.setattr(agreement, "_versions", lambda: {})
    out = agreement.record()
    assert calls == [("cpu", {"device": "cpu"}), ("cuda", {"device": "cuda"})]
    assert set(out["agreement"]) == set(agreement.WORKLOADS) | {"isolated_equals_in_process_peak"}
    assert out["ratios"]["bf16_peak"]["cuda"] == 1.0 and out["gpu"] == "a forced GPU"
