"""From a model specification to a compiled Keras model.

A user specifies the model in one of four ways: a callable that returns a model
(``model=``), a Keras 2 style ``build_fn=``, a ``keras.Model`` instance (cloned on
every fit so the user's object is never mutated), or nothing, which gives the
built-in MLP. :func:`build_model` turns any of them into a fresh model, and
:func:`compile_model` compiles it with the routed optimizer, loss and metrics
unless the builder already did.
"""

from __future__ import annotations

import contextlib
import inspect
import math
import numbers
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import keras
import numpy as np

from . import _keras_compat
from ._jax_init import numpy_initializers
from .routing import accepts_var_keyword, route_params, signature_parameters

Builder = Callable[..., keras.Model]

#: Builder arguments filled by skkeras rather than by a parameter of the same name.
PROVIDED_ARGUMENTS = ("meta", "compile_kwargs", "params")

#: The optimizer an estimator uses when its ``optimizer`` parameter is None.
DEFAULT_OPTIMIZER = "adam"

#: What an estimator parameter left at None stands for, for a builder that requires
#: the argument (``def build_fn(optimizer): ...`` gets "adam", not None).
UNSET_PARAMETER_MEANS = {"optimizer": DEFAULT_OPTIMIZER}


def build_mlp(
    meta: Mapping[str, Any],
    hidden_layer_sizes: Sequence[int] | int = (100,),
    activation: str = "relu",
    dropout: float = 0.0,
    kernel_initializer: str = "glorot_uniform",
    l2: float = 0.0,
    output_activation: str | None = None,
) -> keras.Model:
    """The built-in multi-layer perceptron, sized from the data in ``meta``.

    Set its hyperparameters on an estimator as ``model__hidden_layer_sizes=(64, 32)``,
    ``model__dropout=0.1`` and so on. The output layer follows the target: one
    sigmoid unit for binary labels, a softmax over the classes, one sigmoid per
    label for multilabel targets, or one linear unit per regression output.
    """
    hidden_layer_sizes = _check_mlp_arguments(hidden_layer_sizes, dropout, l2)
    regularizer = keras.regularizers.L2(l2) if l2 else None
    inputs, features = _mlp_inputs(meta)
    hidden = features
    for units in hidden_layer_sizes:
        hidden = keras.layers.Dense(
            int(units), activation=activation, kernel_initializer=kernel_initializer,
            kernel_regularizer=regularizer,
        )(hidden)
        if dropout:
            hidden = keras.layers.Dropout(dropout)(hidden)
    units, default_activation = _mlp_output(meta)
    outputs = keras.layers.Dense(
        units, activation=output_activation or default_activation,
        kernel_initializer=kernel_initializer,
    )(hidden)
    return keras.Model(inputs, outputs, name="skkeras_mlp")


