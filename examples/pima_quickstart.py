"""Cross-validated accuracy of a small Keras network on the bundled Pima diabetes data.

    python examples/pima_quickstart.py [--quick]
"""

import argparse

from sklearn.model_selection import StratifiedKFold, cross_validate
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from skkeras import KerasClassifier
from skkeras.datasets import load_pima_diabetes


def main(quick: bool = False) -> None:
    X, y = load_pima_diabetes(return_X_y=True)
    net = KerasClassifier(
        model__hidden_layer_sizes=(12, 8), epochs=5 if quick else 50, batch_size=16,
        random_state=0,
    )
    pipeline = Pipeline([("scale", StandardScaler()), ("net", net)])
    cv = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
    scores = cross_validate(pipeline, X, y, cv=cv, scoring=["accuracy", "roc_auc"])
    for metric in ("accuracy", "roc_auc"):
        values = scores[f"test_{metric}"]
        print(f"{metric:>9}: {values.mean():.3f} ± {values.std():.3f}  (folds: "
              + ", ".join(f"{v:.3f}" for v in values) + ")")
    print(f"fit time per fold: {scores['fit_time'].mean():.2f} s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a few epochs, for smoke tests")
    main(quick=parser.parse_args().quick)
