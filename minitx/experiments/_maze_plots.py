"""Figures of the ``mazes`` experiment: accuracy vs maze size (the paper's headline plot),
solved and failed example mazes, training losses."""

from __future__ import annotations

from ..plotting import pyplot, save_figure
from ..tasks import maze_tokens as mt

_STYLE = {"next-token": ("tab:orange", "o"), "mlm-u": ("tab:blue", "s")}
_LABEL = {"next-token": "next-token", "mlm-u": "MLM-U"}


def accuracy_vs_size(result, path):
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4), sharey=True)
    walk = result["random_walk"]
    for ax, metric, title in ((axes[0], "exact", "exact (optimal) path"),
                              (axes[1], "valid", "valid path")):
        for obj, (color, marker) in _STYLE.items():
            rows = [r for r in result["runs"] if r["objective"] == obj]
            ax.plot([r["size"] for r in rows], [r[metric] for r in rows], marker=marker,
                    color=color, label=_LABEL[obj])
            if obj == "mlm-u":
                for key, ls in (("one_shot", ":"), ("confident", "-.")):
                    ax.plot([r["size"] for r in rows], [r[key][metric] for r in rows],
                            ls=ls, marker=marker, color=color, alpha=0.6,
                            label=f"MLM-U, {key.replace('_', '-')} decoding")
        ax.plot([b["size"] for b in walk], [b[metric] for b in walk], ls="--", color="gray",
                label="random walk")
        ax.set_xlabel("maze size n (n x n grid)")
        ax.set_xticks([b["size"] for b in walk])
        ax.set_title(title)
        ax.set_ylim(-0.03, 1.03)
    axes[0].set_ylabel("fraction of test mazes")
    axes[1].legend(fontsize=8)
    save_figure(fig, path)


def _pick(problems, paths, k):
    """Up to k/2 solved then failed indices (more of one kind when the other runs out)."""
    ok = [i for i, (p, q) in enumerate(zip(problems, paths)) if list(map(tuple, q)) == p.path]
    bad = [i for i in range(len(problems)) if i not in set(ok)]
    half = k // 2
    picks = ok[:max(half, k - len(bad))] + bad[:max(k - half, k - len(ok))]
    return picks[:k]


def examples(examples, k, path):
    """Rows: objectives; columns: solved then failed test mazes of the largest size."""
    plt = pyplot()
    objs = [o for o in _STYLE if o in examples]
    k = max(1, k)
    fig, axes = plt.subplots(len(objs), k, figsize=(2.2 * k, 2.5 * len(objs)), squeeze=False)
    for row, obj in zip(axes, objs):
        problems, paths = examples[obj]
        picks = _pick(problems, paths, k)
        for ax, i in zip(row, picks):
            p, q = problems[i], paths[i]
            solved = list(map(tuple, q)) == p.path
            mt.draw_maze(ax, p.maze, p.start, p.goal, q,
                         color="tab:green" if solved else "tab:red",
                         title=f"{_LABEL[obj]}: {'solved' if solved else 'failed'}")
        for ax in row[len(picks):]:
            ax.axis("off")
    save_figure(fig, path)


def loss_curves(result, path):
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    for r in result["runs"]:
        color, _ = _STYLE[r["objective"]]
        steps, losses = zip(*r["loss_curve"])
        alpha = 0.35 + 0.65 * (r["size"] / max(x["size"] for x in result["runs"]))
        ax.plot(steps, losses, color=color, alpha=alpha,
                label=f"{_LABEL[r['objective']]} {r['size']}x{r['size']}")
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("training loss (nats per scored token)")
    ax.legend(fontsize=7, ncol=2)
    save_figure(fig, path)
