"""The systems compared: skkeras, scikeras, Keras's own wrappers, scikit-learn's MLP and skorch.

Every system builds the same estimator for a workload (same network, seed,
epochs and batch size), each through its own public API, the way a user would:

- ``skkeras``: :class:`skkeras.KerasClassifier` / :class:`skkeras.KerasRegressor`
  with ``model=`` a builder (:mod:`benchmarks.models`) and ``random_state=SEED``.
- ``scikeras``: :class:`scikeras.wrappers.KerasClassifier` / ``KerasRegressor``,
  the same builder and ``random_state``.
- ``keras``: ``keras.wrappers.SKLearnClassifier`` / ``SKLearnRegressor``. It has
  no ``epochs``/``batch_size`` parameters, only ``fit_kwargs``, which its
  ``__sklearn_clone__`` drops (Keras 3.15); so a grid search sets ``fit_kwargs``
  after cloning, and ``cross_validate`` or a clone-and-fit loop passes them as
  fit parameters (:meth:`System.fit_params`). It has no ``predict_proba``: the
  softmax outputs of ``decision_function`` are the probabilities.
- ``mlp``: scikit-learn's ``MLPClassifier``/``MLPRegressor`` with the same hidden
  layers, ReLU, Adam (learning rate 1e-3), no L2 penalty (``alpha=0``, as the
  Keras networks), ``max_iter`` in place of ``epochs`` and the tolerance-based
  early stop switched off, so that it runs exactly ``max_iter`` epochs.
- ``skorch``: PyTorch networks of the same layers (:mod:`benchmarks.skorch_system`).

Nothing heavy is imported until a system builds an estimator.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from benchmarks import models
from benchmarks.models import SEED


class System:
    """One competitor: how it builds, searches, fits and predicts."""

    #: Short name, used on the command line and in the results.
    name: str = ""
    #: Label for the report.
    label: str = ""
    #: Whether it runs Keras (and so cares about ``KERAS_BACKEND``).
    uses_keras: bool = True
    #: Distribution whose version the report shows.
    distribution: str = ""
    #: How it is configured, for the report.
    note: str = ""
    #: Whether it compiles programs that outlive a fit: W1 then runs its search a
    #: second time in the process, to split compile time from run time.
    compiles: bool = False
    #: Whether its subprocesses share a persistent compilation cache, filled by one
    #: untimed warm-up run before the timed repeats (see :mod:`benchmarks.run`).
    compilation_cache: bool = False
    #: The Keras backend its subprocesses run on, whatever ``--backend`` says (None: that one),
    #: so that one run can put skkeras on TensorFlow and on JAX side by side.
    backend: str | None = None
    #: The estimator parameter that holds the number of epochs (``max_iter`` for the MLP).
    epochs_param: str = "epochs"
    #: Modules it needs beyond skkeras's own dependencies and the ``bench`` extra; a system
    #: missing one is left out of the default ``--systems`` (see :meth:`available`).
    requires: tuple[str, ...] = ()

    def available(self) -> bool:
        """Whether every module in :attr:`requires` is installed (nothing is imported)."""
        import importlib.util

        return all(importlib.util.find_spec(module) is not None for module in self.requires)

    def classifier(self, epochs: int, batch_size: int) -> Any:
        """The Pima classifier (Dense 12-8-1 or its equivalent)."""
        raise NotImplementedError

    def custom_classifier(self, builder: Any, epochs: int, batch_size: int) -> Any:
        """A classifier of the Keras model ``builder(meta)`` returns (W6, W7); Keras systems only."""
        raise NotImplementedError(f"{self.label} does not wrap a Keras model")

    def regressor(self, epochs: int, batch_size: int) -> Any:
        """The California housing regressor (Dense 64-32-1 or its equivalent)."""
        raise NotImplementedError

    def epoch_grid(
        self, epochs: Sequence[int], batch_sizes: Sequence[int], step: str = "net__"
    ) -> dict[str, list[Any]]:
        """GridSearchCV's ``param_grid`` over epochs × batch size, for the step named ``step``."""
        return {f"{step}{self.epochs_param}": list(epochs), f"{step}batch_size": list(batch_sizes)}

    def best_params(self, params: Mapping[str, Any], step: str = "net__") -> dict[str, Any]:
        """``best_params_`` of a search over :meth:`epoch_grid`, as ``{"epochs", "batch_size"}``."""
        return {
            "epochs": int(params[f"{step}{self.epochs_param}"]),
            "batch_size": int(params[f"{step}batch_size"]),
        }

    def fit_params(self, epochs: int, batch_size: int, step: str = "net__") -> dict[str, Any]:
        """Extra ``fit`` parameters that a cloned estimator needs to train as configured."""
        return {}

    def proba(self, estimator: Any, X: Any) -> np.ndarray:
        """Class probabilities, shape ``(n_samples, n_classes)``."""
        return estimator.predict_proba(X)

    def grid_search_class(self) -> type:
        """The GridSearchCV a user of this system runs (scikit-learn's, by default)."""
        from sklearn.model_selection import GridSearchCV

        return GridSearchCV

    def cross_validate(self) -> Any:
        """The cross_validate a user of this system runs (scikit-learn's, by default)."""
        from sklearn.model_selection import cross_validate

        return cross_validate


