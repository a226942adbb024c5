"""Train once, keep the result: one-file saves that load safely, and joblib for pipelines.

    python examples/save_and_load.py [--quick] [--out DIR]

1. ``save(est, "pima.keras")`` / ``"pima.h5"``: the Keras model plus a JSON
   description of the estimator. ``load`` never unpickles, so these are the files
   to share; plain Keras (``keras.saving.load_model``) opens them too.
2. The optimizer's state is in the file: ``partial_fit`` carries on after loading.
3. ``joblib.dump`` keeps a whole fitted Pipeline; a joblib file runs code when
   loaded, so load only files you trust.
4. ``KerasClassifier.from_model`` wraps a Keras model trained elsewhere.

``save``/``load`` live in :mod:`skkeras.persistence`; estimators also have
``est.save(path)`` and ``KerasClassifier.load(path)``.
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path

import joblib
import keras
import numpy as np
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skkeras import KerasClassifier
from skkeras.datasets import load_pima_diabetes
from skkeras.persistence import load, save


@contextlib.contextmanager
def output_directory(out: str | None) -> Iterator[Path]:
    """The directory to write to: ``out``, or a temporary one removed afterwards."""
    if out is not None:
        path = Path(out)
        path.mkdir(parents=True, exist_ok=True)
        yield path
        return
    with tempfile.TemporaryDirectory() as tmp:
        yield Path(tmp)


def main(quick: bool = False, out: str | None = None) -> None:
    data = load_pima_diabetes(as_frame=True)
    X_train, X_test, y_train, y_test = train_test_split(
        data.data, data.target, test_size=0.25, stratify=data.target, random_state=0
    )
    epochs = 5 if quick else 100
    pipeline = make_pipeline(StandardScaler(), KerasClassifier(
        model__hidden_layer_sizes=(12, 8), epochs=epochs, batch_size=32, random_state=0,
    )).fit(X_train, y_train)
    scaler, net = pipeline[0], pipeline[-1]
    Z_test = scaler.transform(X_test)
    print(f"trained {epochs} epochs: test accuracy {net.score(Z_test, y_test):.3f}")

    with output_directory(out) as directory:
        # 1. One file per estimator, in either of Keras's formats.
        for name in ("pima.keras", "pima.h5"):
            path = directory / name
            save(net, path)
            loaded = load(path)
            same = np.array_equal(loaded.predict_proba(Z_test), net.predict_proba(Z_test))
            print(f"{name:<11} {path.stat().st_size / 1024:6.1f} KiB  identical predictions: {same}")
            plain = keras.saving.load_model(path)
            print(f"{'':<11} plain Keras reads it too: {type(plain).__name__} "
                  f"with {plain.count_params()} parameters")

        # 2. Training continues where it stopped: the optimizer state was saved.
        loaded = load(directory / "pima.keras")
        for _ in range(2 if quick else 20):
            loaded.partial_fit(scaler.transform(X_train), y_train)
        print(f"after {len(loaded.history_['loss'])} epochs in all: test accuracy "
              f"{loaded.score(Z_test, y_test):.3f}")

        # 3. A whole pipeline, scaler included, with joblib (trusted files only).
        joblib.dump(pipeline, directory / "pipeline.joblib")
        restored = joblib.load(directory / "pipeline.joblib")
        same = np.array_equal(restored.predict_proba(X_test), pipeline.predict_proba(X_test))
        print(f"pipeline.joblib identical predictions: {same}")

        # 4. A Keras model trained elsewhere, wrapped as a fitted scikit-learn classifier.
        keras.saving.save_model(net.model_, directory / "trained_elsewhere.keras")
        wrapped = KerasClassifier.from_model(directory / "trained_elsewhere.keras", classes=[0, 1])
        print(f"from_model: test accuracy {wrapped.score(Z_test, y_test):.3f} "
              f"(classes {wrapped.classes_.tolist()})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a few epochs, for smoke tests")
    parser.add_argument("--out", help="keep the files in this directory (default: a temporary one)")
    arguments = parser.parse_args()
    main(quick=arguments.quick, out=arguments.out)
