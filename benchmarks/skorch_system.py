"""skorch (PyTorch) as a competitor: the same networks as PyTorch modules.

skorch is the scikit-learn wrapper for PyTorch that most resembles skkeras: a
``NeuralNet`` is an estimator, ``max_epochs``/``batch_size`` are parameters, and
it runs in a ``Pipeline`` and a ``GridSearchCV``. The competitor is configured as
a user who wants the Keras networks' training would configure it:

- the same layers (Dense 12-8-1 for Pima, 64-32-1 for housing), ReLU, Adam at
  learning rate 1e-3, shuffled mini-batches, exactly ``max_epochs`` epochs;
- ``train_split=None``: skorch holds out 20% for validation by default, which the
  Keras systems do not;
- the Pima net ends in one logit (``NeuralNetBinaryClassifier``, binary
  cross-entropy on logits, ``predict_proba`` of two columns);
- PyTorch's own initialisers, seeded with ``torch.manual_seed(SEED)`` when the
  module is built (skorch has no ``random_state``);
- float64 rows from scikit-learn's transformers are cast to float32 in the
  module's ``forward``, and the regressor takes a 1-D ``y`` (skorch wants a
  column) through :class:`OneDimRegressor`: the small adapters a user writes.

PyTorch runs on the CPU here, with its default thread count. torch and skorch are
imported when a system builds an estimator (``pip install torch skorch``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from benchmarks import models
from benchmarks.models import SEED
from benchmarks.systems import System


def _mlp_module(hidden: Sequence[int]) -> type:
    """A torch module class: ``hidden`` ReLU layers and one output, built on first use."""
    import torch
    from torch import nn

    class DenseNet(nn.Module):
        def __init__(self, n_features: int) -> None:
            super().__init__()
            torch.manual_seed(SEED)
            layers: list[nn.Module] = []
            width = n_features
            for units in hidden:
                layers += [nn.Linear(width, units), nn.ReLU()]
                width = units
            layers.append(nn.Linear(width, 1))
            self.layers = nn.Sequential(*layers)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.layers(x.float())

    return DenseNet


class _OneDimTarget:
    """skorch regressors want ``y`` of shape (n, 1) in float32 and predict (n, 1):
    take and give the 1-D float ``y`` that scikit-learn's regressors do."""

    def fit(self, X: Any, y: Any = None, **fit_params: Any) -> Any:
        y = None if y is None else np.asarray(y, dtype=np.float32).reshape(-1, 1)
        return super().fit(X, y, **fit_params)

    def predict(self, X: Any) -> np.ndarray:
        return np.asarray(super().predict(X)).reshape(-1)

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        from sklearn.metrics import r2_score

        return float(r2_score(y, self.predict(X), sample_weight=sample_weight))


def _n_features_hook(net: Any, X: Any, y: Any, **kwargs: Any) -> None:
    """Before each fit, size the module's input to the data (skorch builds the module
    from ``module__n_features``)."""
    net.set_params(module__n_features=int(np.shape(X)[1]))


class SkorchSystem(System):
    """skorch's ``NeuralNetBinaryClassifier``/``NeuralNetRegressor`` with the same networks."""

    name = "skorch"
    label = "skorch"
    uses_keras = False
    distribution = "skorch"
    requires = ("torch", "skorch")
    epochs_param = "max_epochs"
    note = (
        "`NeuralNetBinaryClassifier`/`NeuralNetRegressor` (PyTorch, CPU) with the same hidden "
        "layers, ReLU, Adam (lr 1e-3), `max_epochs` as epochs, `train_split=None` (no hold-out), "
        "shuffled batches, `torch.manual_seed(seed)` at module build; float32 cast in `forward`, "
        "1-D y for the regressor through a small adapter."
    )

    @staticmethod
    def _common(epochs: int, batch_size: int) -> dict[str, Any]:
        import torch

        return {
            "optimizer": torch.optim.Adam, "lr": 1e-3, "max_epochs": int(epochs),
            "batch_size": int(batch_size), "train_split": None, "verbose": 0,
            "iterator_train__shuffle": True, "module__n_features": 1,
        }

    def classifier(self, epochs: int, batch_size: int) -> Any:
        from skorch import NeuralNetBinaryClassifier

        class Classifier(NeuralNetBinaryClassifier):
            def fit(self, X: Any, y: Any = None, **fit_params: Any) -> Any:
                _n_features_hook(self, X, y)
                y = None if y is None else np.asarray(y, dtype=np.float32)
                return super().fit(X, y, **fit_params)

        return Classifier(_mlp_module(models.PIMA_HIDDEN), **self._common(epochs, batch_size))

    def regressor(self, epochs: int, batch_size: int) -> Any:
        from skorch import NeuralNetRegressor

        class Regressor(_OneDimTarget, NeuralNetRegressor):
            def fit(self, X: Any, y: Any = None, **fit_params: Any) -> Any:
                _n_features_hook(self, X, y)
                return super().fit(X, y, **fit_params)

        return Regressor(_mlp_module(models.HOUSING_HIDDEN), **self._common(epochs, batch_size))