def _integer(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _real(value: Any) -> bool:
    """A finite real number (not a bool)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def _stray_routes(kwargs: Mapping[str, Any], names: Any) -> list[str]:
    """The first parts of routed ``<name>__*`` keys that name none of ``names``."""
    return sorted({k.split("__", 1)[0] for k in kwargs if "__" in k} - {str(n) for n in names})


def _check_mlp_arguments(hidden_layer_sizes: Any, dropout: Any, l2: Any) -> tuple[int, ...]:
    """The MLP's numeric hyperparameters checked, named as the user sets them."""
    sizes = (hidden_layer_sizes,) if _integer(hidden_layer_sizes) else hidden_layer_sizes
    if not isinstance(sizes, Sequence | np.ndarray) or isinstance(sizes, str) or not all(
        _integer(units) and units >= 1 for units in sizes
    ):
        raise ValueError(
            f"model__hidden_layer_sizes={hidden_layer_sizes!r}: the hidden layer sizes are "
            "positive integers, e.g. (100,), (64, 32), or () for no hidden layer."
        )
    if not _real(dropout) or not 0 <= dropout < 1:
        raise ValueError(f"model__dropout={dropout!r}: the dropout rate is a number in [0, 1).")
    if not _real(l2) or l2 < 0:
        raise ValueError(f"model__l2={l2!r}: the L2 penalty is a non-negative number.")
    return tuple(int(units) for units in sizes)


def _mlp_inputs(meta: Mapping[str, Any]) -> tuple[Any, Any]:
    shapes = meta["input_shapes_"]
    inputs = {name: keras.Input(shape=shape, name=name) for name, shape in shapes.items()}
    flat = [
        keras.layers.Flatten()(tensor) if len(shape) > 1 else tensor
        for tensor, shape in zip(inputs.values(), shapes.values(), strict=True)
    ]
    if len(flat) == 1 and not meta.get("named_inputs_"):
        (only,) = inputs.values()
        return only, flat[0]
    return inputs, flat[0] if len(flat) == 1 else keras.layers.Concatenate()(flat)


def _mlp_output(meta: Mapping[str, Any]) -> tuple[int, str]:
    target_type = meta["target_type_"]
    if target_type == "binary":
        return 1, "sigmoid"
    if target_type == "multiclass":
        return meta["n_classes_"], "softmax"
    if target_type == "multilabel-indicator":
        return meta["n_classes_"], "sigmoid"
    return meta["n_outputs_"], "linear"


def resolve_builder(model: Any, build_fn: Any) -> Builder | keras.Model:
    """The one model specification in use, checking that at most one was given."""
    if model is not None and build_fn is not None:
        raise ValueError(
            "Both model= and build_fn= were given: use model= (build_fn= is its Keras 2 name)."
        )
    spec = model if model is not None else build_fn
    if spec is None:
        return build_mlp
    if isinstance(spec, keras.Model) or callable(spec):
        return spec
    raise ValueError(
        f"model= must be a callable returning a keras.Model, a keras.Model instance or "
        f"None (built-in MLP); got {type(spec).__name__}."
    )


def builder_arguments(
    builder: Builder,
    *,
    routed: Mapping[str, Any],
    extra: Mapping[str, Any],
    wrapper_params: Mapping[str, Any],
    wrapper_defaults: Mapping[str, Any],
    provided: Mapping[str, Any],
) -> dict[str, Any]:
    """The keyword arguments a builder is called with, by its signature.

    For each argument name, in order of precedence: a routed ``model__name``
    value, a plain keyword given to the estimator (``KerasClassifier(build_fn=f,
    init="uniform")``), what skkeras provides (``meta``, ``compile_kwargs``,
    ``params``), and finally an estimator parameter of the same name (the Keras 2
    convention where ``optimizer`` reaches ``build_fn``), which is passed only if
    the builder has no default for it or the user changed it from the estimator's
    default, so a builder's own defaults stand unless the user overrides them. A
    builder that requires an argument the estimator leaves at None (``optimizer``)
    gets what None stands for (:data:`UNSET_PARAMETER_MEANS`).
    """
    accepted = signature_parameters(builder)
    takes_kwargs = accepts_var_keyword(builder)
    unknown = [
        name for name in [*routed, *extra] if name not in accepted and not takes_kwargs
    ]
    if unknown:
        raise ValueError(
            f"{_describe(builder)} does not take the argument(s) {sorted(unknown)}; it "
            f"takes {sorted(accepted) or 'no keyword arguments'}. Fix the parameter "
            "name, or add it to the builder's signature."
        )
    arguments = {**provided} if takes_kwargs else {
        name: value for name, value in provided.items() if name in accepted
    }
    for name, parameter in accepted.items():
        if name in routed or name in extra or name in provided:
            continue
        if name in wrapper_params:
            value = wrapper_params[name]
            if parameter.default is parameter.empty:
                if value is None:
                    value = UNSET_PARAMETER_MEANS.get(name)
                arguments[name] = value
            elif not same_value(value, wrapper_defaults.get(name)):
                arguments[name] = value
    arguments.update(extra)
    arguments.update(routed)
    return arguments


def same_value(a: Any, b: Any) -> bool:
    """``a is b or a == b``; arrays and objects that cannot say are different."""
    try:
        return bool(a is b or a == b)
    except Exception:  # arrays and odd objects: treat as changed
        return False


def takes_argument(builder: Builder, name: str) -> bool:
    """Whether ``builder`` is called with ``name`` when skkeras provides it."""
    return name in signature_parameters(builder) or accepts_var_keyword(builder)


def _describe(builder: Any) -> str:
    name = getattr(builder, "__qualname__", None) or type(builder).__name__
    return f"The model builder {name}()"


def call_builder(builder: Builder, arguments: Mapping[str, Any]) -> keras.Model:
    """Call the builder and check that it returned a Keras model.

    On JAX, Keras's initialisers draw their numbers in NumPy meanwhile (the same
    bits, without compiling a program per shape: :mod:`skkeras._jax_init`)."""
    with numpy_initializers():
        model = builder(**arguments)
    if not isinstance(model, keras.Model):
        raise ValueError(
            f"{_describe(builder)} returned {type(model).__name__}, not a keras.Model: "
            "it must return the (compiled or uncompiled) model it builds."
        )
    return model


@contextlib.contextmanager
def without_tensorflow_lookup() -> Iterator[None]:
    """Serialise Keras configurations without importing TensorFlow.

    Keras imports TensorFlow the first time it serialises a configuration, on
    every backend, only to check whether values are TensorFlow shapes or types:
    3.5 s on JAX, more than the rest of a small search. Until TensorFlow is
    imported, no value can be of its types, so Keras is told for the duration
    that TensorFlow is unavailable.
    """
    with _keras_compat.tensorflow_lookup_disabled():
        yield


def clone_model_instance(model: keras.Model) -> keras.Model:
    """A fresh copy of a user's model, with new weights and its compile configuration."""
    with without_tensorflow_lookup():
        clone = keras.models.clone_model(model)
        if model.compiled:
            clone.compile_from_config(model.get_compile_config())
    return clone


def _camel_case(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


# Metric names that Keras resolves at compile time from the loss and output shape.
_TARGET_DEPENDENT_METRICS = {"accuracy", "acc", "crossentropy", "ce"}


def _class_named(name: str, module: Any) -> type | None:
    """The Keras class a string names: ``"binary_crossentropy"`` -> BinaryCrossentropy,
    and Keras's own aliases (``"auc"`` -> AUC, ``"mse"`` -> MeanSquaredError)."""
    cls = getattr(module, _camel_case(name), None)
    if isinstance(cls, type):
        return cls
    try:
        found = module.get(name)
    except (ValueError, TypeError):
        return None
    if isinstance(found, type):
        return found
    if inspect.isroutine(found):  # a loss function: its class
        cls = getattr(module, _camel_case(found.__name__), None)
        return cls if isinstance(cls, type) else None
    return type(found)  # an instance (keras.metrics.get("auc") gives AUC())


def _construct(cls: type, kwargs: Mapping[str, Any], kind: str) -> Any:
    """``cls(**kwargs)``, where an argument the constructor does not take is a
    ValueError naming the routed parameter (Python would raise a TypeError). Arguments
    named by a position (``callbacks__0=...``, as scikeras documents) are passed
    positionally, in the order of their numbers."""
    positional = [v for _, v in sorted((int(k), v) for k, v in kwargs.items() if k.isdigit())]
    kwargs = {k: v for k, v in kwargs.items() if not k.isdigit()}
    parameters = signature_parameters(cls)
    if kwargs and parameters and not accepts_var_keyword(cls):
        unknown = sorted(name for name in kwargs if name not in parameters)
        if unknown:
            raise ValueError(
                f"{kind}__ parameter(s) {unknown} are not arguments of {cls.__name__}; "
                f"it takes {sorted(parameters)}."
            )
    return cls(*positional, **kwargs)


def _instantiate(spec: Any, kwargs: Mapping[str, Any], module: Any, kind: str) -> Any:
    """Make a Keras object from a name, class or instance plus routed constructor kwargs."""
    if isinstance(spec, type):
        return _construct(spec, kwargs, kind)
    if isinstance(spec, str):
        if not kwargs:
            return spec
        if kind == "metrics" and spec.lower() in _TARGET_DEPENDENT_METRICS:
            raise ValueError(
                f"metrics={spec!r} with metrics__ parameters {sorted(kwargs)}: Keras picks the "
                f"{spec!r} metric from the target at compile time, so it cannot be configured "
                "by name; pass the class (keras.metrics.BinaryAccuracy, "
                "SparseCategoricalAccuracy, CategoricalAccuracy...)."
            )
        cls = _class_named(spec, module)
        if not isinstance(cls, type):
            raise ValueError(
                f"{kind}={spec!r} with {kind}__ parameters {sorted(kwargs)}: no {kind} class "
                f"named {spec!r} was found in keras.{module.__name__.split('.')[-1]}; pass the class."
            )
        return _construct(cls, kwargs, kind)
    if kwargs:
        if not hasattr(spec, "get_config"):
            raise ValueError(f"{kind}__ parameters {sorted(kwargs)} given, but {kind}={spec!r} cannot be reconfigured.")
        return type(spec).from_config({**spec.get_config(), **kwargs})
    return spec


def make_optimizer(optimizer: Any, kwargs: Mapping[str, Any]) -> keras.optimizers.Optimizer:
    """A fresh optimizer (one per fit: a Keras optimizer binds to one model's variables).

    None means :data:`DEFAULT_OPTIMIZER` (Adam). On JAX its variables' first values
    are cast in NumPy (:func:`skkeras._jax_init.numpy_initializers`).
    """
    if optimizer is None:
        optimizer = DEFAULT_OPTIMIZER
    rate = kwargs.get("learning_rate")
    if isinstance(rate, numbers.Real) and not (_real(rate) and rate > 0):
        raise ValueError(f"optimizer__learning_rate={rate!r}: the learning rate is a positive "
                         "number (or a keras.optimizers.schedules schedule).")
    if isinstance(optimizer, str):
        named = _class_named(optimizer, keras.optimizers)
        if named is None:
            raise ValueError(
                f"optimizer={optimizer!r} is not a Keras optimizer: give a name ('adam', "
                "'sgd', 'rmsprop', 'adamw'...), a keras.optimizers class or an instance."
            )
        optimizer = named
    with numpy_initializers():
        if isinstance(optimizer, keras.optimizers.Optimizer):
            return type(optimizer).from_config({**optimizer.get_config(), **kwargs})
        if isinstance(optimizer, type):
            return optimizer(**kwargs)
    raise ValueError(
        f"optimizer must be a name, an optimizer class or instance, got {optimizer!r}."
    )


def make_loss(loss: Any, kwargs: Mapping[str, Any]) -> Any:
    return _instantiate(loss, kwargs, keras.losses, "loss")


def make_metrics(metrics: Any, kwargs: Mapping[str, Any]) -> Any:
    """Metrics with ``metrics__name`` (all) or ``metrics__0__name`` (the first) applied."""
    if metrics is None:
        return None
    items = list(metrics) if isinstance(metrics, list | tuple) else [metrics]
    stray = _stray_routes(kwargs, range(len(items)))
    if stray:
        raise ValueError(f"metrics__{stray[0]}__* names no metric: there are {len(items)} "
                         f"(metrics__0__* to metrics__{len(items) - 1}__*).")
    shared = {k: v for k, v in kwargs.items() if "__" not in k}
    made = []
    for i, metric in enumerate(items):
        own = {**shared, **route_params(kwargs, str(i))}
        made.append(_instantiate(metric, own, keras.metrics, "metrics"))
    return made


def make_callbacks(callbacks: Any, kwargs: Mapping[str, Any]) -> list[keras.callbacks.Callback]:
    """Callback instances from ``callbacks`` (a list, or a dict of named callbacks).

    ``callbacks__patience=3`` configures every callback given as a class;
    ``callbacks__0__patience`` or ``callbacks__<name>__patience`` only one.
    """
    if callbacks is None:
        return []
    named = callbacks if isinstance(callbacks, Mapping) else dict(enumerate(
        callbacks if isinstance(callbacks, list | tuple) else [callbacks]
    ))
    stray = _stray_routes(kwargs, named)
    if stray:
        raise ValueError(
            f"callbacks__{stray[0]}__* names no callback: the callbacks are "
            f"{[str(k) for k in named]} (positions of a list, keys of a dict)."
        )
    shared = {k: v for k, v in kwargs.items() if "__" not in k}
    made = []
    for key, callback in named.items():
        own = route_params(kwargs, str(key))
        if not isinstance(callback, keras.callbacks.Callback) and not (
            isinstance(callback, type) and issubclass(callback, keras.callbacks.Callback)
        ):
            raise ValueError(
                f"callbacks[{key!r}] is {callback!r}: a callback is a keras.callbacks.Callback "
                "instance or subclass."
            )
        if isinstance(callback, type):
            made.append(_construct(callback, {**shared, **own}, "callbacks"))
        elif own:
            raise ValueError(
                f"callbacks__{key}__ parameters {sorted(own)} given, but callback {key!r} is "
                "an instance: pass its class to configure it through parameters."
            )
        else:
            made.append(callback)
    return made


def _same_settings(ours: Any, theirs: Any) -> bool:
    """Whether two optimizer (or loss) objects are of one class with one configuration."""
    if ours is None or theirs is None or type(ours) is not type(theirs):
        return False
    try:
        configs = [dict(obj.get_config()) for obj in (ours, theirs)]
    except Exception:  # no configuration to compare: assume not
        return False
    for config in configs:
        config.pop("name", None)
    return configs[0] == configs[1]


def compile_model(
    model: keras.Model, compile_kwargs: Mapping[str, Any], routed: Sequence[str] = ()
) -> keras.Model:
    """Compile the model unless its builder already did.

    An argument ``keras.Model.compile`` does not take (a misspelt ``compile__`` name)
    is a ValueError naming it, even when the builder compiled the model itself.
    ``routed`` names the compile-time parameters the user set (``optimizer__*``,
    ``loss__*``...): they cannot reach a model that arrives compiled, which a
    warning says rather than letting a grid search over them silently do nothing.
    """
    parameters = signature_parameters(model.compile)
    if parameters and not accepts_var_keyword(model.compile):
        unknown = sorted(name for name in compile_kwargs if name not in parameters)
        if unknown:
            raise ValueError(
                f"compile__ parameter(s) {unknown} are not arguments of keras.Model.compile; "
                f"it takes {sorted(parameters)}."
            )
    if not model.compiled:
        with numpy_initializers():  # the loss tracker's zeros without compiling, on JAX
            model.compile(**compile_kwargs)
        return model
    # A builder that compiled with compile_kwargs' optimizer or loss passed the routed
    # settings on (scikeras's builders do: optimizer=compile_kwargs["optimizer"]).
    used = {name for name in ("optimizer", "loss")
            if _same_settings(getattr(model, name, None), compile_kwargs.get(name))}
    routed = [name for name in routed if name.split("__", 1)[0] not in used]
    if routed:
        warnings.warn(
            f"{sorted(routed)} have no effect: the model builder compiled the model "
            "itself. Return an uncompiled model, or accept compile_kwargs and pass "
            "them to model.compile(**compile_kwargs).",
            UserWarning, stacklevel=4,
        )
    return model


def output_width(model: keras.Model, sample_inputs: Any) -> int:
    """Values per sample in the model's (single) output, building the model if needed."""
    outputs = getattr(model, "outputs", None)
    if outputs is not None and len(outputs) > 1:
        raise ValueError(
            f"The model has {len(outputs)} outputs; skkeras estimators support one output "
            "tensor (use one Dense layer with several units for several targets)."
        )
    if outputs:
        shape = tuple(outputs[0].shape)
    else:
        prediction = model(sample_inputs, training=False)
        if isinstance(prediction, list | tuple | dict):
            raise ValueError("The model returns several outputs; skkeras supports one.")
        shape = tuple(prediction.shape)
    if len(shape) != 2:
        raise ValueError(
            f"The model's output has shape {shape}; skkeras estimators need (batch, units)."
        )
    return int(shape[1])

