"""DeltaNet's delta rule three ways at growing T: the Python token loop of autograd ops, the
Numba delta scan (one autograd node), and the chunkwise-parallel WY form.

    python benchmarks/delta_scan.py                 # T = 1024 and 4096
    python benchmarks/delta_scan.py --quick         # T = 1024 only, 2 repeats

Shapes: batch 1, 4 heads, head dim 16, float32; unit-norm keys, beta in (0, 1).
Implementations:
  loop     minitx.mixers.linear.deltanet.recurrent_form_loop
  numba    deltanet.recurrent_form -> minitx.kernels.delta_scan (forward, adjoint backward)
  chunk32  deltanet.chunked_form(chunk_size=32) (the mixer's default), and chunk64
Modes: forward (no graph), and forward + backward of sum(o * g) into q, k, v, beta.
Timing and table: benchmarks/_common.py (min (median) after a warm-up).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import forms_main  # noqa: E402
from minitx.mixers.linear import deltanet as dn  # noqa: E402

BATCH, HEADS, DIM = 1, 4, 16
FORMS = {"loop": dn.recurrent_form_loop, "numba": dn.recurrent_form,
         "chunk32": lambda *a: dn.chunked_form(*a, chunk_size=32),
         "chunk64": lambda *a: dn.chunked_form(*a, chunk_size=64)}


def make_inputs(T, rng):
    shape = (BATCH, HEADS, T, DIM)
    q, k, v = (rng.standard_normal(shape) for _ in range(3))
    k /= np.linalg.norm(k, axis=-1, keepdims=True)
    beta = rng.uniform(0.05, 0.95, shape[:3] + (1,))
    g = rng.standard_normal(shape).astype(np.float32)
    return tuple(a.astype(np.float32) for a in (q, k, v, beta)), g


def main(argv=None):
    forms_main(f"DeltaNet delta rule, (batch, heads, dim) = ({BATCH}, {HEADS}, {DIM}), float32",
               FORMS, make_inputs, argv, __doc__)


if __name__ == "__main__":
    main()
