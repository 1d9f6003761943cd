"""The convolutional SSMs of chapter 06 at growing length L: how each kernel route and each
form of the layer scales.

    python benchmarks/ssm_kernels.py            # L = 256 ... 4096
    python benchmarks/ssm_kernels.py --quick    # L <= 1024, 2 repeats

Tables (float64, min of --repeats calls after a warm-up call):
  1. S4 kernel for C = 8 channels, N = 32: Cauchy + Woodbury at the roots of unity
     (``s4.CauchyKernel``, O(C N L)) vs dense solves of the generating function
     (O(C N^3 L)) vs materialised powers of Abar (O(C N^2 L)); both dense routes only up
     to L = 1024.
  2. Causal convolution of (B=2, L, C=16): FFT with 2L padding (``causal_conv``, forward
     and forward + backward) vs the direct O(L^2) sum as one Toeplitz matrix product per
     channel (up to L = 2048).
  3. One S4D layer (d_model 16, N 64): the FFT convolution (``forward``), the complex linear
     recurrence (``ssm.scan``, Numba), and ``step`` token by token.
The machine may be shared: the min is the robust number; run it idle.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import minitx  # noqa: E402
from minitx import mixers  # noqa: E402
from minitx.mixers.ssm import s4  # noqa: E402
from minitx.mixers.ssm._conv import causal_conv  # noqa: E402


def best(fn, repeats):
    fn()  # warm-up (Numba compilation, caches)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e3 * min(times)


def fmt(ms):
    return "-" if ms is None else f"{ms:.2f}"


def s4_routes(lengths, repeats):
    minitx.manual_seed(0)
    print("\n1. S4 kernel, C = 8, N = 32 (ms)")
    print(f"{'L':>6} {'cauchy':>10} {'generating':>11} {'powers':>10}")
    for L in lengths:
        layer = mixers.build("s4", d_model=8, d_state=32, l_max=L).double()
        params = layer.ssm.complex_params()
        cauchy = best(lambda: layer.ssm.kernel(L), repeats)
        dense = L <= 1024
        gen = best(lambda: s4.kernel_generating(*params, L), 1) if dense else None
        powers = best(lambda: s4.kernel_powers(*params, L), 1) if dense else None
        print(f"{L:>6} {fmt(cauchy):>10} {fmt(gen):>11} {fmt(powers):>10}")


def toeplitz_conv(u, k):
    T = u.shape[1]
    lags = np.subtract.outer(np.arange(T), np.arange(T))
    out = np.empty_like(u)
    for c in range(u.shape[2]):
        M = np.where(lags >= 0, k[c][np.clip(lags, 0, None)], 0.0)  # M[t, s] = k[t - s]
        out[:, :, c] = u[:, :, c] @ M.T
    return out


def convolutions(lengths, repeats, rng):
    print("\n2. causal convolution, B = 2, C = 16 (ms)")
    print(f"{'L':>6} {'fft fwd':>10} {'fft fwd+bwd':>12} {'direct fwd':>11}")
    for L in lengths:
        u = minitx.tensor(rng.standard_normal((2, L, 16)), dtype="float64", requires_grad=True)
        k = minitx.tensor(rng.standard_normal((16, L)), dtype="float64", requires_grad=True)
        fwd = best(lambda: causal_conv(u, k), repeats)
        both = best(lambda: causal_conv(u, k).sum().backward(), repeats)
        direct = best(lambda: toeplitz_conv(u.data, k.data), 1) if L <= 2048 else None
        print(f"{L:>6} {fmt(fwd):>10} {fmt(both):>12} {fmt(direct):>11}")


def s4d_forms(lengths, repeats, rng):
    minitx.manual_seed(0)
    layer = mixers.build("s4d", d_model=16, d_state=64).double()
    print("\n3. S4D layer, d_model 16, N 64, batch 2 (ms)")
    print(f"{'L':>6} {'conv (FFT)':>11} {'scan (Numba)':>13} {'step loop':>10}")
    for L in lengths:
        x = minitx.tensor(rng.standard_normal((2, L, 16)), dtype="float64")

        def steps():
            state = layer.init_state(2)
            for t in range(L):
                _, state = layer.step(x[:, t], state)

        with minitx.no_grad():
            conv = best(lambda: layer.ssm(x), repeats)
            scan = best(lambda: layer.ssm.scan(x.data), repeats)
            loop = best(steps, 1) if L <= 1024 else None
        print(f"{L:>6} {fmt(conv):>11} {fmt(scan):>13} {fmt(loop):>10}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="L <= 1024, 2 repeats")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    lengths = (256, 1024) if args.quick else (256, 1024, 4096)
    repeats = 2 if args.quick else args.repeats
    rng = np.random.default_rng(0)
    s4_routes(lengths, repeats)
    convolutions(lengths, repeats, rng)
    s4d_forms(lengths, repeats, rng)


if __name__ == "__main__":
    main()
