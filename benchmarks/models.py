"""The Keras networks of the benchmarks: one definition, shared by every Keras wrapper.

skkeras and scikeras call a builder with ``meta`` (a dict of facts about the
data); ``keras.wrappers`` calls it with ``X`` and ``y``. The adapters below only
read the input width from those and call the same :func:`dense_net`, so every
Keras system trains the same architecture, initialiser, optimizer and loss.

The single difference is forced by ``keras.wrappers.SKLearnClassifier``: it
one-hot encodes ``y``, so its Pima network ends in a 2-unit softmax with
categorical cross-entropy instead of 1 sigmoid unit with binary cross-entropy
(the same model for two classes). It does not seed anything either, so its
builders call ``keras.utils.set_random_seed(SEED)``, which also fixes the
shuffling of the ``fit`` that follows.

Keras is imported inside the functions: importing this module costs nothing.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

#: The environment variable through which ``python -m benchmarks --seed`` reaches
#: the subprocesses.
SEED_VARIABLE = "SKKERAS_BENCH_SEED"
#: The one seed of the suite: weights, shuffling, CV splits, subsampling (0 unless
#: the runner's ``--seed`` says otherwise).
SEED = int(os.environ.get(SEED_VARIABLE, "0"))

#: Hidden layers of the Pima network (W1, W3, W4).
PIMA_HIDDEN = (12, 8)
#: Hidden layers of the California housing network (W2).
HOUSING_HIDDEN = (64, 32)


def dense_net(
    n_features: int,
    hidden: Sequence[int],
    n_outputs: int,
    output_activation: str | None,
    loss: str,
    optimizer: str = "adam",
) -> Any:
    """A compiled ``keras.Sequential``: ReLU ``Dense`` layers ``hidden``, then the output layer.

    Keras's defaults everywhere else (Glorot-uniform weights, zero biases,
    Adam with learning rate 1e-3); no metrics, since scikit-learn does the scoring.
    """
    import keras

    layers: list[Any] = [keras.Input(shape=(n_features,))]
    layers += [keras.layers.Dense(units, activation="relu") for units in hidden]
    layers.append(keras.layers.Dense(n_outputs, activation=output_activation))
    model = keras.Sequential(layers)
    model.compile(optimizer=optimizer, loss=loss)
    return model


def pima_net(meta: Mapping[str, Any]) -> Any:
    """Dense 12-8-1 sigmoid, Adam, binary cross-entropy (builder for skkeras and scikeras)."""
    return dense_net(int(meta["n_features_in_"]), PIMA_HIDDEN, 1, "sigmoid", "binary_crossentropy")


def pima_net_onehot(X: Any, y: Any) -> Any:
    """Dense 12-8-2 softmax, Adam, categorical cross-entropy (builder for keras.wrappers).

    ``y`` arrives one-hot encoded, one column per class.
    """
    import keras

    keras.utils.set_random_seed(SEED)
    return dense_net(
        X.shape[1], PIMA_HIDDEN, y.shape[1], "softmax", "categorical_crossentropy"
    )


def housing_net(meta: Mapping[str, Any]) -> Any:
    """Dense 64-32-1 linear, Adam, mean squared error (builder for skkeras and scikeras)."""
    return dense_net(int(meta["n_features_in_"]), HOUSING_HIDDEN, 1, None, "mean_squared_error")


def with_xla(builder: Any) -> Any:
    """``builder``, with the compiled model set to XLA (``jit_compile=True``)."""

    def build(meta: Mapping[str, Any]) -> Any:
        model = builder(meta)
        model.jit_compile = True
        return model

    build.__name__ = build.__qualname__ = f"{builder.__name__}_xla"
    return build


def housing_net_xy(X: Any, y: Any) -> Any:
    """Dense 64-32-1 linear, Adam, mean squared error (builder for keras.wrappers)."""
    import keras

    keras.utils.set_random_seed(SEED)
    n_outputs = 1 if getattr(y, "ndim", 1) == 1 else y.shape[1]
    return dense_net(X.shape[1], HOUSING_HIDDEN, n_outputs, None, "mean_squared_error")
