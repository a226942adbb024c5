"""scikeras's module layout and defaults on skkeras's estimators.

Migrating from scikeras is one textual replacement, ``scikeras`` -> ``skkeras.scikeras``::

    from skkeras.scikeras.wrappers import KerasClassifier, KerasRegressor

The classes here take scikeras 0.13's defaults (``epochs=1``, ``optimizer="rmsprop"``,
``verbose=1``, Keras's batch size of 32), so a migrated script trains as it did.
``from skkeras import KerasClassifier`` keeps skkeras's own defaults. Nothing here
patches Keras globally (scikeras replaced ``keras.Model.__reduce__`` on import).
"""

from __future__ import annotations

#: The scikeras release whose public API and defaults this package mirrors.
__version__ = "0.13.0"
