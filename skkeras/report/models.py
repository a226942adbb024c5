"""The report's models: its preprocessing, the network as it runs it, and the baselines."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.base import clone
from sklearn.compose import ColumnTransformer, TransformedTargetRegressor, make_column_selector
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from .render import describe_estimator, short_param
from .spec import (
    DEFAULT_EPOCHS,
    DEFAULT_HIDDEN,
    DEFAULT_RANDOM_STATE,
    DEFAULT_VALIDATION_SPLIT,
    ReportError,
)

__all__ = ["default_estimator", "default_preprocessor", "make_baselines"]


# --------------------------------------------------------------------------- models
def default_preprocessor() -> ColumnTransformer:
    """Numeric columns: median imputation and scaling; others: most frequent and one-hot."""
    numeric = Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())])
    categorical = Pipeline([
        ("impute", SimpleImputer(strategy="most_frequent")),
        ("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
    ])
    return ColumnTransformer(
        [
            ("numeric", numeric, make_column_selector(dtype_include=np.number)),
            ("categorical", categorical, make_column_selector(dtype_exclude=np.number)),
        ],
        sparse_threshold=0.0,
    )


def _in_pipeline(estimator: Any, task: str, *, scale_target: bool) -> Any:
    pipeline = Pipeline([("preprocess", default_preprocessor()), ("net", estimator)])
    if task == "regression" and scale_target:
        return TransformedTargetRegressor(regressor=pipeline, transformer=StandardScaler())
    return pipeline


def default_estimator(
    task: str,
    *,
    epochs: int = DEFAULT_EPOCHS,
    batch_size: int | None = None,
    hidden: Sequence[int] = DEFAULT_HIDDEN,
    random_state: int | None = DEFAULT_RANDOM_STATE,
    validation_split: float = DEFAULT_VALIDATION_SPLIT,
) -> Any:
    """The report's model for a DataFrame: :func:`default_preprocessor` and the built-in MLP.

    Parameters
    ----------
    task : {"classification", "regression"}
    epochs : int, default=50
    batch_size : int or None, default=None
        None: the estimators' default, :func:`skkeras.training.default_batch_size`.
    hidden : sequence of int, default=(32, 16)
    random_state : int or None, default=0
    validation_split : float, default=0.0
        Held out of each training fold for validation loss curves.

    Returns
    -------
    estimator
        A ``Pipeline`` with steps ``preprocess`` and ``net`` (classification),
        or a ``TransformedTargetRegressor`` around one that standardises y.
    """
    net = _network(task)(
        model__hidden_layer_sizes=tuple(int(h) for h in hidden), epochs=int(epochs),
        batch_size=batch_size, random_state=random_state, validation_split=validation_split,
    )
    return _in_pipeline(net, task, scale_target=True)


def _network(task: str) -> type:
    from ..wrappers import KerasClassifier, KerasRegressor

    return KerasClassifier if task == "classification" else KerasRegressor


def _builder_parameters(builder: Any) -> set[str]:
    try:
        return set(inspect.signature(builder).parameters) - {"meta", "compile_kwargs", "params"}
    except (TypeError, ValueError):
        return set()


@dataclass
class _Network:
    """The network as the report runs it, and where its parameters live."""

    estimator: Any
    prefix: str | None  # parameter prefix of the skkeras step, None if there is none
    builder_params: set[str]  # keyword arguments of a user's builder
    description: str  # "built-in MLP, hidden (32, 16)", "build_model from my_module"...
    wrapped: bool  # whether the report added its preprocessing


def _make_network(
    model: Any, task: str, *, epochs: int | None, batch_size: int | None,
    hidden: Sequence[int], random_state: int | None, validation_split: float | None,
    params: Mapping[str, Any],
) -> _Network:
    import keras

    from ..wrappers import BaseWrapper

    common = {
        "epochs": DEFAULT_EPOCHS if epochs is None else int(epochs), "batch_size": batch_size,
        "random_state": random_state,
        "validation_split": DEFAULT_VALIDATION_SPLIT if validation_split is None else validation_split,
    }
    if model is None:
        net = _network(task)(model__hidden_layer_sizes=tuple(int(h) for h in hidden), **common)
        description = f"built-in MLP, hidden layers {tuple(int(h) for h in hidden)}"
        builder_params: set[str] = set()
    elif isinstance(model, keras.Model) or (callable(model) and not hasattr(model, "fit")):
        builder_params = set() if isinstance(model, keras.Model) else _builder_parameters(model)
        net = _network(task)(model=model, **common)
        name = getattr(model, "__qualname__", type(model).__name__)
        where = getattr(model, "__module__", None)
        description = f"{name} from {where}" if where and not isinstance(model, keras.Model) else (
            f"the Keras model {name}")
    elif hasattr(model, "fit") and hasattr(model, "get_params"):
        net = clone(model)
        overrides = {k: v for k, v in (("epochs", epochs), ("batch_size", batch_size),
                                       ("validation_split", validation_split)) if v is not None}
        if isinstance(net, BaseWrapper):
            net.set_params(**overrides)
            spec = net.model if net.model is not None else net.build_fn
            builder_params = _builder_parameters(spec) if callable(spec) else set()
            description = type(net).__name__ + (
                f" of {getattr(spec, '__qualname__', type(spec).__name__)}" if spec is not None
                else ", built-in MLP")
        else:
            prefix = _skkeras_prefix(net)
            if prefix is not None:
                net.set_params(**{prefix + k: v for k, v in overrides.items()})
            return _Network(net, prefix, set(), describe_estimator(net), wrapped=False)
    else:
        raise ReportError(
            f"model must be None, a function returning a Keras model, a keras.Model or an "
            f"estimator, got {type(model).__name__}."
        )
    if params:
        net.set_params(**_builder_names(params, builder_params, ""))
    estimator = _in_pipeline(net, task, scale_target=True)
    return _Network(estimator, _skkeras_prefix(estimator), builder_params, description, wrapped=True)


def _skkeras_prefix(estimator: Any) -> str | None:
    """The parameter prefix of the skkeras estimator inside ``estimator``, or None."""
    from ..wrappers import BaseWrapper

    prefix = ""
    for _ in range(8):
        if isinstance(estimator, BaseWrapper):
            return prefix
        if isinstance(estimator, TransformedTargetRegressor):
            prefix, estimator = prefix + "regressor__", estimator.regressor
        elif isinstance(estimator, Pipeline):
            name, estimator = estimator.steps[-1]
            prefix += name + "__"
        else:
            return None
    return None


def _builder_names(params: Mapping[str, Any], builder_params: set[str], prefix: str) -> dict:
    """A builder's keyword arguments routed as ``model__name``; other names as given."""
    from ..wrappers import KerasClassifier

    own = set(inspect.signature(KerasClassifier.__init__).parameters)
    return {
        prefix + (f"model__{k}" if k in builder_params and k not in own else k): v
        for k, v in params.items()
    }


