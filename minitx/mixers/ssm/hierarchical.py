"""HiSS: a temporal hierarchy of state space models, a low SSM inside chunks and a high SSM
over the chunks.

Paper: "Hierarchical State Space Models for Continuous Sequence-to-Sequence Modeling"
(2024). The raw stream is cut into chunks of ``chunk`` steps; a low-level SSM runs over each
chunk on its own and emits one feature per chunk; a high-level SSM runs over the sequence of
chunk features.

As a causal token mixer (the paper predicts at the chunk rate; a language model needs an
output per token, and no output may read a later token):

    lo_t   = Low(x)_t, the low SSM restarted at every chunk start    (sees its chunk up to t)
    f_j    = lo at the last step of chunk j                          (complete only at its end)
    hi_j   = High(f_0, ..., f_j)                                     (causal over chunks)
    y_t    = lo_t + W hi_{j(t) - 1},    j(t) = t // chunk,  hi_{-1} = 0

so a token reads the upper level only through *completed* chunks: the feature of the chunk
it is in is not finished yet, and reading it would leak the chunk's later tokens.

Glossary (code -> paper):
    lower, upper   the low-level and high-level SSMs (any registered mixer with ``step``;
                   S4D by default, as in the paper's S4D-over-S4D comparison; d_state is
                   passed to those that take it)
    chunk          the chunk length (the paper's chunk of sensor samples)
    feature f_j    the low SSM's output at the chunk's last step (one feature per chunk)
    proj (W)       Linear(d_model, d_model) bringing the high level back to the token rate

Cost in T: two S4D convolutions, O(B d (T log c + (T / c) log (T / c))) plus the kernels;
``step`` O(d N) per token (the high level steps once per ``chunk`` tokens).
"""

from __future__ import annotations

import inspect

from ...autograd.factories import zeros
from ...autograd.ops_shape import cat
from ...nn import Linear, Module
from ..registry import build, get, register

__all__ = ["HiSS"]


@register("hiss")
class HiSS(Module):
    """Two-level SSM (low level within chunks, high level over completed chunks) as a causal
    token mixer (B, T, d_model) -> (B, T, d_model). Options: chunk, lower, upper, d_state."""

    def __init__(self, d_model, n_heads=1, causal=True, chunk=4, lower="s4d", upper="s4d",
                 d_state=16):
        super().__init__()
        if not causal:
            raise ValueError("hiss is causal by construction (accepted: causal=True)")
        if int(chunk) < 1:
            raise ValueError(f"hiss: chunk must be a positive integer, got {chunk}")
        self.d_model, self.chunk = d_model, int(chunk)
        self.lower, self.upper = (self._level(name, n_heads, d_state) for name in (lower, upper))
        for name, m in (("lower", self.lower), ("upper", self.upper)):
            if not hasattr(m, "step"):
                raise ValueError(f"hiss: {name}={type(m).mixer_name!r} has no recurrent step; "
                                 "accepted: mixers with init_state/step (s4d, mamba, ...)")
        self.proj = Linear(d_model, d_model, bias=False)

    def _level(self, name, n_heads, d_state):
        """Build one level; d_state is passed to mixers that take it."""
        takes_state = "d_state" in inspect.signature(get(name).__init__).parameters
        opts = {"d_state": d_state} if takes_state else {}
        return build(name, self.d_model, n_heads, **opts)

    def forward(self, x):
        if x.ndim != 3 or x.shape[-1] != self.d_model:
            raise ValueError(f"hiss: expected input (B, T, {self.d_model}), got {tuple(x.shape)}")
        B, T, D = x.shape
        c = self.chunk
        n = -(-T // c)  # number of chunks (the last may be partial)
        if n * c > T:  # zeros after the end: they never reach an earlier output
            x = cat([x, zeros(B, n * c - T, D, dtype=x.dtype)], 1)  # (B, n c, D)
        lo = self.lower(x.reshape(B * n, c, D)).reshape(B, n, c, D)  # restarted per chunk
        hi = self.upper(lo[:, :, -1])  # (B, n, D): chunk features -> high level
        ctx = cat([zeros(B, 1, D, dtype=x.dtype), hi[:, :-1]], 1)  # (B, n, D): hi_{j-1}
        y = lo + self.proj(ctx).unsqueeze(2)  # (B, n, c, D)
        return y.reshape(B, n * c, D)[:, :T]

    def init_state(self, batch):
        return {"lower": self.lower.init_state(batch), "upper": self.upper.init_state(batch),
                "context": zeros(batch, self.d_model, dtype=self.proj.weight.dtype), "pos": 0}

    def step(self, x_t, state):
        """x_t (B, d_model) -> (y_t (B, d_model), state); the high level steps when a chunk
        ends, and its output is used from the next chunk on."""
        B = x_t.shape[0]
        low_state = self.lower.init_state(B) if state["pos"] == 0 else state["lower"]
        lo, low_state = self.lower.step(x_t, low_state)  # (B, D)
        y = lo + self.proj(state["context"])
        new = dict(state, lower=low_state, pos=state["pos"] + 1)
        if new["pos"] == self.chunk:  # chunk complete: its feature feeds the high level
            new["context"], new["upper"] = self.upper.step(lo, state["upper"])
            new["pos"] = 0
        return y, new

    def extra_repr(self):
        return f"d_model={self.d_model}, chunk={self.chunk}"
