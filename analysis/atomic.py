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
