"""Time and peak memory of every registered mixer against the sequence length T (LRA-style).

One measurement, ``measure(name, T)``: build the mixer at (d_model, n_heads), float32, batch 1;
time its forward (under ``no_grad``) and its forward + backward of sum(y * g), best of a few
repeats; measure the peak NumPy memory of one forward + backward with ``tracemalloc`` (NumPy
reports its allocations to tracemalloc; Numba's own allocator does not, so a mixer that
allocates inside a Numba kernel reads low).

``sweep`` runs the lengths in increasing order and skips a length whose time or memory,
extrapolated from the two largest lengths measured so far, would exceed the limits: those
cells read "skipped".  A mixer that raises keeps the error text in its cell.

``loglog_slope`` fits log(time) = a + s log(T); s ~ 1 for a linear mixer, ~ 2 for a quadratic
one (small T are dominated by fixed costs, so the fit uses the larger half of the lengths).
"""

from __future__ import annotations

import contextlib
import gc
import inspect
import math
import re
import time
import tracemalloc

import numba
import numpy as np

from .. import mixers
from ..autograd.function import no_grad
from ..autograd.tensor import Tensor

LENGTH_OPTIONS = ("max_len", "l_max")  # constructor options that must be >= T
# mixers with a recurrent form -> the form that runs it as a Python token loop
LOOP_FORM = {"linear": "loop", "gla": "loop", "deltanet": "loop", "norm-attention": "recurrent"}


def options_for(name: str, T: int) -> dict:
    """The options a mixer needs to accept sequences of length T: max_len / l_max = T, and a
    low-rank projection along time (Linformer's ``rank``) no longer than T."""
    params = inspect.signature(mixers.get(name).__init__).parameters
    opts = {opt: T for opt in LENGTH_OPTIONS if opt in params}
    rank = params.get("rank")
    if rank is not None and isinstance(rank.default, int) and rank.default > T:
        opts["rank"] = T
    return opts


def cost_line(name: str) -> str:
    """The first "Cost" sentence with an O(...) in the mixer's class docstring, else in its
    module's; a class whose cost line defers to another form ("Cost as NormAttention's
    lightning form") is read from the module's "Forms" line."""
    cls = mixers.get(name)
    docs = [" ".join(d.split()) for d in (cls.__doc__ or "", inspect.getmodule(cls).__doc__ or "")]
    for text in docs:
        for at in [m.start() for m in re.finditer("Cost", text)]:
            if "O(" in text[at:at + 60]:
                return text[at:at + 160]
    for text in docs:  # e.g. "Forms ...: parallel O(T^2 D), recurrent O(T D^2), and lightning"
        at = text.find("lightning O(") if "lightning" in text else -1
        if at >= 0:
            return "Cost: " + text[at + len("lightning "):at + 80]
    return ""


_SUPER_LINEAR = re.compile(r"T\s*\^|T\s*log|T\s*ln|sqrt\s*T|T\s*/|T\s*\*\*")


def advertises_linear(name: str) -> bool:
    """True when the docstring's cost line says "linear in T", or its first O(...) term (the
    default form's cost) has T only to the first power (no T^2, T log T, T / w, ...)."""
    line = cost_line(name)
    if "linear in T" in line:
        return True
    terms = re.findall(r"O\(([^()]*(?:\([^()]*\)[^()]*)*)\)", line)
    if not terms or not re.search(r"\bT\b", terms[0]):
        return False
    return not _SUPER_LINEAR.search(terms[0])


@contextlib.contextmanager
def pinned_threads(n: int):
    """Numba and the BLAS under NumPy both limited to n threads inside the block. With one
    thread the timings of a shared machine stay comparable across T: a second BLAS thread
    spinning while the other core is busy can make one call ten times slower."""
    from threadpoolctl import threadpool_limits

    before = numba.get_num_threads()
    numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    try:
        with threadpool_limits(n, user_api="blas"):
            yield
    finally:
        numba.set_num_threads(before)


