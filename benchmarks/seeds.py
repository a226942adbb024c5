"""One W1 candidate over several seeds: skkeras against Keras's own ``Model.fit``.

    python -m benchmarks.seeds --epochs 10 --batch-size 40 --seeds 6

A single seed compares two random draws, not two libraries: skkeras draws its
initial weights and batch orders from its own seeded streams, Keras (and so
scikeras) from ``keras.utils.set_random_seed``. This prints, for each seed, the
5-fold cross-validated accuracy (W1's folds: ``StratifiedKFold(5, shuffle=True,
random_state=0)``, a ``StandardScaler`` fitted per fold) of the W1 network
trained by each, and the means. Accuracy only; nothing is timed.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import numpy as np


def cv_accuracy(fit_predict: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray],
                X: np.ndarray, y: np.ndarray) -> float:
    """Mean accuracy of ``fit_predict(X_train, y_train, X_test)`` over W1's folds."""
    from sklearn.model_selection import StratifiedKFold
    from sklearn.preprocessing import StandardScaler

    scores = []
    for train, test in StratifiedKFold(5, shuffle=True, random_state=0).split(X, y):
        scaler = StandardScaler().fit(X[train])
        predicted = fit_predict(scaler.transform(X[train]), y[train], scaler.transform(X[test]))
        scores.append(float(np.mean(predicted == y[test])))
    return float(np.mean(scores))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.seeds", description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=40)
    parser.add_argument("--seeds", type=int, default=6, help="seeds 0 to N-1 (default 6)")
    args = parser.parse_args(argv)

    import keras

    from benchmarks.models import pima_net
    from skkeras import KerasClassifier
    from skkeras.datasets import load_pima_diabetes

    X, y = load_pima_diabetes(return_X_y=True)
    X, y = np.asarray(X, dtype=np.float32), np.asarray(y)
    meta = {"n_features_in_": X.shape[1]}

    def by_skkeras(seed: int):
        def fit_predict(X_train, y_train, X_test):
            net = KerasClassifier(pima_net, epochs=args.epochs, batch_size=args.batch_size, random_state=seed)
            return net.fit(X_train, y_train).predict(X_test)
        return fit_predict

    def by_keras_fit(seed: int):
        def fit_predict(X_train, y_train, X_test):
            keras.utils.set_random_seed(seed)
            model = pima_net(meta)
            model.fit(X_train, y_train.astype(np.float32), epochs=args.epochs, batch_size=args.batch_size, verbose=0)
            return (model.predict(X_test, verbose=0)[:, 0] > 0.5).astype(y.dtype)
        return fit_predict

    print(f"W1 network, {args.epochs} epochs of batch {args.batch_size}, Keras on {keras.backend.backend()}: "
          "5-fold CV accuracy by seed")
    for name, trainer in (("skkeras", by_skkeras), ("keras Model.fit", by_keras_fit)):
        scores = [cv_accuracy(trainer(seed), X, y) for seed in range(args.seeds)]
        print(f"{name:>16}: " + " ".join(f"{s:.3f}" for s in scores) + f"  mean {np.mean(scores):.3f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
