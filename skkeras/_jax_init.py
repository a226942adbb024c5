"""Keras's weight initialisers on JAX without compiling: the same bits, drawn in NumPy.

On JAX, each ``jax.random.uniform`` of a new shape compiles an XLA program (the
Threefry hash), about 0.1-0.3 s each on a 2-core machine, and ``zeros`` of a new
shape compiles too: building a 3-layer MLP in a fresh process costs about a second
before anything trains. :func:`numpy_initializers` makes Keras's JAX backend draw
``uniform`` numbers with JAX's own algorithm (Threefry-2x32, its partitionable
counter layout and its mantissa trick) in NumPy, bit for bit, and make zeros and
ones in NumPy, for the length of a model build. It steps aside (JAX draws as
usual) where it could differ: another PRNG implementation, the non-partitionable
layout, typed key arrays, a non-float32 dtype, or inside a JAX trace.

Swapping the functions is process-wide while a build runs; since the values are
identical, another thread building a model then gets the numbers it would get anyway.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np

_ROTATIONS = (np.array([13, 15, 26, 6], np.uint32), np.array([17, 29, 16, 24], np.uint32))
_LOCK = threading.Lock()
_DEPTH = [0]


def _rotate_left(x: np.ndarray, d: int) -> np.ndarray:
    return (x << np.uint32(d)) | (x >> np.uint32(32 - d))


def threefry2x32(key1: np.uint32, key2: np.uint32, x1: np.ndarray, x2: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
    """JAX's Threefry-2x32 hash (20 rounds) of the counters (x1, x2), in uint32."""
    ks = [np.uint32(key1), np.uint32(key2), np.uint32(key1) ^ np.uint32(key2) ^ np.uint32(0x1BD11BDA)]
    x = [x1.astype(np.uint32) + ks[0], x2.astype(np.uint32) + ks[1]]
    for i in range(5):
        for r in _ROTATIONS[i % 2]:
            x[0] = x[0] + x[1]
            x[1] = _rotate_left(x[1], int(r))
            x[1] = x[0] ^ x[1]
        x[0] = x[0] + ks[(i + 1) % 3]
        x[1] = x[1] + ks[(i + 2) % 3] + np.uint32(i + 1)
    return x[0], x[1]


