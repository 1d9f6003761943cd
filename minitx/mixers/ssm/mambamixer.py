"""MambaMixer: a selective SSM along time (token mixer) and a selective SSM across channels
(channel mixer), joined by learned weighted averages of the block's earlier features.

Paper: "MambaMixer: Efficient Selective State Space Models with Dual Token and Channel
Selection" (Behrouz, Santacatterina, Zabih, 2024). The block has three parts:

    Selective Token Mixer     a Mamba-style S6 block run along the tokens
    Selective Channel Mixer   an S6 block run along the *channels* (channels are the sequence),
                              bidirectional, since channels have no order
    Weighted averaging        each mixer reads a learned weighted sum of earlier features

This file's causal reading (what differs from the paper, and why):
  * Token mixer: the paper's vision model scans tokens both ways; a language model must not
    see the future, so the token mixer here is the causal Mamba block (``mamba.py``).
  * Channel mixer: in the paper channel c is a "token" whose features are its values over
    *all* time steps, which would leak the future. Here the features of channel c at time t
    are its last ``window`` values (u_{t-window+1, c} .. u_{t, c}), so the channel mixer at t
    reads only the past, and it scans the d_model channels both ways, as in the paper.
    The paper's short convolution along channels is left out.
  * Weighted averaging: the paper averages the outputs of *all earlier layers*; a single
    mixer only sees its own input, so here it averages what the block has computed so far:
        u_ch = a_0 x + a_1 y_tok,          out = b_0 x + b_1 y_tok + b_2 y_ch
    (init a = (0, 1), b = (0, 0, 1), i.e. token mixer then channel mixer). The cross-layer
    version needs a model with dense skip connections (not in minitx.models.gpt).

Channel mixer, for one token t (L = d_model channels as the sequence, E features each):
    w_c          = (u_{t-W+1,c}, ..., u_{t,c})                  (W,)  the channel's window
    x_c, z_c     = in_proj(w_c)                                 (E,) each
    x_c          = SiLU(x_c);  (Delta_c, B_c, C_c) = selection(x_c)
    h_c          = exp(Delta_c A) h_{c-1} + Delta_c B_c x_c     forward over c = 0..L-1
    g_c          = exp(Delta_c A') g_{c+1} + Delta_c B_c x_c    backward over c = L-1..0
    y_c          = C_c.h_c + C_c.g_c + D x_c;  out_c = out_proj(y_c * SiLU(z_c))   (scalar)

Glossary (code -> paper):
    token          Mamba block, the Selective Token Mixer
    channel        SelectiveChannelMixer, the Selective Channel Mixer
    window (W)     how many recent values of a channel form its features (causal stand-in for
                   the paper's whole series)
    expand (E)     the channel mixer's feature width per channel
    A_fwd, A_bwd   (E, N) the two directions' A = -exp(A_log)
    avg_in, avg_out  the weighted-averaging weights (alpha, beta in the paper)

Cost in T: O(T d_inner N) for the token mixer plus O(T d_model E N) for the channel mixer
(both linear in T); ``step`` O(d_inner N + d_model E N) per token, state O(d_inner (N + d_conv)
+ d_model W).
"""

from __future__ import annotations

import numpy as np

from ... import functional as F
from ...autograd.factories import zeros
from ...autograd.ops_shape import cat, stack
from ...nn import Linear, Module, Parameter
from ..registry import register
from ._scan_ops import selective_scan
from .mamba import Mamba, inverse_softplus

__all__ = ["MambaMixer", "SelectiveChannelMixer"]


