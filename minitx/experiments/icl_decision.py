"""A transformer pretrained on bandit histories acts in context on new bandits; filtering
the pretraining histories by return makes it act better.

Papers:
  * "Transformers as Decision Makers: Provable In-Context Reinforcement Learning via
    Supervised Pretraining" (Lin, Bai & Mei): supervised pretraining on trajectories
    labelled with an expert algorithm's actions makes the transformer imitate the
    expert's conditional action distribution given the history; its regret then
    follows the expert's.  Here the expert is Thompson sampling (or UCB) and the
    trajectories are its own histories (algorithm distillation, the case where the
    offline and the expert algorithm coincide).
  * "Filtering Learning Histories Enhances In-Context Reinforcement Learning" (LHF):
    pretraining on histories of mixed-quality source algorithms inherits their
    mistakes; keeping the better histories helps.  Here every training bandit is
    played by each source (UCB, Thompson, epsilon-greedy at two rates, random) and the
    filtered dataset keeps, per bandit, the ``keep_fraction`` of histories with the
    highest return (a simplification of LHF's improvement/stability weights).

Measured on fresh bandits: the mean cumulative pseudo-regret sum_t (mu* - mu_{a_t})
against t for the transformers and the classical algorithms.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..icl import bandits as algos
from ..icl.decision import PolicyConfig, TransformerPolicy
from ..io import write_json
from ..plotting import pyplot, save_figure
from ..tasks import bandits as tb
from ..train import TrainConfig, train

NAME = "icl-decision"
SUMMARY = ("a transformer pretrained on bandit histories imitates Thompson sampling in context "
           "(Lin et al.); filtering histories by return lowers its regret (LHF)")

SOURCES = {"thompson": ("thompson", {}), "ucb": ("ucb", {}),
           "eps-greedy 0.1": ("epsilon_greedy", {"eps": 0.1}),
           "eps-greedy 0.5": ("epsilon_greedy", {"eps": 0.5}), "random": ("random", {})}


@dataclass(frozen=True)
class Config:
    kind: str = "bernoulli"           # or "gaussian"
    n_arms: int = 5
    horizon: int = 50                 # T rounds per history
    expert: str = "thompson"          # the imitated algorithm: a key of SOURCES
    lhf_sources: tuple = ("thompson", "ucb", "eps-greedy 0.1", "eps-greedy 0.5", "random")
    keep_fraction: float = 0.4        # LHF: share of each bandit's histories kept
    n_train_bandits: int = 4000       # pretraining bandits (one history per source each)
    d_model: int = 64
    n_layer: int = 3
    n_head: int = 4
    batch_size: int = 64
    steps: int = 2500                 # per trained model (three models)
    lr: float = 1e-3
    warmup_steps: int = 100
    n_eval: int = 1000                # fresh test bandits
    seed: int = 0
    progress: bool = True

    @classmethod
    def quick(cls):
        return cls(n_arms=4, horizon=30, n_train_bandits=1000, d_model=32, n_layer=2,
                   steps=300, lr=2e-3, warmup_steps=30, n_eval=400)

    def __post_init__(self):
        if self.kind not in tb.KINDS:
            raise ValueError(f"{NAME}: kind must be one of {tb.KINDS}, got {self.kind!r}")
        for name in (self.expert,) + tuple(self.lhf_sources):
            if name not in SOURCES:
                raise ValueError(f"{NAME}: unknown source algorithm {name!r} (accepted: "
                                 f"{', '.join(SOURCES)})")
        if len(self.lhf_sources) < 2:
            raise ValueError(f"{NAME}: lhf_sources needs >= 2 algorithms, got {self.lhf_sources}")
        if not 0 < self.keep_fraction < 1:
            raise ValueError(f"{NAME}: keep_fraction must be in (0, 1), got {self.keep_fraction}")
        if self.n_arms < 2 or self.horizon < 2:
            raise ValueError(f"{NAME}: n_arms and horizon must be >= 2, got {self.n_arms}, "
                             f"{self.horizon}")


def play_source(name, bandits, horizon, rng):
    policy, options = SOURCES[name]
    return algos.play(policy, bandits, horizon, rng, **options)


def expert_dataset(cfg: Config, bandits):
    """The expert's own histories: (actions (N, T), rewards (N, T))."""
    return play_source(cfg.expert, bandits, cfg.horizon, np.random.default_rng([cfg.seed, 1]))


