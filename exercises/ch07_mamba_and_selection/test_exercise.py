"""Graded tests of set ch07_mamba_and_selection: the selective scan, SSD, recall tasks.

Each test compares the graded function with the reference (minitx itself) on seeded random
inputs, awkward shapes included (one token, one channel, N = 1), and checks a property
against a definition written here: the scan equals the sum over its unrolled paths (the
materialised L x L mixing matrix), the backward equals finite differences, the
convolution is causal and its impulse response is the filter, SSD's quadratic form
equals the recurrence, every selective-copy answer can be read off the inputs. A test
calls only the function it grades.
"""

import numpy as np
import pytest

from minitx.grading import load_exercise, load_reference
from minitx.grading.checks import assert_close, check_grad, unpack

ex = load_exercise(__file__)    # exercise.py, or the reference under --solution;
ref = load_reference(__file__)  # the reference, for expected values.


@pytest.fixture
def rng():
    return np.random.default_rng(7)


def scan_inputs(rng, Bt, L, Di, N):
    """x, delta (positive, ~0.05..1), A (negative), B, C, D: a stable selective SSM."""
    x = rng.standard_normal((Bt, L, Di))
    delta = np.exp(rng.uniform(-3, 0, (Bt, L, Di)))
    A = -np.exp(rng.uniform(-1, 1, (Di, N)))
    B, C = rng.standard_normal((Bt, L, N)), rng.standard_normal((Bt, L, N))
    D = rng.standard_normal(Di)
    return x, delta, A, B, C, D


SCAN_CASES = {  # name: (Bt, L, Di, N)
    "small": (2, 5, 3, 4),
    "one_token": (1, 1, 2, 3),
    "N=1": (2, 4, 3, 1),
    "one_channel": (3, 6, 1, 2),
}


# ------------------------------------------------------------------------------- discretize

@pytest.mark.points(1)
@pytest.mark.parametrize("case", SCAN_CASES)
def test_discretize_matches_reference(rng, case):
    _, delta, A, B, _, _ = scan_inputs(rng, *SCAN_CASES[case])
    want = ref.discretize(delta, A, B)
    got = unpack(ex.discretize(delta, A, B), 2, "discretize")
    for name, g, e in zip(["A_bar", "B_bar"], got, want):
        assert_close(g, e, f"discretize: {name}")


@pytest.mark.points(1)
def test_discretize_by_the_definition(rng):
    _, delta, A, B, _, _ = scan_inputs(rng, 2, 3, 2, 3)
    A_bar, B_bar = unpack(ex.discretize(delta, A, B), 2, "discretize")
    for b, t, d, n in np.ndindex(2, 3, 2, 3):
        note = f"at [b={b}, t={t}, d={d}, n={n}]"
        assert_close(np.asarray(A_bar)[b, t, d, n], np.exp(delta[b, t, d] * A[d, n]),
                     "discretize: A_bar = exp(delta A)", note=note)
        assert_close(np.asarray(B_bar)[b, t, d, n], delta[b, t, d] * B[b, t, n],
                     "discretize: B_bar = delta B", note=note)


# ----------------------------------------------------------------------- one scan step

def step_inputs(rng, Bt, Di, N):
    x, delta, A, B, C, D = scan_inputs(rng, Bt, 1, Di, N)
    h = rng.standard_normal((Bt, Di, N))
    return h, x[:, 0], delta[:, 0], A, B[:, 0], C[:, 0], D


@pytest.mark.points(1)
@pytest.mark.parametrize("shape", [(2, 3, 4), (1, 1, 1), (3, 2, 5)], ids=str)
def test_selective_scan_step_matches_reference(rng, shape):
    args = step_inputs(rng, *shape)
    want = ref.selective_scan_step(*args)
    got = unpack(ex.selective_scan_step(*args), 2, "selective_scan_step")
    for name, g, e in zip(["y_t", "h_new"], got, want):
        assert_close(g, e, f"selective_scan_step: {name}")


