"""A Keras model's layer as a scikit-learn transformer: :class:`KerasTransformer`.

An autoencoder's code, or any hidden layer of a model, becomes the ``transform``
of a Pipeline step, so that a Keras embedding feeds the next estimator::

    Pipeline([("embed", KerasTransformer(autoencoder, target="X")),
              ("clf", LogisticRegression())])
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import keras
import numpy as np
import scipy.sparse
from sklearn.base import ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.metrics import r2_score
from sklearn.utils import TransformerTags
from sklearn.utils.validation import check_is_fitted

from .inputs import n_rows, split_inputs, validate_features
from .sparse import dense_rows
from .wrappers import KerasRegressor

__all__ = ["KerasTransformer"]

_TARGETS = ("auto", "X", "y")
#: Samples per forward call in ``transform`` when ``predict__batch_size`` is not set.
_BATCH = 512


class KerasTransformer(ClassNamePrefixFeaturesOutMixin, TransformerMixin, KerasRegressor):
    """The outputs of one layer of a trained Keras model as ``transform``.

    ``fit`` trains the whole model (with ``y``, or to reconstruct ``X``: an
    autoencoder); ``transform`` runs the inputs up to the chosen layer and
    returns its outputs, flattened to one row per sample. Everything else
    (builders, routed parameters, ``random_state``, the fast engine, saving)
    is as in :class:`~skkeras.KerasRegressor`, whose parameters it takes, plus:

    Parameters
    ----------
    layer : str, int or None, default=None
        The layer whose outputs ``transform`` returns: a layer name, or an index
        into ``model_.layers`` (negative counts from the end). None takes the
        model's bottleneck: among the layers between the inputs and the outputs,
        the one with the fewest output values per sample (the first of equals),
        or the model's output if it has no such layer. For an autoencoder built
        as ``Model(x, decoder(encoder(x)))``, that is the encoder's output.
    target : {"auto", "X", "y"}, default="auto"
        What ``fit`` trains the model to output. "X" reconstructs the inputs
        whatever y is given (an autoencoder in a Pipeline, which passes y
        along); "y" requires y (a supervised model whose hidden layer is the
        embedding); "auto" uses y when given and X otherwise. y is a regression
        target: its width must match the model's output. A sparse X is accepted
        (densified one batch at a time), but not reconstructed: give y.

    Attributes
    ----------
    model_ : keras.Model
        The trained model.
    layer_ : str
        The name of the layer ``transform`` returns.
    n_features_out_ : int
        Values per sample in the outputs of ``transform``.
    history_, n_features_in_, feature_names_in_
        As in :class:`~skkeras.KerasRegressor`.

    Examples
    --------
    >>> import keras, numpy as np
    >>> from skkeras import KerasTransformer
    >>> def autoencoder(meta):
    ...     x = keras.Input((meta["n_features_in_"],))
    ...     code = keras.layers.Dense(2, name="code")(x)
    ...     return keras.Model(x, keras.layers.Dense(meta["n_features_in_"])(code))
    >>> X = np.random.default_rng(0).normal(size=(64, 5)).astype("float32")
    >>> embed = KerasTransformer(autoencoder, epochs=2, random_state=0).fit(X)
    >>> embed.transform(X).shape, embed.layer_
    ((64, 2), 'code')
    >>> embed.get_feature_names_out()[:2].tolist()
    ['kerastransformer0', 'kerastransformer1']
    """

    #: Fitted attributes beyond the base class's, kept by skkeras.save (skkeras.persistence).
    _fitted_schema = {"layer_": str, "n_features_out_": int}

    def __init__(
        self,
        model: Callable[..., keras.Model] | keras.Model | None = None,
        *,
        layer: str | int | None = None,
        target: Literal["auto", "X", "y"] = "auto",
        **kwargs: Any,
    ) -> None:
        super().__init__(model, **kwargs)
        self.layer = layer
        self.target = target

    @classmethod
    def _get_param_names(cls) -> list[str]:
        # The signature's named parameters, and those of KerasRegressor's that
        # this class takes through **kwargs, with their defaults.
        return sorted({*KerasRegressor._get_param_names(), "layer", "target"})

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.estimator_type = None
        tags.regressor_tags = None
        tags.transformer_tags = TransformerTags()
        tags.target_tags.required = False
        return tags

    # -------------------------------------------------------------- fitting
    def _fit_target(self, X: Any, y: Any) -> Any:
        if self.target not in _TARGETS:
            raise ValueError(f"target must be one of {_TARGETS}, got {self.target!r}.")
        if self.target == "y" and y is None:
            raise ValueError("target='y' trains the model on y, but y is None: pass y to fit.")
        if self.target == "X" or y is None:
            if isinstance(X, dict):
                raise ValueError(
                    "A model with several named inputs cannot reconstruct X: give y, "
                    "or target='y'."
                )
            if scipy.sparse.issparse(X):
                raise ValueError(
                    "KerasTransformer cannot reconstruct a sparse X: the target would be the "
                    "whole matrix made dense. Give y (target='y'), or X.toarray() if it fits "
                    "in memory."
                )
            return X
        return y

    def fit(self, X: Any, y: Any = None, sample_weight: Any = None, **kwargs: Any) -> KerasTransformer:
        """Train the model on X, to output y (or X: see ``target``).

        Returns
        -------
        self
        """
        self._check_layer_param()
        super().fit(X, self._fit_target(X, y), sample_weight=sample_weight, **kwargs)
        self._record_layer()
        return self

    def partial_fit(self, X: Any, y: Any = None, sample_weight: Any = None, **kwargs: Any) -> KerasTransformer:
        """Train for one epoch, continuing from the current state."""
        self._check_layer_param()
        super().partial_fit(X, self._fit_target(X, y), sample_weight=sample_weight, **kwargs)
        self._record_layer()
        return self

    def _check_layer_param(self) -> None:
        if self.layer is not None and (
            isinstance(self.layer, bool) or not isinstance(self.layer, str | int | np.integer)
        ):
            raise ValueError(
                f"layer must be a layer name (str), an index into model_.layers (int) or "
                f"None for the bottleneck, got {self.layer!r}."
            )

    def _record_layer(self) -> None:
        layer = self._feature_layer(self.model_)
        self.layer_ = layer.name
        self.n_features_out_ = int(np.prod(_output_shape(layer)[1:], dtype=int))

    def _feature_layer(self, model: keras.Model) -> keras.layers.Layer:
        if isinstance(self.layer, str):
            try:
                return model.get_layer(self.layer)
            except ValueError:
                names = [layer.name for layer in model.layers]
                raise ValueError(
                    f"layer={self.layer!r} names no layer of the model; its layers are {names}."
                ) from None
        if self.layer is not None:
            try:
                return model.layers[int(self.layer)]
            except IndexError:
                raise ValueError(
                    f"layer={self.layer} is out of range: the model has {len(model.layers)} layers."
                ) from None
        return _bottleneck(model)

    # ---------------------------------------------------------- transforming
    def _extractor(self) -> keras.Model:
        model = self.model_
        layer = self._feature_layer(model)
        try:
            inputs = model.inputs
            inputs = inputs[0] if len(inputs) == 1 else _input_structure(model, inputs)
            return keras.Model(inputs, layer.output)
        except (AttributeError, ValueError, TypeError) as error:
            raise ValueError(
                f"Cannot take the outputs of layer {layer.name!r}: KerasTransformer needs a "
                "functional or Sequential model whose layer is used once "
                f"({type(error).__name__}: {error})."
            ) from error

    def transform(self, X: Any) -> np.ndarray:
        """The chosen layer's outputs for X, one flattened row per sample.

        Returns
        -------
        ndarray of shape (n_samples, n_features_out_)
        """
        check_is_fitted(self, "layer_")
        X = validate_features(self, X, reset=False)
        x = split_inputs(X, self.inputs, getattr(self, "feature_names_in_", None))
        batch_size = int(self._routed("predict").get("batch_size") or _BATCH)
        n = n_rows(x)
        if batch_size == -1:
            batch_size = max(n, 1)
        extractor = self._extractor()
        # The extractor is called eagerly batch by batch: a new model per call,
        # so Model.predict would trace a new function on every transform.
        outputs = [
            keras.ops.convert_to_numpy(
                extractor(dense_rows(x, slice(start, start + batch_size)), training=False)
            )
            for start in range(0, n, batch_size)
        ]
        if not outputs:
            return np.zeros((0, self.n_features_out_), dtype=keras.backend.floatx())
        outputs = np.concatenate(outputs)
        return outputs.reshape(len(outputs), -1)

    def fit_transform(self, X: Any, y: Any = None, **fit_params: Any) -> np.ndarray:
        """``fit``, then ``transform`` of the same X."""
        return self.fit(X, y, **fit_params).transform(X)

    @property
    def _n_features_out(self) -> int:
        # read by ClassNamePrefixFeaturesOutMixin.get_feature_names_out
        return self.n_features_out_

    def score(self, X: Any, y: Any = None, sample_weight: Any = None) -> float:
        """R² of the model's outputs against y (or against X: see ``target``)."""
        target = self._fit_target(X, y)
        predicted = self.predict(X)
        return float(r2_score(np.asarray(target).reshape(len(predicted), -1),
                              np.asarray(predicted).reshape(len(predicted), -1),
                              sample_weight=sample_weight))


def _input_structure(model: keras.Model, inputs: list[Any]) -> Any:
    """The model's inputs in the structure it was built with (a dict of named inputs)."""
    try:
        return model.input
    except AttributeError:
        return inputs


def _output_shape(layer: keras.layers.Layer) -> tuple[Any, ...]:
    output = layer.output
    if isinstance(output, list | tuple):
        raise ValueError(f"layer {layer.name!r} has several outputs; choose another with layer=.")
    return tuple(output.shape)


def _bottleneck(model: keras.Model) -> keras.layers.Layer:
    """The hidden layer with the fewest output values per sample (the first of equals)."""
    outputs = {id(t) for t in keras.tree.flatten(model.outputs)}
    best, best_width = None, None
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        try:
            output = layer.output
        except (AttributeError, ValueError):
            continue
        if isinstance(output, list | tuple | dict) or id(output) in outputs:
            continue
        shape = tuple(output.shape[1:])
        if any(d is None for d in shape):
            continue
        width = int(np.prod(shape, dtype=int))
        if best_width is None or width < best_width:
            best, best_width = layer, width
    return best if best is not None else model.layers[-1]