class SelectiveChannelMixer(Module):
    """A bidirectional selective SSM across the channels of each token; the features of a
    channel are its last ``window`` values (so it is causal along time)."""

    def __init__(self, d_model, window=4, expand=4, d_state=4):
        super().__init__()
        for name, value in (("window", window), ("expand", expand), ("d_state", d_state)):
            if int(value) < 1:
                raise ValueError(f"mambamixer: channel {name} must be a positive integer, "
                                 f"got {value}")
        self.d_model, self.window, self.E, self.N = d_model, int(window), int(expand), int(d_state)
        E, N = self.E, self.N
        self.in_proj = Linear(self.window, 2 * E)  # -> x, z
        self.x_proj = Linear(E, 1 + 2 * N, bias=False)  # -> delta_r, B, C
        self.dt_proj = Linear(1, E)
        self.dt_proj.bias.data[...] = inverse_softplus(np.full(E, 0.1))
        A = np.tile(np.arange(1, N + 1, dtype=np.float32), (E, 1))  # (E, N), S4D-real
        self.A_fwd_log = Parameter(np.log(A))
        self.A_bwd_log = Parameter(np.log(A))
        self.D = Parameter(np.ones(E, np.float32))
        self.out_proj = Linear(E, 1)

    def windows(self, u):
        """u (B, T, L) -> (B, T, L, W): entry w is u at time t - W + 1 + w (zeros before 0)."""
        B, T, L = u.shape
        W = self.window
        if W == 1:
            return u.unsqueeze(-1)  # (B, T, L, 1)
        pad = cat([zeros(B, W - 1, L, dtype=u.dtype), u], 1)  # (B, T + W - 1, L)
        return stack([pad[:, w:w + T] for w in range(W)], -1)  # (B, T, L, W)

    def mix(self, win):
        """win (M, L, W) windows of M tokens -> (M, L): one output per channel."""
        E, N = self.E, self.N
        x, z = self.in_proj(win).split([E, E], -1)  # (M, L, E) each
        x = F.silu(x)
        delta_r, Bm, Cm = self.x_proj(x).split([1, N, N], -1)  # (M, L, 1), (M, L, N) x2
        delta = F.softplus(self.dt_proj(delta_r))  # (M, L, E)
        y_fwd = selective_scan(x, delta, -self.A_fwd_log.exp(), Bm, Cm, self.D)
        flip = lambda a: a.flip(1)  # noqa: E731  (reverse the channel axis)
        y_bwd = flip(selective_scan(flip(x), flip(delta), -self.A_bwd_log.exp(), flip(Bm),
                                    flip(Cm), None))
        return self.out_proj((y_fwd + y_bwd) * F.silu(z)).squeeze(-1)  # (M, L)

    def forward(self, u):
        B, T, L = u.shape
        win = self.windows(u).reshape(B * T, L, self.window)  # (B T, L, W)
        return self.mix(win).reshape(B, T, L)

    def init_state(self, batch, dtype):
        return np.zeros((batch, self.window - 1, self.d_model), dtype)

    def step(self, u_t, state):
        """u_t (B, L) -> (y_t (B, L), the last W - 1 inputs (B, W - 1, L))."""
        win = cat([state, u_t.unsqueeze(1)], 1) if self.window > 1 else u_t.unsqueeze(1)
        y = self.mix(win.transpose(1, 2))  # (B, W, L) -> (B, L, W) -> (B, L)
        return y, win[:, 1:]


@register("mambamixer")
class MambaMixer(Module):
    """MambaMixer block as a causal token mixer (B, T, d_model) -> (B, T, d_model): the
    Mamba token mixer, then the selective channel mixer, joined by weighted averages.
    Options: d_state, expand, d_conv (token mixer); channel_window, channel_expand,
    channel_state (channel mixer)."""

    def __init__(self, d_model, n_heads=1, causal=True, d_state=8, expand=2, d_conv=4,
                 channel_window=4, channel_expand=4, channel_state=4):
        super().__init__()
        if not causal:
            raise ValueError("mambamixer here is the causal variant (accepted: causal=True)")
        self.d_model = d_model
        self.token = Mamba(d_model, d_state=d_state, expand=expand, d_conv=d_conv)
        self.channel = SelectiveChannelMixer(d_model, channel_window, channel_expand,
                                             channel_state)
        self.avg_in = Parameter(np.array([0.0, 1.0], np.float32))  # alpha: x, y_tok
        self.avg_out = Parameter(np.array([0.0, 0.0, 1.0], np.float32))  # beta: x, y_tok, y_ch

    def _combine(self, x, y_tok, mix):
        a, b = self.avg_in, self.avg_out
        y_ch = mix(a[0] * x + a[1] * y_tok)
        return b[0] * x + b[1] * y_tok + b[2] * y_ch

    def forward(self, x):
        if x.ndim != 3 or x.shape[-1] != self.d_model:
            raise ValueError(f"mambamixer: expected input (B, T, {self.d_model}), "
                             f"got {tuple(x.shape)}")
        return self._combine(x, self.token(x), self.channel)

    def init_state(self, batch):
        return {"token": self.token.init_state(batch),
                "channel": self.channel.init_state(batch, self.avg_in.dtype)}

    def step(self, x_t, state):
        """x_t (B, d_model) -> (y_t (B, d_model), new state)."""
        y_tok, s_tok = self.token.step(x_t, state["token"])
        box = {}

        def mix(u):
            y, box["channel"] = self.channel.step(u, state["channel"])
            return y

        y = self._combine(x_t, y_tok, mix)
        return y, {"token": s_tok, "channel": box["channel"]}

    def extra_repr(self):
        return (f"d_model={self.d_model}, channel_window={self.channel.window}, "
                f"channel_expand={self.channel.E}, channel_state={self.channel.N}")
