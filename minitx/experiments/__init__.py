"""Reproduced results, one module per experiment, run by name.

Each experiment module defines ``NAME``, a one-line ``SUMMARY``, a frozen
dataclass ``Config`` with a ``quick()`` classmethod (CI size, well under a minute)
and defaults at full size, and ``run(cfg, out_dir) -> dict`` which writes
``result.json`` and figures into ``out_dir``.  ``MINITX_QUICK=1`` selects
``quick()`` wherever a config is chosen through ``config_for``.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
import pkgutil
import typing


def module_names() -> list[str]:
    """Every module in this package that is not private (``_helpers.py`` are skipped)."""
    return sorted(info.name for info in pkgutil.iter_modules(__path__)
                  if not info.name.startswith("_"))


def _load_all():
    table = {}
    for module_name in module_names():
        module = importlib.import_module(f"{__name__}.{module_name}")
        if not hasattr(module, "NAME"):
            continue  # a shared helper module, not an experiment
        if module.NAME in table:
            raise ValueError(f"experiment name {module.NAME!r} is defined twice")
        table[module.NAME] = module
    return table


def registry():
    """{name: module} for every registered experiment."""
    return _load_all()


def names():
    return sorted(registry())


def get(name: str):
    """The experiment module called ``name``; it lives in the file named after it
    (``icl-linear-regression`` -> ``icl_linear_regression.py``), so only that file is imported."""
    module_name = name.replace("-", "_")
    if module_name in module_names():
        module = importlib.import_module(f"{__name__}.{module_name}")
        if getattr(module, "NAME", None) == name:
            return module
    table = registry()
    if name not in table:
        raise KeyError(f"unknown experiment {name!r} (accepted: {', '.join(sorted(table))})")
    return table[name]


def quick_mode() -> bool:
    return os.environ.get("MINITX_QUICK", "").strip().lower() in ("1", "true", "yes", "on")


def config_for(name: str, quick: bool | None = None, overrides: dict | None = None):
    """The experiment's Config: quick() if asked (or MINITX_QUICK=1), with overrides applied."""
    module = get(name)
    quick = quick_mode() if quick is None else quick
    cfg = module.Config.quick() if quick else module.Config()
    return apply_overrides(cfg, overrides or {})


def _parse_value(text: str, kind, key: str):
    origin = typing.get_origin(kind)
    if kind is bool or kind == "bool":
        lowered = text.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"--set {key}={text}: expected a boolean (true/false)")
    if origin is tuple or kind is tuple or str(kind).startswith("tuple"):
        parts = [p for p in text.replace("(", "").replace(")", "").split(",") if p.strip()]
        return tuple(_guess(p.strip()) for p in parts)
    for caster, label in ((int, "int"), (float, "float"), (str, "str")):
        if kind is caster or kind == label:
            try:
                return caster(text)
            except ValueError:
                raise ValueError(f"--set {key}={text}: expected {label}") from None
    return _guess(text)


def _guess(text: str):
    for caster in (int, float):
        try:
            return caster(text)
        except ValueError:
            pass
    return text


def apply_overrides(cfg, overrides: dict):
    """Return cfg with fields replaced; string values are parsed by the field's type."""
    fields = {f.name: f for f in dataclasses.fields(cfg)}
    hints = typing.get_type_hints(type(cfg))
    changes = {}
    for key, value in overrides.items():
        if key not in fields:
            raise KeyError(f"unknown setting {key!r} for {type(cfg).__module__.split('.')[-1]} "
                           f"(accepted: {', '.join(sorted(fields))})")
        changes[key] = _parse_value(value, hints.get(key, str), key) if isinstance(value, str) \
            else value
    return dataclasses.replace(cfg, **changes)
