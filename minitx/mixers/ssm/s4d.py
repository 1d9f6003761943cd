"""S4D: a diagonal state space model, trained as a long convolution, decoded as an RNN.

Paper: "On the Parameterization and Initialization of Diagonal State Space Models"
(Gu, Gupta, Goel, Re, 2022).

Each of the C channels is its own single-input single-output SSM  x' = A x + B u,
y = C x + D u  with a diagonal complex A of N/2 modes (the other N/2 are their complex
conjugates, so the output is real: y = 2 Re(C x)). Zero-order hold with step dt gives

    Abar_n = exp(dt A_n),     Bbar_n = (exp(dt A_n) - 1) / A_n * B_n,
    x_t = Abar x_{t-1} + Bbar u_t,     y_t = 2 Re(sum_n C_n x_{t,n}) + D u_t   (recurrence)

and unrolled, a causal convolution y = K * u + D u with the kernel

    K_l = 2 Re( sum_n C_n Bbar_n Abar_n^l ),   l = 0..T-1        (a Vandermonde product)

Initialisations of A (paper, Sec. 4), n = 0..N/2-1:
    S4D-LegS  the eigenvalues (Im > 0) of the normal part of HiPPO-LegS, B = V^* B_LegS
    S4D-Inv   A_n = -1/2 + i (N / pi) (N / (2n + 1) - 1),   B_n = 1
    S4D-Lin   A_n = -1/2 + i pi n,                           B_n = 1
dt is log-uniform in [dt_min, dt_max] per channel; C ~ complex normal (variance 1).

Cost: forward O(C N T) for the kernel plus O(B C T log T) for the FFT convolution;
``step`` O(C N) per token with an O(C N) state.

Glossary (code -> paper):
    dt        (C,)         Delta, the step (parameter log_dt)
    a_re, a_im (C, N/2)    Re A = -exp(log_a_re), Im A
    b, c      (C, N/2)     B and C (complex, stored as real and imaginary parts)
    z         (C, N/2)     Abar = exp(dt A)
    K         (C, T)       the convolution kernel
    D         (C,)         the skip connection
The (C, N/2) parameters are stored flat, (C N/2,), and reshaped where used (see
``DiagonalSSM``). The output of the SSM goes through GELU, then a position-wise Linear(C, 2C) and a GLU,
as in the paper's deep S4D layer.
"""

from __future__ import annotations

import math

import numpy as np

from ... import functional as F
from ...autograd.factories import _rng, tensor
from ...autograd.function import Function
from ...kernels.recurrence import linear_recurrence_forward
from ...nn import Linear, Module, Parameter
from ..registry import register
from ._conv import causal_conv
from ._hippo import legs_nplr

__all__ = ["S4D", "s4d_init", "s4d_kernel", "VandermondeKernel", "INITS"]

INITS = ("legs", "inv", "lin")