@pytest.mark.points(1)
def test_selective_scan_step_by_the_definition(rng):
    h, x, delta, A, B, C, D = step_inputs(rng, 2, 2, 3)
    y, h_new = unpack(ex.selective_scan_step(h, x, delta, A, B, C, D), 2, "selective_scan_step")
    for b, d in np.ndindex(2, 2):
        want_h = np.exp(delta[b, d] * A[d]) * h[b, d] + delta[b, d] * x[b, d] * B[b]
        assert_close(np.asarray(h_new)[b, d], want_h, f"selective_scan_step: h_new[{b}, {d}]")
        assert_close(np.asarray(y)[b, d], C[b] @ want_h + D[d] * x[b, d],
                     f"selective_scan_step: y_t[{b}, {d}]")


# ----------------------------------------------------------------------- the full scan

def unrolled_scan(x, delta, A, B, C, D):
    """The definition without a state: y_t = sum_{s<=t} C_t . (prod_{r=s+1..t} a_r) delta_s
    x_s B_s + D x_t, i.e. the L x L mixing matrix of every channel, materialised."""
    Bt, L, Di = x.shape
    y = np.zeros_like(x)
    for b, d in np.ndindex(Bt, Di):
        for t in range(L):
            total = D[d] * x[b, t, d]
            for s in range(t + 1):
                decay = np.exp(delta[b, s + 1:t + 1, d].sum() * A[d])  # (N,) prod of a_r
                total += C[b, t] @ (decay * delta[b, s, d] * x[b, s, d] * B[b, s])
            y[b, t, d] = total
    return y


@pytest.mark.points(1)
@pytest.mark.parametrize("case", SCAN_CASES)
def test_selective_scan_matches_reference(rng, case):
    args = scan_inputs(rng, *SCAN_CASES[case])
    assert_close(ex.selective_scan(*args), ref.selective_scan(*args),
                 f"selective_scan (Bt, L, Di, N) = {SCAN_CASES[case]}")


@pytest.mark.points(2)
def test_selective_scan_equals_the_unrolled_sum(rng):
    args = scan_inputs(rng, 2, 6, 2, 3)
    assert_close(ex.selective_scan(*args), unrolled_scan(*args), "selective_scan",
                 note="(vs the unrolled sum over every earlier token)")


@pytest.mark.points(1)
def test_selective_scan_matches_the_compiled_kernel(rng):
    from minitx.kernels.selective_scan import selective_scan_forward  # the Numba twin

    args = scan_inputs(rng, 2, 40, 3, 4)
    assert_close(ex.selective_scan(*args), selective_scan_forward(*args), "selective_scan",
                 note="(vs minitx.kernels.selective_scan_forward, L = 40)")


# ---------------------------------------------------------------------- its backward

@pytest.mark.points(1)
@pytest.mark.parametrize("case", SCAN_CASES)
def test_selective_scan_backward_matches_reference(rng, case):
    args = scan_inputs(rng, *SCAN_CASES[case])
    gy = rng.standard_normal(args[0].shape)
    want = ref.selective_scan_backward(*args, gy)
    got = unpack(ex.selective_scan_backward(*args, gy), 6, "selective_scan_backward")
    for name, g, e in zip(["gx", "gdelta", "gA", "gB", "gC", "gD"], got, want):
        assert_close(g, e, f"selective_scan_backward: {name}")


@pytest.mark.points(3)
def test_selective_scan_backward_gradcheck(rng):
    from minitx.kernels.selective_scan import selective_scan_forward_ref  # trusted forward

    args = scan_inputs(rng, 2, 4, 2, 3)
    gy = rng.standard_normal(args[0].shape)
    grads = ex.selective_scan_backward(*args, gy)
    check_grad(selective_scan_forward_ref, grads, args, gy,
               names=["x", "delta", "A", "B", "C", "D"])


# ------------------------------------------------------------------ causal convolution

