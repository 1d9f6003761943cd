"""What the benchmark scripts share: thread settings, the timing loop, autograd call pairs,
and the "one recurrence, several forms" table of benchmarks/linear_scan.py and delta_scan.py.

Every time is min (median) of ``repeats`` calls after one warm-up call, so compile time is
excluded; on a shared machine the min is the robust number.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numba
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import minitx  # noqa: E402

try:
    import torch
except ImportError:  # tables then have no torch columns
    torch = None
try:
    from threadpoolctl import threadpool_limits
except ImportError:
    threadpool_limits = None

MODES = ("fwd", "fwd+bwd")


def set_threads(n):
    """The same thread count for Numba, torch and the BLAS under NumPy."""
    numba.set_num_threads(n)
    if torch is not None:
        torch.set_num_threads(n)
    if threadpool_limits is not None:
        threadpool_limits(n, user_api="blas")


def times(fn, repeats):
    """(median, min) seconds of `repeats` calls after one warm-up call."""
    fn()
    runs = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t)
    return statistics.median(runs), min(runs)


def tensor_calls(fn, arrays, g):
    """{"fwd": forward under no_grad, "fwd+bwd": forward and backward of sum(fn(...) * g)}
    for fn applied to tensors made from `arrays`."""
    tensors = [minitx.tensor(a, requires_grad=True) for a in arrays]

    def fwd():
        with minitx.no_grad():
            fn(*tensors)

    def fwd_bwd():
        for t in tensors:
            t.grad = None
        fn(*tensors).backward(g)

    return {"fwd": fwd, "fwd+bwd": fwd_bwd}


def check_forms_agree(forms, make_inputs, rng, reference="loop"):
    """Every form computes what the reference form does (float64, T = 100) before timing."""
    arrays, _ = make_inputs(100, rng)
    tensors = [minitx.tensor(a, dtype="float64") for a in arrays]
    want = forms[reference](*tensors).data
    for name, fn in forms.items():
        np.testing.assert_allclose(fn(*tensors).data, want, rtol=1e-8, atol=1e-8, err_msg=name)


def forms_table(title, forms, make_inputs, Ts, repeats, slow="loop", fast="numba"):
    """Time every form at every T (the slow form with a third of the repeats) and print one
    table per mode with the slow / fast ratio."""
    rng = np.random.default_rng(0)
    check_forms_agree(forms, make_inputs, rng, reference=slow)
    timing, slow_reps = {}, max(1, repeats // 3)
    for T in Ts:
        arrays, g = make_inputs(T, rng)
        for name, fn in forms.items():
            made = tensor_calls(fn, arrays, g)
            for mode in MODES:
                timing[T, name, mode] = times(made[mode], slow_reps if name == slow else repeats)
        print(f"  done: T = {T}", file=sys.stderr, flush=True)
    print(f"\n{title}, ms: min (median); repeats {repeats} ({slow}: {slow_reps})")
    for mode in MODES:
        print(f"\n{mode}")
        print(f"{'T':>5} | " + " | ".join(f"{n:>15}" for n in forms) + f" | {slow}/{fast}")
        for T in Ts:
            cells = [timing[T, n, mode] for n in forms]
            ratio = timing[T, slow, mode][1] / timing[T, fast, mode][1]
            print(f"{T:>5} | " + " | ".join(f"{c[1] * 1e3:7.1f} ({c[0] * 1e3:5.1f})"
                                            for c in cells) + f" | {ratio:9.1f}x")
    return timing


def forms_main(title, forms, make_inputs, argv=None, doc=""):
    """The command line of a forms benchmark: --quick (T = 1024, 2 repeats) or T = 1024, 4096."""
    p = argparse.ArgumentParser(description=doc.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="T = 1024 only, 2 repeats")
    p.add_argument("--repeats", type=int, default=6)
    args = p.parse_args(argv)
    if args.repeats < 1:
        p.error(f"--repeats: {args.repeats} is not a count (accepted: 1 or more)")
    Ts = (1024,) if args.quick else (1024, 4096)
    return forms_table(title, forms, make_inputs, Ts, 2 if args.quick else args.repeats)
