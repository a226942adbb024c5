"""A persistent cache of compiled programs, so that a new process does not compile again.

A search on a small tabular problem spends more time compiling its training
programs with XLA than running them (W1 on JAX: about 3 s of compilation for
1.6 s of training). The programs depend only on the architecture, the batch
plan and the library versions, so a second process, or tomorrow's notebook,
can load them from disk instead.

JAX only, for now: JAX keys each compiled executable by its program, the jax
and jaxlib versions, the device and the compiler flags, and loads it back on a
match. (On TensorFlow, W1's compilation is a smaller share of its time.)

Opt-in, because it writes to disk and, as JAX warns, a compilation cache is
trusted code: never point it at a folder that others can write to. Either call
:func:`enable_compilation_cache`, or set ``SKKERAS_COMPILATION_CACHE`` (to a folder,
or to ``1`` for :func:`default_cache_directory`) before importing skkeras.
"""

from __future__ import annotations

import os
from pathlib import Path

import keras

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
    return folder


def enable_from_environment() -> Path | None:
    """Enable the cache if ``SKKERAS_COMPILATION_CACHE`` asks for it; the folder, or None."""
    value = os.environ.get(ENVIRONMENT_VARIABLE, "").strip()
    if value.lower() in ("", "0", "false", "no", "off"):
        return None
    if keras.backend.backend() != "jax":
        return None  # the variable may be set for every backend's processes
    return enable_compilation_cache(None if value.lower() in ("1", "true", "yes", "on") else value)
