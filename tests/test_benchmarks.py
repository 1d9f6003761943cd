"""The benchmark scripts still run: each quick mode finishes and prints its table (the
numbers themselves are read by people, never asserted)."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
QUICK_RUNS = {
    "linear_scan": (["--quick", "--repeats", "1"], "GLA recurrence"),
    "delta_scan": (["--quick", "--repeats", "1"], "DeltaNet delta rule"),
    "scan": (["--quick", "--threads", "1", "--max-L", "256", "--repeats", "1"],
             "Selective scan"),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", QUICK_RUNS)
def test_benchmark_quick_mode_prints_its_table(name):
    args, title = QUICK_RUNS[name]
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / f"{name}.py"), *args],
                         capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert run.returncode == 0, run.stderr[-3000:]
    assert title in run.stdout and "fwd+bwd" in run.stdout, run.stdout[-3000:]
