"""skkeras: Keras models as first-class scikit-learn estimators.

The public names are imported on first use, so that ``import skkeras.datasets``
(or the command line's ``--help``) does not pay for importing Keras and its backend.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_PUBLIC = {
    "BaseWrapper": "skkeras.wrappers",
    "KerasClassifier": "skkeras.wrappers",
    "KerasRegressor": "skkeras.wrappers",
    "KerasTransformer": "skkeras.transformer",
    "save": "skkeras.persistence",
    "load": "skkeras.persistence",
    "enable_compilation_cache": "skkeras.compilation_cache",
    "clear_caches": "skkeras._runtime",
}

__all__ = [*_PUBLIC, "__version__"]


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'skkeras' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
