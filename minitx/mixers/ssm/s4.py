"""S4: a diagonal-plus-low-rank (DPLR) state space model whose kernel comes from a Cauchy
kernel and the Woodbury identity at the roots of unity.

Paper: "Efficiently Modeling Long Sequences with Structured State Spaces" (Gu, Goel, Re,
2022), Algorithm 1.

Each channel is an SSM x' = A x + B u, y = Re(C x) with A = Lambda - P Q^*
(Lambda diagonal complex, P, Q vectors): HiPPO-LegS is of this form in the eigenbasis of
its normal part (``_hippo.legs_nplr``). Bilinear discretisation with step dt:
Abar = (I - dt/2 A)^{-1} (I + dt/2 A), Bbar = (I - dt/2 A)^{-1} dt B. The kernel
K_l = Re(C Abar^l Bbar), l < L, has the truncated generating function, at the L roots of
unity w_k = exp(-2 pi i k / L),

    Khat(w) = sum_{l<L} C Abar^l Bbar w^l = Ct (I - Abar w)^{-1} Bbar,   Ct = C (I - Abar^L)
            = 2 / (1 + w) * Ct (g(w) - A)^{-1} B,                    g(w) = 2/dt (1-w)/(1+w)

and Woodbury turns (g - Lambda + P Q^*)^{-1} into Cauchy sums r_ij = sum_n a_n / (g - Lambda_n).
Like the paper we learn Ct directly (C is recovered for decoding). We also multiply
through by (1 + w), which removes the 0/0 at w = -1:

    Khat(w) = 2 [ r00 - (1 + w) r01 r10 / (1 + (1 + w) r11) ],
    r_ij    = sum_n a_ij,n / (2/dt (1 - w) - Lambda_n (1 + w)),
    a00 = Ct B,  a01 = Ct P,  a10 = Q^* B,  a11 = Q^* P,       K = Re(IFFT(Khat)).

Cost: O(C N L) time and memory for the kernel (L = l_max) plus O(B C T log T) for the
convolution; ``step`` O(C N^2) per token (dense Abar), state O(C N).

Glossary (code -> paper):
    lam (C, N) Lambda (Re = -exp(log_lam_re)); p (C, N) P; q (C, N) Q^* (the conjugate
    transpose, stored as a row); b (C, N) B; ct (C, N) C-tilde; dt (C,) Delta;
    omega (L,) roots of unity; den (C, N, L) the Cauchy denominators; khat (C, L).
"""

from __future__ import annotations

import math

import numpy as np

from ...autograd.factories import _rng
from ...autograd.function import Function
from ...nn import Module, Parameter
from ..registry import register
from ._conv import causal_conv
from ._hippo import legs_nplr
from .s4d import S4D, log_uniform_dt

__all__ = ["S4", "DPLRSSM", "CauchyKernel", "dplr_dense", "kernel_powers",
           "kernel_generating", "discretize_dplr"]

_NAMES = ("lam", "p", "q", "b", "ct")


def _roots(L):
    return np.exp(-2j * np.pi * np.arange(L) / L)  # (L,)


