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
Timing helpers are shared with benchmarks/linear_scan.py (min (median) after a warm-up).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import minitx  # noqa: E402
from linear_scan import calls, times  # noqa: E402
from minitx.mixers.linear import deltanet as dn  # noqa: E402

BATCH, HEADS, DIM = 1, 4, 16
MODES = ("fwd", "fwd+bwd")
IMPLS = {"loop": dn.recurrent_form_loop, "numba": dn.recurrent_form,
         "chunk32": lambda *a: dn.chunked_form(*a, chunk_size=32),
         "chunk64": lambda *a: dn.chunked_form(*a, chunk_size=64)}


def make_inputs(T, rng):
    shape = (BATCH, HEADS, T, DIM)
    q, k, v = (rng.standard_normal(shape) for _ in range(3))
    k /= np.linalg.norm(k, axis=-1, keepdims=True)
    beta = rng.uniform(0.05, 0.95, shape[:3] + (1,))
    g = rng.standard_normal(shape).astype(np.float32)
    return tuple(a.astype(np.float32) for a in (q, k, v, beta)), g


def check_agreement(rng):
    """All forms compute the same o (float64, small T) before timing them."""
    arrays, _ = make_inputs(100, rng)
    tensors = [minitx.tensor(a, dtype="float64") for a in arrays]
    want = dn.recurrent_form_loop(*tensors).data
    for name, fn in IMPLS.items():
        np.testing.assert_allclose(fn(*tensors).data, want, rtol=1e-8, atol=1e-8, err_msg=name)


def run(Ts, repeats):
    rng = np.random.default_rng(0)
    check_agreement(rng)
    timing, loop_reps = {}, max(1, repeats // 3)
    for T in Ts:
        arrays, g = make_inputs(T, rng)
        for name, fn in IMPLS.items():
            made = calls(fn, arrays, g)
            for mode in MODES:
                timing[T, name, mode] = times(made[mode], loop_reps if name == "loop" else repeats)
        print(f"  done: T = {T}", file=sys.stderr, flush=True)
    print(f"\nDeltaNet delta rule, ms: min (median); (batch, heads, dim) = ({BATCH}, {HEADS}, "
          f"{DIM}), float32; repeats {repeats} (loop: {loop_reps})")
    for mode in MODES:
        print(f"\n{mode}")
        print(f"{'T':>5} | " + " | ".join(f"{n:>15}" for n in IMPLS) + " | loop/numba")
        for T in Ts:
            cells = [timing[T, n, mode] for n in IMPLS]
            ratio = timing[T, "loop", mode][1] / timing[T, "numba", mode][1]
            print(f"{T:>5} | " + " | ".join(f"{c[1] * 1e3:7.1f} ({c[0] * 1e3:5.1f})"
                                            for c in cells) + f" | {ratio:9.1f}x")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="T = 1024 only, 2 repeats")
    p.add_argument("--repeats", type=int, default=6)
    args = p.parse_args(argv)
    if args.repeats < 1:
        p.error(f"--repeats: {args.repeats} is not a count (accepted: 1 or more)")
    run((1024,) if args.quick else (1024, 4096), 2 if args.quick else args.repeats)


if __name__ == "__main__":
    main()