@pytest.mark.points(1)
@pytest.mark.parametrize("shape", [(2, 7, 3, 4), (1, 2, 2, 4), (2, 5, 1, 1)], ids=str)
def test_causal_depthwise_conv_matches_reference(rng, shape):
    Bt, L, C, K = shape
    x, w, bias = (rng.standard_normal(s) for s in ((Bt, L, C), (C, K), (C,)))
    assert_close(ex.causal_depthwise_conv(x, w, bias), ref.causal_depthwise_conv(x, w, bias),
                 f"causal_depthwise_conv (Bt, L, C, K) = {shape}")


@pytest.mark.points(1)
def test_causal_depthwise_conv_is_causal_with_the_filter_as_impulse_response(rng):
    L, C, K = 8, 2, 3
    w, bias = rng.standard_normal((C, K)), np.zeros(C)
    impulse = np.zeros((1, L, C))
    impulse[0, 2] = 1.0  # a 1 at t = 2 in every channel
    y = np.asarray(ex.causal_depthwise_conv(impulse, w, bias))
    want = np.zeros((1, L, C))
    want[0, 2:2 + K] = w[:, ::-1].T  # y[2 + j] = w[:, K-1-j]: the current input meets w[K-1]
    assert_close(y, want, "causal_depthwise_conv of an impulse at t = 2",
                 note="(outputs before t = 2 must be 0; then the filter, newest tap first)")


# ------------------------------------------------------------------------------- SSD chunk

def ssd_inputs(rng, Bt, Q, H, P, N, decay=1.0):
    return (rng.standard_normal((Bt, Q, H, P)), -decay * np.exp(rng.uniform(-2, 0, (Bt, Q, H))),
            rng.standard_normal((Bt, Q, N)), rng.standard_normal((Bt, Q, N)))


def ssd_by_scan(x, a, B, C):
    """The recurrence h_i = exp(a_i) h_{i-1} + B_i x_i^T (N x P per head), y_i = C_i h_i."""
    Bt, Q, H, P = x.shape
    h = np.zeros((Bt, H, B.shape[-1], P))
    y = np.zeros_like(x)
    for i in range(Q):
        h = np.exp(a[:, i])[:, :, None, None] * h + np.einsum("bn,bhp->bhnp", B[:, i], x[:, i])
        y[:, i] = np.einsum("bn,bhnp->bhp", C[:, i], h)
    return y


@pytest.mark.points(1)
@pytest.mark.parametrize("shape", [(2, 5, 2, 3, 4), (1, 1, 1, 1, 1), (1, 6, 3, 2, 1)], ids=str)
def test_ssd_chunk_matches_reference(rng, shape):
    args = ssd_inputs(rng, *shape)
    assert_close(ex.ssd_chunk(*args), ref.ssd_chunk(*args),
                 f"ssd_chunk (Bt, Q, H, P, N) = {shape}")


@pytest.mark.points(2)
def test_ssd_chunk_equals_the_recurrence(rng):
    args = ssd_inputs(rng, 2, 7, 2, 3, 4)
    assert_close(ex.ssd_chunk(*args), ssd_by_scan(*args), "ssd_chunk",
                 note="(vs the scan h_i = exp(a_i) h_(i-1) + B_i x_i^T, y_i = C_i h_i)")


@pytest.mark.points(1)
def test_ssd_chunk_strong_decay_does_not_overflow(rng):
    args = ssd_inputs(rng, 1, 12, 2, 2, 3, decay=200.0)  # segment sums reach -1e4
    with np.errstate(over="raise", invalid="raise"):  # exp of a large positive sum fails
        got = ex.ssd_chunk(*args)
    assert_close(got, ssd_by_scan(*args), "ssd_chunk with a ~ -200",
                 note="(only exponentiate the segment sums on and below the diagonal)")


# ---------------------------------------------------------------- selective copying