def _wrapper(module: str, name: str, builder: Any, epochs: int, batch_size: int) -> Any:
    """An estimator with scikeras's constructor (skkeras's or scikeras's), configured alike."""
    import importlib

    cls = getattr(importlib.import_module(module), name)
    return cls(model=builder, epochs=epochs, batch_size=batch_size, verbose=0, random_state=SEED)


class _ScikerasConstructorSystem(System):
    """Estimators with scikeras's constructor, from :attr:`module`, given the shared builders."""

    #: Module holding KerasClassifier / KerasRegressor with scikeras's constructor.
    module = ""

    def classifier(self, epochs: int, batch_size: int) -> Any:
        return _wrapper(self.module, "KerasClassifier", models.pima_net, epochs, batch_size)

    def custom_classifier(self, builder: Any, epochs: int, batch_size: int) -> Any:
        return _wrapper(self.module, "KerasClassifier", builder, epochs, batch_size)

    def regressor(self, epochs: int, batch_size: int) -> Any:
        return _wrapper(self.module, "KerasRegressor", models.housing_net, epochs, batch_size)


class SkkerasSystem(_ScikerasConstructorSystem):
    """skkeras's estimators with the shared builders."""

    name = "skkeras"
    label = "skkeras"
    distribution = "skkeras"
    note = "`KerasClassifier`/`KerasRegressor(model=builder, random_state=seed)`, defaults otherwise."
    compiles = True
    module = "skkeras"



class SkkerasTensorflowSystem(SkkerasSystem):
    """skkeras on TensorFlow, whatever ``--backend`` says."""

    name = "skkeras-tf"
    label = "skkeras (TensorFlow)"
    note = "As skkeras, always on the TensorFlow backend."
    backend = "tensorflow"


class SkkerasJaxSystem(SkkerasSystem):
    """skkeras on JAX, whatever ``--backend`` says."""

    name = "skkeras-jax"
    label = "skkeras (JAX)"
    note = "As skkeras, always on the JAX backend."
    backend = "jax"


class SkkerasSearchSystem(SkkerasSystem):
    """skkeras's estimators searched with skkeras.model_selection (fits trained together)."""

    name = "skkeras-search"
    label = "skkeras + skkeras.model_selection"
    note = (
        "As skkeras, searched with `skkeras.model_selection.GridSearchCV`/`cross_validate` "
        "(epoch paths; packed training on JAX)."
    )

    def grid_search_class(self) -> type:
        from skkeras.model_selection import GridSearchCV

        return GridSearchCV

    def cross_validate(self) -> Any:
        from skkeras.model_selection import cross_validate

        return cross_validate


class SkkerasSearchCachedSystem(SkkerasSearchSystem):
    """As skkeras-search, in processes that load their compiled programs from disk."""

    name = "skkeras-search-cached"
    label = "skkeras + skkeras.model_selection, warm compilation cache"
    note = (
        "As skkeras + skkeras.model_selection, with `SKKERAS_COMPILATION_CACHE` set to a "
        "folder that one untimed warm-up run of the same workload filled in an earlier "
        "subprocess (its time is reported under the table): what a user's second session "
        "costs. JAX only; on TensorFlow the variable does nothing."
    )
    compilation_cache = True


class SkkerasXlaSystem(SkkerasSystem):
    """skkeras with XLA forced on (``compile__jit_compile=True``): where does XLA pay?"""

    name = "skkeras-xla"
    label = "skkeras (XLA)"
    note = "As skkeras, with the builders' models set to `jit_compile=True` (XLA on TensorFlow)."

    def classifier(self, epochs: int, batch_size: int) -> Any:
        return super().classifier(epochs, batch_size).set_params(
            model=models.with_xla(models.pima_net)
        )

    def regressor(self, epochs: int, batch_size: int) -> Any:
        return super().regressor(epochs, batch_size).set_params(
            model=models.with_xla(models.housing_net)
        )


class ScikerasSystem(_ScikerasConstructorSystem):
    """scikeras 0.13's estimators with the shared builders."""

    name = "scikeras"
    label = "scikeras"
    distribution = "scikeras"
    note = (
        "`scikeras.wrappers.KerasClassifier`/`KerasRegressor(model=builder, random_state=seed, "
        "verbose=0)`."
    )

    module = "scikeras.wrappers"



