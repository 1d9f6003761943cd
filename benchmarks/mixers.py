"""Every registered token mixer at growing T: time, peak memory, log-log slope (LRA-style).

    python benchmarks/mixers.py                        # T = 256 ... 8192, every mixer
    python benchmarks/mixers.py --quick                # T = 256, 512, 1 repeat
    python benchmarks/mixers.py --mixers softmax,linear,mamba --max-T 4096

Shapes: batch 1, d_model 64, 4 heads, float32; each mixer in its own default (fast) form,
causal where it can be (bidirectional-only mixers: causal=False); options that bound the
length (max_len, l_max) are set to T.  Modes: forward under no_grad, and forward + backward
of sum(y * g).  Time: wall and CPU (process_time: all threads; robust on a loaded machine
for single-threaded code, inflated for multi-threaded kernels); the min of up to --repeats
calls after a warm-up call (compile time excluded; a call slower than the repeat budget is
not repeated).  The machine may be shared: the min is the robust number.

Peak memory: tracemalloc's peak during one forward + backward -- what NumPy allocates (Numba's
allocator does not report to it, so mixers that allocate inside kernels read low).

A (mixer, T) whose forward + backward time or memory, extrapolated from the two largest
lengths done (power law), would pass --max-seconds or --max-mb is skipped ("skip"); an
exception is printed as "ERR" and listed under the table.

slope: least squares of log(time) on log(T) (wall; CPU in the CPU table) over the larger
half of the lengths measured; lin?: "yes" when the mixer's docstring advertises a cost linear in T.

The last table: for the mixers with several forms, the forward time of the default (chunked
or lightning) form vs the recurrent Python token loop at T = --forms-T (target: >= 5x).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import minitx.mixers as mixers  # noqa: E402
from minitx.experiments import _mixer_speed as speed  # noqa: E402
from minitx.experiments.mixer_bench import Config, forms_table, speed_table  # noqa: E402


def cell(c, key, scale, fmt):
    if "error" in c:
        return "ERR"
    if "skipped" in c:
        return "skip"
    return fmt.format(c[key] * scale)


def print_tables(table, Ts):
    names = sorted(table)
    width = max(len(n) for n in names)
    for title, key, scale, fmt in (("forward + backward time, ms", "fwd_bwd_s", 1e3, "{:.1f}"),
                                   ("forward + backward CPU time (all threads), ms",
                                    "fwd_bwd_cpu_s", 1e3, "{:.1f}"),
                                   ("forward time (no graph), ms", "fwd_s", 1e3, "{:.1f}"),
                                   ("peak memory of forward + backward, MB (tracemalloc)",
                                    "peak_mb", 1, "{:.0f}")):
        print(f"\n{title}")
        head = f"{'mixer':<{width}} | " + " ".join(f"{T:>8}" for T in Ts)
        if key in ("fwd_bwd_s", "fwd_bwd_cpu_s"):
            head += " | slope  lin?"
        print(head)
        print("-" * len(head))
        for n in names:
            row = table[n]
            cells = [cell(row["by_T"].get(str(T), {"skipped": ""}), key, scale, fmt) for T in Ts]
            line = f"{n:<{width}} | " + " ".join(f"{c:>8}" for c in cells)
            if key in ("fwd_bwd_s", "fwd_bwd_cpu_s"):
                line += (f" | {row['slope_' + key[:-2]]:5.2f}  "
                         f"{'yes' if row['advertised_linear'] else 'no':>4}")
            print(line)
    errors = [(n, T, c["error"]) for n in names for T, c in table[n]["by_T"].items()
              if "error" in c]
    if errors:
        print("\nerrors:")
        for n, T, e in errors:
            print(f"  {n} at T={T}: {e}")
    mismatch = [n for n in names if table[n]["advertised_linear"] and
                min(table[n]["slope_fwd_bwd"], table[n]["slope_fwd_bwd_cpu"]) > 1.5]
    if mismatch:
        print(f"\nadvertised linear but measured slope > 1.5: {', '.join(mismatch)}")


def print_forms(forms, T):
    print(f"\nchunked vs recurrent (Python token loop), forward, T = {T}: ms")
    print(f"{'mixer':<16} | {'default':>9} {'recurrent':>10} {'speedup':>8}  >= 5x? | "
          f"CPU: {'default':>9} {'recurrent':>10} {'speedup':>8}")
    for n, r in forms.items():
        if "error" in r:
            print(f"{n:<16} | ERR {r['error']}")
            continue
        print(f"{n:<16} | {r['fast_s'] * 1e3:9.1f} {r['recurrent_s'] * 1e3:10.1f} "
              f"{r['speedup']:7.1f}x  {'yes' if r['speedup'] >= 5 else 'NO':>6} | "
              f"     {r['fast_cpu_s'] * 1e3:9.1f} {r['recurrent_cpu_s'] * 1e3:10.1f} "
              f"{r['speedup_cpu']:7.1f}x")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="T = 256, 512; 1 repeat; forms at 512")
    p.add_argument("--mixers", default="", help="comma-separated names (default: all)")
    p.add_argument("--max-T", type=int, default=8192)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--max-seconds", type=float, default=20.0)
    p.add_argument("--max-mb", type=float, default=4096.0)
    p.add_argument("--forms-T", type=int, default=4096)
    p.add_argument("--no-forms", action="store_true")
    p.add_argument("--threads", type=int, default=1,
                   help="Numba and BLAS threads while timing (default 1: stable on a busy machine)")
    p.add_argument("--verbose", action="store_true", help="print each measurement to stderr")
    args = p.parse_args(argv)
    names = tuple(n for n in args.mixers.split(",") if n)
    unknown = [n for n in names if n not in mixers.names()]
    if unknown:
        p.error(f"--mixers: {unknown} not registered (accepted: {', '.join(mixers.names())})")
    Ts = tuple(T for T in (256, 512, 1024, 2048, 4096, 8192) if T <= args.max_T)
    if args.quick:
        Ts, args.repeats, args.forms_T = Ts[:2], 1, min(args.forms_T, 512)
    if len(Ts) < 2:
        p.error(f"--max-T {args.max_T}: need at least two lengths (256 and 512)")
    forms = tuple(n for n in tuple(speed.LOOP_FORM) if not names or n in names)
    if args.threads < 1:
        p.error(f"--threads: {args.threads} is not a thread count (accepted: 1 or more)")
    cfg = Config(speed_mixers=names, speed_Ts=Ts, repeats=args.repeats, threads=args.threads,
                 max_seconds=args.max_seconds, max_mb=args.max_mb, forms_T=args.forms_T,
                 forms_mixers=forms)
    log = (lambda m: print(m, file=sys.stderr, flush=True)) if args.verbose else None
    print(f"batch 1, d_model {cfg.d_model}, {cfg.n_heads} heads, float32; {cfg.threads} "
          f"thread(s); min of {args.repeats} call(s) after a warm-up")
    with speed.pinned_threads(cfg.threads):
        print_tables(speed_table(cfg, log), Ts)
        if forms and not args.no_forms:
            print_forms(forms_table(cfg, log), cfg.forms_T)


if __name__ == "__main__":
    main()