def uniform_bits(key: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``jax.random.bits(key, shape, uint32)`` for a raw Threefry key, partitionable layout."""
    size = int(np.prod(shape, dtype=np.int64))
    counts = np.arange(size, dtype=np.uint64)
    hi, lo = (counts >> np.uint64(32)).astype(np.uint32), counts.astype(np.uint32)
    with np.errstate(over="ignore"):
        bits1, bits2 = threefry2x32(key[0], key[1], hi, lo)
    return (bits1 ^ bits2).reshape(shape)


def uniform(key: np.ndarray, shape: tuple[int, ...], minval: float, maxval: float) -> np.ndarray:
    """``jax.random.uniform(key, shape, float32, minval, maxval)`` in NumPy."""
    bits = uniform_bits(key, shape)
    floats = ((bits >> np.uint32(32 - 23)) | np.array(1.0, np.float32).view(np.uint32)
              ).view(np.float32) - np.float32(1.0)
    low, high = np.float32(minval), np.float32(maxval)
    # XLA fuses floats * (high - low) + low into one fused multiply-add on CPU: the
    # float32 product is exact in float64, so one rounding of the sum in float64
    # and one to float32 give the fused result.
    scaled = (floats.astype(np.float64) * np.float64(high - low) + np.float64(low)).astype(np.float32)
    return np.maximum(low, scaled)


def _applicable() -> bool:
    import jax

    return (jax.config.jax_default_prng_impl == "threefry2x32"
            and bool(jax.config.jax_threefry_partitionable))


@contextlib.contextmanager
def numpy_initializers() -> Iterator[None]:
    """Within the block, Keras's JAX ``random.uniform`` (float32), ``zeros`` and ``ones``,
    and variables' initial values given as Python numbers, compute in NumPy (same
    values, no compiling). A no-op on other backends."""
    import keras

    if keras.backend.backend() != "jax" or not _applicable():
        yield
        return
    from . import _keras_compat

    random_module, numpy_module = _keras_compat.jax_backend_modules()
    with _LOCK:
        _DEPTH[0] += 1
        if _DEPTH[0] == 1:
            originals = (random_module.uniform, numpy_module.zeros, numpy_module.ones,
                         _keras_compat.jax_variable_conversion())
            _SAVED[:] = originals
            random_module.uniform = _patched_uniform(originals[0], random_module)
            numpy_module.zeros = _patched_fill(originals[1], np.zeros)
            numpy_module.ones = _patched_fill(originals[2], np.ones)
            _keras_compat.jax_variable_conversion(_patched_scalar_value(originals[3]))
    try:
        yield
    finally:
        with _LOCK:
            _DEPTH[0] -= 1
            if _DEPTH[0] == 0:
                random_module.uniform, numpy_module.zeros, numpy_module.ones = _SAVED[:3]
                _keras_compat.jax_variable_conversion(_SAVED[3])


_SAVED: list[Any] = []


def _tracing(*values: Any) -> bool:
    import jax

    return any(isinstance(v, jax.core.Tracer) for v in values)


def _int_seed_key(seed: Any) -> np.ndarray | None:
    """The raw key Keras draws for an int seed on JAX, ``[seed, 0]`` as uint32, made in
    NumPy (Keras's ``jnp.asarray`` of it compiles a conversion program, and that first
    lowering also loads JAX's MLIR dialects: 0.05-0.3 s in a fresh process); None for
    anything else (a SeedGenerator, a key array, an int outside uint32)."""
    if isinstance(seed, int) and not isinstance(seed, bool) and 0 <= seed <= 0xFFFFFFFF:
        return np.array([seed, 0], np.uint32)
    return None


def _patched_uniform(original: Any, random_module: Any) -> Any:
    def uniform_in_numpy(shape, minval=0.0, maxval=1.0, dtype=None, seed=None):
        import jax
        import keras

        dtype = keras.backend.standardize_dtype(dtype or keras.config.floatx())
        if dtype != "float32" or not all(isinstance(v, int | float) for v in (minval, maxval)):
            return original(shape, minval=minval, maxval=maxval, dtype=dtype, seed=seed)
        int_key = _int_seed_key(seed)
        if int_key is not None:
            return jax.device_put(uniform(int_key, tuple(int(d) for d in shape), minval, maxval))
        key = random_module.jax_draw_seed(seed)
        if _tracing(key) or jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
            return original(shape, minval=minval, maxval=maxval, dtype=dtype, seed=key)
        key = np.asarray(key)
        if key.shape != (2,) or key.dtype != np.uint32:
            return original(shape, minval=minval, maxval=maxval, dtype=dtype, seed=key)
        return jax.device_put(uniform(key, tuple(int(d) for d in shape), minval, maxval))

    return uniform_in_numpy


def _patched_scalar_value(original: Any) -> Any:
    """A variable's initial value given as a Python number (an optimizer's iteration
    count and learning rate) cast in NumPy: ``jnp.asarray`` would compile a
    ``convert_element_type`` program per dtype (about 0.14 s in a fresh process)."""

    def convert_in_numpy(self, value, dtype=None):
        import jax
        import keras

        if dtype is None or isinstance(value, bool) or not isinstance(value, int | float):
            return original(self, value, dtype=dtype)
        try:
            values = np.asarray(value, dtype=np.dtype(keras.backend.standardize_dtype(dtype)))
        except (TypeError, ValueError, OverflowError):
            return original(self, value, dtype=dtype)
        return jax.device_put(values)

    return convert_in_numpy


def _patched_fill(original: Any, numpy_fill: Any) -> Any:
    def fill_in_numpy(shape, dtype=None):
        import jax
        import keras

        try:
            name = keras.backend.standardize_dtype(dtype or keras.config.floatx())
            dims = tuple(int(d) for d in (shape if isinstance(shape, tuple | list) else (shape,)))
            values = numpy_fill(dims, dtype=np.dtype(name))
        except (TypeError, ValueError):
            return original(shape, dtype=dtype)
        return jax.device_put(values)

    return fill_in_numpy
