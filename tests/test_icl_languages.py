"""The icl-languages experiment: configuration errors and the paper's claim at CI size
(Akyurek et al.: a transformer learns a random regular language in context, above the
in-context unigram statistics; with hard-wired n-gram heads it reaches the in-context
bigram / trigram models)."""

import json

import numpy as np
import pytest

from minitx import experiments
from minitx.experiments import icl_languages as E


def test_registered_and_bad_configs_name_the_value():
    assert "icl-languages" in experiments.names()
    with pytest.raises(ValueError, match="no-such-mixer.*accepted:.*softmax"):
        E.Config(mixers=("no-such-mixer",))
    with pytest.raises(ValueError, match="no-such-mixer.*accepted"):
        E.Config(ngram_features=("no-such-mixer",))
    with pytest.raises(ValueError, match="max_out"):
        E.Config(n_symbols=4, max_out=5)
    with pytest.raises(ValueError, match="ngram_orders"):
        E.Config(ngram_orders=(0, 2))


def test_baselines_improve_with_context_order():
    """On these languages the in-context bigram beats the unigram (the n-gram yardstick
    is informative), and every n-gram model beats a uniform guess."""
    cfg = E.Config.quick()
    prompts = E.make_prompts(cfg, 100, np.random.default_rng(0))
    scores = {name: E.evaluate(cfg, p, prompts)
              for name, p in E.ngram_baselines(cfg, prompts).items()}
    uniform = E.evaluate(cfg, np.ones(prompts.tokens[:, :-1].shape + (cfg.n_symbols + 1,)), prompts)
    assert scores["2-gram"]["accuracy"] > scores["1-gram"]["accuracy"] + 0.08
    assert scores["1-gram"]["accuracy"] > uniform["accuracy"] + 0.1
    by = scores["2-gram"]["accuracy_by_string"]
    assert by[-1] > by[0] + 0.1  # more strings in the prompt, better in-context statistics


@pytest.mark.slow
def test_quick_run_transformer_learns_in_context(tmp_path):
    cfg = E.Config.quick()
    result = E.run(cfg, tmp_path)
    base = result["baselines"]
    tf = result["models"]["softmax"]
    ng = result["models"]["softmax + n-gram features"]
    assert tf["accuracy"] > base["1-gram"]["accuracy"] + 0.04
    assert ng["accuracy"] > base["2-gram"]["accuracy"] - 0.03
    assert ng["tvd"] < base["1-gram"]["tvd"] - 0.05
    # the n-gram-featured model tracks in-context n-gram statistics more closely
    assert ng["tvd_to_ngram"]["3-gram"] < tf["tvd_to_ngram"]["3-gram"]
    saved = json.loads((tmp_path / "result.json").read_text())
    assert saved["models"]["softmax"]["accuracy"] == tf["accuracy"]
    for name in ("scores_vs_steps.png", "accuracy_vs_strings.png"):
        assert (tmp_path / name).stat().st_size > 1000
    assert any("3-gram" in line for line in E.summary_lines(result))
