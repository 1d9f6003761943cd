"""GLA's recurrent form three ways at growing T: the Python token loop of autograd ops, the
Numba gated scan (one autograd node), and the chunkwise-parallel form.

    python benchmarks/linear_scan.py                 # T = 1024 and 4096
    python benchmarks/linear_scan.py --quick         # T = 1024 only, 2 repeats

Shapes: batch 1, 4 heads, head dim 16 (Dk = Dv = 16), float32. Implementations:
  loop     minitx.mixers.linear.gla.recurrent_form_loop: per token k^T v, gate, q S
  numba    gla.recurrent_form -> minitx.kernels.gated_scan (forward, adjoint backward)
  chunked  gla.chunked_form(chunk_size=16 (the mixer's default) and 64)
Modes: forward (no graph), and forward + backward of sum(o * g) into q, k, v, log alpha.

Time: min (median) of --repeats calls after a warm-up call (benchmarks/_common.py); the
machine may be shared: the min is the robust number; run it idle.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import forms_main  # noqa: E402
from minitx.mixers.linear import gla  # noqa: E402

BATCH, HEADS, DIM = 1, 4, 16
FORMS = {"loop": gla.recurrent_form_loop, "numba": gla.recurrent_form,
         "chunk16": lambda *a: gla.chunked_form(*a, chunk_size=16),
         "chunk64": lambda *a: gla.chunked_form(*a, chunk_size=64)}


def make_inputs(T, rng):
    shape = (BATCH, HEADS, T, DIM)
    q, k, v = (rng.standard_normal(shape).astype(np.float32) for _ in range(3))
    log_a = np.log(rng.uniform(0.9, 1.0, shape)).astype(np.float32)
    g = rng.standard_normal(shape).astype(np.float32)
    return (q, k * DIM ** -0.5, v, log_a), g


def main(argv=None):
    forms_main(f"GLA recurrence, (batch, heads, dim) = ({BATCH}, {HEADS}, {DIM}), float32",
               FORMS, make_inputs, argv, __doc__)


if __name__ == "__main__":
    main()
