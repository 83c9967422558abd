"""Atomic file writes: the content goes to a new temporary file beside the target, which is then renamed over it.

``os.replace`` within one directory is atomic (POSIX ``rename(2)``; ``MoveFileEx`` on Windows), so a reader sees
the old file or the new one, never a half-written one, and an interruption leaves at most a temporary file whose
name starts with a dot and ends in ``.tmp`` (or ``.tmp`` + the target's suffix, for writers that pick a format by
suffix).

Permissions. The temporary file is created exclusively by :func:`tempfile.mkstemp` (it cannot be an existing file
of anyone's), which gives it mode 0600. ``private=True`` keeps that mode (the derivation cache's pickles, the
generated kernels: files a process loads and runs); ``private=False`` gives the file what ``open()`` would have
given a new file, ``0666 & ~umask`` (outputs meant to be read: the report, a sweep's results).

Used by :mod:`analysis.cache`, :mod:`numerics.compile`, :mod:`numerics.report` and :mod:`numerics.nn`.
"""
from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

from .errors import OutputError, UserInputError


def umask() -> int:
    """The process's umask. Read from ``/proc/self/status`` where that exists (Linux), since the portable way,
    setting it and restoring it, changes it for a moment for every thread of the process."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _staging_path(target: Path, suffix: str, private: bool) -> Path:
    """A new, empty file beside ``target``, ``.STEM.XXXXXXXX{suffix}``, created exclusively, with mode 0600
    (``private``) or ``0666 & ~umask`` (module docstring)."""
    target = Path(target)
    handle, staged = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=suffix, dir=target.parent)
    os.close(handle)
    if not private:
        os.chmod(staged, 0o666 & ~umask())
    return Path(staged)


@contextmanager
def replacing(target, suffix: str = ".tmp", private: bool = True):
    """``with replacing(target) as staged:`` write the new file at ``staged`` (a new file beside ``target``,
    ``.STEM.XXXXXXXX{suffix}``, mode as in the module docstring); on a normal exit it is renamed over ``target``,
    on an exception (``OSError``, ``KeyboardInterrupt``, ...) it is removed and ``target`` is untouched. What the
    block does after writing (e.g. recording the new file's hash) happens before the rename."""
    target = Path(target)
    staged = _staging_path(target, suffix, private)
    try:
        yield staged
        os.replace(staged, target)
    except BaseException:
        staged.unlink(missing_ok=True)
        raise


def write_atomic(target, data: bytes | str, private: bool = True, suffix: str = ".tmp") -> Path:
    """Write ``data`` (bytes, or text as UTF-8) to ``target`` atomically (:func:`replacing`). Raises ``OSError``
    as ``open`` would; no temporary file is left behind either way."""
    with replacing(target, suffix, private) as staged:
        staged.write_bytes(data.encode() if isinstance(data, str) else data)
    return Path(target)


def check_writable(target, option: str = "") -> Path:
    """``target`` as a path, once a new file can be created beside it: its directory exists (else a
    :class:`UserInputError`, the path is wrong) and accepts a new file (else an :class:`OutputError`: read-only,
    no permission, full). Called before any work, so that a run is not computed only to be lost."""
    target = Path(target)
    name = f"{option} {target}" if option else str(target)
    if not target.parent.is_dir():
        raise UserInputError(f"cannot write {name}: directory {target.parent} does not exist")
    if target.is_dir():
        raise UserInputError(f"cannot write {name}: it is a directory")
    try:
        _staging_path(target, ".probe", private=True).unlink()
    except OSError as error:
        raise OutputError(f"cannot write {name}: {error.strerror or error}") from None
    return target


@contextmanager
def exclusive(target, option: str = "", lock_path=None, kind: str = "file"):
    """Hold an exclusive lock on ``target`` for the body (``flock`` on ``lock_path``, by default ``.NAME.lock``
    beside it; released when the process ends, however it ends): a second writer of the same ``kind`` of output
    (a file, a directory, a store) is refused at once with an :class:`OutputError` instead of overwriting the
    first one's results."""
    target = Path(target)
    lock_path = Path(lock_path) if lock_path is not None else target.parent / f".{target.name}.lock"
    name = f"{option + ' ' if option else ''}{target}"
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: no lock
        yield
        return
    try:
        handle = os.open(lock_path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600)
    except OSError as error:
        raise OutputError(f"cannot write {name}: {error.strerror or error}") from None
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise OutputError(f"{name} is being written by another process; wait for it to finish or use another "
                              f"{kind}") from None
        yield
    finally:
        os.close(handle)  # releases the lock; the lock file stays (removing it would race with a new writer)


def write_output(target, data: bytes | str, option: str = "") -> Path:
    """Write a user's output file atomically (:func:`write_atomic`, mode ``0666 & ~umask``): never a 0-byte or half
    file. A missing directory is a :class:`UserInputError` (the path is wrong); a failed write (full disk,
    read-only) an :class:`OutputError`, with the old file, if any, untouched."""
    target = Path(target)
    if not target.parent.is_dir():
        raise UserInputError(f"cannot write {option + ' ' if option else ''}{target}: directory {target.parent} "
                             "does not exist")
    try:
        return write_atomic(target, data, private=False)
    except OSError as error:
        raise OutputError(f"cannot write {option + ' ' if option else ''}{target}: {error.strerror or error}") \
            from None
