"""Keras's initialisers on JAX drawn in NumPy (skkeras._jax_init): the same bits as JAX."""

import jax
import keras
import numpy as np
import pytest

from skkeras import _jax_init


@pytest.mark.parametrize("seed", [(0, 0), (1, 2), (123456, 7), (4294967295, 99)])
@pytest.mark.parametrize("shape", [(1,), (7,), (8, 12), (3, 5, 2), (70_000,)])
@pytest.mark.parametrize(("low", "high"), [(0.0, 1.0), (-0.5, 0.5), (-0.7071, 0.7071), (2.0, 3.5)])
def test_uniform_is_jaxs_bit_for_bit(seed, shape, low, high):
    key = np.array(seed, np.uint32)
    expected = np.asarray(jax.random.uniform(key, shape, "float32", low, high))
    found = _jax_init.uniform(key, shape, low, high)
    assert found.dtype == np.float32 and found.shape == shape
    np.testing.assert_array_equal(found.view(np.uint32), expected.view(np.uint32))


def _build():
    keras.utils.set_random_seed(3)
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(5, activation="relu"),
                              keras.layers.Dense(3, kernel_initializer="he_uniform"),
                              keras.layers.Dense(2, kernel_initializer="lecun_uniform",
                                                 bias_initializer="ones")])
    model.compile(optimizer="adam", loss="mse")
    model.optimizer.build(model.trainable_variables)
    return model


@pytest.mark.skipif(keras.backend.backend() != "jax", reason="Keras's JAX backend only")
def test_models_built_with_numpy_initializers_equal_keras_own():
    from skkeras._keras_compat import jax_backend_modules

    random_module, numpy_module = jax_backend_modules()
    originals = (random_module.uniform, numpy_module.zeros, numpy_module.ones)
    plain = _build()
    with _jax_init.numpy_initializers():
        assert random_module.uniform is not originals[0]
        with _jax_init.numpy_initializers():  # nested scopes restore once, at the end
            drawn = _build()
        assert numpy_module.zeros is not originals[1]
    assert (random_module.uniform, numpy_module.zeros, numpy_module.ones) == originals
    for a, b in zip(plain.weights + plain.optimizer.variables,
                    drawn.weights + drawn.optimizer.variables, strict=True):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(np.asarray(b), np.asarray(a))


@pytest.mark.skipif(keras.backend.backend() != "jax", reason="Keras's JAX backend only")
def test_variables_of_python_numbers_equal_keras_own_and_the_class_is_restored():
    """An optimizer's iteration count and learning rate start from Python numbers;
    cast in NumPy they give Keras's arrays (dtype, bits, weak type) without compiling."""
    from skkeras._keras_compat import jax_variable_conversion

    original = jax_variable_conversion()
    cases = [(0, "int32"), (7, "int64"), (1e-3, "float32"), (0.1, "float64"), (3, "float32"),
             (True, "bool"), (np.float64(2.5), "float32")]
    plain = [keras.Variable(value, dtype=dtype) for value, dtype in cases]
    with _jax_init.numpy_initializers():
        assert jax_variable_conversion() is not original
        cast = [keras.Variable(value, dtype=dtype) for value, dtype in cases]
        adam = keras.optimizers.Adam(learning_rate=3e-4)
    assert jax_variable_conversion() is original
    reference = keras.optimizers.Adam(learning_rate=3e-4)
    for a, b in zip(plain + reference.variables, cast + adam.variables, strict=True):
        assert a.dtype == b.dtype and a.value.weak_type == b.value.weak_type
        assert np.asarray(a).tobytes() == np.asarray(b).tobytes()


@pytest.mark.skipif(keras.backend.backend() != "jax", reason="Keras's JAX backend only")
def test_building_with_int_seeds_compiles_nothing(caplog):
    """Initialisers seeded with ints (as under a fit's seed) draw their keys in NumPy:
    building a model compiles no XLA program, and gives Keras's own values."""
    plain = _build()
    jax.clear_caches()
    with jax.log_compiles(), caplog.at_level("DEBUG"), _jax_init.numpy_initializers():
        drawn = _build()
    compiled = [r.getMessage() for r in caplog.records if "Compiling" in r.getMessage()]
    assert compiled == []
    for a, b in zip(plain.weights, drawn.weights, strict=True):
        np.testing.assert_array_equal(np.asarray(b), np.asarray(a))
