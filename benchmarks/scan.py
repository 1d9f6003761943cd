"""The selective scan of Mamba at growing L: the Numba kernels vs the NumPy reference loop vs
a torch sequential loop (the reference loop of the Mamba code, when torch is importable).

    python benchmarks/scan.py                  # L = 256 ... 4096, 1 and 2 threads
    python benchmarks/scan.py --quick          # L <= 1024, 3 repeats
    python benchmarks/scan.py --threads 1 --max-L 1024

Shapes: batch 2, d_inner 256, d_state 16, float32 (the issue's sizes). Implementations:
  numba  minitx.kernels.selective_scan: selective_scan_forward / _backward
  numpy  selective_scan_forward_ref / _backward_ref: a Python loop over t of NumPy steps
  torch  exp(delta A) and delta B x computed at once, then a Python loop over t of
         h = dA_t h + dBx_t, y_t = h . C_t (as ``selective_scan_ref`` in the Mamba code);
         fwd+bwd through torch autograd
Modes: forward, and forward + backward (the gradients of sum(y * g) for all six inputs).

Time: min (median) of --repeats calls after a warm-up call (compile time excluded); "ns/upd"
is the min divided by the number of state updates, batch * L * d_inner * d_state. Threads:
Numba (numba.set_num_threads), BLAS (threadpoolctl) and torch (set_num_threads) all set to
the same count. The machine may be shared: the min is the robust number; run it idle.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import MODES, set_threads, threadpool_limits, times, torch  # noqa: E402
from minitx.kernels import selective_scan as S  # noqa: E402


BATCH, D_INNER, D_STATE = 2, 256, 16


def make_inputs(L, rng, dtype=np.float32):
    x = rng.standard_normal((BATCH, L, D_INNER)).astype(dtype)
    delta = rng.uniform(0.001, 0.1, (BATCH, L, D_INNER)).astype(dtype)
    A = -np.tile(np.arange(1, D_STATE + 1, dtype=dtype), (D_INNER, 1))  # S4D-real
    B = rng.standard_normal((BATCH, L, D_STATE)).astype(dtype)
    C = rng.standard_normal((BATCH, L, D_STATE)).astype(dtype)
    D = np.ones(D_INNER, dtype)
    g = rng.standard_normal((BATCH, L, D_INNER)).astype(dtype)
    return (x, delta, A, B, C, D), g


# ----- implementations: make(args, g) -> {mode: callable} ------------------------------------
def numba_calls(args, g):
    return {"fwd": lambda: S.selective_scan_forward(*args),
            "fwd+bwd": lambda: (S.selective_scan_forward(*args),
                                S.selective_scan_backward(*args, g))}


def numpy_calls(args, g):
    return {"fwd": lambda: S.selective_scan_forward_ref(*args),
            "fwd+bwd": lambda: (S.selective_scan_forward_ref(*args),
                                S.selective_scan_backward_ref(*args, g))}


def torch_scan(x, delta, A, B, C, D):
    """The sequential reference: x, delta (b, L, d), A (d, n), B, C (b, L, n)."""
    dA = torch.exp(delta.unsqueeze(-1) * A)  # (b, L, d, n)
    dBx = (delta * x).unsqueeze(-1) * B.unsqueeze(2)  # (b, L, d, n)
    h = x.new_zeros(x.shape[0], x.shape[2], A.shape[1])
    ys = []
    # unbind once: indexing dA[:, t] in the loop would make the backward quadratic in L
    # (each step's gradient is scattered into a zero tensor of the full (b, L, d, n) size)
    for dA_t, dBx_t, C_t in zip(dA.unbind(1), dBx.unbind(1), C.unbind(1)):
        h = dA_t * h + dBx_t
        ys.append(torch.einsum("bdn,bn->bd", h, C_t))
    return torch.stack(ys, dim=1) + D * x


def torch_calls(args, g):
    tensors = [torch.from_numpy(a).requires_grad_() for a in args]
    tg = torch.from_numpy(g)

    def fwd():
        with torch.no_grad():
            torch_scan(*tensors)

    def fwd_bwd():
        for t in tensors:
            t.grad = None
        torch_scan(*tensors).backward(tg)

    return {"fwd": fwd, "fwd+bwd": fwd_bwd}


# ----- measuring -----------------------------------------------------------------------------
def check_agreement(rng):
    """The three implementations compute the same y (float64, small L) before timing them."""
    args, _ = make_inputs(64, rng, np.float64)
    y = S.selective_scan_forward(*args)
    np.testing.assert_allclose(y, S.selective_scan_forward_ref(*args), rtol=1e-9, atol=1e-9)
    if torch is not None:
        with torch.no_grad():
            yt = torch_scan(*(torch.from_numpy(a) for a in args)).numpy()
        np.testing.assert_allclose(y, yt, rtol=1e-9, atol=1e-9)


def run(args):
    impls = {"numba": numba_calls, "numpy": numpy_calls}
    if torch is not None:
        impls["torch"] = torch_calls
    Ls = [L for L in (256, 512, 1024, 2048, 4096) if L <= args.max_L]
    rng = np.random.default_rng(0)
    check_agreement(rng)
    timing = {}
    for n in args.threads:
        set_threads(n)
        for L in Ls:
            inputs, g = make_inputs(L, rng)
            for name, make in impls.items():
                calls = make(inputs, g)
                for mode in MODES:
                    reps = args.repeats if name == "numba" else max(1, args.repeats // 2)
                    timing[n, L, name, mode] = times(calls[mode], reps)
            print(f"  done: {n} thread(s), L = {L}", file=sys.stderr, flush=True)
    names = list(impls)
    print(f"\nSelective scan, ms: min (median); (batch, d_inner, d_state) = "
          f"({BATCH}, {D_INNER}, {D_STATE}), float32; numba repeats {args.repeats}")
    for mode in MODES:
        print(f"\n{mode}")
        head = f"{'thr':>3} {'L':>5} | " + " | ".join(f"{name:>15}" for name in names)
        print(head + " | numba ns/upd | torch/numba | numpy/numba")
        for n in args.threads:
            for L in Ls:
                cells = [timing[n, L, name, mode] for name in names]
                updates = BATCH * L * D_INNER * D_STATE
                best = timing[n, L, "numba", mode][1]
                vs_torch = (f"{timing[n, L, 'torch', mode][1] / best:10.1f}x"
                            if "torch" in impls else f"{'-':>11}")
                vs_numpy = timing[n, L, "numpy", mode][1] / best
                print(f"{n:>3} {L:>5} | "
                      + " | ".join(f"{c[1] * 1e3:7.1f} ({c[0] * 1e3:5.1f})" for c in cells)
                      + f" | {best / updates * 1e9:12.2f} | {vs_torch} | {vs_numpy:10.1f}x")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="L <= 1024 and 3 repeats")
    p.add_argument("--max-L", type=int, default=4096, help="largest L (default 4096)")
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    args = p.parse_args(argv)
    if args.quick:
        args.max_L, args.repeats = min(args.max_L, 1024), 3
    for n in args.threads:
        if n < 1:
            p.error(f"--threads: {n} is not a thread count (accepted: 1 or more)")
    if threadpool_limits is None:
        print("(threadpoolctl missing: BLAS thread count not pinned; pip install threadpoolctl)")
    if torch is None:
        print("(torch not importable: no torch column; pip install torch for the comparison)")
    run(args)


if __name__ == "__main__":
    main()
