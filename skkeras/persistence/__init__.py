"""Pickling, and saving to / loading from ``.h5`` and ``.keras`` files.

Two ways to keep a fitted estimator:

* ``pickle`` / ``joblib`` / ``copy.deepcopy`` (:mod:`.pickling`) work on estimators
  and on whole Pipelines and searches. Unpickling runs code named in the file: use
  it for files you made yourself.
* :func:`save` / :func:`load` write and read one file that Keras itself can open:
  ``.h5`` (Keras's HDF5 layout, plus a JSON dataset ``skkeras_state``) or ``.keras``
  (Keras's zip format, plus a JSON member ``skkeras.json``). Loading is safe by
  construction: the JSON is read into a fixed schema (:mod:`.schema`, :mod:`.codec`), references to
  code resolve only if trusted (:mod:`.trust`), Keras's ``safe_mode`` stays on, and
  nothing is unpickled or imported. :func:`untrusted_references` lists what a file
  names before you trust it.

Writes are atomic and clean up after interrupted saves (:mod:`.atomic`).
"""

from __future__ import annotations

from .files import (
    H5_STATE_DATASET,
    H5_SUFFIXES,
    KERAS_STATE_MEMBER,
    KERAS_SUFFIX,
)
from .loading import load, save, untrusted_references
from .pickling import PersistenceMixin
from .state import FORMAT_NAME, FORMAT_VERSION, ModelFileError
from .trust import UnrestoredParam

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "H5_STATE_DATASET",
    "H5_SUFFIXES",
    "KERAS_STATE_MEMBER",
    "KERAS_SUFFIX",
    "ModelFileError",
    "PersistenceMixin",
    "UnrestoredParam",
    "load",
    "save",
    "untrusted_references",
]
