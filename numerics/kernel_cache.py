"""numba's on-disk cache of the generated kernels, with every file signed (:mod:`analysis.signing`).

numba keeps the machine code of a ``cache=True`` function in two kinds of files beside its source
(``__pycache__``): an index ``<module>.<function>-<line>.pyXY.nbi`` (a pickle of numba's version, then a pickle
of the source stamp and a map from signatures to data files) and data files ``....N.nbc`` (a pickle of the
compiled library); ``numba.core.caching.IndexDataCacheFile`` reads both with plain ``pickle``. So anyone who can
write the cache directory could make the next compiled run execute a pickle of theirs. Here every such file is
written as

    ``sharpness-dynamics signed numba cache\\n`` + hex HMAC-SHA256 (64 bytes) + ``\\n`` + numba's bytes

and read only if it is a regular file of at most :data:`MAX_FILE_BYTES` whose MAC (bound to the file's name)
verifies; anything else is a miss (one line on stderr, the file removed): numba compiles the kernel again and
overwrites it. :class:`SignedFunctionCache` is numba's ``FunctionCache`` with that file class, attached by
:func:`attach` to each dispatcher of a kernel module (the module itself is written with ``cache=False``, so numba
never creates an unsigned cache for it).

This uses numba's documented cache internals (``numba.core.caching``: ``FunctionCache``, ``IndexDataCacheFile``
and its ``_load_index``/``_save_index``/``_load_data``/``_save_data``); if a numba version lacks them,
:func:`attach` leaves the kernels without a disk cache (compiled in every process), never with an unsigned one.
"""
from __future__ import annotations

import contextlib
import io
import os
import pickle
import sys

from analysis import signing

MAGIC = b"sharpness-dynamics signed numba cache\n"
MAC_KIND = "numba-cache"
# The largest cache file read: the largest real one (a parallel kernel's machine code) is ~0.2 MB.
MAX_FILE_BYTES = 64 * 1024 ** 2
_MAC_LENGTH = 64  # hex digits of SHA-256


def _signed_file_class():
    from numba.core.caching import IndexDataCacheFile, _cache_log

    class SignedIndexDataCacheFile(IndexDataCacheFile):
        """numba's index and data files, each behind an HMAC of its content and name (module docstring)."""

        def _read_verified(self, path):
            """numba's bytes of ``path`` once the file verifies; ``None`` for a missing or rejected file."""
            name = os.path.basename(path)
            try:
                data = signing.read_entry(path, MAX_FILE_BYTES)
            except (FileNotFoundError, NotADirectoryError):
                return None
            except signing.UntrustedEntry as error:
                return _reject(path, str(error))
            head = len(MAGIC) + _MAC_LENGTH + 1
            if not data.startswith(MAGIC) or data[head - 1:head] != b"\n":
                return _reject(path, "not a signed cache file")
            try:
                signing.verify(MAC_KIND, name, data[head:], data[len(MAGIC):head - 1].decode("ascii"))
            except (signing.UntrustedEntry, UnicodeDecodeError) as error:
                return _reject(path, str(error))
            return data[head:]

        def _write_signed(self, path, data: bytes):
            signature = signing.mac(MAC_KIND, os.path.basename(path), data).encode("ascii")
            try:
                with self._open_for_write(path) as out:  # numba's own temporary file + os.replace
                    out.write(MAGIC + signature + b"\n" + data)
            except OSError:
                return  # a full disk, a directory in the way: an unwritable cache only costs speed
            _cache_log("[cache] %s saved to %r", "index" if path == self._index_path else "data", path)

        def _load_index(self):
            data = self._read_verified(self._index_path)
            if data is None:
                return {}
            stream = io.BytesIO(data)
            if pickle.load(stream) != self._version:  # verified: written by this user's numba
                return {}
            stamp, overloads = pickle.loads(stream.read())
            _cache_log("[cache] index loaded from %r", self._index_path)
            return overloads if stamp == self._source_stamp else {}

        def _save_index(self, overloads):
            self._write_signed(self._index_path, pickle.dumps(self._version, protocol=-1)
                               + self._dump((self._source_stamp, overloads)))

        def _load_data(self, name):
            path = self._data_path(name)
            data = self._read_verified(path)
            if data is None:
                return None
            _cache_log("[cache] data loaded from %r", path)
            return pickle.loads(data)

        def _save_data(self, name, data):
            self._write_signed(self._data_path(name), self._dump(data))

    return SignedIndexDataCacheFile


def _signed_cache_class():
    from numba.core.caching import FunctionCache

    file_class = _signed_file_class()

    class SignedFunctionCache(FunctionCache):
        """numba's per-function cache whose index and data files are signed (module docstring)."""

        def __init__(self, py_func):
            super().__init__(py_func)
            self._cache_file = file_class(cache_path=self._cache_path, filename_base=self._impl.filename_base,
                                          source_stamp=self._impl.locator.get_source_stamp())

    return SignedFunctionCache


def attach(namespace: dict) -> bool:
    """Give every numba dispatcher in ``namespace`` (a kernel module's globals) a :class:`SignedFunctionCache`.
    False (and no disk cache) where the user's secret is not stored or numba's cache classes are not as
    expected."""
    if not signing.persistent():
        return False
    try:
        from numba.core.dispatcher import Dispatcher

        cache_class = _signed_cache_class()
        dispatchers = [value for value in namespace.values() if isinstance(value, Dispatcher)]
        caches = [cache_class(dispatcher.py_func) for dispatcher in dispatchers]
    except (ImportError, AttributeError, TypeError, RuntimeError, OSError):
        return False  # another numba's internals, or no locator for the file: compiled in memory
    for dispatcher, cache in zip(dispatchers, caches):
        dispatcher._cache = cache
    return True


def _reject(path, reason: str) -> None:
    reason = " ".join(reason.split())[:200]
    with contextlib.suppress(OSError, ValueError):
        print(f"sharpness: kernel cache file {path} failed verification ({reason}); recompiling", file=sys.stderr)
    with contextlib.suppress(OSError):
        os.unlink(path)
    return None
