"""State-space and recurrent sequence mixers: HiPPO/S4/S4D, H3, Hyena, Mamba, Mamba-2, ...

Every public module in this folder is imported (and so registered) automatically;
one file per model family.
"""

from ..registry import import_family

MODULES = import_family(__name__, __path__)
