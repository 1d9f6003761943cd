"""Pure array kernels: every ``name`` has a plain-NumPy reference ``name_ref`` written
to be read, and a Numba twin ``name`` written to be fast (fused, parallel over rows
or elements, float32 stays float32). Tests prove each pair equal.

Set ``NUMBA_DISABLE_JIT=1`` to run every twin as plain Python (slow) and step
through it in a debugger. No autograd here: arrays in, arrays out.

Inputs are C-contiguous arrays of float32 or float64 (callers reshape to the 2-D or
3-D shapes named in each docstring); the output has the input's dtype.
"""

from .attention_softmax import (
    causal_softmax_forward,
    causal_softmax_forward_ref,
    scaled_softmax_backward,
    scaled_softmax_backward_ref,
    scaled_softmax_forward,
    scaled_softmax_forward_ref,
)
from .cross_entropy import (
    cross_entropy_backward,
    cross_entropy_backward_ref,
    cross_entropy_forward,
    cross_entropy_forward_ref,
)
from .decode import lean_decode, lean_decode_ref
from .delta_scan import (
    delta_scan_backward,
    delta_scan_backward_ref,
    delta_scan_forward,
    delta_scan_forward_ref,
)
from .gated_scan import (
    gated_scan_backward,
    gated_scan_backward_ref,
    gated_scan_forward,
    gated_scan_forward_ref,
)
from .elementwise import (
    gelu_erf_backward,
    gelu_erf_backward_ref,
    gelu_erf_forward,
    gelu_erf_forward_ref,
    gelu_tanh_backward,
    gelu_tanh_backward_ref,
    gelu_tanh_forward,
    gelu_tanh_forward_ref,
)
from .embedding import (
    embedding_backward,
    embedding_backward_ref,
    index_add_rows,
    index_add_rows_ref,
)
from .flash import flash_backward, flash_backward_ref, flash_forward, flash_forward_ref
from .norms import (
    layer_norm_backward,
    layer_norm_backward_ref,
    layer_norm_forward,
    layer_norm_forward_ref,
    rms_norm_backward,
    rms_norm_backward_ref,
    rms_norm_forward,
    rms_norm_forward_ref,
)
from .optim import adam_step, adam_step_ref, adamw_step, adamw_step_ref
from .recurrence import (
    linear_recurrence_backward,
    linear_recurrence_backward_ref,
    linear_recurrence_forward,
    linear_recurrence_forward_ref,
)
from .selective_scan import (
    selective_scan_backward,
    selective_scan_backward_ref,
    selective_scan_forward,
    selective_scan_forward_ref,
)
from .softmax import (
    log_softmax_backward,
    log_softmax_backward_ref,
    log_softmax_forward,
    log_softmax_forward_ref,
    softmax_backward,
    softmax_backward_ref,
    softmax_forward,
    softmax_forward_ref,
)

__all__ = [
    "softmax_forward",
    "softmax_forward_ref",
    "softmax_backward",
    "softmax_backward_ref",
    "log_softmax_forward",
    "log_softmax_forward_ref",
    "log_softmax_backward",
    "log_softmax_backward_ref",
    "scaled_softmax_forward",
    "scaled_softmax_forward_ref",
    "causal_softmax_forward",
    "causal_softmax_forward_ref",
    "scaled_softmax_backward",
    "scaled_softmax_backward_ref",
    "cross_entropy_forward",
    "cross_entropy_forward_ref",
    "cross_entropy_backward",
    "cross_entropy_backward_ref",
    "layer_norm_forward",
    "layer_norm_forward_ref",
    "layer_norm_backward",
    "layer_norm_backward_ref",
    "rms_norm_forward",
    "rms_norm_forward_ref",
    "rms_norm_backward",
    "rms_norm_backward_ref",
    "embedding_backward",
    "embedding_backward_ref",
    "index_add_rows",
    "index_add_rows_ref",
    "linear_recurrence_forward",
    "linear_recurrence_forward_ref",
    "linear_recurrence_backward",
    "linear_recurrence_backward_ref",
    "gelu_tanh_forward",
    "gelu_tanh_forward_ref",
    "gelu_tanh_backward",
    "gelu_tanh_backward_ref",
    "gelu_erf_forward",
    "gelu_erf_forward_ref",
    "gelu_erf_backward",
    "gelu_erf_backward_ref",
    "adamw_step",
    "adamw_step_ref",
    "adam_step",
    "adam_step_ref",
    "flash_forward",
    "flash_forward_ref",
    "flash_backward",
    "flash_backward_ref",
    "lean_decode",
    "lean_decode_ref",
    "selective_scan_forward",
    "selective_scan_forward_ref",
    "selective_scan_backward",
    "selective_scan_backward_ref",
    "gated_scan_forward",
    "gated_scan_forward_ref",
    "gated_scan_backward",
    "gated_scan_backward_ref",
    "delta_scan_forward",
    "delta_scan_forward_ref",
    "delta_scan_backward",
    "delta_scan_backward_ref",
]

KERNELS = tuple(name for name in __all__ if not name.endswith("_ref"))
"""Names of the compiled kernels; ``name + "_ref"`` is each one's NumPy reference."""