def s4d_init(kind, N):
    """(A (N/2,) complex, B (N/2,) complex) of S4D-LegS, S4D-Inv or S4D-Lin for state size N."""
    if kind not in INITS:
        raise ValueError(f"s4d: unknown init {kind!r} (accepted: {', '.join(INITS)})")
    if not isinstance(N, (int, np.integer)) or N < 2 or N % 2:
        raise ValueError(f"s4d: d_state must be an even integer >= 2 (modes come in "
                         f"conjugate pairs), got {N!r}")
    n = np.arange(N // 2)
    if kind == "legs":
        Lam, _, B, _ = legs_nplr(N)
        keep = Lam.imag > 0  # one of each conjugate pair
        return Lam[keep], B[keep]
    if kind == "inv":
        A = -0.5 + 1j * (N / math.pi) * (N / (2 * n + 1) - 1)
    else:
        A = -0.5 + 1j * math.pi * n
    return A.astype(complex), np.ones(N // 2, complex)


def s4d_kernel(dt, A, B, C, L):
    """Reference kernel, NumPy complex: dt (C,), A, B, C (C, N/2) -> K (C, L)."""
    dtA = dt[:, None] * A
    bbar = (np.exp(dtA) - 1) / A * B
    powers = np.exp(dtA[..., None] * np.arange(L))  # (C, N/2, L): Abar^l
    return 2 * np.einsum("cn,cnl->cl", C * bbar, powers).real


class VandermondeKernel(Function):
    """K_l = 2 Re(sum_n C_n B_n (z_n - 1) / A_n z_n^l), z = exp(dt A), from real inputs
    dt (C,), a_re, a_im, b_re, b_im, c_re, c_im (C, N/2); keyword L.

    Backward: write K = 2 Re(Phi) with Phi holomorphic in each complex input p. For a real
    loss with dL/dK = G, dL/dRe p + i dL/dIm p = conj(sum_l G_l dPhi_l/dp) * 2. With
    S0 = sum_l G_l z^l and S1 = sum_l G_l l z^l (two more Vandermonde products):
        sum_l G_l dPhi_l/dC  = B (z - 1) / A S0          (and symmetrically for B)
        sum_l G_l dPhi_l/dA  = C B dt [z S0 + (z - 1) S1] / A - C B (z - 1) S0 / A^2
        sum_l G_l dPhi_l/ddt = sum_n C B [z S0 + (z - 1) S1]
    """

    @staticmethod
    def forward(ctx, dt, a_re, a_im, b_re, b_im, c_re, c_im, L):
        A, B, C = a_re + 1j * a_im, b_re + 1j * b_im, c_re + 1j * c_im
        dt64 = dt.astype(np.float64)
        z = np.exp(dt64[:, None] * A)
        powers = np.exp((dt64[:, None] * A)[..., None] * np.arange(L))  # (C, N/2, L)
        W = C * B * (z - 1) / A
        ctx.save_for_backward(dt64, A, B, C, z, powers)
        ctx.dtype = dt.dtype
        return (2 * np.einsum("cn,cnl->cl", W, powers).real).astype(dt.dtype)

    @staticmethod
    def backward(ctx, g):
        dt, A, B, C, z, powers = ctx.saved
        L = powers.shape[-1]
        S0 = np.einsum("cl,cnl->cn", g, powers)
        S1 = np.einsum("cl,cnl->cn", g * np.arange(L), powers)
        r = (z - 1) / A
        dC = 2 * B * r * S0
        dB = 2 * C * r * S0
        dA = 2 * C * B * (dt[:, None] * (z * S0 + (z - 1) * S1) / A - r * S0 / A)
        ddt = 2 * (C * B * (z * S0 + (z - 1) * S1)).sum(-1).real
        out = [ddt]
        for d in (dA, dB, dC):  # real part, and minus the imaginary part (= conj)
            out += [d.real, -d.imag]
        return tuple(o.astype(ctx.dtype) for o in out) + (None,)


def log_uniform_dt(C, dt_min, dt_max, rng):
    if not 0 < dt_min <= dt_max:
        raise ValueError(f"need 0 < dt_min <= dt_max, got dt_min={dt_min}, dt_max={dt_max}")
    return np.exp(rng.uniform(math.log(dt_min), math.log(dt_max), C))


class DiagonalSSM(Module):
    """The C-channel diagonal SSM alone (kernel, convolution, recurrence); used by S4D and H3."""

    def __init__(self, channels, d_state=64, init="legs", dt_min=1e-3, dt_max=1e-1,
                 generator=None):
        super().__init__()
        rng = _rng(generator)
        A, B = s4d_init(init, d_state)
        self.shape = (channels, d_state // 2)
        flat = lambda a: np.broadcast_to(a, self.shape).ravel()  # noqa: E731
        # (C, N/2) parameters are stored flat (C N/2,): they are the SSM's structure, not
        # weight matrices, so whole-model inits and weight decay that touch ndim >= 2 skip them
        self.log_dt = Parameter(np.log(log_uniform_dt(channels, dt_min, dt_max, rng)))
        self.log_a_re = Parameter(flat(np.log(-A.real)))
        self.a_im = Parameter(flat(A.imag))
        self.b_re = Parameter(flat(B.real))
        self.b_im = Parameter(flat(B.imag))
        self.c_re = Parameter(rng.normal(0, math.sqrt(0.5), self.shape).ravel())
        self.c_im = Parameter(rng.normal(0, math.sqrt(0.5), self.shape).ravel())
        for p in self.parameters():
            p.data = p.data.astype(np.float32)

    def _mat(self, p):
        return p.reshape(*self.shape)  # (C N/2,) -> (C, N/2)

    def kernel(self, L):
        """K (C, L), differentiable."""
        m = self._mat
        return VandermondeKernel.apply(self.log_dt.exp(), -m(self.log_a_re).exp(), m(self.a_im),
                                       m(self.b_re), m(self.b_im), m(self.c_re), m(self.c_im),
                                       L=L)

    def forward(self, u):
        """u (B, T, C) -> K * u (B, T, C)."""
        return causal_conv(u, self.kernel(u.shape[1]))

    def complex_params(self):
        """(dt, A, B, C) as NumPy arrays (float64 / complex128), for decoding and tests."""
        d = {n: p.data.astype(np.float64).reshape(self.shape)
             for n, p in self.named_parameters() if n != "log_dt"}
        A = -np.exp(d["log_a_re"]) + 1j * d["a_im"]
        return (np.exp(self.log_dt.data.astype(np.float64)), A, d["b_re"] + 1j * d["b_im"],
                d["c_re"] + 1j * d["c_im"])

    def scan(self, u):
        """The recurrent form over a whole sequence, by the linear-recurrence kernel
        (``minitx.kernels.recurrence``, complex arrays): u (B, T, C) array -> (B, T, C).
        NumPy only (no gradient); a third form the tests compare with the convolution."""
        dt, A, B, C = self.complex_params()
        z = np.exp(dt[:, None] * A).reshape(1, 1, -1)  # (1, 1, C N/2)
        bbar = ((z.reshape(A.shape) - 1) / A * B).reshape(1, 1, -1)
        Bsz, T, Cn = u.shape
        a = np.broadcast_to(z, (Bsz, T, z.shape[-1])).copy()
        b = np.repeat(u.astype(np.float64), A.shape[1], axis=-1) * bbar  # (B, T, C N/2)
        x = linear_recurrence_forward(a, b, None).reshape(Bsz, T, Cn, -1)  # (B, T, C, N/2)
        return 2 * (C * x).sum(-1).real

    def init_state(self, batch, extra=()):
        """Zeros (B, C, *extra, N/2): ``extra`` axes share their channel's SSM (H3)."""
        C, n = self.shape
        return np.zeros((batch, C, *extra, n), complex)

    def step(self, u_t, state):
        """u_t (B, C, *extra) array -> (y_t (B, C, *extra) array, new state). No gradient
        (decoding)."""
        dt, A, B, C = self.complex_params()
        z = np.exp(dt[:, None] * A)
        bbar = (z - 1) / A * B
        shape = (A.shape[0],) + (1,) * (u_t.ndim - 2) + (A.shape[1],)  # (C, 1.., N/2)
        z, bbar, C = z.reshape(shape), bbar.reshape(shape), C.reshape(shape)
        state = z * state + bbar * u_t[..., None]  # (B, C, *extra, N/2)
        return 2 * (C * state).sum(-1).real, state


@register("s4d")
class S4D(Module):
    """S4D ("On the Parameterization and Initialization of Diagonal State Space Models"):
    one diagonal SSM per channel, computed as an FFT convolution with a Vandermonde kernel
    (``forward``) or as a recurrence (``init_state`` / ``step``); the two agree.

    Cost in T: O(C N T + B C T log T) time, O(C N T) memory for the kernel's backward;
    ``step`` O(C N) per token. ``n_heads`` is accepted for the common interface and
    unused (every channel is its own SSM).

    Options: d_state (N, even), init ("legs", "inv", "lin"), dt_min, dt_max, seed.
    """

    def __init__(self, d_model, n_heads=1, causal=True, d_state=64, init="legs", dt_min=1e-3,
                 dt_max=1e-1, seed=None):
        super().__init__()
        if not causal:
            raise ValueError("s4d is a causal convolution/recurrence (accepted: causal=True)")
        gen = np.random.default_rng(seed) if seed is not None else None
        self.d_model, self.d_state, self.init = d_model, d_state, init
        self.ssm = DiagonalSSM(d_model, d_state, init, dt_min, dt_max, generator=gen)
        self._make_head(gen)

    def _make_head(self, gen):
        self.D = Parameter(_rng(gen).standard_normal(self.d_model).astype(np.float32))
        self.out = Linear(self.d_model, 2 * self.d_model, generator=gen)  # then GLU

    def _post(self, y):
        """SSM output (..., C) -> GELU -> Linear(C, 2C) -> GLU (..., C)."""
        a, b = self.out(F.gelu(y)).split([self.d_model, self.d_model], -1)
        return a * b.sigmoid()

    def forward(self, x):
        return self._post(self.ssm(x) + x * self.D)  # (B, T, C)

    def init_state(self, batch):
        return {"x": self.ssm.init_state(batch)}

    def step(self, x_t, state):
        """x_t (B, C) -> (y_t (B, C), state). The SSM part is decoded in NumPy (no
        gradient flows to the SSM parameters through ``step``)."""
        y, s = self.ssm.step(x_t.data.astype(np.float64), state["x"])
        y = tensor(y.astype(x_t.dtype)) + x_t * self.D
        return self._post(y), {"x": s}

    def extra_repr(self):
        return f"d_model={self.d_model}, d_state={self.d_state}, init={self.init!r}"
