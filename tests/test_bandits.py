"""Bandit environments, the classical algorithms, the regret counter and the token layout."""

import numpy as np
import pytest

from minitx.icl import bandits as algos
from minitx.icl.decision import PolicyConfig, TransformerPolicy, sample_softmax
from minitx.tasks import bandits as tb


def regret_one_round_at_a_time(means, actions):
    """The cumulative regret counted in plain Python: after round t, the sum over rounds
    s <= t of (best mean - mean of the arm played at s)."""
    out = np.zeros(actions.shape)
    for b in range(actions.shape[0]):
        total = 0.0
        for t in range(actions.shape[1]):
            total += max(means[b]) - means[b][actions[b, t]]
            out[b, t] = total
    return out


def test_regret_counter_matches_a_brute_force_count():
    rng = np.random.default_rng(0)
    env = tb.sample_bandits(7, 4, rng)
    actions = rng.integers(0, 4, size=(7, 25))
    np.testing.assert_allclose(tb.cumulative_regret(env, actions),
                               regret_one_round_at_a_time(env.means, actions), atol=1e-12)
    best = np.repeat(env.means.argmax(1)[:, None], 25, axis=1)
    assert np.all(tb.cumulative_regret(env, best) == 0)  # always the best arm: no regret


def test_bernoulli_and_gaussian_rewards_have_the_arm_means():
    rng = np.random.default_rng(1)
    env = tb.Bandits(np.array([[0.2, 0.9]] * 20000))
    r = env.pull(np.ones(20000, dtype=int), rng)
    assert set(np.unique(r)) == {0.0, 1.0} and r.mean() == pytest.approx(0.9, abs=0.01)
    g = tb.Bandits(np.array([[-1.0, 0.5]] * 20000), kind="gaussian", noise_std=2.0)
    r = g.pull(np.zeros(20000, dtype=int), rng)
    assert r.mean() == pytest.approx(-1.0, abs=0.05) and r.std() == pytest.approx(2.0, rel=0.03)


def test_history_tokens_layout():
    actions = np.array([[2, 0, 1]])
    rewards = np.array([[1.0, 0.0, 0.5]])
    tokens = tb.history_tokens(actions, rewards, n_arms=3)
    expected = np.array([[[0, 0, 0, 0], [0, 0, 1, 1.0], [1, 0, 0, 0.0], [0, 1, 0, 0.5]]])
    np.testing.assert_array_equal(tokens, expected)
    with pytest.raises(ValueError, match="history_tokens"):
        tb.history_tokens(actions, rewards[:, :2], 3)


def test_stats_count_pulls_and_sums_like_a_loop():
    rng = np.random.default_rng(2)
    env = tb.sample_bandits(5, 3, rng)
    actions, rewards = algos.play("random", env, 30, rng)
    stats = algos.Stats.empty(5, 3)
    for t in range(30):
        stats.update(actions[:, t], rewards[:, t])
    for b in range(5):
        for a in range(3):
            assert stats.pulls[b, a] == np.sum(actions[b] == a)
            assert stats.sums[b, a] == pytest.approx(rewards[b][actions[b] == a].sum())


def test_same_seed_same_history_different_seed_different():
    env = tb.sample_bandits(20, 4, np.random.default_rng(3))
    for name in algos.ALGORITHMS:
        a1, r1 = algos.play(name, env, 15, np.random.default_rng(4))
        a2, r2 = algos.play(name, env, 15, np.random.default_rng(4))
        a3, _ = algos.play(name, env, 15, np.random.default_rng(5))
        np.testing.assert_array_equal(a1, a2)
        np.testing.assert_array_equal(r1, r2)
        assert not np.array_equal(a1, a3), name


def test_ucb_pulls_every_arm_once_first():
    env = tb.sample_bandits(50, 5, np.random.default_rng(6))
    actions, _ = algos.play("ucb", env, 5, np.random.default_rng(7))
    assert np.all(np.sort(actions, axis=1) == np.arange(5))


def test_ties_are_broken_uniformly_and_a_strict_max_always_wins():
    rng = np.random.default_rng(8)
    picks = algos.argmax_random_ties(np.tile([[1.0, 3.0, 3.0, 0.0]], (6000, 1)), rng)
    assert set(picks) == {1, 2} and np.mean(picks == 1) == pytest.approx(0.5, abs=0.03)
    assert np.all(algos.argmax_random_ties(np.array([[0.0, 2.0, 1.0]] * 10), rng) == 1)


@pytest.mark.parametrize("kind", ["bernoulli", "gaussian"])
def test_ucb_and_thompson_beat_random_on_average(kind):
    env = tb.sample_bandits(400, 5, np.random.default_rng(9), kind=kind)
    final = {}
    for i, name in enumerate(algos.ALGORITHMS):
        actions, _ = algos.play(name, env, 100, np.random.default_rng([10, i]))
        final[name] = tb.cumulative_regret(env, actions)[:, -1].mean()
    assert final["ucb"] < 0.6 * final["random"] and final["thompson"] < 0.5 * final["random"]
    assert final["epsilon_greedy"] < final["random"]


def test_bad_inputs_name_the_value():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="kind"):
        tb.sample_bandits(2, 3, rng, kind="poisson")
    with pytest.raises(ValueError, match="n_arms"):
        tb.sample_bandits(2, 1, rng)
    env = tb.sample_bandits(2, 3, rng)
    with pytest.raises(ValueError, match="actions"):
        env.pull(np.array([0, 3]), rng)
    with pytest.raises(ValueError, match="unknown algorithm 'greedy'"):
        algos.play("greedy", env, 3, rng)
    with pytest.raises(ValueError, match="eps"):
        algos.play("epsilon_greedy", env, 3, rng, eps=1.5)


def test_sample_softmax_frequencies_follow_the_probabilities():
    logits = np.log(np.tile([[0.1, 0.6, 0.3]], (30000, 1)))
    picks = sample_softmax(logits, np.random.default_rng(11))
    np.testing.assert_allclose(np.bincount(picks, minlength=3) / 30000, [0.1, 0.6, 0.3],
                               atol=0.01)


def test_policy_logits_depend_on_the_past_only_and_act_plays_valid_arms():
    model = TransformerPolicy(PolicyConfig(n_arms=3, horizon=8, d_model=16, n_layer=1,
                                           n_head=2), seed=0)
    rng = np.random.default_rng(12)
    actions, rewards = rng.integers(0, 3, (2, 7)), rng.random((2, 7))
    tokens = tb.history_tokens(actions, rewards, 3)
    logits = model(tokens).data
    changed = tokens.copy()
    changed[:, 5:] += 1.0  # rounds 5.. change: the choices of a_1 .. a_5 must not
    np.testing.assert_allclose(model(changed).data[:, :5], logits[:, :5], rtol=1e-5, atol=1e-6)
    env = tb.sample_bandits(4, 3, rng)
    a, r = model.act(env, 8, rng)
    assert a.shape == (4, 8) and a.min() >= 0 and a.max() < 3 and set(np.unique(r)) <= {0, 1}
    loss = model.loss(tokens, np.concatenate([actions, actions[:, :1]], 1))
    assert np.isfinite(loss.item()) and loss.item() == pytest.approx(np.log(3), rel=0.2)
