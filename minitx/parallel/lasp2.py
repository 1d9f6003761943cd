"""LASP-2: sequence parallelism for linear attention with one AllGather of d x d memories.

Paper: "LASP-2: Rethinking Sequence Parallelism for Linear Attention and Its Hybrid"
(Sun et al.). Linear attention can multiply right-first: worker t's chunk only needs
the sum of the earlier chunks' memories M_s = K_s^T V_s, a D x D matrix per head whatever
the chunk length. So each worker computes its own M_t, one AllGather gives every worker
all P memories, and each takes the prefix it needs:

    O_t = Q_t (sum_{s < t} M_s) + [(Q_t K_t^T) * causal mask] V_t

Traffic: every worker sends its M_t (B H D^2 numbers) to P - 1 others, (P - 1) B H D^2
per worker, independent of the sequence length T (ring attention sends O(T)).

With a decay lambda per head (Lightning Attention's), memories are decayed to their
chunk's end, M_s = sum_{j in s} lambda^(stop_s - 1 - j) k_j^T v_j, the prefix weights them
by lambda^(start_t - stop_s), and query i of chunk t reads it with lambda^(i - start_t + 1).

Glossary (code -> paper):
    P        the number of devices W
    M_s      (B, H, D, Dv)   chunk memory, the paper's M_t = K_t^T V_t
    lam      (H,)            optional decay per head (1 = plain linear attention)
Inputs are feature-mapped queries and keys: (B, T, H, D), the layout of minitx.parallel.
Cost per worker: O(c D^2 + c^2 D) for c = T / P tokens, plus P memories received.
"""

from __future__ import annotations

import numpy as np

from ..autograd.ops_linalg import einsum
from ..autograd.ops_shape import cat
from ..autograd.tensor import Tensor
from .comm import Communicator, as_tensors, shard_bounds


def _decay_powers(lam, exponents, dtype):
    """lam_h ** e for every head h and exponent e -> Tensor (H, len(e))."""
    return Tensor((np.asarray(lam, np.float64)[:, None] ** np.asarray(exponents)[None, :])
                  .astype(dtype))


def chunk_memory(k, v, lam):
    """M = sum_j lam^(c-1-j) k_j^T v_j over a chunk k, v (B, c, H, D) -> (B, H, D, Dv)."""
    c = k.shape[1]
    to_end = _decay_powers(lam, c - 1 - np.arange(c), k.dtype)  # (H, c)
    return einsum("bjhd,hj,bjhe->bhde", k, to_end, v)


def local_attention(q, k, v, lam):
    """[(Q K^T) * decay mask] V inside one chunk, (B, c, H, D) -> (B, c, H, Dv)."""
    c = q.shape[1]
    gap = np.arange(c)[:, None] - np.arange(c)[None, :]
    mask = np.where(gap >= 0, np.asarray(lam, np.float64)[:, None, None] ** np.maximum(gap, 0),
                    0.0)  # (H, c, c)
    scores = einsum("bihd,bjhd->bhij", q, k) * Tensor(mask.astype(q.dtype))
    return einsum("bhij,bjhe->bihe", scores, v)


def run(q, k, v, P, decay=None):
    """Causal linear attention (no normaliser) on P simulated workers. q, k, v (B, T, H, D)
    -> (out (B, T, H, D), comm_stats). ``decay``: None, a number or one per head."""
    (q, k, v), was_tensor = as_tensors(q, k, v)
    H = q.shape[2]
    lam = np.ones(H) if decay is None else np.broadcast_to(np.asarray(decay, float), (H,))
    if not ((lam > 0) & (lam <= 1)).all():
        raise ValueError(f"lasp2: decay must be in (0, 1], got {decay}")
    bounds = shard_bounds(q.shape[1], P)
    comm = Communicator(P)
    memories = [chunk_memory(k[:, a:b], v[:, a:b], lam) for a, b in bounds]  # on each worker
    gathered = comm.all_gather(memories, tag="memory")  # gathered[t][s] = M_s on worker t
    outs = []
    for t, (a, b) in enumerate(bounds):
        out = local_attention(q[:, a:b], k[:, a:b], v[:, a:b], lam)
        if t:
            weights = _decay_powers(lam, [a - stop for _, stop in bounds[:t]], q.dtype)  # (H, t)
            prefix = einsum("hs,sbhde->bhde", weights, _stack(gathered[t][:t]))
            from_start = _decay_powers(lam, np.arange(b - a) + 1, q.dtype)  # (H, c)
            out = out + einsum("bihd,hi,bhde->bihe", q[:, a:b], from_start, prefix)
        outs.append(out)
    out = cat(outs, dim=1)
    return (out if was_tensor else out.data), comm.stats()


def _stack(tensors):
    return cat([t.unsqueeze(0) for t in tensors], dim=0)  # (s, B, H, D, Dv)
