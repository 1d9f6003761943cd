"""Attention at growing T: minitx's naive attention vs the FlashAttention-2 kernels vs torch.

    python benchmarks/attention.py                 # T = 128 ... 4096, 1 and 2 threads
    python benchmarks/attention.py --quick         # T <= 512, 3 repeats
    python benchmarks/attention.py --max-T 1024 --threads 1

Shapes (B, T, H, D) = (8, T, 4, 64), float32, causal. Implementations:
  naive  minitx.functional.scaled_dot_product_attention: the (B, H, T, T) weights in memory
  flash  minitx.mixers.attention.flash.flash_attention: tiles, saves only O and the lse
  torch  torch.nn.functional.scaled_dot_product_attention (when torch is importable)
Modes: forward (no graph), and forward + backward of sum(out * g).

Time: the median and the min of --repeats runs after a warm-up call (compile time excluded).
The machine may be shared: the min is the robust number, the median shows the noise.
Threads: Numba (numba.set_num_threads), BLAS (threadpoolctl) and torch (set_num_threads)
all set to the same count. Inside the flash kernels BLAS is held to one thread whenever
Numba runs several (see minitx.kernels.flash.one_blas_thread).

Peak extra memory: allocated on top of the inputs during one call, two ways:
  rss  the process's high-water mark, reset before the call (/proc/self/clear_refs; Linux).
       It sees every allocator: NumPy, Numba's kernels, torch.
  tm   tracemalloc's peak: NumPy's allocations only (Numba's and torch's allocators do not
       report to it, so this column is only meaningful for naive).
naive above --naive-max-T (default 2048) is skipped: at T = 4096 its weights and their
gradient alone take ~8 GB.

A last table times decode-phase attention (one query, a 64K-token KV cache, one head) with
the Lean Attention kernel on 1 worker (what a split by heads gives when there is one head)
and 2 workers (the cache split in two): only the split uses the second core.
"""

from __future__ import annotations

import argparse
import gc
import sys
import tracemalloc
from pathlib import Path

import numba
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import MODES, set_threads, threadpool_limits, times, torch  # noqa: E402
import minitx  # noqa: E402
import minitx.functional as F  # noqa: E402
from minitx.kernels import decode  # noqa: E402
from minitx.mixers.attention.flash import flash_attention  # noqa: E402


B, H, D = 8, 4, 64


# ----- the three implementations: setup(T, rng) -> {mode: callable} --------------------------
def naive_calls(T, rng):
    q, k, v = (minitx.tensor(rng.standard_normal((B, H, T, D), dtype=np.float32),
                             requires_grad=True) for _ in range(3))  # (B, H, T, D)
    g = rng.standard_normal((B, H, T, D), dtype=np.float32)

    def fwd():
        with minitx.no_grad():
            F.scaled_dot_product_attention(q, k, v, is_causal=True)

    def fwd_bwd():
        for t in (q, k, v):
            t.grad = None
        F.scaled_dot_product_attention(q, k, v, is_causal=True).backward(g)

    return {"fwd": fwd, "fwd+bwd": fwd_bwd}


def flash_calls(T, rng):
    q, k, v = (minitx.tensor(rng.standard_normal((B, T, H, D), dtype=np.float32),
                             requires_grad=True) for _ in range(3))  # (B, T, H, D)
    g = rng.standard_normal((B, T, H, D), dtype=np.float32)

    def fwd():
        with minitx.no_grad():
            flash_attention(q, k, v, causal=True)

    def fwd_bwd():
        for t in (q, k, v):
            t.grad = None
        flash_attention(q, k, v, causal=True).backward(g)

    return {"fwd": fwd, "fwd+bwd": fwd_bwd}


def torch_calls(T, rng):
    q, k, v = (torch.from_numpy(rng.standard_normal((B, H, T, D), dtype=np.float32))
               .requires_grad_() for _ in range(3))
    g = torch.from_numpy(rng.standard_normal((B, H, T, D), dtype=np.float32))
    sdpa = torch.nn.functional.scaled_dot_product_attention

    def fwd():
        with torch.no_grad():
            sdpa(q, k, v, is_causal=True)

    def fwd_bwd():
        for t in (q, k, v):
            t.grad = None
        sdpa(q, k, v, is_causal=True).backward(g)

    return {"fwd": fwd, "fwd+bwd": fwd_bwd}


# ----- measuring -----------------------------------------------------------------------------
def _status_mb(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1]) / 1024
    return float("nan")


def return_freed_memory_to_the_os():
    """glibc keeps freed blocks of up to 32 MB for reuse (its mmap threshold grows as large
    blocks are freed), so a second call would allocate without growing the RSS. A fixed
    threshold makes every block of 128 KiB or more its own mapping, returned on free."""
    try:
        import ctypes
        ctypes.CDLL("libc.so.6").mallopt(-3, 1 << 17)  # M_MMAP_THRESHOLD = 128 KiB, fixed
    except (OSError, AttributeError):  # not glibc: the rss column may read low
        pass


