"""GPU recording: never on a machine without a GPU."""


def test_gpu_figures_refuse_a_machine_without_gpu(capsys, monkeypatch):
    """CPU figures must never be saved as a GPU's: no GPU, nothing written, exit status 2."""
    from autograder import device, results
    from autograder.grading import record
    monkeypatch.setenv("COURSE_FORCE_CPU", "1")
    device.detect.cache_clear()
    saved = []
    monkeypatch.setattr(results, "save", lambda *a, **k: saved.append(a))
    try:
        assert record.main([]) == 2
    finally:
        device.detect.cache_clear()
    assert not saved and "No GPU" in capsys.readouterr().err
    assert "ch01_cpu_vs_gpu" in record.chapters()
