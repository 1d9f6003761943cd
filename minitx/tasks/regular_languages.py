"""In-context language learning: prompts of strings from a fresh random regular language.

Paper: "In-Context Language Learning: Architectures and Algorithms" (Akyurek, Wang,
Kim, Andreas; the REGBENCH task).  Each prompt draws a random probabilistic finite
automaton with uniform transition probabilities, samples several strings from it and
joins them with a delimiter; a language model reads the prompt and must predict the
next token, so it has to infer the language from the strings it has seen so far.

Our automaton (the paper samples its sizes; we fix them per run):

* ``n_states`` states, start state 0; from every state, ``d`` distinct symbols of the
  alphabet (d uniform in [min_out, max_out]) lead to uniformly random states, the
  other symbols have no edge (they are not allowed there).  The automaton is
  deterministic: a state and a symbol fix the next state.  (``mixed_degree``: each
  automaton first draws its own cap on d, mixing near-deterministic and branching ones.)
* a string starts in state 0 and has a length uniform in [min_len, max_len]; each
  next symbol is uniform over the symbols allowed in the current state.
* a prompt is   D s_1 D s_2 D s_3 ...   truncated to ``length + 1`` tokens, with the
  delimiter D = n_symbols (so the vocabulary has n_symbols + 1 tokens).  The model
  reads tokens[:, :-1] and predicts tokens[:, 1:].

Because a string's length does not depend on its state, the language's
next-symbol distribution after a prefix, given that the string goes on, is uniform
over the symbols allowed in the current state (``true_next_distribution``).  The
scores compare a model's distribution over the symbols (the delimiter dropped and the
rest renormalised) with it: ``accuracy`` = the most likely symbol is allowed, ``tvd``
= total variation distance 0.5 * sum |p - q|.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Automata:
    """A batch of B automata: ``delta`` (B, S, A) int, the next state, or -1 (no edge)."""

    delta: np.ndarray

    @property
    def n_symbols(self) -> int:
        return self.delta.shape[2]

    @property
    def allowed(self) -> np.ndarray:
        """(B, S, A) bool: symbol a may follow in state s."""
        return self.delta >= 0

    def run(self, b: int, string) -> list:
        """The states visited by automaton b reading ``string`` from state 0 (None once a
        symbol has no edge): len(string) + 1 entries."""
        states, s = [0], 0
        for a in string:
            s = None if s is None or self.delta[b, s, a] < 0 else int(self.delta[b, s, a])
            states.append(s)
        return states

    def accepts(self, b: int, string) -> bool:
        """Whether automaton b can produce ``string`` (every symbol has an edge)."""
        return self.run(b, string)[-1] is not None


def random_automata(batch, n_states, n_symbols, rng, min_out=1, max_out=None,
                    mixed_degree=False) -> Automata:
    """With ``mixed_degree`` each automaton first draws its own cap m in [min_out, max_out]
    and its states' out-degrees are uniform in [min_out, m]: a batch then mixes nearly
    deterministic languages with branching ones."""
    max_out = n_symbols if max_out is None else max_out
    if not 1 <= min_out <= max_out <= n_symbols:
        raise ValueError(f"random_automata: need 1 <= min_out <= max_out <= n_symbols = "
                         f"{n_symbols}, got min_out={min_out}, max_out={max_out}")
    if n_states < 1:
        raise ValueError(f"random_automata: n_states must be >= 1, got {n_states}")
    cap = rng.integers(min_out, max_out + 1, (batch, 1)) if mixed_degree else max_out
    degree = rng.integers(min_out, cap + 1, (batch, n_states))              # (B, S)
    rank = np.argsort(rng.random((batch, n_states, n_symbols)), axis=2).argsort(axis=2)
    has_edge = rank < degree[..., None]                                     # d random symbols
    target = rng.integers(0, n_states, (batch, n_states, n_symbols))
    return Automata(np.where(has_edge, target, -1))


@dataclass(frozen=True)
class LanguagePrompts:
    """tokens (B, L+1); states (B, L+1): the automaton's state after each token (0 after
    a delimiter); string_index (B, L+1): how many strings the prompt completed before
    the string this token belongs to (a delimiter opens the next string)."""

    tokens: np.ndarray
    states: np.ndarray
    string_index: np.ndarray
    automata: Automata

    @property
    def delimiter(self) -> int:
        return self.automata.n_symbols

    @property
    def vocab_size(self) -> int:
        return self.automata.n_symbols + 1

    def inputs_targets(self):
        return self.tokens[:, :-1], self.tokens[:, 1:]

    def strings(self, b: int) -> list:
        """The complete strings of prompt b (the truncated last one dropped)."""
        parts, cur = [], None
        for t in self.tokens[b]:
            if t == self.delimiter:
                if cur is not None:
                    parts.append(cur)
                cur = []
            else:
                cur.append(int(t))
        return parts


def make_prompts(batch, length, rng, n_states=4, n_symbols=4, min_out=1, max_out=None,
                 min_len=1, max_len=8, mixed_degree=False) -> LanguagePrompts:
    """``batch`` prompts of ``length`` + 1 tokens, each from its own random automaton."""
    if not 1 <= min_len <= max_len:
        raise ValueError(f"make_prompts: need 1 <= min_len <= max_len, got {min_len}, {max_len}")
    auto = random_automata(batch, n_states, n_symbols, rng, min_out, max_out, mixed_degree)
    allowed, rows = auto.allowed, np.arange(batch)
    tokens = np.empty((batch, length + 1), np.int64)
    states = np.zeros((batch, length + 1), np.int64)
    index = np.zeros((batch, length + 1), np.int64)
    tokens[:, 0] = n_symbols                                   # every prompt opens with D
    state = np.zeros(batch, np.int64)
    left = rng.integers(min_len, max_len + 1, batch)          # symbols left in this string
    count = np.zeros(batch, np.int64)
    for t in range(1, length + 1):
        scores = np.where(allowed[rows, state], rng.random((batch, n_symbols)), -1.0)
        symbol = scores.argmax(1)                              # uniform over allowed symbols
        ends = left == 0
        count += ends
        tokens[:, t] = np.where(ends, n_symbols, symbol)
        state = np.where(ends, 0, auto.delta[rows, state, symbol])
        left = np.where(ends, rng.integers(min_len, max_len + 1, batch), left - 1)
        states[:, t], index[:, t] = state, count
    return LanguagePrompts(tokens, states, index, auto)


def true_next_distribution(prompts: LanguagePrompts) -> np.ndarray:
    """(B, L, A): at input position t, the language's distribution of the next symbol given
    the string goes on: uniform over the symbols allowed in states[:, t]."""
    B = prompts.tokens.shape[0]
    ok = prompts.automata.allowed[np.arange(B)[:, None], prompts.states[:, :-1]]  # (B, L, A)
    return ok / ok.sum(-1, keepdims=True)


def symbol_distribution(probs, n_symbols) -> np.ndarray:
    """Drop the delimiter from next-token distributions (..., A + 1) and renormalise."""
    p = np.asarray(probs, np.float64)[..., :n_symbols]
    return p / np.maximum(p.sum(-1, keepdims=True), 1e-12)


def scores(probs, prompts: LanguagePrompts) -> dict:
    """Per-position scores (B, L) of next-token distributions ``probs`` (B, L, A + 1):
    ``accuracy`` (the most likely symbol is allowed) and ``tvd`` to the language."""
    p = symbol_distribution(probs, prompts.automata.n_symbols)
    q = true_next_distribution(prompts)
    best = p.argmax(-1)
    return {"accuracy": (np.take_along_axis(q, best[..., None], -1)[..., 0] > 0).astype(float),
            "tvd": 0.5 * np.abs(p - q).sum(-1)}


def by_string(values, prompts: LanguagePrompts, n_strings: int) -> list:
    """Mean of per-position ``values`` (B, L) grouped by the number of earlier strings
    0 .. n_strings - 1 (groups with no positions give NaN)."""
    idx = prompts.string_index[:, :-1]
    return [float(values[idx == i].mean()) if np.any(idx == i) else float("nan")
            for i in range(n_strings)]
