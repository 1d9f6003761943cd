"""Figures of the ``ssm-recall`` experiment (each reads only the result dict)."""

from __future__ import annotations

import numpy as np

from ..plotting import pyplot, save_figure


def accuracy_bars(result, path):
    """Answer accuracy per model, one group of bars per task (at the training length)."""
    plt = pyplot()
    tasks = [t for t in ("selective_copy", "induction_heads") if t in result]
    models = list(result[tasks[0]])
    width = 0.8 / len(tasks)
    x = np.arange(len(models))
    fig, ax = plt.subplots(figsize=(1.2 * len(models) + 2.5, 3.4))
    for k, task in enumerate(tasks):
        accs = [result[task][m]["accuracy"] for m in models]
        bars = ax.bar(x + (k - (len(tasks) - 1) / 2) * width, accs, width,
                      label=task.replace("_", " "))
        ax.bar_label(bars, [f"{a:.0%}" for a in accs], fontsize=7)
    ax.axhline(result["chance"], color="gray", ls="--", lw=1, label="chance")
    ax.set_xticks(x, models)
    ax.set_ylim(0, 1.1)
    ax.set_ylabel("answer accuracy")
    ax.set_title("Recall with the same budget")
    ax.legend(fontsize=8, loc="upper left")
    save_figure(fig, path)


def extrapolation(result, path):
    """Induction-head accuracy against the evaluation length (log scale), per model."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.2, 3.4))
    train_len = result["config"]["ih_train_len"]
    for m, r in result["induction_heads"].items():
        ax.plot(r["lengths"], r["accuracy_by_length"], "o-", label=m)
    ax.axvline(train_len, color="gray", ls=":", lw=1, label="training length")
    ax.axhline(result["chance"], color="gray", ls="--", lw=1, label="chance")
    ax.set_xscale("log", base=2)
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("sequence length at test")
    ax.set_ylabel("induction-head accuracy")
    ax.set_title("Induction heads: trained short, tested long")
    ax.legend(fontsize=8)
    save_figure(fig, path)


def state_heatmap(sweep, path):
    """COPY accuracy over (state size, copy length)."""
    plt = pyplot()
    acc = np.asarray(sweep["accuracy"])
    fig, ax = plt.subplots(figsize=(0.9 * acc.shape[1] + 2.5, 0.6 * acc.shape[0] + 1.8))
    im = ax.imshow(acc, vmin=0, vmax=1, cmap="viridis", origin="lower", aspect="auto")
    for i in range(acc.shape[0]):
        for j in range(acc.shape[1]):
            ax.text(j, i, f"{acc[i, j]:.0%}", ha="center", va="center", fontsize=8,
                    color="white" if acc[i, j] < 0.6 else "black")
    ax.set_xticks(range(acc.shape[1]), sweep["lengths"])
    ax.set_yticks(range(acc.shape[0]), sweep["states"])
    ax.set_xlabel("COPY length L")
    ax.set_ylabel(f"{sweep['model']} {sweep['option']}")
    ax.set_title("COPY accuracy vs state size")
    fig.colorbar(im, ax=ax, label="token accuracy")
    save_figure(fig, path)
