"""Sparse, low-rank, routed and structured token mixers: attention restricted to a pattern,
projected to a low rank, routed by content, or replaced by a structured matrix.

Every public module in this folder is imported (and so registered) automatically;
one file per family.
"""

from ..registry import import_family

MODULES = import_family(__name__, __path__)
