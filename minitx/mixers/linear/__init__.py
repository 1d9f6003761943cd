"""Linear, kernelized and gated attention: softmax's T x T weights replaced by a state.

Every public module in this folder is imported (and so registered) automatically;
one file per family.
"""

from ..registry import import_family

MODULES = import_family(__name__, __path__)
