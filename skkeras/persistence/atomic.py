"""Atomic writes: a temporary file next to the target, renamed over it once complete.

A save writes to ``.<target name>.skkeras-tmp-<pid>-<random><suffix>`` and renames
it over the target only once complete. A writer killed mid-save (SIGKILL, power
loss) leaves its temporary file behind: the next save to the same path removes
those whose process is gone or that are older than :data:`STALE_AFTER_S`, and
loading refuses to read one. A full disk is an ``OSError`` (``errno.ENOSPC``) that
says "no space left on device" and names the path, for both formats (HDF5 reports
it as an odd ``RuntimeError``).
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import shutil
import stat
import time
from collections.abc import Callable
from pathlib import Path

#: A temporary file older than this is stale even if a process with its pid runs.
STALE_AFTER_S = 3600
TEMP_MARK = ".skkeras-tmp-"
_TEMP_NAME = re.compile(r"^\.(?P<name>.+)\.skkeras-tmp-(?P<pid>\d+)-(?P<token>[0-9a-f]+)(?P<suffix>\.[^.]+)$")

PathLike = str | os.PathLike


def temp_path(target: Path) -> str:
    """A fresh temporary name next to ``target``, keeping its suffix (Keras's writers check it)."""
    return str(target.parent / (
        f".{target.name}{TEMP_MARK}{os.getpid()}-{secrets.token_hex(6)}{target.suffix.lower()}"
    ))


def is_temp_file(path: PathLike) -> bool:
    return bool(_TEMP_NAME.match(os.path.basename(os.fspath(path))))


def remove_stale_temp_files(target: Path, now: float | None = None) -> list[str]:
    """Remove the temporary files of earlier, interrupted saves to ``target``.

    A temporary file is stale when the process that wrote it is gone (its pid is in
    the name) or when it is older than :data:`STALE_AFTER_S` (a process on another
    machine, or a reused pid). Returns the names removed.
    """
    now = time.time() if now is None else now
    prefix = f".{target.name}{TEMP_MARK}"
    removed = []
    try:
        entries = list(os.scandir(target.parent))
    except OSError:
        return removed
    for entry in entries:
        match = _TEMP_NAME.match(entry.name)
        if not entry.name.startswith(prefix) or match is None or match["name"] != target.name:
            continue
        try:
            if not entry.is_file(follow_symlinks=False):
                continue
            old = now - entry.stat(follow_symlinks=False).st_mtime > STALE_AFTER_S
        except OSError:
            continue
        pid = int(match["pid"])
        if old or (pid != os.getpid() and not _process_alive(pid)):
            with contextlib.suppress(OSError):
                os.unlink(entry.path)
                removed.append(entry.name)
    return removed


def _process_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True  # another user's process, or cannot tell: keep its file
    return True


def atomic_write(target: Path, write: Callable[[str], None]) -> None:
    """Write through ``write(tmp_path)`` to a temporary file next to ``target``, then rename."""
    directory = target.parent
    if not directory.is_dir():
        raise FileNotFoundError(f"Cannot save to {str(target)!r}: the directory {str(directory)!r} does not exist.")
    if target.is_dir():
        raise IsADirectoryError(f"Cannot save to {str(target)!r}: it is a directory.")
    remove_stale_temp_files(target)
    tmp = temp_path(target)
    try:
        # Reserve the name (O_EXCL) with the permissions a new file normally gets.
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        try:
            write(tmp)
            _fsync(tmp)
            if target.exists():  # a file saved over keeps its permissions (a 0600 stays 0600)
                os.chmod(tmp, stat.S_IMODE(os.stat(target).st_mode))
        except Exception as error:
            full = disk_full_error(error, target, directory)
            if full is not None:
                raise full from error
            raise
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # durability of the rename, where the OS allows it
        descriptor = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


def _fsync(path: str) -> None:
    with open(path, "rb+") as f:
        f.flush()
        os.fsync(f.fileno())


_FULL_ERRNOS = {errno.ENOSPC: "no space left on device", errno.EDQUOT: "no space left on device "
                "(disk quota exceeded)", errno.EFBIG: "the file is larger than this process may "
                "write (file too large)"}
_FULL_TEXTS = (("no space left on device", errno.ENOSPC), ("errno = 28", errno.ENOSPC),
               ("disk quota exceeded", errno.EDQUOT), ("file too large", errno.EFBIG),
               ("errno = 27", errno.EFBIG))


def disk_full_error(error: BaseException, target: Path, directory: Path) -> OSError | None:
    """An ``OSError`` saying the disk is full, if ``error`` (or what caused it) means so.

    HDF5 reports a full disk as ``RuntimeError: Can't destroy cache (slist already
    enabled?)`` or a ``OSError`` whose text holds "errno = 28"; where the error says
    nothing, a directory with almost no free space is taken as the cause.
    """
    code = None
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen and code is None:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in _FULL_ERRNOS:
            code = current.errno
        else:
            text = str(current).lower()
            code = next((c for t, c in _FULL_TEXTS if t in text), None)
        current = current.__cause__ or current.__context__
    if code is None and isinstance(error, OSError | RuntimeError):
        with contextlib.suppress(OSError):
            if shutil.disk_usage(directory).free < 64 * 2**10:
                code = errno.ENOSPC
    if code is None:
        return None
    return OSError(code, f"Cannot save to {str(target)!r}: {_FULL_ERRNOS[code]} "
                         f"({type(error).__name__}: {error})", str(target))
