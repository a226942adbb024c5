"""The one module that touches Keras's private names.

skkeras's fast paths need a few things Keras does not publish: whether a model's
``call`` takes ``training``, its layers flattened, its loss tracker and compiled
metrics, the symbolic build ``fit`` runs, the global seed state. Each is read
here, behind a function with a documented meaning, so that a Keras release that
moves one of them breaks one function (and its test), not the package.
``tests/test_keras_compat.py`` fails if a private Keras name appears anywhere
else in ``skkeras/``.

Supported: Keras 3.13.1 up to (not including) 4.
"""

from __future__ import annotations

import keras


def call_has_training_arg(model: keras.Layer) -> bool:
    """Whether ``model.call`` accepts a ``training`` argument."""
    return bool(model._call_has_training_arg)
