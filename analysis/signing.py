r"""What the cache directory holds is trusted only when it carries a MAC made with a key that is not in it.

Everything a process loads back from ``$SHARPNESS_CACHE_DIR`` runs code in the end: the derivation cache's
pickles (:mod:`analysis.cache`), the generated kernel modules and numba's index (``*.nbi``) and machine-code
(``*.nbc``) files beside them (:mod:`numerics.compile`, :mod:`numerics.kernel_cache`). A checksum stops corruption
but not a crafted file, since whoever can write the file can compute it. So every such file carries
:math:`\mathrm{HMAC\text{-}SHA256}(K, \text{kind} \,\|\, 0 \,\|\, \text{name} \,\|\, 0 \,\|\, \text{data})` (RFC 2104)
with a per-user secret :math:`K` kept outside the cache, and is read only after that MAC verifies: someone who
can write the cache but not read :math:`K` cannot make a file the toolkit will load. ``kind`` and ``name`` bind a
MAC to one role and one file name, so a valid file cannot be moved into another's place either.

The secret: 32 random bytes in :func:`secret_path` (``$SHARPNESS_SECRET_FILE``, else
``$XDG_CONFIG_HOME/sharpness-dynamics/cache-secret``, else ``~/.config/sharpness-dynamics/cache-secret``),
created on first use with mode 0600 in a directory of mode 0700 (by a hard link of a finished temporary file, so
that two processes starting at once agree on one secret and never read a half-written one). A secret file that is
not a regular file of this user's, or that others may read or write, is not used. Where no secret can be read or
created, the process uses a random key of its own: the disk cache then never verifies (and is neither read nor
written), which costs speed only; one line on stderr says so.

Reading. :func:`read_entry` opens a cache file without following a symbolic link and without blocking (a FIFO
must not hang the reader), and reads it only if it is a regular file of at most ``limit`` bytes: a device, a FIFO,
a link (to ``/dev/zero``, or out of the directory) or an oversized file is skipped before a byte is read.
"""
from __future__ import annotations

import contextlib
import functools
import hmac
import os
import stat
import sys
import tempfile
from pathlib import Path

SECRET_BYTES = 32  # the key length of HMAC-SHA256's block-sized security (RFC 2104: at least the output length)
SECRET_ENVIRONMENT = "SHARPNESS_SECRET_FILE"


class UntrustedEntry(Exception):
    """A cache file that is not read (not a regular file, too large, unreadable) or whose MAC fails; the message is
    the reason shown to the user."""


def secret_path() -> Path:
    """Where the per-user secret lives (module docstring)."""
    chosen = os.environ.get(SECRET_ENVIRONMENT)
    if chosen:
        return Path(chosen)
    config = os.environ.get("XDG_CONFIG_HOME")
    base = Path(config) if config and os.path.isabs(config) else Path.home() / ".config"
    return base / "sharpness-dynamics" / "cache-secret"


@functools.lru_cache(maxsize=None)
def _secret_at(path: Path) -> tuple:
    """``(key, persistent)`` for ``path``: the stored secret (created if missing), else a random key of this process
    (``persistent`` False) after one line on stderr."""
    try:
        return _read_secret(path), True
    except FileNotFoundError:
        pass
    except UntrustedEntry as error:
        return _ephemeral(f"the cache secret {path} is not used ({error})")
    try:
        return _create_secret(path), True
    except (OSError, UntrustedEntry) as error:
        reason = getattr(error, "strerror", None) or str(error)
        return _ephemeral(f"cannot create the cache secret {path} ({reason})")


def _ephemeral(reason: str) -> tuple:
    with contextlib.suppress(OSError, ValueError):
        print(f"sharpness: {reason}; the on-disk cache is not used (set {SECRET_ENVIRONMENT} to a private file)",
              file=sys.stderr)
    return os.urandom(SECRET_BYTES), False


def _read_secret(path: Path) -> bytes:
    data = read_entry(path, 4 * SECRET_BYTES)
    info = os.stat(path, follow_symlinks=False)
    if hasattr(os, "getuid") and info.st_uid != os.getuid():
        raise UntrustedEntry("owned by another user")
    if info.st_mode & 0o077:
        raise UntrustedEntry(f"mode {stat.S_IMODE(info.st_mode):04o}: others may read or change it")
    if len(data) < SECRET_BYTES:
        raise UntrustedEntry(f"{len(data)} bytes, expected {SECRET_BYTES}")
    return data


def _create_secret(path: Path) -> bytes:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    handle, staged = tempfile.mkstemp(prefix=".cache-secret.", dir=path.parent)  # mode 0600
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(os.urandom(SECRET_BYTES))
            out.flush()
            os.fsync(out.fileno())
        with contextlib.suppress(FileExistsError):  # another process was first: its secret is the one
            os.link(staged, path)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(staged)
    return _read_secret(path)


def secret() -> tuple:
    """``(key, persistent)``: the per-user secret, and whether it is the stored one (module docstring)."""
    return _secret_at(secret_path())


def persistent() -> bool:
    """Whether the disk cache can be used: the secret is stored, so a MAC written now verifies in a later
    process."""
    return secret()[1]


def mac(kind: str, name: str, data: bytes) -> str:
    """The hex HMAC-SHA256 of ``data`` in role ``kind`` under file name ``name`` (module docstring)."""
    message = hmac.new(secret()[0], f"{kind}\0{name}\0".encode(), "sha256")
    message.update(data)
    return message.hexdigest()


def verify(kind: str, name: str, data: bytes, claimed) -> None:
    """Raise :class:`UntrustedEntry` unless ``claimed`` is the MAC of ``data`` (compared in constant time)."""
    if not isinstance(claimed, str) or not hmac.compare_digest(mac(kind, name, data), claimed):
        raise UntrustedEntry("not signed with this user's cache secret")


def read_entry(path, limit: int) -> bytes:
    """The bytes of cache file ``path`` if it is a regular file (not a link) of at most ``limit`` bytes.

    Raises ``FileNotFoundError`` for a missing file (a plain miss) and :class:`UntrustedEntry` for anything else
    that is not read: a symbolic link, a FIFO, a device, a directory, an oversized or unreadable file. Opening with
    ``O_NONBLOCK`` keeps a FIFO from blocking the open; nothing is read before the checks."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        handle = os.open(path, flags)
    except FileNotFoundError:
        raise
    except OSError as error:
        if os.path.islink(path):
            raise UntrustedEntry("a symbolic link") from None
        raise UntrustedEntry(f"unreadable: {error.strerror or error}") from None
    try:
        info = os.fstat(handle)
        if not stat.S_ISREG(info.st_mode):
            raise UntrustedEntry("not a regular file")
        if info.st_size > limit:
            raise UntrustedEntry(f"{info.st_size} bytes, more than the {limit} an entry may have")
    except BaseException:
        os.close(handle)
        raise
    with os.fdopen(handle, "rb") as opened:
        data = opened.read(limit + 1)
    if len(data) > limit:  # grew while being read
        raise UntrustedEntry(f"more than the {limit} bytes an entry may have")
    return data