def loglog_slope(Ts, seconds) -> float:
    """Least-squares slope of log(seconds) against log(T) over the larger half of the points
    (the last half from four points on); nan with fewer than two finite points."""
    pts = [(T, s) for T, s in zip(Ts, seconds) if s is not None and np.isfinite(s) and s > 0]
    if len(pts) < 2:
        return float("nan")
    if len(pts) >= 4:
        pts = pts[len(pts) // 2:]  # the larger half: 6 lengths -> the last 3
    x = np.log([p[0] for p in pts])
    y = np.log([p[1] for p in pts])
    return float(np.polyfit(x, y, 1)[0])


def _best_time(fn, repeats, budget_s):
    """(min wall seconds, min CPU seconds) over up to `repeats` calls, stopping once
    `budget_s` of wall time has been spent.  CPU time (all threads of the process) is the
    robust number on a loaded machine for single-threaded code; a multi-threaded kernel
    reads higher in CPU time than in wall time."""
    wall, cpu, spent = [], [], 0.0
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
        spent += wall[-1]
        if spent > budget_s:
            break
    return min(wall), min(cpu)


def _calls(name, T, d_model, n_heads, seed, form=None):
    mixer = mixers.build(name, d_model, n_heads, causal=getattr(mixers.get(name),
                                                                "causal_capable", True),
                         **options_for(name, T))
    rng = np.random.default_rng(seed)
    x = Tensor(rng.standard_normal((1, T, d_model)).astype(np.float32), requires_grad=True)
    g = rng.standard_normal((1, T, d_model)).astype(np.float32)
    kw = {} if form is None else {"form": form}

    def fwd():
        with no_grad():
            mixer(x, **kw)

    def fwd_bwd():
        x.grad = None
        for p in mixer.parameters():
            p.grad = None
        mixer(x, **kw).backward(g)

    return fwd, fwd_bwd


def traced_peak_mb(fn) -> float:
    """Peak MB that NumPy (and Python) allocate during one call of fn, per tracemalloc."""
    gc.collect()
    tracemalloc.start()
    try:
        fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak / 2**20


def measure(name, T, d_model=64, n_heads=4, repeats=3, budget_s=3.0, memory=True, seed=0,
            warm=True):
    """{"fwd_s", "fwd_bwd_s", "fwd_cpu_s", "fwd_bwd_cpu_s", "peak_mb"} of one mixer at
    length T (batch 1, float32): wall and CPU seconds.  With ``warm`` a first forward call
    compiles the kernels untimed (``sweep`` does it at its first length only: Numba compiles
    per dtype and rank, not per length); the first forward + backward, traced for memory
    (or untimed without ``memory``), warms the backward."""
    fwd, fwd_bwd = _calls(name, T, d_model, n_heads, seed)
    if warm:
        fwd()
    out = dict(zip(("fwd_s", "fwd_cpu_s"), _best_time(fwd, repeats, budget_s)))
    out["peak_mb"] = traced_peak_mb(fwd_bwd) if memory else float("nan")
    if not memory:
        fwd_bwd()
    out.update(zip(("fwd_bwd_s", "fwd_bwd_cpu_s"), _best_time(fwd_bwd, repeats, budget_s)))
    return out


def _extrapolate(done, key, T_next):
    """Value of `key` at T_next from the two largest measured lengths (power law, slope
    at least 1 so an early flat cost does not hide growth); `key` names one or more fields,
    the smallest is used (wall or CPU time: whichever the machine's load inflated less)."""
    (T1, a), (T2, b) = [(T, min(r[k] for k in key)) for T, r in done[-2:]]
    slope = max(1.0, math.log(max(b, 1e-12) / max(a, 1e-12)) / math.log(T2 / T1))
    return b * (T_next / T2) ** slope


def sweep(name, Ts, max_seconds=20.0, max_mb=4096.0, log=None, **kw):
    """{T: result dict | {"skipped": reason} | {"error": text}} over increasing Ts."""
    table, done = {}, []
    for T in sorted(Ts):
        if len(done) >= 2:
            t_est = _extrapolate(done, ("fwd_bwd_s", "fwd_bwd_cpu_s"), T)
            m_est = (_extrapolate(done, ("peak_mb",), T)
                     if np.isfinite(done[-1][1]["peak_mb"]) else 0)
            if t_est > max_seconds or m_est > max_mb:
                table[T] = {"skipped": f"estimated {t_est:.1f} s, {m_est:.0f} MB"}
                continue
        try:
            table[T] = measure(name, T, warm=not done, **kw)
            done.append((T, table[T]))
        except Exception as exc:  # recorded in the table, not raised: one mixer must not
            table[T] = {"error": f"{type(exc).__name__}: {exc}"[:200]}  # stop the bench
        if log:
            log(f"{name} T={T}: {table[T]}")
    return table


def form_times(name, T, d_model=64, n_heads=4, repeats=2, seed=0):
    """Forward seconds (no graph) of the mixer's default (fast) form and of its recurrent
    token loop at length T, wall and CPU: {"fast_s", "recurrent_s", "speedup", "fast_cpu_s",
    "recurrent_cpu_s", "speedup_cpu"}."""
    fast, _ = _calls(name, T, d_model, n_heads, seed)
    slow, _ = _calls(name, T, d_model, n_heads, seed, form=LOOP_FORM[name])
    fast()
    fast_s, fast_cpu = _best_time(fast, repeats, 3.0)
    slow_s, slow_cpu = _best_time(slow, max(1, repeats - 1), 1.0)
    return {"fast_s": fast_s, "recurrent_s": slow_s, "speedup": slow_s / fast_s,
            "fast_cpu_s": fast_cpu, "recurrent_cpu_s": slow_cpu,
            "speedup_cpu": slow_cpu / max(fast_cpu, 1e-9)}
