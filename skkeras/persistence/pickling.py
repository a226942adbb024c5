"""Pickling support, and the persistence methods every estimator has.

``pickle`` / ``joblib`` / ``copy.deepcopy`` work on estimators, and on whole
Pipelines and searches that contain them, with no patching of Keras classes:
Keras 3 models pickle themselves (through their own ``.keras`` serialization),
and :meth:`PersistenceMixin.__getstate__` only sets aside callbacks that cannot
be pickled (an open log file, a TensorBoard writer). Unpickling runs code named
in the file: use it only for files you made yourself or otherwise trust.
"""

from __future__ import annotations

import copy
import os
import pickle
from collections.abc import Mapping
from typing import Any

import keras

from .files import repair_compile_config
from .trust import TrustedSpec, UnrestoredParam

PathLike = str | os.PathLike


def _callback_items(callbacks: Any) -> tuple[str, list[tuple[Any, Any]]]:
    """The callbacks parameter as (kind, [(key, callback)]), kind in list/tuple/dict/single."""
    if isinstance(callbacks, Mapping):
        return "dict", list(callbacks.items())
    if isinstance(callbacks, list | tuple):
        return "tuple" if isinstance(callbacks, tuple) else "list", list(enumerate(callbacks))
    return "single", [(0, callbacks)]


def _rebuild_callbacks(kind: str, items: list[tuple[Any, Any]], original: Any) -> Any:
    if kind == "dict":
        return type(original)(items) if isinstance(original, dict) else dict(items)
    values = [value for _, value in items]
    if kind == "list":
        return values
    if kind == "tuple":
        return tuple(values)
    return values[0]


def _picklable_callback(name: str, callback: Any) -> Any:
    """A picklable stand-in for one callback: itself (without its model), or a placeholder."""
    if callback is None or isinstance(callback, type | UnrestoredParam):
        return callback
    detached = callback
    from .._keras_compat import callback_model, detach_callback_model

    if callback_model(callback) is not None:
        # Keras sets the model again at every fit; pickling it here would store a second copy.
        detached = copy.copy(callback)
        detach_callback_model(detached)
    try:
        pickle.dumps(detached, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as error:  # noqa: BLE001 - any failure means "cannot be pickled"
        return UnrestoredParam(
            name, f"a {type(callback).__name__} callback instance",
            f"it could not be pickled: {type(error).__name__}: {error}",
        )
    return detached


class PersistenceMixin:
    """Persistence methods shared by the estimators: pickling support,
    :meth:`save`, :meth:`load` and :meth:`from_model`."""

    def __getstate__(self) -> dict[str, Any]:
        """The instance dict for pickle and deepcopy.

        Everything is kept as it is (the Keras model pickles itself, optimizer
        state included) except callback instances given in ``callbacks=``: each is
        pickled without its reference to the model (Keras sets it again at every
        fit) and one that cannot be pickled (an open file, a TensorBoard writer) is
        replaced by an :class:`UnrestoredParam` that explains, on the next training,
        that it must be given again. Callbacks given as classes are always kept.
        """
        if "_deferred_model_" in self.__dict__:
            self.model_  # noqa: B018 (a model trained on a reused one is built to be pickled)
        state = dict(super().__getstate__())  # type: ignore[misc]
        if state.get("model_") is not None:
            repair_compile_config(state["model_"])
        callbacks = state.get("callbacks")
        if callbacks is not None:
            kind, items = _callback_items(callbacks)
            kept = [(key, _picklable_callback(_callback_name(kind, key), cb)) for key, cb in items]
            state["callbacks"] = _rebuild_callbacks(kind, kept, callbacks)
        from ..custom_objects import portable

        # Keras objects of unregistered custom classes unpickle in a custom-object scope
        # that lasts that one load (no global registration).
        return {name: portable(value) for name, value in state.items()}

    def save(self, path: PathLike) -> None:
        """Save the fitted estimator to ``path`` (``.h5`` or ``.keras``); see :func:`skkeras.save`."""
        from .loading import save

        save(self, path)

    @classmethod
    def load(
        cls,
        path: PathLike,
        *,
        safe_mode: bool = True,
        custom_objects: Mapping[str, Any] | None = None,
        trusted: TrustedSpec = None,
    ) -> Any:
        """Load an estimator of this class from a file written by :func:`skkeras.save`;
        see :func:`skkeras.load` (``trusted=`` names the functions and classes the file
        may reference beyond Keras's and skkeras's own)."""
        from .loading import load_estimator

        return load_estimator(path, cls, safe_mode=safe_mode, custom_objects=custom_objects,
                              trusted=trusted)

    @classmethod
    def from_model(
        cls,
        model: keras.Model | PathLike,
        classes: Any = None,
        *,
        multilabel: bool = False,
        feature_names: Any = None,
        safe_mode: bool = True,
        custom_objects: Mapping[str, Any] | None = None,
        **params: Any,
    ) -> Any:
        """Wrap a Keras model trained elsewhere as a fitted estimator.

        ``KerasClassifier.from_model(model, classes=["cat", "dog"])`` and
        ``KerasRegressor.from_model(model)`` return estimators that predict,
        score and sit in Pipelines without being fitted. ``fit`` later trains a new
        model of the same architecture from scratch (it is kept as ``model=``);
        ``partial_fit`` or ``warm_start`` continue training this one.

        Parameters
        ----------
        model : keras.Model or path
            A model with known inputs (Functional or Sequential) and one output of
            shape (batch, units), or the path of a Keras ``.h5``/``.keras`` file,
            loaded with ``keras.saving.load_model`` (in ``safe_mode``). The model
            is used as it is, not copied; an uncompiled one is compiled with the
            estimator's ``optimizer``/``loss`` so that it can be trained further.
        classes : array-like, default=None
            Classifiers only: the labels of the model's output columns, sorted
            (as ``np.unique`` sorts). None means ``[0, 1]`` for one sigmoid output,
            else ``0 .. units-1``.
        multilabel : bool, default=False
            Classifiers only: the outputs are independent labels (one sigmoid
            each), predicted as an indicator matrix.
        feature_names : array-like of str, default=None
            Column names, checked against DataFrames given to ``predict``.
        safe_mode, custom_objects
            Passed to ``keras.saving.load_model`` when ``model`` is a path.
        **params
            Estimator parameters (``random_state``, ``threshold``, ``epochs``...).
        """
        from .from_model import from_model

        return from_model(
            cls, model, classes, multilabel=multilabel, feature_names=feature_names,
            safe_mode=safe_mode, custom_objects=custom_objects, params=params,
        )


def _callback_name(kind: str, key: Any) -> str:
    return "callbacks" if kind == "single" else f"callbacks[{key!r}]"

