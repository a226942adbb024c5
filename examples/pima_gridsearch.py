"""Grid search over a Keras 2 style ``build_fn`` on the bundled Pima diabetes data.

The classic Keras 2 recipe: a function that builds and compiles the network,
taking ``optimizer`` and ``init`` as arguments, searched together with
``epochs`` and ``batch_size`` by ``GridSearchCV`` over stratified folds. Only the
import changes: the builder is the same code as with ``keras.wrappers``.

    python examples/pima_gridsearch.py [--quick]

The full grid is 16 candidates x 5 folds (a few minutes); ``--quick`` runs a
2-candidate grid on a subsample in seconds.
"""

from __future__ import annotations

import argparse

import keras
from sklearn.model_selection import GridSearchCV, StratifiedKFold, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from skkeras import KerasClassifier
from skkeras.datasets import load_pima_diabetes


def create_model(optimizer: str = "adam", init: str = "glorot_uniform") -> keras.Model:
    """The Keras 2 style builder: 8 inputs, two hidden layers, one sigmoid output."""
    model = keras.Sequential([
        keras.Input((8,)),
        keras.layers.Dense(12, kernel_initializer=init, activation="relu"),
        keras.layers.Dense(8, kernel_initializer=init, activation="relu"),
        keras.layers.Dense(1, kernel_initializer=init, activation="sigmoid"),
    ])
    model.compile(loss="binary_crossentropy", optimizer=optimizer, metrics=["accuracy"])
    return model


def main(quick: bool = False) -> None:
    X, y = load_pima_diabetes(return_X_y=True)
    if quick:  # a stratified subsample, so the smoke test takes seconds
        X, _, y, _ = train_test_split(X, y, train_size=200, stratify=y, random_state=0)

    # The estimator's keyword arguments that the builder names (here `init`) reach it;
    # `optimizer`, `epochs` and `batch_size` are estimator parameters, searched alike.
    net = KerasClassifier(build_fn=create_model, verbose=0, random_state=0)
    pipeline = Pipeline([("scale", StandardScaler()), ("net", net)])
    if quick:
        grid = {"net__optimizer": ["rmsprop", "adam"], "net__init": ["glorot_uniform"],
                "net__epochs": [2], "net__batch_size": [32]}
    else:
        grid = {"net__optimizer": ["rmsprop", "adam"], "net__init": ["glorot_uniform", "normal"],
                "net__epochs": [10, 50], "net__batch_size": [10, 20]}
    cv = StratifiedKFold(n_splits=2 if quick else 5, shuffle=True, random_state=0)
    search = GridSearchCV(pipeline, grid, cv=cv, scoring="accuracy", refit=not quick)
    search.fit(X, y)

    print(f"Best: {search.best_score_:.3f} using {search.best_params_}")
    results = search.cv_results_
    for mean, std, params in zip(results["mean_test_score"], results["std_test_score"],
                                 results["params"], strict=True):
        print(f"{mean:.3f} ({std:.3f}) with: {params}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny grid and data, for smoke tests")
    main(quick=parser.parse_args().quick)
