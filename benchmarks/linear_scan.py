"""GLA's recurrent form three ways at growing T: the Python token loop of autograd ops, the
Numba gated scan (one autograd node), and the chunkwise-parallel form.

    python benchmarks/linear_scan.py                 # T = 1024 and 4096
    python benchmarks/linear_scan.py --quick         # T = 1024 only, 2 repeats

Shapes: batch 1, 4 heads, head dim 16 (Dk = Dv = 16), float32. Implementations:
  loop     minitx.mixers.linear.gla.recurrent_form_loop: per token k^T v, gate, q S
  numba    gla.recurrent_form -> minitx.kernels.gated_scan (forward, adjoint backward)
  chunked  gla.chunked_form(chunk_size=16 (the mixer's default) and 64)
Modes: forward (no graph), and forward + backward of sum(o * g) into q, k, v, log alpha.

Time: min (median) of --repeats calls after a warm-up call (compile time excluded). The
machine may be shared: the min is the robust number; run it idle.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import minitx  # noqa: E402
from minitx.mixers.linear import gla  # noqa: E402

BATCH, HEADS, DIM = 1, 4, 16
MODES = ("fwd", "fwd+bwd")
IMPLS = {"loop": gla.recurrent_form_loop, "numba": gla.recurrent_form,
         "chunk16": lambda *a: gla.chunked_form(*a, chunk_size=16),
         "chunk64": lambda *a: gla.chunked_form(*a, chunk_size=64)}


def make_inputs(T, rng):
    shape = (BATCH, HEADS, T, DIM)
    q, k, v = (rng.standard_normal(shape).astype(np.float32) for _ in range(3))
    log_a = np.log(rng.uniform(0.9, 1.0, shape)).astype(np.float32)
    g = rng.standard_normal(shape).astype(np.float32)
    return (q, k * DIM ** -0.5, v, log_a), g


def calls(fn, arrays, g):
    tensors = [minitx.tensor(a, requires_grad=True) for a in arrays]

    def fwd():
        with minitx.no_grad():
            fn(*tensors)

    def fwd_bwd():
        for t in tensors:
            t.grad = None
        fn(*tensors).backward(g)

    return {"fwd": fwd, "fwd+bwd": fwd_bwd}


def times(fn, repeats):
    """(median, min) seconds of `repeats` calls after one warm-up call."""
    fn()
    runs = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t)
    return statistics.median(runs), min(runs)


def check_agreement(rng):
    """All forms compute the same o (float64, small T) before timing them."""
    arrays, _ = make_inputs(100, rng)
    tensors = [minitx.tensor(a, dtype="float64") for a in arrays]
    want = gla.recurrent_form_loop(*tensors).data
    for name, fn in IMPLS.items():
        np.testing.assert_allclose(fn(*tensors).data, want, rtol=1e-8, atol=1e-8, err_msg=name)


def run(Ts, repeats):
    rng = np.random.default_rng(0)
    check_agreement(rng)
    timing = {}
    for T in Ts:
        arrays, g = make_inputs(T, rng)
        for name, fn in IMPLS.items():
            made = calls(fn, arrays, g)
            for mode in MODES:
                reps = max(1, repeats // 3) if name == "loop" else repeats
                timing[T, name, mode] = times(made[mode], reps)
        print(f"  done: T = {T}", file=sys.stderr, flush=True)
    print(f"\nGLA recurrence, ms: min (median); (batch, heads, dim) = ({BATCH}, {HEADS}, {DIM}), "
          f"float32; repeats {repeats} (loop: {max(1, repeats // 3)})")
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
    Ts = (1024,) if args.quick else (1024, 4096)
    run(Ts, 2 if args.quick else args.repeats)


if __name__ == "__main__":
    main()
