"""Imbalanced classes: ``class_weight="balanced"`` against no weights.

With 5% positives, a network trained on the plain loss learns that predicting
the majority class is nearly always right, and misses most positives.
``class_weight="balanced"`` weighs each sample by ``n_samples / (n_classes *
count of its class)``, as scikit-learn does, trading some precision for a much
higher recall of the minority class.

    python examples/imbalanced_class_weight.py [--quick]
"""

from __future__ import annotations

import argparse

from sklearn.datasets import make_classification
from sklearn.metrics import balanced_accuracy_score, precision_score, recall_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from skkeras import KerasClassifier


def main(quick: bool = False) -> None:
    X, y = make_classification(
        n_samples=600 if quick else 5000, n_features=10, n_informative=4, weights=[0.95],
        flip_y=0.0, class_sep=0.8, random_state=0,
    )
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.3, stratify=y, random_state=0
    )
    print(f"positives: {y_train.sum()} of {len(y_train)} training rows")

    print(f"{'class_weight':>14}  {'minority recall':>15}  {'precision':>9}  {'balanced acc.':>13}")
    for class_weight in (None, "balanced"):
        net = KerasClassifier(
            model__hidden_layer_sizes=(16,), class_weight=class_weight,
            epochs=3 if quick else 40, batch_size=64, random_state=0,
        )
        model = Pipeline([("scale", StandardScaler()), ("net", net)]).fit(X_train, y_train)
        predicted = model.predict(X_test)
        print(f"{class_weight!s:>14}  {recall_score(y_test, predicted):>15.3f}  "
              f"{precision_score(y_test, predicted, zero_division=0):>9.3f}  "
              f"{balanced_accuracy_score(y_test, predicted):>13.3f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="600 samples, 3 epochs")
    main(quick=parser.parse_args().quick)
