"""In-context n-gram models: next-token distributions from counts over the prompt so far.

Paper: "In-Context Language Learning: Architectures and Algorithms" (Akyurek et al.)
compares trained sequence models with n-gram models fitted to each prompt alone, and
finds Transformers behave like them through "n-gram heads" (attention heads that look
up earlier positions whose preceding n-1 tokens match the current ones and copy what
followed).

``in_context_ngram(tokens, n, vocab)`` gives, at every position t of a prompt, the
distribution of token t+1 estimated from the prefix tokens[0 .. t] alone:

    p(a | c) = (count(c a) + alpha) / (count(c) + alpha * V)       c = tokens[t-n+2 .. t]

counting every n-gram that lies wholly inside the prefix, with add-alpha smoothing and,
when the context c never occurred, a back-off to the (n-1)-gram estimate (down to the
unigram of tokens 0 .. t).  Cost O(T * V) per prompt: one pass in t, vectorised over
the batch.  ``ngram_head`` is the same count without smoothing, what a hard-wired
n-gram head outputs, and ``NGramLM`` a GPT with such heads added to its input.
"""

from __future__ import annotations

import numpy as np

from ..autograd.tensor import Tensor
from ..models.gpt import GPT, GPTConfig
from ..nn import Linear


def context_counts(tokens, n: int, vocab: int) -> list:
    """[C_0, .., C_{n-1}], C_m (B, T, V): at position t, how often each token followed the
    last m tokens (tokens[t-m+1 .. t]) inside the prefix tokens[0 .. t]; C_0 counts tokens."""
    tokens = np.asarray(tokens, np.int64)
    if tokens.ndim != 2:
        raise ValueError(f"in-context n-gram: expected tokens (B, T), got shape {tokens.shape}")
    if n < 1:
        raise ValueError(f"in-context n-gram: n must be >= 1, got {n}")
    if tokens.size and (tokens.min() < 0 or tokens.max() >= vocab):
        raise ValueError(f"in-context n-gram: tokens must lie in [0, {vocab}), got "
                         f"[{tokens.min()}, {tokens.max()}]")
    B, T = tokens.shape
    rows = np.arange(B)
    table = [np.zeros((B, vocab ** m, vocab)) for m in range(n)]   # (context id, next token)
    out = [np.zeros((B, T, vocab)) for _ in range(n)]
    for t in range(T):
        for m in range(min(n - 1, t) + 1):                      # the (m+1)-grams ending at t
            table[m][rows, _context_id(tokens, t - 1, m, vocab), tokens[:, t]] += 1
        for m in range(n):
            if m <= t + 1:
                out[m][:, t] = table[m][rows, _context_id(tokens, t, m, vocab)]
    return out


def in_context_ngram(tokens, n: int, vocab: int, alpha: float = 0.1) -> np.ndarray:
    """tokens (B, T) ints in [0, vocab) -> probs (B, T, vocab): at t, p(token t+1 | prefix)."""
    counts = context_counts(tokens, n, vocab)
    p = (counts[0] + alpha) / (counts[0].sum(-1, keepdims=True) + alpha * vocab)
    for c in counts[1:]:                                         # longer contexts win if seen
        seen = c.sum(-1, keepdims=True)
        p = np.where(seen > 0, (c + alpha) / np.maximum(seen + alpha * vocab, 1e-12), p)
    return p


def ngram_head(tokens, n: int, vocab: int) -> np.ndarray:
    """The output of a hard-wired n-gram head with one-hot values, (B, T, vocab): uniform
    attention over the earlier positions whose n-1 preceding tokens equal the last n-1
    tokens, averaging the one-hot token found there = the unsmoothed in-context n-gram
    distribution (zeros where the context has not occurred)."""
    c = context_counts(tokens, n, vocab)[n - 1]
    return c / np.maximum(c.sum(-1, keepdims=True), 1.0)


def _context_id(tokens, end, order, vocab):
    """The id of the ``order`` tokens ending at position ``end`` (inclusive), (B,)."""
    ident = np.zeros(tokens.shape[0], np.int64)
    for i in range(order):
        ident = ident * vocab + tokens[:, end - order + 1 + i]
    return ident


class NGramLM(GPT):
    """A GPT whose input also carries hard-wired n-gram heads (the paper's fix for models
    without them): x_t = tok_emb + pos_emb + W [head_2(t); head_3(t); ...], W learned."""

    def __init__(self, cfg: GPTConfig, orders=(2, 3), seed: int | None = 0):
        super().__init__(cfg, seed)
        self.orders = tuple(orders)
        self.ngram_proj = Linear(len(self.orders) * cfg.vocab_size, cfg.d_model, bias=False,
                                 generator=np.random.default_rng(seed))

    def embed(self, ids):
        """GPT's token + position embeddings plus the projected n-gram heads (B, T, C)."""
        heads = np.concatenate([ngram_head(ids, n, self.config.vocab_size) for n in self.orders],
                               axis=-1).astype(np.float32)      # (B, T, orders * V)
        return super().embed(ids) + self.ngram_proj(Tensor(heads))