def source_histories(cfg: Config, bandits):
    """Every bandit played by every LHF source: actions, rewards (N, S, T)."""
    rng = np.random.default_rng([cfg.seed, 2])
    runs = [play_source(name, bandits, cfg.horizon, rng) for name in cfg.lhf_sources]
    return np.stack([a for a, _ in runs], 1), np.stack([r for _, r in runs], 1)


def filter_by_return(actions, rewards, keep_fraction, rng):
    """Per bandit (axis 0), the ceil(keep_fraction * S) histories with the highest return
    (ties broken at random): returns the kept (actions, rewards) flattened to (M, T) and
    the kept mask (N, S)."""
    N, S, _ = actions.shape
    keep = max(1, int(np.ceil(keep_fraction * S)))
    returns = rewards.sum(-1) + 1e-9 * rng.random((N, S))  # jitter only breaks ties
    order = np.argsort(-returns, axis=1)
    mask = np.zeros((N, S), dtype=bool)
    np.put_along_axis(mask, order[:, :keep], True, axis=1)
    return actions[mask], rewards[mask], mask


def train_policy(cfg: Config, actions, rewards, seed: int, out=None):
    """Behaviour cloning on histories (M, T): predict a_{t+1} from the first t rounds."""
    model = TransformerPolicy(PolicyConfig(n_arms=cfg.n_arms, horizon=cfg.horizon,
                                           d_model=cfg.d_model, n_layer=cfg.n_layer,
                                           n_head=cfg.n_head), seed=seed)

    def batch_fn(step, rng):
        rows = rng.integers(0, len(actions), size=cfg.batch_size)
        a, r = actions[rows], rewards[rows]
        return tb.history_tokens(a[:, :-1], r[:, :-1], cfg.n_arms), a  # (B, T, A+1), (B, T)
    tcfg = TrainConfig(steps=cfg.steps, lr=cfg.lr, warmup_steps=min(cfg.warmup_steps,
                                                                     cfg.steps // 4),
                       weight_decay=0.0, seed=seed, log_every=25, progress=cfg.progress)
    history = train(model, batch_fn, tcfg, out_dir=out, loss_fn=lambda m, b: m.loss(*b),
                    resume=False)
    return model, history


def regret_summary(bandits, actions) -> dict:
    reg = tb.cumulative_regret(bandits, actions)
    return {"curve": reg.mean(0).tolist(), "final": float(reg[:, -1].mean()),
            "final_sem": float(reg[:, -1].std() / np.sqrt(len(reg)))}


def evaluate(cfg: Config, models: dict) -> dict:
    """Regret of every trained model and every classical algorithm on the same fresh bandits."""
    test = tb.sample_bandits(cfg.n_eval, cfg.n_arms, np.random.default_rng([cfg.seed, 3]),
                             cfg.kind)
    out = {}
    for i, (label, model) in enumerate(models.items()):
        actions, _ = model.act(test, cfg.horizon, np.random.default_rng([cfg.seed, 4, i]))
        out[f"transformer ({label})"] = regret_summary(test, actions)
    for i, name in enumerate(SOURCES):
        actions, _ = play_source(name, test, cfg.horizon, np.random.default_rng([cfg.seed, 5, i]))
        out[name] = regret_summary(test, actions)
    return out


def run(cfg: Config, out_dir) -> dict:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    train_bandits = tb.sample_bandits(cfg.n_train_bandits, cfg.n_arms,
                                      np.random.default_rng([cfg.seed, 0]), cfg.kind)
    sa, sr = source_histories(cfg, train_bandits)
    fa, fr, mask = filter_by_return(sa, sr, cfg.keep_fraction, np.random.default_rng(cfg.seed))
    datasets = {f"imitating {cfg.expert}": expert_dataset(cfg, train_bandits),
                "LHF unfiltered": (sa.reshape(-1, cfg.horizon), sr.reshape(-1, cfg.horizon)),
                "LHF filtered": (fa, fr)}
    models, seconds = {}, {}
    for i, (label, (acts, rews)) in enumerate(datasets.items()):
        models[label], history = train_policy(cfg, acts, rews, cfg.seed * 10 + i,
                                              out / f"train_{i}")
        seconds[label] = history["time_s"]
    regret = evaluate(cfg, models)
    kept = {name: float(mask[:, j].mean()) for j, name in enumerate(cfg.lhf_sources)}
    result = {"experiment": NAME, "config": asdict(cfg), "t": list(range(1, cfg.horizon + 1)),
              "parameters": models["LHF filtered"].num_parameters(), "regret": regret,
              "kept_share_by_source": kept, "dataset_sizes": {k: len(v[0]) for k, v in
                                                              datasets.items()},
              "train_seconds": seconds, "claims": claims(cfg, regret)}
    plot(result, out / "regret.png")
    write_json(result, out / "result.json")
    return result


def claims(cfg: Config, regret: dict) -> dict:
    final = {k: v["final"] for k, v in regret.items()}
    tf = final[f"transformer (imitating {cfg.expert})"]
    return {"imitation_over_expert": tf / final[cfg.expert],
            "imitation_over_random": tf / final["random"],
            "filtered_over_unfiltered": final["transformer (LHF filtered)"]
            / final["transformer (LHF unfiltered)"]}


def _color(name, cfg):
    """One colour per learner in both panels."""
    if name.startswith("transformer"):
        return {"LHF unfiltered": "tab:gray", "LHF filtered": "k"}.get(name[13:-1], "k")
    return f"C{list(SOURCES).index(name)}"


def plot(result, path):
    """Cumulative regret against t: imitation (left), LHF with and without filtering (right)."""
    plt = pyplot()
    cfg, reg, t = result["config"], result["regret"], result["t"]
    fig, axes = plt.subplots(1, 2, figsize=(9.6, 3.6), sharey=True)
    left = [f"transformer (imitating {cfg['expert']})"] + list(SOURCES)
    right = ["transformer (LHF unfiltered)", "transformer (LHF filtered)"] + \
        list(cfg["lhf_sources"])
    for ax, names, title in ((axes[0], left, "supervised pretraining (Lin et al.)"),
                             (axes[1], right, f"LHF: keep top {cfg['keep_fraction']:g} by return")):
        for name in dict.fromkeys(names):
            style = {"lw": 2.4} if name.startswith("transformer") else {"lw": 1.0, "ls": "--"}
            ax.plot(t, reg[name]["curve"], label=name, color=_color(name, cfg), **style)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("round t")
        ax.legend(fontsize=7)
    axes[0].set_ylabel(f"mean cumulative regret ({cfg['n_arms']}-armed {cfg['kind']})")
    save_figure(fig, path)


def summary_lines(result) -> list:
    reg, c, cfg = result["regret"], result["claims"], result["config"]
    lines = [f"cumulative regret after T = {cfg['horizon']} rounds ({cfg['n_eval']} fresh "
             f"{cfg['n_arms']}-armed {cfg['kind']} bandits; mean +- s.e.):"]
    lines += [f"  {name:34s} {v['final']:6.2f} +- {v['final_sem']:.2f}" for name, v in reg.items()]
    lines.append(f"imitation / {cfg['expert']}: {c['imitation_over_expert']:.2f}; imitation / "
                 f"random: {c['imitation_over_random']:.2f}; LHF filtered / unfiltered: "
                 f"{c['filtered_over_unfiltered']:.2f}")
    return lines