def check_selective_copy(result, batch, M, noise, n):
    inputs, targets, mask = (np.asarray(a) for a in unpack(result, 3, "selective_copy_batch"))
    T = noise + 2 * M
    for name, a in (("inputs", inputs), ("targets", targets), ("mask", mask)):
        if a.shape != (batch, T):
            raise AssertionError(f"selective_copy_batch: {name} has shape {a.shape}, expected "
                                 f"{(batch, T)}")
    if mask.dtype != bool:
        raise AssertionError(f"selective_copy_batch: mask must be bool, got {mask.dtype}")
    want_mask = np.zeros((batch, T), bool)
    want_mask[:, noise + M:] = True
    assert_close(mask.astype(int), want_mask.astype(int), "selective_copy_batch: mask",
                 note="(True exactly at the n_memorize markers at the end)")
    for r in range(batch):
        context, tail = inputs[r, :noise + M], inputs[r, noise + M:]
        data = context[context != 0]
        if len(data) != M or not ((data >= 1) & (data <= n)).all():
            raise AssertionError(f"selective_copy_batch: row {r} holds {len(data)} data tokens "
                                 f"{data.tolist()} among its noise; expected {M} ids in 1..{n}")
        assert_close(tail, np.full(M, n + 1), f"selective_copy_batch: row {r}, the markers")
        assert_close(targets[r], np.concatenate([np.zeros(noise + M), data]),
                     f"selective_copy_batch: targets of row {r}",
                     note="(the data symbols in order at the markers, 0 elsewhere)")
    return inputs


@pytest.mark.points(2)
@pytest.mark.parametrize("sizes", [(16, 3, 9, 4), (5, 1, 0, 2), (8, 5, 20, 9)], ids=str)
def test_selective_copy_batch_answers_are_in_the_inputs(sizes):
    batch, M, noise, n = sizes
    check_selective_copy(ex.selective_copy_batch(batch, M, noise, n, 3), batch, M, noise, n)


@pytest.mark.points(1)
def test_selective_copy_batch_is_seeded_and_random():
    a = check_selective_copy(ex.selective_copy_batch(200, 3, 12, 5, 11), 200, 3, 12, 5)
    b = np.asarray(ex.selective_copy_batch(200, 3, 12, 5, 11)[0])
    c = np.asarray(ex.selective_copy_batch(200, 3, 12, 5, 12)[0])
    assert_close(b, a, "selective_copy_batch: inputs with the same seed twice")
    if np.array_equal(a, c):
        raise AssertionError("selective_copy_batch: seeds 11 and 12 gave the same batch")
    first = (a[:, :15] != 0).argmax(1)
    if len(np.unique(first)) < 5 or not ((a[:, :15] != 0).mean(0) > 0.05).all():
        raise AssertionError("selective_copy_batch: the data positions should be random, "
                             "any context position, different from row to row")


# ---------------------------------------------------------------- induction accuracy

def induction_rows(rng, Bt, T, V, special):
    inputs = rng.integers(0, V, (Bt, T))
    inputs[rng.random((Bt, T)) < 0.2] = special  # the special token, several times per row
    return inputs


@pytest.mark.points(1)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_induction_accuracy_matches_reference(seed):
    rng = np.random.default_rng(seed)
    inputs = induction_rows(rng, 4, 12, 5, special=5)
    logits = rng.standard_normal((4, 12, 6))
    assert_close(ex.induction_accuracy(logits, inputs, 5),
                 ref.induction_accuracy(logits, inputs, 5), "induction_accuracy on random logits")


@pytest.mark.points(2)
def test_induction_accuracy_uses_the_most_recent_occurrence(rng):
    #            0  1  2  3  4  5  6  7   (special = 9)
    row = np.array([9, 1, 9, 2, 3, 9, 4, 9])  # chances at t = 2, 5, 7: answers 1, 2, 4
    onehot = np.eye(10)
    perfect = onehot[[0, 0, 1, 0, 0, 2, 0, 4]][None]  # (1, 8, 10)
    assert_close(ex.induction_accuracy(perfect, row[None], 9), 1.0,
                 "induction_accuracy of a perfect induction head")
    stale = onehot[[0, 0, 1, 0, 0, 1, 0, 1]][None]  # always the first occurrence's follower
    assert_close(ex.induction_accuracy(stale, row[None], 9), 1 / 3,
                 "induction_accuracy", note="(the answer follows the MOST RECENT occurrence)")
