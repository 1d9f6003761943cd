"""Figures of the ``multiplication`` experiment (a helper, not an experiment).

per_digit_accuracy.png  final accuracy of each product digit (units first) per variant:
                        the direct model's U shape (Bai et al., Figure 1 style)
digit_curves.png        each digit's accuracy over training for the direct and reversed
                        answers (Qiu et al.: digits learned one after another)
probe_r2.png            R^2 of a linear probe for the running sum c_hat_k, per layer
"""

from __future__ import annotations

import numpy as np

from ..plotting import pyplot, save_figure


def plot_all(result, n_digits, out):
    _per_digit(result, n_digits, out / "per_digit_accuracy.png")
    _curves(result, n_digits, out / "digit_curves.png")
    _probe(result, out / "probe_r2.png")


def _per_digit(result, n_digits, path):
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    k = np.arange(2 * n_digits)
    for name, row in result["variants"].items():
        ax.plot(k, row["per_digit"], "o-", label=f"{name} (exact {row['exact_match']:.0%})")
    ax.set_xticks(k, [f"c{i}" for i in k])
    ax.set_xlabel("product digit (c0 = units)")
    ax.set_ylabel("test accuracy")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(f"{n_digits} x {n_digits} digit multiplication")
    ax.legend(fontsize=7)
    save_figure(fig, path)


def _curves(result, n_digits, path):
    plt = pyplot()
    names = [v for v in ("direct", "direct_msb") if v in result["variants"]] \
        or list(result["variants"])[:1]
    fig, axes = plt.subplots(1, len(names), figsize=(5 * len(names), 3.4), squeeze=False)
    colors = plt.cm.viridis(np.linspace(0, 0.9, 2 * n_digits))
    for ax, name in zip(axes[0], names):
        curves = np.array(result["variants"][name]["curves"])  # (evals, 1 + 2n)
        for k in range(2 * n_digits):
            ax.plot(curves[:, 0], curves[:, 1 + k], color=colors[k], label=f"c{k}")
        ax.set_xlabel("training step")
        ax.set_ylabel("digit accuracy")
        ax.set_ylim(-0.02, 1.02)
        ax.set_title(f"{name}: each digit over training")
        ax.legend(fontsize=6, ncol=2)
    save_figure(fig, path)


def _probe(result, path):
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.2))
    names = list(result["variants"])
    layers = len(result["variants"][names[0]]["probe_r2"])
    width = 0.8 / layers
    xs = np.arange(len(names))
    for layer in range(layers):
        ax.bar(xs + layer * width, [max(-0.1, result["variants"][v]["probe_r2"][layer])
                                    for v in names], width, label=f"after block {layer + 1}")
    ax.set_xticks(xs + 0.4 - width / 2, names, fontsize=8)
    ax.set_ylabel("held-out R^2 of c_hat_k")
    ax.set_ylim(-0.1, 1.02)
    ax.set_title("linear probe for the running sum")
    ax.legend(fontsize=7)
    save_figure(fig, path)
