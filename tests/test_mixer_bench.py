"""The mixer bench: its slope fit, skip rule, docstring reading, task plumbing, and a run.

Timings are never asserted (the machine may be shared); the tests check the structure of
what the bench measures and records."""

import json
from dataclasses import replace

import numpy as np
import pytest

import minitx.mixers as mixers
from minitx.experiments import _mixer_quality as quality
from minitx.experiments import _mixer_speed as speed
from minitx.experiments import mixer_bench
from minitx.tasks import recall

Ts = [256, 512, 1024, 2048, 4096, 8192]


@pytest.mark.parametrize("slope", [1.0, 1.5, 2.0])
def test_slope_fit_recovers_a_known_power_law(slope):
    rng = np.random.default_rng(0)
    noisy = [1e-6 * T ** slope * np.exp(rng.normal(0, 0.03)) for T in Ts]
    assert speed.loglog_slope(Ts, noisy) == pytest.approx(slope, abs=0.1)


def test_slope_fit_reads_the_large_lengths_past_a_fixed_overhead():
    # 1 ms of fixed cost hides the T^2 term at small T; the larger half shows it
    seconds = [1e-3 + 1e-9 * T ** 2 for T in Ts]
    assert speed.loglog_slope(Ts, seconds) > 1.7
    assert np.polyfit(np.log(Ts), np.log(seconds), 1)[0] < speed.loglog_slope(Ts, seconds)
    assert np.isnan(speed.loglog_slope(Ts[:1], seconds[:1]))
    assert speed.loglog_slope(Ts[:2], [None, 1.0]) != speed.loglog_slope(Ts[:2], [1.0, 2.0])


def test_sweep_skips_by_extrapolation_and_records_errors(monkeypatch):
    def fake_measure(name, T, **kw):  # quadratic time: 1 s at T = 1024
        if name == "broken":
            raise RuntimeError("boom")
        t = (T / 1024) ** 2
        return {"fwd_s": t / 2, "fwd_bwd_s": t, "fwd_bwd_cpu_s": 1.5 * t, "peak_mb": T / 64}

    monkeypatch.setattr(speed, "measure", fake_measure)
    table = speed.sweep("fake", Ts, max_seconds=20.0, max_mb=4096)
    assert all("fwd_bwd_s" in table[T] for T in (256, 512, 1024, 2048, 4096))  # 16 s at 4096
    assert "skipped" in table[8192]  # 64 s predicted > 20 s
    table = speed.sweep("fake", Ts, max_seconds=1e9, max_mb=40)  # memory 32 MB at 2048
    assert "peak_mb" in table[2048] and "skipped" in table[4096] and "skipped" in table[8192]
    table = speed.sweep("fake", Ts, max_seconds=3.0)  # 4 s predicted at 2048
    assert "fwd_s" in table[1024] and "skipped" in table[2048]
    table = speed.sweep("broken", Ts[:2])
    assert all("boom" in table[T]["error"] for T in Ts[:2])


def test_docstring_cost_reading():
    # sliding window and Mamba state a linear cost; softmax and masked sparse patterns do not
    for name, linear in [("softmax", False), ("sliding-window", True), ("mamba", True),
                         ("strided", False), ("monarch", False), ("gla", True)]:
        assert speed.advertises_linear(name) is linear, (name, speed.cost_line(name))
    assert all("O(" in speed.cost_line(n) for n in mixers.names())


def test_length_options_follow_T():
    for name in mixers.names():
        opts = speed.options_for(name, 300)
        assert set(opts) <= set(speed.LENGTH_OPTIONS) | {"rank"}
        assert all(v == 300 for v in opts.values())
        causal = getattr(mixers.get(name), "causal_capable", True)
        mixers.build(name, 16, 2, causal=causal, **speed.options_for(name, 8))  # accepted
    assert speed.options_for("linformer", 300) == {"max_len": 300}
    assert speed.options_for("linformer", 8) == {"max_len": 8, "rank": 8}
    assert speed.options_for("softmax", 300) == {}


def test_hidden_answers_for_bidirectional_models():
    b = recall.mqar(64, n_pairs=6, seed=1)
    leaks = b.mask[:, :-1] & (b.targets[:, :-1] == b.inputs[:, 1:])
    assert leaks.any()  # MQAR's answer is the next input token
    h = quality.hide_next_answers(b, mask_id=99)
    assert not (h.mask[:, :-1] & (h.targets[:, :-1] == h.inputs[:, 1:])).any()
    assert (h.inputs == 99).sum() == leaks.sum()
    np.testing.assert_array_equal(h.targets, b.targets)
    s = recall.selective_copy(32, seed=2)  # nothing leaks: unchanged
    np.testing.assert_array_equal(quality.hide_next_answers(s, 99).inputs, s.inputs)


def test_bad_config_names_the_value():
    with pytest.raises(ValueError, match="nope"):
        mixer_bench.Config(quality_mixers=("nope",))
    with pytest.raises(ValueError, match="task_size"):
        mixer_bench.Config(task_size="huge")
    with pytest.raises(ValueError, match="unknown task"):
        quality.task_maker("sorting")


@pytest.mark.slow
def test_quick_run_writes_its_files_and_covers_every_mixer(tmp_path):
    # the quick config, smaller still: structure is checked here, not learning
    cfg = replace(mixer_bench.Config.quick(), speed_Ts=(32, 64), steps=10,
                  quality_mixers=("softmax", "linformer"))
    result = mixer_bench.run(cfg, tmp_path)
    for f in ("result.json", "efficiency.png", "quality.png"):
        assert (tmp_path / f).stat().st_size > 0
    saved = json.loads((tmp_path / "result.json").read_text())
    assert set(saved["speed"]) == set(mixers.names())
    for name, row in saved["speed"].items():
        for T in ("32", "64"):
            cell = row["by_T"][T]
            assert ("error" in cell or "skipped" in cell
                    or (cell["fwd_s"] > 0 and cell["fwd_bwd_s"] > 0 and cell["peak_mb"] >= 0)), \
                (name, cell)
    for task, rows in result["quality"].items():
        assert set(rows) == set(cfg.quality_mixers)
        for name, r in rows.items():
            assert "error" not in r, (task, name, r)
            assert 0.0 <= r["accuracy"] <= 1.0
        assert 0.0 < result["chance"][task] < 1.0
    assert result["quality"]["mqar"]["linformer"]["bidirectional"]
    for name in cfg.forms_mixers:
        assert result["forms"][name]["recurrent_s"] > 0, result["forms"][name]
