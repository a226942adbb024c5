"""What skkeras reads from a file must lie in the file, within a size, before it is read.

Keras checks the model weights it reads; skkeras reads three things itself (its state,
the ``.h5`` optimizer variables and a ``.keras`` archive's ``config.json``), and a hostile
file could otherwise make those reads fetch another local file (an HDF5 external link,
external raw storage or a virtual dataset, whose bytes would go out again in the next
save), block on a FIFO, or decompress gigabytes from a few kilobytes. Each function
raises a ``ValueError`` saying what is wrong; the callers turn it into
:class:`~skkeras.persistence.state.ModelFileError` or a warning.
"""

from __future__ import annotations

import math
import zipfile
from typing import Any

#: The largest ``config.json`` of a ``.keras`` archive skkeras reads (Keras's own limit is 4 GiB).
MAX_CONFIG_BYTES = 64 * 2**20


def h5_stored_dataset(group: Any, name: str, max_bytes: int) -> Any:
    """The dataset at ``name`` (a path below ``group``), stored in this file, of at most
    ``max_bytes`` as declared by its shape and type, checked without reading it."""
    import h5py

    node = h5_stored_node(group, name)
    if not isinstance(node, h5py.Dataset):
        raise ValueError(f"{name!r} is not a dataset")
    if node.is_virtual or node.external:
        raise ValueError(f"{name!r} takes its values from another file (external or virtual storage)")
    declared = node.dtype.itemsize * math.prod(node.shape or ())
    if declared > max_bytes:
        raise ValueError(f"{name!r} declares {declared} bytes, more than the {max_bytes} expected")
    return node


def h5_stored_node(group: Any, name: str) -> Any:
    """The group or dataset at ``name``, reached through hard links only (an external or
    soft link may lead into another file, or to a FIFO that blocks the read)."""
    import h5py

    node = group
    for part in name.strip("/").split("/"):
        link = node.get(part, getlink=True)
        if link is None:
            raise ValueError(f"{name!r} is missing")
        if not isinstance(link, h5py.HardLink):
            raise ValueError(f"{name!r} is a link ({type(link).__name__}), not data stored in the file")
        node = node[part]
    return node


def zip_member(archive: zipfile.ZipFile, name: str, max_bytes: int) -> bytes:
    """A member's bytes, refused if its header declares more than ``max_bytes`` (zipfile
    never yields more than the declared size, and checks the CRC at its end)."""
    check_zip_member(archive, name, max_bytes)
    return archive.read(name)


def check_zip_member(archive: zipfile.ZipFile, name: str, max_bytes: int) -> None:
    """Refuse a member whose header declares more than ``max_bytes``, before Keras reads it."""
    if name in archive.namelist() and archive.getinfo(name).file_size > max_bytes:
        raise ValueError(f"the member {name!r} declares more than {max_bytes} bytes")