def _grid_to_params(grid: Mapping[str, Sequence[Any]], network: _Network) -> dict[str, list]:
    """Grid keys as given (network parameters) to full parameter names of the estimator."""
    if network.prefix is None:
        return {k: list(v) for k, v in grid.items()}
    full = {}
    for key, values in grid.items():
        if network.wrapped and key.split("__", 1)[0] == "preprocess":
            relative = network.prefix.removesuffix("net__") + key
        else:
            relative = next(iter(_builder_names({key: 0}, network.builder_params, network.prefix)))
        full[relative] = list(values)
    return full


def _check_grid_params(estimator: Any, params: Mapping[str, Sequence[Any]], option: str) -> None:
    """Raise ReportError naming the first parameter the estimator does not take."""
    for name, values in params.items():
        try:
            clone(estimator).set_params(**{name: values[0]})
        except ValueError:
            raise ReportError(
                f"{option}: unknown parameter {short_param(name)!r}; use parameters of the network "
                "(epochs, batch_size, optimizer, ...), routed ones (optimizer__learning_rate, "
                "model__dropout, ...), your builder's keyword arguments or the shorthand hidden."
            ) from None


def make_baselines(names: Sequence[str], task: str, random_state: int | None) -> dict[str, Any]:
    """The baselines by name, each in :func:`default_preprocessor`'s pipeline."""
    from sklearn.dummy import DummyClassifier, DummyRegressor
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.linear_model import LogisticRegression, Ridge

    factories: dict[str, Callable[[], Any]] = {
        "logistic": lambda: LogisticRegression(max_iter=1000),
        "ridge": lambda: Ridge(),
        "hist_gradient_boosting": lambda: (
            HistGradientBoostingClassifier if task == "classification"
            else HistGradientBoostingRegressor)(random_state=random_state),
        "dummy": lambda: DummyClassifier() if task == "classification" else DummyRegressor(),
    }
    return {
        name: Pipeline([("preprocess", default_preprocessor()), ("model", factories[name]())])
        for name in names
    }


#: Display names of the baselines.
BASELINE_TITLES = {
    "logistic": "LogisticRegression", "ridge": "Ridge", "dummy": "Dummy",
    "hist_gradient_boosting": "HistGradientBoosting",
}


def _find_net(estimator: Any) -> Any:
    prefix = _skkeras_prefix(estimator)
    if prefix is None:
        return estimator
    return estimator.get_params()[prefix[:-2]] if prefix else estimator
