"""How many learners AdaBoost keeps around a one-epoch Keras classifier, seed by seed.

scikeras's Meta_Estimators page boosts a KerasClassifier trained for one epoch (its
default) and then reads the second learner. scikit-learn >= 1.6 boosts with SAMME
only, which drops a learner no better than chance, so whether a second learner
survives depends on the seed. This prints, for AdaBoost's ``random_state`` 0-9, the
number of learners kept (0: the first learner was already no better than chance and
AdaBoost raised), with ``skkeras.scikeras`` or, with ``--scikeras``, scikeras itself::

    python tools/adaboost_seeds.py
    python tools/adaboost_seeds.py --scikeras
"""

from __future__ import annotations

import argparse
import warnings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scikeras", action="store_true", help="use scikeras itself")
    parser.add_argument("--seeds", type=int, default=10)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    import keras
    from sklearn.datasets import make_moons
    from sklearn.ensemble import AdaBoostClassifier

    if args.scikeras:
        from scikeras.wrappers import KerasClassifier
    else:
        from skkeras.scikeras.wrappers import KerasClassifier

    def one_hidden_layer(meta, compile_kwargs):
        net = keras.Sequential([keras.Input((meta["n_features_in_"],)),
                                keras.layers.Dense(100, activation="relu"),
                                keras.layers.Dense(1, activation="sigmoid")])
        net.compile(loss="binary_crossentropy", optimizer=compile_kwargs["optimizer"])
        return net

    X, y = make_moons()
    kept = []
    for seed in range(args.seeds):
        net = KerasClassifier(model=one_hidden_layer, optimizer="adam",
                              optimizer__learning_rate=0.001, verbose=0, random_state=0)
        try:
            boosted = AdaBoostClassifier(estimator=net, n_estimators=5, random_state=seed).fit(X, y)
            kept.append(len(boosted.estimators_))
        except ValueError:
            kept.append(0)
    print(("scikeras" if args.scikeras else "skkeras.scikeras"), kept)


if __name__ == "__main__":
    main()