class KerasWrappersSystem(System):
    """``keras.wrappers.SKLearnClassifier``/``SKLearnRegressor`` (Keras 3's own)."""

    name = "keras"
    label = "keras.wrappers"
    distribution = "keras"
    note = (
        "`keras.wrappers.SKLearnClassifier`/`SKLearnRegressor(model=builder, fit_kwargs=...)`; "
        "it one-hot encodes y, so the Pima network ends in a 2-unit softmax with categorical "
        "cross-entropy; the builder seeds with `keras.utils.set_random_seed(seed)`; its "
        "`__sklearn_clone__` drops `fit_kwargs`, so searches set them after cloning and other "
        "clones get them as fit parameters; no `predict_proba`: W3 times `decision_function` "
        "(softmax outputs)."
    )

    @staticmethod
    def _fit_kwargs(epochs: int, batch_size: int) -> dict[str, Any]:
        return {"epochs": int(epochs), "batch_size": int(batch_size), "verbose": 0}

    def classifier(self, epochs: int, batch_size: int) -> Any:
        from keras.wrappers import SKLearnClassifier

        return SKLearnClassifier(
            model=models.pima_net_onehot, fit_kwargs=self._fit_kwargs(epochs, batch_size)
        )

    def regressor(self, epochs: int, batch_size: int) -> Any:
        from keras.wrappers import SKLearnRegressor

        return SKLearnRegressor(
            model=models.housing_net_xy, fit_kwargs=self._fit_kwargs(epochs, batch_size)
        )

    def epoch_grid(
        self, epochs: Sequence[int], batch_sizes: Sequence[int], step: str = "net__"
    ) -> dict[str, list[Any]]:
        return {
            f"{step}fit_kwargs": [self._fit_kwargs(e, b) for e in epochs for b in batch_sizes]
        }

    def best_params(self, params: Mapping[str, Any], step: str = "net__") -> dict[str, Any]:
        fit_kwargs = params[f"{step}fit_kwargs"]
        return {"epochs": int(fit_kwargs["epochs"]), "batch_size": int(fit_kwargs["batch_size"])}

    def fit_params(self, epochs: int, batch_size: int, step: str = "net__") -> dict[str, Any]:
        return {f"{step}{k}": v for k, v in self._fit_kwargs(epochs, batch_size).items()}

    def proba(self, estimator: Any, X: Any) -> np.ndarray:
        # No predict_proba; the softmax outputs are the class probabilities.
        return np.asarray(estimator.decision_function(X))


class MLPSystem(System):
    """scikit-learn's ``MLPClassifier``/``MLPRegressor``: epochs become ``max_iter``."""

    name = "mlp"
    label = "sklearn MLP"
    uses_keras = False
    distribution = "scikit-learn"
    note = (
        "`MLPClassifier`/`MLPRegressor`, same hidden layers, ReLU, Adam (lr 1e-3), `alpha=0`, "
        "`random_state=seed`, epochs as `max_iter`, early stopping on a stalled loss switched off "
        "(`tol=0`)."
    )

    epochs_param = "max_iter"
    #: Never stop early on a stalled loss: run exactly ``max_iter`` epochs, like Keras.
    _NO_EARLY_STOP = {"tol": 0.0, "n_iter_no_change": 1_000_000_000}

    def _common(self, epochs: int, batch_size: int) -> dict[str, Any]:
        return {
            "activation": "relu", "solver": "adam", "learning_rate_init": 1e-3, "alpha": 0.0,
            "max_iter": int(epochs), "batch_size": int(batch_size), "shuffle": True,
            "random_state": SEED, **self._NO_EARLY_STOP,
        }

    def classifier(self, epochs: int, batch_size: int) -> Any:
        from sklearn.neural_network import MLPClassifier

        return MLPClassifier(hidden_layer_sizes=models.PIMA_HIDDEN, **self._common(epochs, batch_size))

    def regressor(self, epochs: int, batch_size: int) -> Any:
        from sklearn.neural_network import MLPRegressor

        return MLPRegressor(
            hidden_layer_sizes=models.HOUSING_HIDDEN, **self._common(epochs, batch_size)
        )



#: Every system, in report order; skkeras first (the baseline of the speed-ups).
SYSTEMS: dict[str, System] = {
    s.name: s for s in (
        SkkerasSystem(), SkkerasTensorflowSystem(), SkkerasJaxSystem(), SkkerasSearchSystem(),
        SkkerasSearchCachedSystem(), SkkerasXlaSystem(),
        ScikerasSystem(),
        KerasWrappersSystem(), MLPSystem()
    )
}

from benchmarks.skorch_system import SkorchSystem  # noqa: E402 (it imports this module)

SYSTEMS[SkorchSystem.name] = SkorchSystem()

#: Other spellings accepted on the command line.
ALIASES: dict[str, str] = {
    "keras.wrappers": "keras",
    "keras_wrappers": "keras",
    "keras-wrappers": "keras",
    "sklearn": "mlp",
    "sklearn_mlp": "mlp",
    "sklearn-mlp": "mlp",
    "scikit-learn": "mlp",
}


def resolve_system(name: str) -> System:
    """The system called ``name`` (or one of its :data:`ALIASES`)."""
    key = name.strip().lower()
    key = ALIASES.get(key, key)
    if key not in SYSTEMS:
        raise ValueError(
            f"unknown system {name!r}; choose among {', '.join(SYSTEMS)} "
            f"(aliases: {', '.join(sorted(ALIASES))})"
        )
    return SYSTEMS[key]
