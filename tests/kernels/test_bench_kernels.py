"""The kernel benchmark runs (its figures are read by people, not asserted: machines are noisy)."""
import subprocess
import sys

from conftest import ROOT


def test_benchmark_runs_and_prints_cold_and_warm_times():
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_kernels.py"), "--chapters", "ch02",
                           "--lines", "2", "--no-hang", "--no-fresh"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert "cold s" in out and "warm s" in out
    assert "ch02     numba_diff_check       visible" in out and "ch02     numba_diff_check       hidden" in out
    assert "ch02_first_kernels" in out.split("chapter")[-1]
