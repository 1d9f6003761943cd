"""Token mixers behind one interface: ``mixer(x: (B, T, D)) -> (B, T, D)``.

``build(name, d_model, n_heads, causal=True, **options)`` makes one by name;
``names()`` lists them.  Inside attention and SSM code every tensor is laid out
``(B, T, H, D)``: batch, time, heads, head dim.
"""

from . import attention  # noqa: F401  (registers the attention mixers)
from . import linear  # noqa: F401  (registers the linear-attention mixers)
from . import sparse  # noqa: F401  (registers the sparse and structured mixers)
from . import ssm  # noqa: F401  (registers the state-space mixers)
from .registry import build, get, names, register
