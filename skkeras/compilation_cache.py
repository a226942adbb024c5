"""A persistent cache of compiled programs, so that a new process does not compile again.

A search on a small tabular problem spends more time compiling its training
programs with XLA than running them (W1 on JAX: about 2.5 s of compilation for
0.85 s of training). The programs depend only on the architecture, the batch
plan and the library versions, so a second process, or tomorrow's notebook,
can load them from disk instead.

JAX only, for now: JAX keys each compiled executable by its program, the jax
and jaxlib versions, the device and the compiler flags, and loads it back on a
match. (On TensorFlow, W1's compilation is a smaller share of its time.)

With the cache on, skkeras also keeps the traced programs of packs (see
:func:`lowered`) as serialised StableHLO (``jax.export``), so a new process
skips tracing Keras's layers too (W1: 0.3 s of a 1.7 s search). Only for
models made of Keras's own layers, losses and metrics: their configuration
then determines the traced program, so it can key it.

Opt-in, because it writes to disk and, as JAX warns, a compilation cache is
trusted code: never point it at a folder that others can write to. Either call
:func:`enable_compilation_cache`, or set ``SKKERAS_COMPILATION_CACHE`` (to a folder,
or to ``1`` for :func:`default_cache_directory`) before importing skkeras.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import keras
import numpy as np

from . import __version__

#: The environment variable read when skkeras is imported.
ENVIRONMENT_VARIABLE = "SKKERAS_COMPILATION_CACHE"


def default_cache_directory() -> Path:
    """``$XDG_CACHE_HOME/skkeras/xla`` (``~/.cache/skkeras/xla`` by default)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "skkeras" / "xla"


def enable_compilation_cache(directory: str | os.PathLike[str] | None = None) -> Path:
    """Keep every program JAX compiles from now on in ``directory``, and load programs
    compiled by earlier processes from there; the folder used.

    ``directory`` defaults to :func:`default_cache_directory`; it is created
    readable by its owner only. Every compiled program is kept, however quickly it
    compiled: JAX keeps only those that took over a second by default, which
    none of a small network's programs do, yet together they make up the
    compilation time of a search.

    Raises ``ValueError`` on a backend other than JAX.
    """
    if keras.backend.backend() != "jax":
        raise ValueError(
            "the persistent compilation cache needs the JAX backend (KERAS_BACKEND=jax); "
            f"this process runs Keras on {keras.backend.backend()!r}"
        )
    import jax
    from jax.experimental.compilation_cache import compilation_cache

    folder = Path(directory if directory is not None else default_cache_directory()).expanduser()
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)
    compilation_cache.set_cache_dir(str(folder))
    # JAX opens its cache once, at the first compilation after a folder is set: a
    # process that already opened another folder must be told to open this one.
    compilation_cache.reset_cache()
    global _directory
    _directory = folder
    return folder


#: The folder of the cache this process enabled, if any.
_directory: Path | None = None

#: Bumped whenever what a traced program's key covers changes.
_TRACED_FORMAT = 1


def lowered(function: Any, arguments: tuple[Any, ...], recipe: Mapping[str, Any] | None) -> Any:
    """``function.lower(*arguments)`` for a ``jax.jit`` function, or, with the cache on
    and a ``recipe``, the same program as traced and saved by an earlier process.

    ``recipe`` must determine what ``function`` computes (for skkeras's programs:
    the Keras-only architecture and compile configuration, see
    :func:`skkeras.engine.exportable_key`); the file's key adds the argument
    shapes and dtypes, the versions of skkeras (and the source of its engine),
    Keras, JAX and jaxlib, Keras's settings and JAX's numerics flags. A file that
    cannot be read is traced again and replaced. The program is always compiled
    from its exported form, so the process that traces it and those that load it
    run the same program.
    """
    if _directory is None or recipe is None:
        return function.lower(*arguments)
    import jax
    import jax.export

    folder = _directory / "skkeras-traced"
    path = folder / f"{_traced_key(recipe, arguments)}.stablehlo"
    try:
        exported = jax.export.deserialize(bytearray(path.read_bytes()))
    except Exception:  # not saved yet, or unreadable: trace it (again)
        exported = jax.export.export(function)(*arguments)
        _write_atomically(path, exported.serialize())
    return jax.jit(exported.call).lower(*arguments)


def _traced_key(recipe: Mapping[str, Any], arguments: tuple[Any, ...]) -> str:
    import jax
    import jaxlib

    from . import engine

    leaves, structure = jax.tree_util.tree_flatten(arguments)
    facts = {
        "format": _TRACED_FORMAT,
        "skkeras": __version__,
        "engine": _source_hash(Path(engine.__file__).parent),
        "keras": keras.__version__, "jax": jax.__version__, "jaxlib": jaxlib.__version__,
        "keras_settings": [keras.backend.backend(), keras.config.floatx(), keras.config.epsilon(),
                           keras.config.dtype_policy().name, keras.config.image_data_format()],
        "jax_settings": [jax.default_backend(), bool(jax.config.jax_enable_x64),
                         str(jax.config.jax_default_matmul_precision)],
        "recipe": recipe,
        "arguments": [str(structure), [(list(np.shape(a)), str(np.result_type(a))) for a in leaves]],
    }
    return hashlib.sha256(json.dumps(facts, sort_keys=True, default=repr).encode()).hexdigest()


@functools.cache
def _source_hash(package: Path) -> str:
    """A hash of every module of ``package`` (the engine's programs are traced from them)."""
    digest = hashlib.sha256()
    for module in sorted(package.glob("*.py")):
        digest.update(module.name.encode() + b"\0" + module.read_bytes())
    return digest.hexdigest()


def _write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` whole or not at all: processes may share the folder."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def enable_from_environment() -> Path | None:
    """Enable the cache if ``SKKERAS_COMPILATION_CACHE`` asks for it; the folder, or None."""
    value = os.environ.get(ENVIRONMENT_VARIABLE, "").strip()
    if value.lower() in ("", "0", "false", "no", "off"):
        return None
    if keras.backend.backend() != "jax":
        return None  # the variable may be set for every backend's processes
    return enable_compilation_cache(None if value.lower() in ("1", "true", "yes", "on") else value)