def peak_memory_mb(fn):
    """(rss, tracemalloc) peak MB allocated by one call on top of what exists before it."""
    fn()  # warm-up: compiled, caches filled
    gc.collect()
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # reset the high-water mark to the current RSS
        base = _status_mb("VmRSS")
    except OSError:
        base = float("nan")
    tracemalloc.start()
    fn()
    _, traced = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return _status_mb("VmHWM") - base, traced / 2**20


# ----- tables --------------------------------------------------------------------------------
def fmt_ms(pair):
    return "-" if pair is None else f"{pair[1] * 1e3:.0f} ({pair[0] * 1e3:.0f})"


def ratio(a, b):
    return "-" if a is None or b is None else f"{a[1] / b[1]:.2f}"


def run(args):
    impls = {"naive": naive_calls, "flash": flash_calls}
    if torch is not None:
        impls["torch"] = torch_calls
    Ts = [T for T in (128, 256, 512, 1024, 2048, 4096) if T <= args.max_T]
    rng = np.random.default_rng(0)
    timing, memory = {}, {}
    for n in args.threads:
        set_threads(n)
        for T in Ts:
            for name, make in impls.items():
                if name == "naive" and T > args.naive_max_T:
                    continue
                calls = make(T, rng)
                for mode in MODES:
                    timing[n, T, name, mode] = times(calls[mode], args.repeats)
                    if n == args.threads[0]:
                        memory[T, name, mode] = peak_memory_mb(calls[mode])
                del calls
                gc.collect()
            print(f"  done: {n} thread(s), T = {T}", file=sys.stderr, flush=True)
    names = list(impls)
    print(f"\nTime, ms: min (median) of {args.repeats}; (B, H, D) = ({B}, {H}, {D}), float32, "
          "causal")
    head = f"{'thr':>3} {'T':>5} | " + " | ".join(
        f"{n + ' ' + m:>17}" for m in MODES for n in names)
    print(head + " | flash/torch fwd, f+b | flash/naive f+b")
    for n in args.threads:
        for T in Ts:
            row = [fmt_ms(timing.get((n, T, name, m))) for m in MODES for name in names]
            fwd = {name: timing.get((n, T, name, "fwd")) for name in names}
            both = {name: timing.get((n, T, name, "fwd+bwd")) for name in names}
            print(f"{n:>3} {T:>5} | " + " | ".join(f"{c:>17}" for c in row)
                  + f" | {ratio(fwd['flash'], fwd.get('torch')):>6}"
                  + f" {ratio(both['flash'], both.get('torch')):>6}"
                  + f" | {ratio(both['flash'], both['naive']):>6}")
    print("\nPeak extra memory, MB: rss [tracemalloc]  (rss sees every allocator; tracemalloc "
          "only NumPy's)")
    print(f"{'T':>5} | " + " | ".join(f"{n + ' ' + m:>17}" for m in MODES for n in names))
    for T in Ts:
        cells = []
        for m in MODES:
            for name in names:
                got = memory.get((T, name, m))
                cells.append("-" if got is None else f"{got[0]:.0f} [{got[1]:.0f}]")
        print(f"{T:>5} | " + " | ".join(f"{c:>17}" for c in cells))


def run_decode(args):
    """One query against a long cache, one head: the lean split over 1 vs 2 workers."""
    rng = np.random.default_rng(1)
    S = args.decode_len
    q = rng.standard_normal((1, D), dtype=np.float32)
    k, v = (rng.standard_normal((1, S, D), dtype=np.float32) for _ in range(2))
    numba.set_num_threads(max(args.threads))
    print(f"\nDecode, one head, KV cache S = {S}, Numba threads = {max(args.threads)}: "
          f"ms, min (median) of {args.repeats * 4}")
    for workers in (1, 2):
        med, best = times(lambda w=workers: decode.lean_decode(q, k, v, 0.125, n_workers=w),
                          args.repeats * 4)
        print(f"  lean, {workers} worker(s): {best * 1e3:.2f} ({med * 1e3:.2f})")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="T <= 512 and 3 repeats")
    p.add_argument("--max-T", type=int, default=4096, help="largest T (default 4096)")
    p.add_argument("--naive-max-T", type=int, default=2048, help="largest T for naive")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--decode-len", type=int, default=65536)
    args = p.parse_args(argv)
    if args.quick:
        args.max_T, args.repeats = min(args.max_T, 512), 3
    for n in args.threads:
        if n < 1:
            p.error(f"--threads: {n} is not a thread count (accepted: 1 or more)")
    return_freed_memory_to_the_os()
    if threadpool_limits is None:
        print("(threadpoolctl missing: BLAS thread count not pinned; pip install threadpoolctl)")
    run(args)
    run_decode(args)


if __name__ == "__main__":
    main()