class CauchyKernel(Function):
    """Khat by Cauchy sums and Woodbury, then K = Re(IFFT(Khat)).
    Inputs dt (C,) and real/imaginary pairs of lam, p, q, b, ct (C, N); keyword L.
    Backward by hand in the holomorphic adjoints delta_x = d(sum_l G_l k_l)/dx (k complex,
    K = Re k): each step's derivative is a product, and for a complex input x the real
    gradient is (Re delta_x, -Im delta_x)."""

    @staticmethod
    def forward(ctx, dt, *pairs, L):
        lam, p, q, b, ct = (pairs[2 * i] + 1j * pairs[2 * i + 1] for i in range(5))
        dt64 = dt.astype(np.float64)
        w = _roots(L)
        e = 1 + w  # (L,)
        h = (2 / dt64)[:, None] * (1 - w)  # (C, L)
        R = 1 / (h[:, None, :] - lam[..., None] * e)  # (C, N, L)
        a = {"00": ct * b, "01": ct * p, "10": q * b, "11": q * p}
        r = {ij: np.einsum("cn,cnl->cl", a_ij, R) for ij, a_ij in a.items()}
        s = 1 + e * r["11"]
        khat = 2 * (r["00"] - e * r["01"] * r["10"] / s)
        ctx.save_for_backward(dt64, lam, p, q, b, ct, R, h)
        ctx.r, ctx.s, ctx.e, ctx.a, ctx.dtype = r, s, e, a, dt.dtype
        return np.fft.ifft(khat, axis=-1).real.astype(dt.dtype)

    @staticmethod
    def backward(ctx, g):
        dt, lam, p, q, b, ct, R, h = ctx.saved
        r, s, e, a = ctx.r, ctx.s, ctx.e, ctx.a
        dkhat = np.fft.ifft(g.astype(np.float64), axis=-1)  # (C, L)
        dr = {"00": 2 * dkhat, "01": -2 * dkhat * e * r["10"] / s,
              "10": -2 * dkhat * e * r["01"] / s,
              "11": 2 * dkhat * e * e * r["01"] * r["10"] / s ** 2}
        da = {ij: np.einsum("cl,cnl->cn", dr[ij], R) for ij in dr}
        dR = sum(dr[ij][:, None, :] * a[ij][..., None] for ij in dr)  # (C, N, L)
        dRR = dR * R * R  # dR/dden = -R^2
        dlam = (dRR * e).sum(-1)  # den = h - lam e
        ddt = (-dRR.sum(1) * (-h / dt[:, None])).sum(-1).real  # dh/ddt = -h/dt
        grads = {"lam": dlam, "ct": da["00"] * b + da["01"] * p,
                 "b": da["00"] * ct + da["10"] * q, "p": da["01"] * ct + da["11"] * q,
                 "q": da["10"] * b + da["11"] * p}
        out = [ddt]
        for name in _NAMES:
            out += [grads[name].real, -grads[name].imag]
        return tuple(o.astype(ctx.dtype) for o in out)


# ----- dense references (NumPy, complex): the definitions the fast route must match ------
def dplr_dense(lam, p, q):
    """A = diag(lam) - p q (q holds Q^*): (..., N) -> (..., N, N)."""
    diag = lam[..., :, None] * np.eye(lam.shape[-1])  # (..., N, N)
    return diag - p[..., :, None] * q[..., None, :]


def discretize_dplr(dt, lam, p, q, b):
    """Bilinear Abar (C, N, N), Bbar (C, N) of every channel."""
    A = dplr_dense(lam, p, q)
    eye = np.eye(lam.shape[-1])
    back = eye - dt[:, None, None] / 2 * A
    Abar = np.linalg.solve(back, eye + dt[:, None, None] / 2 * A)
    Bbar = np.linalg.solve(back, (dt[:, None] * b)[..., None])[..., 0]
    return Abar, Bbar


def c_from_ct(Abar, ct, L):
    """C = Ct (I - Abar^L)^{-1} (row vectors): (C, N)."""
    M = np.eye(Abar.shape[-1]) - np.linalg.matrix_power(Abar, L)
    return np.linalg.solve(np.swapaxes(M, -1, -2), ct[..., None])[..., 0]


def kernel_powers(dt, lam, p, q, b, ct, L):
    """K_l = Re(C Abar^l Bbar) by materialised powers: O(C N^2 L)."""
    Abar, x = discretize_dplr(dt, lam, p, q, b)
    C = c_from_ct(Abar, ct, L)
    K = np.empty((len(dt), L))
    for l in range(L):
        K[:, l] = np.einsum("cn,cn->c", C, x).real
        x = np.einsum("cnm,cm->cn", Abar, x)
    return K


def kernel_generating(dt, lam, p, q, b, ct, L):
    """Khat(w) = Ct (I - Abar w)^{-1} Bbar by dense solves at the roots of unity, then IFFT."""
    Abar, Bbar = discretize_dplr(dt, lam, p, q, b)
    eye = np.eye(lam.shape[-1])
    khat = np.stack([np.einsum("cn,cn->c", ct, np.linalg.solve(eye - Abar * wk, Bbar[..., None])
                                [..., 0]) for wk in _roots(L)], axis=-1)
    return np.fft.ifft(khat, axis=-1).real


