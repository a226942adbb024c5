"""The build and compile steps of a fit: from the model specification (``_keras_build_fn``,
``model=``, ``build_fn=`` or the built-in MLP) to a compiled Keras model.

:class:`ModelBuildingMixin` gives :class:`~skkeras.wrappers.BaseWrapper` these steps
as methods (scikeras's names where scikeras has one); the mechanics live in
:mod:`skkeras.building`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import keras
from sklearn.utils._param_validation import InvalidParameterError

from . import building
from .params import signature_defaults
from .routing import routing_prefix
from .seeding import derive_seed, scoped_seed


class ModelBuildingMixin:
    """Step 3 of a fit (see :mod:`skkeras.wrappers`)."""

    def _model_spec(self) -> Callable[..., keras.Model] | keras.Model:
        """What builds the model: ``_keras_build_fn``, ``model``/``build_fn``, or the MLP."""
        if hasattr(type(self), "_keras_build_fn"):
            if self.model is not None or self.build_fn is not None:
                raise ValueError(
                    f"{type(self).__name__} defines _keras_build_fn, so model= and build_fn= "
                    "must be None: a class that builds its own model cannot implement "
                    "``_keras_build_fn`` and take the `model` parameter as well."
                )
            return self._keras_build_fn
        for name in ("model", "build_fn"):
            spec = getattr(self, name)
            if spec is not None and not callable(spec) and not isinstance(spec, keras.Model):
                raise InvalidParameterError(  # a TypeError (as scikeras) and a ValueError
                    f"{name}= must be a callable returning a keras.Model, a keras.Model instance "
                    f"or None (``{name}`` must be one of these); got {type(spec).__name__}."
                )
        return building.resolve_builder(self.model, self.build_fn)

    def _build_keras_model(
        self, meta: Mapping[str, Any] | None = None, *, seed: int | None = None,
        sample_inputs: Any = None, use_instance: bool = False,
    ) -> keras.Model:
        """Step 3: a new compiled model for this fit, built under the fit's seed.

        ``meta``, ``seed`` and ``sample_inputs`` default to this fit's. A
        ``keras.Model`` given as ``model=`` is cloned, unless ``use_instance``
        (``initialize``), which takes it as it is, trained weights included.
        """
        meta = self._get_metadata() if meta is None else meta
        seed = self.seed_ if seed is None else seed
        sample_inputs = self._inputs_["sample"] if sample_inputs is None else sample_inputs
        spec = self._model_spec()
        with scoped_seed(self._weights_seed(seed)):
            if isinstance(spec, keras.Model):
                model = spec if use_instance else building.clone_model_instance(spec)
            else:
                params = self.get_params(deep=False)
                extra = {
                    name: params[name] for name in self._extra_param_names()
                    if routing_prefix(name) is None
                }
                # compile_kwargs (a new optimizer and loss) only for a builder that takes it.
                provided = {"meta": meta}
                if building.takes_argument(spec, "compile_kwargs"):
                    provided["compile_kwargs"] = self._compile_arguments(
                        meta.get("target_type_"), meta.get("n_outputs_expected_"))
                provided["params"] = params
                try:
                    arguments = building.builder_arguments(
                        spec, routed=self._routed("model"), extra=extra,
                        wrapper_params={k: v for k, v in params.items() if k not in extra},
                        wrapper_defaults=signature_defaults(type(self)), provided=provided,
                    )
                except ValueError as error:  # a TypeError too, as calling the builder would be
                    raise InvalidParameterError(
                        f"{error} (The builder got an unexpected keyword argument.)") from None
                # The builder's own arguments first, then meta, compile_kwargs, params
                # (scikeras's order, which a builder taking **kwargs sees).
                arguments = {k: arguments[k] for k in sorted(arguments, key=provided.__contains__)}
                model = building.call_builder(spec, arguments)
            self._ensure_compiled_model(model, sample_inputs, meta.get("target_type_"))
        return model

    def _weights_seed(self, seed: int) -> int:
        """The seed the model is built under (Python's ``random`` and Keras's default
        seeds in the block): one derived from the fit's seed, independent of the
        seeds of shuffling and of the validation split."""
        return derive_seed(seed, "weights")

    def _output_units(self, model: keras.Model, sample_inputs: Any) -> int | None:
        """Values per sample in the model's single output; None for several outputs."""
        outputs = getattr(model, "outputs", None)
        if outputs is not None and len(outputs) > 1:
            return None
        return building.output_width(model, sample_inputs)

    def _ensure_compiled_model(self, model: keras.Model, sample_inputs: Any, target_type: Any = None) -> None:
        """The compile step: compile with the routed optimizer, loss and metrics unless
        the builder compiled the model itself."""
        width = None if model.compiled and self.loss is not None else self._output_units(model, sample_inputs)
        routed = [
            name for name in self._extra_param_names()
            if routing_prefix(name) in ("optimizer", "loss", "metrics", "compile")
        ]
        building.compile_model(model, self._compile_arguments(target_type, width), routed)

    def _compile_arguments(self, target_type: Any, n_output_units: int | None) -> dict[str, Any]:
        """The arguments of ``keras.Model.compile``: the routed optimizer, loss (None:
        the class's default for this target and output width) and metrics."""
        target_type = getattr(target_type, "target_type", target_type)
        loss = self.loss if self.loss is not None else self._default_loss(target_type, n_output_units)
        kwargs = {
            "optimizer": building.make_optimizer(
                "adam" if self.optimizer is None else self.optimizer, self._routed_flat("optimizer")
            ),
            "loss": building.make_loss(loss, self._routed_flat("loss")),
            "run_eagerly": self.run_eagerly,
        }
        metrics = building.make_metrics(self.metrics, self._routed("metrics"))
        if metrics is not None:
            kwargs["metrics"] = metrics
        kwargs.update(self._routed("compile"))
        return kwargs

    def _compile_kwargs(self, target: Any, n_output_units: int | None) -> dict[str, Any]:
        # The former name of _compile_arguments, kept for skkeras.persistence's from_model.
        return self._compile_arguments(target, n_output_units)

    def _default_loss(self, target_type: str | None, n_output_units: int | None) -> Any:
        """The loss when ``loss=None``: none for BaseWrapper (the builder compiles)."""
        return None

    def _match_target(self, model: keras.Model) -> None:
        """Tell a target encoder with ``match_model`` the model's loss and output width
        (the default classifier's encoder picks its encoding from them). A model with
        several outputs must have the ``n_outputs_expected_`` the target encoder reports."""
        expected, outputs = self.__dict__.get("n_outputs_expected_"), getattr(model, "outputs", None)
        if isinstance(expected, int) and outputs and len(outputs) > 1 and expected != len(outputs):
            raise ValueError(
                f"The target encoder makes a Keras model input of size {expected} "
                f"(n_outputs_expected_) but the model has {len(outputs)} outputs: give the "
                "model one output per target the encoder makes, or one output in all."
            )
        match = getattr(self.__dict__.get("target_encoder_"), "match_model", None)
        if match is not None:
            match(model.loss, building.output_width(model, self._inputs_["sample"]))
