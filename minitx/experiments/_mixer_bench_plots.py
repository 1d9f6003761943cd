"""Figures of the ``mixer-bench`` experiment (each reads only the result dict)."""

from __future__ import annotations

import numpy as np

from ..plotting import pyplot, save_figure


def _series(row, key):
    Ts, ys = [], []
    for T, cell in sorted(((int(T), c) for T, c in row["by_T"].items())):
        if key in cell and np.isfinite(cell[key]):
            Ts.append(T)
            ys.append(cell[key])
    return Ts, ys


def efficiency(result, path):
    """LRA-style: forward+backward time and peak memory against T, log-log, one line per
    mixer; solid lines for mixers whose docstring advertises linear cost, dashed otherwise."""
    plt = pyplot()
    speed = result["speed"]
    fig, axes = plt.subplots(1, 2, figsize=(13, 6))
    cmap = plt.get_cmap("tab20")
    for i, (name, row) in enumerate(sorted(speed.items())):
        style = "-" if row["advertised_linear"] else "--"
        for ax, key in zip(axes, ("fwd_bwd_s", "peak_mb")):
            Ts, ys = _series(row, key)
            if Ts:
                ax.plot(Ts, ys, style, marker="o", ms=2.5, lw=1, color=cmap(i % 20),
                        label=name if key == "fwd_bwd_s" else None)
    Ts = sorted({int(T) for row in speed.values() for T in row["by_T"]})
    for ax, key, unit in zip(axes, ("fwd_bwd_s", "peak_mb"), ("seconds", "MB")):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xticks(Ts, [str(T) for T in Ts])
        ax.set_xlabel("sequence length T")
        ax.grid(True, which="both", alpha=0.3)
        ys = [y for row in speed.values() for y in _series(row, key)[1]]
        if ys:  # guide lines: slope 1 and slope 2 through the median at the smallest T
            y0 = float(np.median(ys))
            for slope, ls in ((1, ":"), (2, "-.")):
                label = f"slope {slope} (guide)" if key == "peak_mb" else None
                ax.plot([Ts[0], Ts[-1]], [y0, y0 * (Ts[-1] / Ts[0]) ** slope], ls,
                        color="black", lw=1.5, label=label)
        ax.set_ylabel(unit)
    axes[0].set_title("forward + backward time (batch 1); solid = advertised linear")
    axes[1].set_title("peak NumPy memory (tracemalloc), forward + backward")
    fig.legend(fontsize=6, ncol=1, loc="center right", bbox_to_anchor=(1.0, 0.5))
    fig.subplots_adjust(right=0.86)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def quality_bars(result, path):
    """Answer accuracy per mixer, one group of bars per task; chance as dashed ticks."""
    plt = pyplot()
    quality = result["quality"]
    tasks = list(quality)
    names = list(quality[tasks[0]])
    width = 0.8 / len(tasks)
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(max(6.5, 0.75 * len(names) + 3), 3.8))
    for k, task in enumerate(tasks):
        accs = [quality[task][n].get("accuracy", np.nan) for n in names]
        offset = (k - (len(tasks) - 1) / 2) * width
        bars = ax.bar(x + offset, np.nan_to_num(accs), width, label=task)
        ax.bar_label(bars, ["err" if np.isnan(a) else f"{a:.0%}" for a in accs], fontsize=6)
        chance = result["chance"][task]
        ax.hlines(chance, x[0] + offset - width, x[-1] + offset + width, colors=bars[0].get_fc(),
                  linestyles="--", lw=0.8)
    ax.set_xticks(x, [n + (" (bi)" if quality[tasks[0]][n].get("bidirectional") else "")
                      for n in names], rotation=45, ha="right")
    ax.set_ylim(0, 1.1)
    ax.set_ylabel("answer accuracy")
    ax.set_title("Same model and budget per mixer (dashed: chance)")
    ax.legend(fontsize=8, loc="upper right")
    save_figure(fig, path)