class DPLRSSM(Module):
    """C channels of DPLR SSMs initialised from HiPPO-LegS, with a kernel of length l_max."""

    def __init__(self, channels, d_state=32, l_max=256, dt_min=1e-3, dt_max=1e-1,
                 generator=None):
        super().__init__()
        if not isinstance(l_max, int) or l_max < 1:
            raise ValueError(f"s4: l_max must be a positive int, got {l_max!r}")
        rng = _rng(generator)
        self.l_max = l_max
        lam, p, b, _ = legs_nplr(d_state)
        self.shape = shape = (channels, d_state)
        init = {"lam": lam, "p": p, "q": p.conj(), "b": b,
                "ct": (rng.normal(0, 1, shape) + 1j * rng.normal(0, 1, shape)) * math.sqrt(0.5)}
        flat = lambda a: np.broadcast_to(a, shape).ravel()  # noqa: E731
        # stored flat (C N,) like s4d.DiagonalSSM: structure, not weight matrices
        self.log_dt = Parameter(np.log(log_uniform_dt(channels, dt_min, dt_max, rng)))
        self.log_lam_re = Parameter(flat(np.log(-lam.real)))
        self.lam_im = Parameter(flat(lam.imag))
        for name in _NAMES[1:]:
            setattr(self, name + "_re", Parameter(flat(init[name].real)))
            setattr(self, name + "_im", Parameter(flat(init[name].imag)))
        for prm in self.parameters():
            prm.data = prm.data.astype(np.float32)

    def _pairs(self):
        """Real and imaginary parts of lam, p, q, b, ct, each (C, N)."""
        out = [-self.log_lam_re.exp(), self.lam_im]
        for name in _NAMES[1:]:
            out += [getattr(self, name + "_re"), getattr(self, name + "_im")]
        return [t.reshape(*self.shape) for t in out]  # (C N,) -> (C, N)

    def kernel(self, L):
        """K (C, L) for L <= l_max, differentiable."""
        if L > self.l_max:
            raise ValueError(f"s4: sequence length {L} exceeds l_max={self.l_max} (the kernel "
                             f"length C-tilde was learned for); build with a larger l_max")
        return CauchyKernel.apply(self.log_dt.exp(), *self._pairs(), L=self.l_max)[:, :L]

    def forward(self, u):
        return causal_conv(u, self.kernel(u.shape[1]))

    def complex_params(self):
        """(dt, lam, p, q, b, ct) as float64 / complex128 NumPy arrays."""
        arrays = [t.data.astype(np.float64) for t in self._pairs()]
        pairs = [arrays[2 * i] + 1j * arrays[2 * i + 1] for i in range(5)]
        return (np.exp(self.log_dt.data.astype(np.float64)), *pairs)

    def init_state(self, batch):
        return np.zeros((batch,) + self.shape, complex)  # (B, C, N)

    def step(self, u_t, state):
        """u_t (B, C) array -> (y_t (B, C), state): x = Abar x + Bbar u, y = Re(C x)."""
        dt, lam, p, q, b, ct = self.complex_params()
        Abar, Bbar = discretize_dplr(dt, lam, p, q, b)
        C = c_from_ct(Abar, ct, self.l_max)
        state = np.einsum("cnm,bcm->bcn", Abar, state) + Bbar * u_t[..., None]  # (B, C, N)
        return np.einsum("cn,bcn->bc", C, state).real, state


@register("s4")
class S4(S4D):
    """S4 ("Efficiently Modeling Long Sequences with Structured State Spaces"): a DPLR SSM
    per channel from HiPPO-LegS, kernel by Cauchy + Woodbury at the roots of unity, then an
    FFT convolution (``forward``); or the bilinear recurrence (``init_state`` / ``step``).

    Cost in T: O(C N l_max) for the kernel + O(B C T log T) for the convolution; ``step``
    O(C N^2) per token. Sequences may be at most ``l_max`` long.

    Options: d_state (N), l_max, dt_min, dt_max, seed. ``n_heads`` is unused.
    """

    def __init__(self, d_model, n_heads=1, causal=True, d_state=32, l_max=256, dt_min=1e-3,
                 dt_max=1e-1, seed=None):
        Module.__init__(self)
        if not causal:
            raise ValueError("s4 is a causal convolution/recurrence (accepted: causal=True)")
        gen = np.random.default_rng(seed) if seed is not None else None
        self.d_model, self.d_state, self.init = d_model, d_state, "legs"
        self.ssm = DPLRSSM(d_model, d_state, l_max, dt_min, dt_max, generator=gen)
        self._make_head(gen)
