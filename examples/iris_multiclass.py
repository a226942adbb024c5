"""Three-class classification of scikit-learn's iris flowers, with string labels.

The built-in MLP ends in a softmax over the classes found in y; ``predict``
returns the labels as given (here species names) and ``predict_proba`` one
column per class, in the order of ``classes_``.

    python examples/iris_multiclass.py [--quick]
"""

from __future__ import annotations

import argparse

import numpy as np
from sklearn.datasets import load_iris
from sklearn.metrics import classification_report
from sklearn.model_selection import StratifiedKFold, cross_validate
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from skkeras import KerasClassifier


def main(quick: bool = False) -> None:
    iris = load_iris()
    X, y = iris.data, iris.target_names[iris.target]  # labels: "setosa", "versicolor", ...

    net = KerasClassifier(
        model__hidden_layer_sizes=(16,), epochs=3 if quick else 100, batch_size=16, random_state=0
    )
    pipeline = Pipeline([("scale", StandardScaler()), ("net", net)])
    cv = StratifiedKFold(n_splits=2 if quick else 5, shuffle=True, random_state=0)
    results = cross_validate(
        pipeline, X, y, cv=cv, scoring=["accuracy", "f1_macro"],
        return_estimator=True, return_indices=True,
    )
    print(f"accuracy: {results['test_accuracy'].mean():.3f} ± {results['test_accuracy'].std():.3f}")
    print(f"macro F1: {results['test_f1_macro'].mean():.3f}")

    # Out-of-fold predictions, from each fold's fitted pipeline.
    predicted = np.empty_like(y)
    for fitted, test in zip(results["estimator"], results["indices"]["test"], strict=True):
        predicted[test] = fitted.predict(X[test])
    print(classification_report(y, predicted, zero_division=0))

    first = results["estimator"][0]
    print("classes_:", first.classes_.tolist())
    print("predict_proba of the first three flowers:")
    print(np.round(first.predict_proba(X[:3]), 3))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 folds, 3 epochs")
    main(quick=parser.parse_args().quick)
