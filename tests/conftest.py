"""Shared helpers for the library's tests."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from threadpoolctl import threadpool_limits

# The tests multiply small matrices, which a second BLAS thread does not speed up; when the
# other core is busy (a Numba kernel, another process) OpenBLAS's spinning second thread
# made training steps up to 10x slower. One BLAS thread here, and in subprocesses (notebook
# kernels, the no-JIT re-runs) through the environment.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
threadpool_limits(limits=1, user_api="blas")

JIT_DISABLED = os.environ.get("NUMBA_DISABLE_JIT", "0") not in ("", "0")
ROOT = Path(__file__).resolve().parents[1]


def rerun_twins_without_jit(test_file: str) -> None:
    """Re-run the ``test_twin_*`` tests of ``test_file`` in a subprocess with
    NUMBA_DISABLE_JIT=1: the Numba twins then run as plain Python and must still
    equal their NumPy references (the debugging switch a learner relies on)."""
    if JIT_DISABLED:
        pytest.skip("already running without the JIT")
    env = {key: val for key, val in os.environ.items() if key != "NUMBA_DISABLE_JIT"}
    env.update(NUMBA_DISABLE_JIT="1",
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    run = subprocess.run([sys.executable, "-m", "pytest", test_file, "-q", "-p", "no:cacheprovider",
                          "-k", "twin and not subprocess"], env=env, capture_output=True,
                         text=True, timeout=600, cwd=ROOT)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    assert " passed" in run.stdout and " failed" not in run.stdout
