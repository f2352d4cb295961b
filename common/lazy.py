"""A package's re-exports imported on first use (PEP 562).

A package whose ``__init__`` re-exports its modules' names makes every import of
one of its modules pay for all of them. With::

    __getattr__ = lazy_exports(__name__, {"Client": "services.clients.domain.model"})

(and the same imports under ``if TYPE_CHECKING:`` for the type checker), a
settings module that needs one constant of a domain package imports that module
only: every process imports every settings module for the strict configuration
check (common/settings.py), so their imports are on every start's path.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, module_of: Mapping[str, str]) -> Callable[[str], Any]:
    """The package's ``__getattr__``: ``name`` from the module ``module_of`` names,
    kept in the package's namespace once imported."""
    namespace = importlib.import_module(package).__dict__

    def __getattr__(name: str) -> Any:
        module = module_of.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    return __getattr__
