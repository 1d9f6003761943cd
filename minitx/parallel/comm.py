"""The simulated cluster: a communicator that counts bytes, how a sequence is split across
workers, and the single-worker attention every algorithm must reproduce.

Glossary:
    P            number of workers (world size)
    rank r       a worker's index, 0 .. P-1; worker r holds tokens bounds[r] = [start, stop)
    c_r          its chunk length, T // P or T // P + 1
    bytes_sent   per worker, the sum of payload sizes (array.nbytes) it sent to others
"""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np

from ..autograd.ops_linalg import einsum
from ..autograd.tensor import Tensor


class Communicator:
    """P simulated workers.  ``send`` and ``all_to_all`` move payloads (NumPy arrays or
    tensors, or tuples of them) and charge their size to the sender.  Nothing is copied:
    in one process a received payload can share memory with the sent one, because no
    algorithm here writes into a payload after sending it."""

    def __init__(self, world_size):
        if world_size < 1:
            raise ValueError(f"Communicator: world_size must be >= 1, got {world_size}")
        self.world_size = world_size
        self.bytes_sent = [0] * world_size
        self.messages = [0] * world_size
        self.by_tag = defaultdict(lambda: [0] * world_size)

    def _check(self, rank, what):
        if not 0 <= rank < self.world_size:
            raise ValueError(f"Communicator: {what} rank {rank} is out of range (accepted: 0 to "
                             f"{self.world_size - 1})")

    @staticmethod
    def nbytes(payload):
        if isinstance(payload, (tuple, list)):
            return sum(Communicator.nbytes(p) for p in payload)
        return (payload.data if isinstance(payload, Tensor) else np.asarray(payload)).nbytes

    def send(self, src, dst, payload, tag="data"):
        """Point-to-point: worker ``src`` sends ``payload`` to worker ``dst``; returns what
        ``dst`` receives."""
        self._check(src, "source")
        self._check(dst, "destination")
        if src != dst:
            size = self.nbytes(payload)
            self.bytes_sent[src] += size
            self.by_tag[tag][src] += size
            self.messages[src] += 1
        return payload

    def all_to_all(self, blocks, tag="all_to_all"):
        """blocks[src][dst] is what worker src sends to worker dst; returns received with
        received[dst][src] = blocks[src][dst].  A worker's block to itself costs nothing."""
        P = self.world_size
        if len(blocks) != P or any(len(row) != P for row in blocks):
            raise ValueError(f"all_to_all: needs a {P} x {P} table of blocks")
        return [[self.send(src, dst, blocks[src][dst], tag) for src in range(P)]
                for dst in range(P)]

    def all_gather(self, parts, tag="all_gather"):
        """Worker r contributes parts[r]; every worker receives the list of all P parts.
        Each worker sends its part to the P - 1 others."""
        P = self.world_size
        if len(parts) != P:
            raise ValueError(f"all_gather: needs one part per worker ({P}), got {len(parts)}")
        return [[self.send(src, dst, parts[src], tag) for src in range(P)] for dst in range(P)]

    def stats(self):
        return {
            "world_size": self.world_size,
            "bytes_sent": list(self.bytes_sent),
            "messages": list(self.messages),
            "total_bytes": int(sum(self.bytes_sent)),
            "max_bytes": int(max(self.bytes_sent)),
            "by_tag": {tag: list(v) for tag, v in self.by_tag.items()},
        }


def shard_bounds(T, P):
    """Contiguous [start, stop) chunks of T tokens for P workers; the first T % P chunks
    get one extra token."""
    if P < 1:
        raise ValueError(f"sequence parallelism: P must be >= 1, got {P}")
    if T < P:
        raise ValueError(f"sequence parallelism: T = {T} tokens cannot give each of P = {P} "
                         f"workers a chunk (accepted: P <= T)")
    sizes = [T // P + (r < T % P) for r in range(P)]
    starts = np.cumsum([0] + sizes)
    return [(int(starts[r]), int(starts[r + 1])) for r in range(P)]


def as_tensors(*xs):
    """Inputs as tensors (arrays wrapped without copying) and whether any was a tensor."""
    was_tensor = any(isinstance(x, Tensor) for x in xs)
    ts = [x if isinstance(x, Tensor) else Tensor._from_array(np.asarray(x)) for x in xs]
    shapes = {t.shape for t in ts}
    if len(shapes) != 1 or ts[0].ndim != 4:
        raise ValueError(f"sequence parallelism: q, k, v must share one (B, T, H, D) shape, got "
                         f"{[t.shape for t in ts]}")
    return ts, was_tensor


def block_scores(q, k, q_start, k_start, causal):
    """Scores of a query chunk against a key chunk, q (B, cq, H, D), k (B, ck, H, D) ->
    (B, H, cq, ck), scaled by 1/sqrt(D); future keys set to -inf when causal (positions are
    global: query chunk starts at q_start, key chunk at k_start)."""
    s = einsum("bthd,bshd->bhts", q, k) * (1.0 / math.sqrt(q.shape[-1]))
    if causal:
        qi = q_start + np.arange(q.shape[1])[:, None]
        kj = k_start + np.arange(k.shape[1])[None, :]
        if (kj > qi).any():
            s = s.masked_fill(kj > qi, -np.inf)
    return s


def attention_reference(q, k, v, causal=True):
    """Single-worker softmax attention in NumPy float64: (B, T, H, D) -> (B, T, H, D)."""
    q, k, v = (np.asarray(x.data if isinstance(x, Tensor) else x, np.float64) for x in (q, k, v))
    T = q.shape[1]
    s = np.einsum("bthd,bshd->bhts", q, k) / math.sqrt(q.shape[-1])
    if causal:
        s = np.where(np.tril(np.ones((T, T), bool)), s, -np.inf)
    p = np.exp(s - s.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    return np.einsum("bhts,bshd->bthd", p, v)
