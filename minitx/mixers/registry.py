"""Build any token mixer by name: ``minitx.mixers.build("softmax", d_model=64, n_heads=4)``.

Every mixer maps x of shape (B, T, d_model) to (B, T, d_model); its constructor
takes ``(d_model, n_heads, causal=True, **options)``.  A mixer module registers
itself with ``@register("name")``.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil

_REGISTRY = {}


def register(name: str):
    def decorate(cls):
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ValueError(f"mixer name {name!r} is registered twice")
        _REGISTRY[name] = cls
        cls.mixer_name = name
        return cls
    return decorate


def names():
    """The registered mixer names, sorted."""
    return sorted(_REGISTRY)


def get(name: str):
    if name not in _REGISTRY:
        raise KeyError(f"unknown mixer {name!r} (accepted: {', '.join(names())})")
    return _REGISTRY[name]


def build(name: str, d_model: int, n_heads: int = 1, causal: bool = True, **options):
    cls = get(name)
    accepted = set(inspect.signature(cls.__init__).parameters) - {"self", "d_model", "n_heads",
                                                                   "causal"}
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise TypeError(f"mixer {name!r} does not take option(s) {unknown} "
                        f"(accepted: {', '.join(sorted(accepted)) or 'none'})")
    return cls(d_model, n_heads, causal=causal, **options)


def import_family(package_name: str, package_path) -> list[str]:
    """Import every public module of a mixer family package, so its ``@register`` runs.

    A family's ``__init__`` calls this instead of listing its files, so adding a
    mixer is adding one file.  Returns the imported module names.
    """
    found = sorted(info.name for info in pkgutil.iter_modules(package_path)
                   if not info.name.startswith("_"))
    for name in found:
        importlib.import_module(f"{package_name}.{name}")
    return found
