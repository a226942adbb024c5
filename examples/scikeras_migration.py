"""Moving from scikeras: the same code, with only the import changed.

The model function, the routed parameters (``model__``, ``optimizer__``) and
the ``meta`` dict are scikeras's. Three defaults differ on purpose (optimizer
adam vs rmsprop, 200 epochs vs 1, ``verbose=0`` vs 1): this script sets them
explicitly, as migrated code should, so results do not change silently.
When scikeras itself is installed (the ``bench`` extra), the full run also
trains the scikeras version and prints both scores side by side.

    python examples/scikeras_migration.py [--quick]
"""

from __future__ import annotations

import argparse
from typing import Any

import keras
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

# from scikeras.wrappers import KerasClassifier  # before
from skkeras import KerasClassifier  # after
from skkeras.datasets import load_pima_diabetes


def get_clf(meta: dict[str, Any], hidden_layer_sizes: tuple[int, ...], dropout: float) -> keras.Model:
    """scikeras's tutorial model: sized from ``meta``, hyperparameters routed with ``model__``."""
    model = keras.Sequential()
    model.add(keras.layers.Input(shape=(meta["n_features_in_"],)))
    for size in hidden_layer_sizes:
        model.add(keras.layers.Dense(size, activation="relu"))
        model.add(keras.layers.Dropout(dropout))
    model.add(keras.layers.Dense(1, activation="sigmoid"))
    return model


def make_classifier(cls: type, quick: bool) -> Any:
    return cls(
        model=get_clf,
        loss="binary_crossentropy",
        optimizer="adam",                  # set explicitly: scikeras's default is rmsprop
        optimizer__learning_rate=0.001,
        model__hidden_layer_sizes=(32,),
        model__dropout=0.2,
        metrics=["accuracy"],
        epochs=2 if quick else 50,         # scikeras's default is 1, skkeras's 200
        batch_size=32,                     # Keras's default, which scikeras uses
        verbose=0,                         # scikeras's default is 1
        random_state=0,
    )


def main(quick: bool = False) -> None:
    X, y = load_pima_diabetes(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, stratify=y, random_state=0)

    classifiers = {"skkeras": KerasClassifier}
    if not quick:
        try:
            from scikeras.wrappers import KerasClassifier as ScikerasClassifier
        except ImportError:
            print("(scikeras is not installed: showing skkeras only)")
        else:
            classifiers["scikeras"] = ScikerasClassifier

    for name, cls in classifiers.items():
        pipeline = Pipeline([("scale", StandardScaler()), ("net", make_classifier(cls, quick))])
        pipeline.fit(X_train, y_train)
        net = pipeline["net"]
        print(f"{name:>8}: test accuracy {pipeline.score(X_test, y_test):.3f}, "
              f"classes_ {net.classes_.tolist()}, {len(net.history_['loss'])} epochs in history_")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 epochs, skkeras only")
    main(quick=parser.parse_args().quick)
