"""The benchmark data sets, prepared once per invocation and read by every subprocess.

``import skkeras.datasets`` imports ``skkeras`` and with it Keras (and, on the
TensorFlow backend, TensorFlow: ~0.7 GB and seconds). A subprocess that runs
scikit-learn's MLP must not pay that, or its peak memory and start-up would be
charged for a library it never uses. So the runner loads the bundled data sets
once, in a subprocess of their own (``python -m benchmarks.data DIR``), and
writes them to ``DIR``; the workloads read them from there with NumPy and pandas
only.

The cache files are written and read by this module only (trusted input).
"""

from __future__ import annotations

import argparse
import pickle
from pathlib import Path
from typing import Any

import numpy as np

PIMA_FILE = "pima.npz"
HOUSING_FILE = "housing.pkl"


def prepare(directory: str | Path) -> None:
    """Load the bundled data sets through :mod:`skkeras.datasets` and cache them in ``directory``."""
    from skkeras.datasets import load_california_housing, load_pima_diabetes

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    X, y = load_pima_diabetes(return_X_y=True)
    np.savez(directory / PIMA_FILE, X=np.asarray(X, dtype=np.float64), y=np.asarray(y))
    X_h, y_h = load_california_housing(return_X_y=True, as_frame=True)
    with open(directory / HOUSING_FILE, "wb") as fh:
        pickle.dump({"X": X_h, "y": y_h}, fh, protocol=pickle.HIGHEST_PROTOCOL)


def is_prepared(directory: str | Path) -> bool:
    """Whether both cache files exist in ``directory``."""
    directory = Path(directory)
    return (directory / PIMA_FILE).is_file() and (directory / HOUSING_FILE).is_file()


def load_pima(directory: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Pima Indians Diabetes: ``X`` (768, 8) float64 and ``y`` (768,) in {0, 1}."""
    with np.load(Path(directory) / PIMA_FILE) as archive:
        return archive["X"], archive["y"]


def load_housing(directory: str | Path) -> tuple[Any, Any]:
    """Raw California housing: ``X`` a DataFrame (20640, 9) with ``ocean_proximity``, ``y`` a Series."""
    with open(Path(directory) / HOUSING_FILE, "rb") as fh:
        cached = pickle.load(fh)  # trusted: written by prepare() in this invocation
    return cached["X"], cached["y"]


def main(argv: list[str] | None = None) -> int:
    """``python -m benchmarks.data DIR``: write the cache files to ``DIR``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path)
    prepare(parser.parse_args(argv).directory)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
