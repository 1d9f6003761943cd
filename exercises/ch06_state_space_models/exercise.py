"""Exercise set 6, state space models: from HiPPO's matrices to S4D's convolution kernel.

You build the pieces of chapter 06: the HiPPO-LegS matrices, the two ways to turn a
continuous SSM x' = A x + B u into a discrete recurrence, the S4D initialisations, the
Vandermonde kernel of a diagonal SSM, the same SSM run as a recurrence, the FFT causal
convolution and its backward, and the LMU's Legendre memory matrices. The tests compare
each function with what minitx itself runs, on random inputs, and check it against a
definition (the recurrence must equal the convolution, the backward must equal finite
differences, ...).

Replace each `raise NotImplementedError(...)` with your code, then run
`minitx grade ch06` and read the hints of the failing tests. Keep the names and the
signatures. You may call your own functions from one another, but then a bug in one
also costs points in the other.

Conventions: a diagonal SSM has H channels, each with n complex modes; dt is (H,), and
A, B, C are complex arrays (H, n). Its output is real: y = 2 Re(sum_n C_n x_n) (the other
n modes are the complex conjugates). Sequences are (batch, T, H). Return float64 arrays
(scipy.linalg.expm is allowed).
"""

import numpy as np  # noqa: F401  (for your code)
import scipy.linalg  # noqa: F401  (for your code)


# ----- HiPPO and discretisation ------------------------------------------------------------

def hippo_legs(N):
    """The HiPPO-LegS matrices with the stable sign S4 uses: returns (A (N, N), B (N,)) with

        A[n, k] = -sqrt(2n+1) sqrt(2k+1)  if n > k,   -(n + 1)  if n == k,   0  if n < k
        B[n]    =  sqrt(2n+1)
    """
    raise NotImplementedError("q = np.sqrt(2 * np.arange(N) + 1); np.tril(np.outer(q, q), -1) "
                              "holds the n > k part; add np.diag(np.arange(N) + 1); negate")


def discretize_zoh(A, B, dt):
    """Zero-order hold of x' = A x + B u with step dt (u constant over each step):

        Abar = exp(dt A),    Bbar = int_0^dt exp(s A) ds B   (= A^{-1} (Abar - I) B if A is
                                                              invertible)
    A (N, N), B (N,). Returns (Abar (N, N), Bbar (N,)). Must also work for a singular A.
    """
    raise NotImplementedError("expm of the (N+1, N+1) block matrix [[A, B], [0, 0]] * dt holds "
                              "Abar in its top-left block and Bbar in its last column")


def discretize_bilinear(A, B, dt):
    """The bilinear (Tustin) discretisation:

        Abar = (I - dt/2 A)^{-1} (I + dt/2 A),    Bbar = (I - dt/2 A)^{-1} dt B
    Returns (Abar (N, N), Bbar (N,)).
    """
    raise NotImplementedError("back = np.eye(N) - dt / 2 * A; use np.linalg.solve(back, ...) "
                              "for both instead of inverting")


# ----- S4D ----------------------------------------------------------------------------------

def s4d_lin_init(N):
    """S4D-Lin for state size N (even): the N/2 modes A_n = -1/2 + i pi n, n = 0..N/2-1.
    Returns (real parts (N/2,), imaginary parts (N/2,))."""
    raise NotImplementedError("n = np.arange(N // 2); return np.full(N // 2, -0.5), np.pi * n")


def s4d_inv_init(N):
    """S4D-Inv for state size N (even): A_n = -1/2 + i (N / pi) (N / (2n + 1) - 1),
    n = 0..N/2-1. Returns (real parts (N/2,), imaginary parts (N/2,))."""
    raise NotImplementedError("n = np.arange(N // 2); imaginary part N / np.pi * (N / (2 * n + 1) "
                              "- 1)")


def vandermonde_kernel(dt, A, B, C, L):
    """The convolution kernel of a diagonal SSM discretised by zero-order hold:

        Abar = exp(dt A),  Bbar = (Abar - 1) / A * B,  K[h, l] = 2 Re(sum_n C Bbar Abar^l)
    dt (H,), A, B, C complex (H, n), L an int. Returns K (H, L), real.
    """
    raise NotImplementedError("powers = np.exp(dtA[..., None] * np.arange(L)) is (H, n, L); "
                              "contract it with C * Bbar over n (np.einsum)")


def diagonal_ssm_scan(dt, A, B, C, u):
    """The same SSM as a recurrence, one step per token (no convolution):

        x_t = Abar * x_{t-1} + Bbar * u_t   (x complex (batch, H, n), x_{-1} = 0)
        y_t = 2 Re(sum_n C_n x_{t, n})
    dt (H,), A, B, C complex (H, n), u (batch, T, H). Returns y (batch, T, H).
    """
    raise NotImplementedError("loop over t: x = Abar * x + Bbar * u[:, t, :, None]; store "
                              "2 * (C * x).sum(-1).real")


# ----- convolution --------------------------------------------------------------------------

def fft_causal_conv(u, k):
    """y[b, t, c] = sum_{l=0}^{t} k[c, l] u[b, t - l, c] by FFT: u (batch, T, C), k (C, T).
    Pad both to length 2T (np.fft.rfft(x, n=2 * T, axis=...)) so the circular convolution
    of the FFT does not wrap, multiply, invert (np.fft.irfft) and keep the first T steps.
    Returns y (batch, T, C)."""
    raise NotImplementedError("uf = np.fft.rfft(u, 2 * T, axis=1); kf = np.fft.rfft(k, 2 * T, "
                              "axis=1).T; y = np.fft.irfft(uf * kf, 2 * T, axis=1)[:, :T]")


def causal_conv_backward(u, k, grad):
    """Gradients of y = fft_causal_conv(u, k) for dL/dy = grad (batch, T, C):

        du[b, s, c] = sum_{t >= s} grad[b, t, c] k[c, t - s]       (a correlation)
        dk[c, l]    = sum_{b, t} grad[b, t, c] u[b, t - l, c]
    Returns (du (batch, T, C), dk (C, T)). A correlation is a product with the complex
    conjugate in Fourier space (same 2T padding); a direct double loop also scores.
    """
    raise NotImplementedError("gf = np.fft.rfft(grad, 2 * T, axis=1); du = irfft(gf * conj(kf))"
                              "[:, :T]; dk = irfft(sum over batch of gf * conj(uf))[:T].T")


# ----- LMU ----------------------------------------------------------------------------------

def lmu_matrices(order, theta):
    """The Legendre Memory Unit's continuous (A, B) for theta m' = A m + B u, with the 1/theta
    folded in (returns A / theta, B / theta), i, j = 0..order-1:

        A[i, j] = (2i + 1) * (-1 if i < j else (-1)^(i - j + 1)),    B[i] = (2i + 1) (-1)^i
    Returns (A (order, order), B (order,)).
    """
    raise NotImplementedError("i = np.arange(order)[:, None]; j = np.arange(order)[None, :]; "
                              "np.where(i < j, -1.0, (-1.0) ** (i - j + 1)) * (2 * i + 1)")
