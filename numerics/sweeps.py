r"""Parameter sweeps over one or two axes, tiled, computed on Dask and stored in Zarr; interrupted sweeps resume.

A sweep evaluates one measure on a grid of values of one or two names, each a model parameter or a state
variable (its initial value), e.g. ``lam`` at ``eta = 1`` for the :math:`\eta\lambda_0` axis of a phase diagram.
The grid is cut into tiles (default 16 x 16); each tile is a Dask task (:func:`compute_tile`) that compiles the
model once per worker and runs all its points as lanes of the compiled kernels. The driver alone writes to the
store, one chunk-aligned region per finished tile, then marks the tile done in ``tile_done``; a rerun with the same
specification skips done tiles, so an interrupted sweep loses nothing and recomputes nothing.

Measures
    ``outcome`` (codes into :data:`numerics.classify.OUTCOMES`), ``period`` (0 if none), ``final-sharpness``,
    ``lyapunov`` (largest exponent, Benettin), ``regime`` (the characteristic regime of the run, codes into
    :data:`REGIME_ORDER`: divergence if it diverged, else catapult if one occurred, else edge of stability, else
    progressive sharpening, else early sharpness reduction, else intermediate saturation).

Store layout (an xarray Dataset in Zarr): the measure as a variable over the axis coordinates, chunked by tile
(one chunk file per tile, written even when all NaN, so that a done tile without its chunk is known to be lost);
``tile_done`` over the tile grid, one chunk per tile; attributes: the sweep specification (JSON) and its hash
``sweep_hash``.

Robustness (what a rerun finds, and what it does)
    * A new store is created in a hidden temporary directory beside ``out`` and renamed into place, so an
      interrupted creation never leaves a half-created store at ``out``; it is created only after the Dask
      scheduler answered, so an unreachable scheduler leaves nothing behind.
    * An existing store is opened and checked: a store that cannot be opened, or that has no ``sweep_hash``, is
      refused (remove it or choose another ``--out``); one with another ``sweep_hash`` holds a different sweep and
      is refused. One with *this* sweep's hash but a missing or malformed array (a creation interrupted by an
      older version, a damaged copy) holds nothing that cannot be recomputed: it is recreated, with a warning
      line on stderr, provided it holds nothing but the store's own entries (else it is refused).
    * On resume, every tile marked done is read back; a tile whose chunk is missing or unreadable (garbage
      bytes, a decompression error), or whose mark itself cannot be read, is marked not done (its chunk files
      removed) and recomputed, with one warning line on stderr.
    * A scheduler is probed (a plain TCP connection, which must be answered by a Dask handshake within 5 s: a
      silent listener or an HTTP server is refused in one line) and then connected with a 5 s timeout before
      any work, and
      must have a worker within :data:`WORKER_TIMEOUT` seconds; a scheduler lost mid-sweep ends the sweep with
      one :class:`UserInputError`, the tiles written so far kept and marked (a tile is marked only after its
      values are written), so a rerun resumes.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import json
import logging
import math
import os
import shutil
import signal
import socket
import sys
import tempfile
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np

from analysis.atomic import exclusive
from analysis.errors import UserInputError, WrongTypeError
from analysis.values import to_count, to_floats, value_mapping

from .classify import REGIME_ORDER, characteristic_regime
from .axis import Axis


MEASURES = ("outcome", "period", "final-sharpness", "lyapunov", "regime")
CONNECT_TIMEOUT = 5.0  # seconds to reach a scheduler given by address
HANDSHAKE_TIMEOUT = 5.0  # seconds for a reached scheduler to send its handshake (it speaks first)
WORKER_TIMEOUT = 30.0  # seconds to wait for a scheduler given by address to have at least one worker
WORKER_SETUP = "numerics.worker_setup"  # preloaded by the worker processes of a local cluster
# Dask's configuration of the worker processes of a local cluster: a nanny starts its worker with
# MALLOC_TRIM_THRESHOLD_=65536 (distributed.nanny.pre-spawn-environ), so that glibc returns freed memory to the
# system at once; a training run allocates and frees small tensors at every step, and with that setting spends
# twice the CPU time (measured: 2.5 s against 1.3 s for 200 steps of the digits MLP on 256 examples), so the
# variable is left unset (glibc's default, a threshold that adapts).
WORKER_ENVIRONMENT = {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}


def compute_tile(job: dict) -> tuple:
    """One tile: ``(tile index, values)``; runs on a Dask worker (plain data in, plain data out)."""
    from analysis import DerivedModel

    from .classify import OUTCOMES
    from .iterated_map import IteratedMap

    derived = DerivedModel(job["model"], job["parameterization"], **job["options"])
    base = IteratedMap(derived, job["values"])
    compiled = base.compiled
    base_state = base.initial_state(job["initial"])
    grids = [np.asarray(g) for g in job["grids"]]
    index_ranges = [range(lo, hi) for lo, hi in job["ranges"]]
    points = [tuple(ix) for ix in np.ndindex(*[len(r) for r in index_ranges])]
    params = np.tile(base._params, (len(points), 1))
    starts = np.tile(base_state, (len(points), 1))
    for axis, (name, grid, offsets) in enumerate(zip(job["names"], grids, index_ranges)):
        column = np.array([grid[offsets[p[axis]]] for p in points])
        if name in compiled.parameter_names:
            params[:, compiled.parameter_names.index(name)] = column
        else:
            starts[:, compiled.state_names.index(name)] = column
    measure, steps = job["measure"], job["steps"]
    if measure in ("outcome", "period", "final-sharpness"):
        from .classify import TAIL

        orbits, classified = base._grid_states(starts, params, steps, 1, "a sweep tile", kept=min(TAIL, steps))
        if measure == "outcome":
            result = classified["code"].astype(float)
        elif measure == "period":
            result = classified["period"].astype(float)
        else:
            with np.errstate(all="ignore"):
                result = np.asarray(compiled.sharpness_numpy(*orbits[:, -1, :].T, *params.T), dtype=float)
            result[classified["code"] == OUTCOMES.index("diverged")] = np.nan
    elif measure == "lyapunov":
        result = np.empty(len(points))
        for lane in range(len(points)):
            logs, _, diverged = compiled.tangent_kernel(starts[lane], params[lane], min(1000, steps), steps)
            result[lane] = np.nan if diverged >= 0 else logs.mean(axis=0).max()
    else:
        result = np.empty(len(points))
        for lane in range(len(points)):
            lane_map = base.with_values(dict(zip(compiled.parameter_names, params[lane].tolist())))
            trajectory = lane_map.run(steps, init=dict(zip(compiled.state_names, starts[lane].tolist())))
            result[lane] = REGIME_ORDER.index(characteristic_regime(r.name for r in trajectory.regimes))
    shape = tuple(len(r) for r in index_ranges)
    return tuple(job["tile"]), result.reshape(shape)


def _specification(model, parameterization, options, values, initial, axes, measure, steps, tile) -> dict:
    return {"model": model, "parameterization": parameterization, "options": options, "values": values,
            "initial": initial, "axes": [[name, [float(v) for v in grid]] for name, grid in axes],
            "measure": measure, "steps": steps, "tile": list(tile)}


def _why(error: BaseException) -> str:
    """An exception as a short reason for a one-line message."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {text[:120]}" if text else type(error).__name__


def _warn(message: str) -> None:
    """A repair the toolkit made on its own (a recomputed tile, a recreated store): one line on stderr, so that a
    caller sees why a resumed sweep computes more than it expected."""
    print(f"sharpness: warning: {message}", file=sys.stderr)


# ------------------------------------------------------------------------------------------------------------------
# Dask


@contextmanager
def _quiet_distributed():
    """Silence distributed's (and its event loop's, tornado's) logging while it is in use: on a lost or refused
    connection it logs tracebacks on stderr, where the toolkit reports the failure itself, on one line. Child
    loggers are set one by one because dask's logging configuration gives some of them (``distributed.client``) their own level, set when
    distributed is first imported (hence the import first)."""
    import distributed  # noqa: F401

    names = ["distributed", "tornado"] + [name for name in logging.Logger.manager.loggerDict
                                          if name.startswith(("distributed.", "tornado."))]
    loggers = [logging.getLogger(name) for name in names]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL + 1)
    interrupted = False
    try:
        yield
    except KeyboardInterrupt:
        # Left quiet: the event loop's thread runs the callbacks the interrupt cut short (and logs their
        # failures, through tornado's loggers) after this block, until the process ends with status 130.
        interrupted = True
        raise
    finally:
        if not interrupted:
            for logger, level in zip(loggers, levels):
                logger.setLevel(level)


def _probe(scheduler: str) -> None:
    """Refuse an unreachable ``tcp://`` address at once: distributed retries a refused connection until its
    timeout, so a wrong port would otherwise cost the whole timeout. Other protocols are left to distributed."""
    address = scheduler if "://" in scheduler else "tcp://" + scheduler
    try:
        parts = urlsplit(address)
        host, port = parts.hostname, parts.port
    except ValueError:
        raise UserInputError(f"malformed Dask scheduler address {scheduler!r}; expected tcp://HOST:PORT") from None
    if parts.scheme != "tcp" or not host or port is None:
        return
    try:
        connection = socket.create_connection((host, port), timeout=CONNECT_TIMEOUT)
    except OSError as error:
        raise UserInputError(f"cannot reach the Dask scheduler at {scheduler}: "
                             f"{error.strerror or error}") from None
    with connection:
        _check_handshake(connection, scheduler)


def _check_handshake(connection: socket.socket, scheduler: str) -> None:
    """Refuse, in one line, a listener at ``scheduler`` that is not a Dask scheduler. A scheduler speaks first: on
    accepting a connection it writes its handshake (distributed's ``Comm`` handshake, a framed message), before
    reading anything. Silence for :data:`HANDSHAKE_TIMEOUT` seconds is a listener that is not one (distributed
    would wait for it past every timeout); asked for ``GET /`` then, an HTTP server (a dashboard's port, a web
    server) answers ``HTTP/...`` and is named as such. A text greeting (``SSH-2.0-...``) is not a handshake
    either: a Dask frame starts with its 8-byte little-endian count, whose high bytes are zero."""
    def first_bytes(seconds: float) -> bytes:
        connection.settimeout(seconds)
        try:
            return connection.recv(64)
        except socket.timeout:
            return b""
        except OSError as error:
            raise UserInputError(f"lost the Dask scheduler at {scheduler} during its handshake "
                                 f"({error.strerror or error})") from None

    greeting = first_bytes(HANDSHAKE_TIMEOUT)
    if greeting:
        if len(greeting) >= 8 and greeting[4:8] == b"\0\0\0\0":
            return
        shown = greeting.split(b"\n")[0][:40].decode("ascii", "backslashreplace").strip()
        raise UserInputError(f"{scheduler} is not a Dask scheduler: it greets with {shown!r} instead of a Dask "
                             "handshake")
    try:
        connection.sendall(b"GET / HTTP/1.0\r\n\r\n")
    except OSError:
        pass
    answer = first_bytes(1.0)
    if answer.startswith(b"HTTP/"):
        raise UserInputError(f"{scheduler} is an HTTP server, not a Dask scheduler (a scheduler listens on "
                             "tcp://HOST:8786 by default; 8787 is its dashboard)")
    raise UserInputError(f"{scheduler} accepted the connection but sent no Dask handshake within "
                         f"{HANDSHAKE_TIMEOUT:g} s; is a Dask scheduler listening there?")


def _client(scheduler: str | None, processes: int | None = None):
    """``(client, cluster)``: a client of the scheduler at ``scheduler``, checked to answer and to have a worker,
    or of a new local cluster (``cluster``, to be closed with the client): one process of threads, or
    ``processes`` single-threaded worker processes."""
    from distributed import Client, LocalCluster

    if scheduler:
        _probe(scheduler)
        try:
            client = Client(scheduler, timeout=f"{CONNECT_TIMEOUT:g}s")
        except (OSError, TimeoutError, ValueError) as error:
            raise UserInputError(f"cannot reach the Dask scheduler at {scheduler}: {error}".splitlines()[0]) from None
        try:
            client.wait_for_workers(1, timeout=WORKER_TIMEOUT)
        except TimeoutError:  # distributed's WorkerStartTimeoutError
            _close(client, None)
            raise UserInputError(f"the Dask scheduler at {scheduler} has no worker (waited {WORKER_TIMEOUT:g} s); "
                                 f"start one with: dask worker {scheduler}") from None
        except OSError as error:
            _close(client, None)
            raise UserInputError(f"lost the Dask scheduler at {scheduler} ({_why(error)})") from None
        return client, None
    # Without a dashboard the scheduler still serves /health on its HTTP port, by default 8787: taken by another
    # cluster, it warns on stderr, so ask for a free local port instead.
    quiet = {"dashboard_address": None, "scheduler_kwargs": {"dashboard_address": "127.0.0.1:0"}}
    if processes:
        # Worker processes (each behind a nanny that restarts it if it dies), for tasks that hold the GIL (a
        # small network's training is mostly Python); their own logging silenced like the driver's, and
        # SIGINT ignored in them (WORKER_SETUP): the driver answers Ctrl-C and closes the cluster. Without the
        # nanny's MALLOC_TRIM_THRESHOLD_ (WORKER_ENVIRONMENT).
        import dask

        _silent_resource_tracker()
        with dask.config.set(WORKER_ENVIRONMENT):
            cluster = LocalCluster(n_workers=processes, threads_per_worker=1, processes=True,
                                   silence_logs=logging.CRITICAL, preload=[WORKER_SETUP], **quiet)
        return Client(cluster), cluster
    # Threads, not processes: the kernels release the GIL (nogil), and one process compiles them once.
    cluster = LocalCluster(n_workers=1, threads_per_worker=os.cpu_count() or 1, processes=False, **quiet)
    return Client(cluster), cluster


def _silent_resource_tracker() -> None:
    """Start multiprocessing's resource tracker, the process that removes the semaphores of the nannies' queues if
    this process ends without removing them, with /dev/null as its standard error. It removes them all the same,
    but says so on its standard error ("leaked semaphore objects"), after the command's one line, when the command
    ends by ``os._exit`` (:mod:`numerics.cli`: an interrupt not answered within its grace period, on a loaded
    machine). A child inherits file descriptor 2 itself, so that is what is swapped, for the moment of the
    spawn (nothing else writes then: the cluster is not started yet); once started, the tracker serves the
    process, later clusters included."""
    from multiprocessing import resource_tracker

    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):
            pass
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 2)
            resource_tracker.ensure_running()
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _close(client, cluster) -> None:
    """Close quietly: closing after the scheduler was lost may fail too, and must not hide why the sweep ended."""
    for closable in (client, cluster):
        if closable is not None:
            try:
                closable.close()
            except Exception:  # noqa: BLE001,S110 - best effort; the reason the sweep ended is already raised
                pass


@contextmanager
def connect(scheduler: str | None = None, *, processes: int | None = None):
    """A Dask client for sweeps and network grids, ready before any work: the scheduler at ``scheduler`` (reached within
    :data:`CONNECT_TIMEOUT`, with a worker within :data:`WORKER_TIMEOUT`), or a local cluster (one process of
    threads; with ``processes``, that many single-threaded worker processes); closed on exit. :func:`execute`
    takes it as ``client=``, so that a caller running several sweeps (the report) connects once, before anything
    else, and fails at once on a wrong address."""
    with _quiet_distributed():
        client, cluster = _client(scheduler, processes)
        try:
            yield client
        except BaseException:
            if processes and cluster is not None:
                _stop_worker_processes(cluster)
            raise
        finally:
            _close(client, cluster)


def _stop_worker_processes(cluster) -> None:
    """End the worker processes of a local cluster at once, when the work ends early (an interrupt, an error):
    closing them gracefully waits up to 4 s for the task each runs (a training run takes minutes), past the
    command's grace period for an interrupt. Each nanny is told first not to restart its worker
    (``Nanny.close_gracefully``), so that closing the cluster afterwards takes no time either."""
    for nanny in list(cluster.workers.values()):
        try:
            nanny.close_gracefully("the work ended early")
            if nanny.pid:
                os.kill(nanny.pid, signal.SIGKILL)
        except (OSError, AttributeError):  # gone already, or not a nanny
            pass


def _lost_errors() -> tuple:
    """What a future raises when the scheduler is gone (cancelled futures, closed comms, timeouts)."""
    from distributed.comm.core import CommClosedError

    return (concurrent.futures.CancelledError, asyncio.CancelledError, CommClosedError, OSError, TimeoutError)


# ------------------------------------------------------------------------------------------------------------------
# The store


class _Layout:
    """What the store of a sweep must hold, derived from its specification alone, so that an existing store can be
    checked against it: the variable, its shape and chunks (one per tile), the tile grid, the coordinates."""

    def __init__(self, spec: dict, axes, tile):
        self.spec = spec
        self.digest = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()
        self.variable = spec["measure"].replace("-", "_")
        self.names = [name for name, _ in axes]
        self.grids = [np.asarray(grid, dtype=float) for _, grid in axes]
        self.shape = tuple(len(grid) for grid in self.grids)
        self.tile = tuple(tile[:len(self.shape)])
        self.chunks = tuple(min(t, n) for t, n in zip(self.tile, self.shape))
        self.tiles = tuple(math.ceil(n / t) for n, t in zip(self.shape, self.tile))

    def ranges(self, index) -> list:
        return [(i * t, min((i + 1) * t, n)) for i, t, n in zip(index, self.tile, self.shape)]

    def region(self, index) -> tuple:
        return tuple(slice(lo, hi) for lo, hi in self.ranges(index))

    @staticmethod
    def cell(index) -> tuple:
        return tuple(slice(i, i + 1) for i in index)

    def entries(self) -> set:
        """The top-level names a store of this sweep may hold (Zarr v3 metadata, and v2's for good measure)."""
        return {"zarr.json", ".zgroup", ".zattrs", ".zmetadata", self.variable, "tile_done", *self.names}


def _structure_problem(store: Path, group, layout: _Layout) -> str | None:
    """What is wrong with the arrays of a store of this sweep (missing, wrong shape, chunks or type, coordinates
    that do not read back as the grid), or None."""
    import xarray as xr
    import zarr

    expected = {layout.variable: (layout.shape, layout.chunks, np.dtype(float)),
                "tile_done": (layout.tiles, (1,) * len(layout.tiles), np.dtype("uint8")),
                **{name: ((n,), None, None) for name, n in zip(layout.names, layout.shape)}}
    for name, (shape, chunks, dtype) in expected.items():
        try:
            array = group[name]
        except Exception:  # noqa: BLE001 - a missing array and unreadable metadata are the same damage here
            return f"{name} is missing or unreadable"
        if (not isinstance(array, zarr.Array) or array.shape != shape or (chunks and array.chunks != chunks)
                or (dtype is not None and array.dtype != dtype)):
            return f"{name} has the wrong shape or type"
    for name, grid in zip(layout.names, layout.grids):
        try:
            values = group[name][...]
        except Exception:  # noqa: BLE001
            return f"coordinate {name} is unreadable"
        if not np.array_equal(values, grid):
            return f"coordinate {name} does not match the sweep"
    try:
        xr.open_zarr(store, consolidated=False).close()
    except Exception as error:  # noqa: BLE001
        return f"xarray cannot open it ({_why(error)})"
    return None


def _open_existing(store: Path, layout: _Layout):
    """The Zarr group of an existing store of this sweep, or None if there is none to resume (nothing there, an
    empty directory, or a damaged store of this very sweep, which is removed here and recreated by
    :func:`execute`). Refuses a store that cannot be opened, is not a sweep store, or holds another sweep."""
    import zarr

    if not os.path.lexists(store):
        return None
    if store.is_dir() and not any(store.iterdir()):
        return None
    remedy = "remove it or choose another --out"
    try:
        group = zarr.open_group(str(store), mode="r")
        attributes = dict(group.attrs)
    except Exception as error:  # noqa: BLE001 - any unreadable store is the same user error
        raise UserInputError(f"{store} exists but cannot be opened as a sweep store ({_why(error)}); "
                             f"{remedy}") from None
    if "sweep_hash" not in attributes:
        raise UserInputError(f"{store} exists but is not a sweep store (no sweep_hash attribute); {remedy}")
    if attributes["sweep_hash"] != layout.digest:
        raise UserInputError(f"{store} holds a different sweep; choose another --out or remove it")
    problem = _structure_problem(store, group, layout)
    if problem is None:
        return group
    foreign = sorted({entry.name for entry in store.iterdir()} - layout.entries())
    if foreign:
        raise UserInputError(f"{store} is a damaged sweep store ({problem}) that also holds {', '.join(foreign[:3])}; "
                             f"{remedy}")
    _warn(f"{store} is an incompletely created or damaged store of this sweep ({problem}); recreating it")
    try:
        shutil.rmtree(store)
    except OSError as error:
        raise UserInputError(f"cannot remove the damaged {store}: {error.strerror or error}; {remedy}") from None
    return None


def _chunk_file(store: Path, array, index) -> Path:
    return store / array.path / array.metadata.encode_chunk_key(tuple(int(i) for i in index))


def _verified_done(store: Path, group, layout: _Layout) -> np.ndarray:
    """The tiles marked done whose values read back. A done tile whose chunk is missing or unreadable, and a
    tile whose mark cannot be read, loses its chunk files (so that the store reads back as NaN there, and loads
    before the rerun finishes) and is reported not done, hence recomputed; one warning line says so."""
    flags, values = group["tile_done"], group[layout.variable]
    lost = {}
    try:
        done = np.asarray(flags[...]).astype(bool)
    except Exception:  # noqa: BLE001 - find the unreadable marks one by one
        done = np.zeros(layout.tiles, dtype=bool)
        for index in np.ndindex(*layout.tiles):
            try:
                done[index] = bool(np.asarray(flags[layout.cell(index)]).item())
            except Exception as error:  # noqa: BLE001
                lost[index] = f"its done mark is unreadable ({_why(error)})"
    for index in zip(*np.nonzero(done)):
        index = tuple(int(i) for i in index)
        if not _chunk_file(store, values, index).is_file():
            lost[index] = "its chunk file is missing"
            continue
        try:
            values[layout.region(index)]
        except Exception as error:  # noqa: BLE001 - garbage bytes give codec errors of every kind
            lost[index] = _why(error)
    if lost:
        try:
            for index in lost:
                for array in (flags, values):
                    _chunk_file(store, array, index).unlink(missing_ok=True)
        except OSError as error:
            raise UserInputError(f"cannot repair {store}: {error.strerror or error}") from None
        for index in lost:
            done[index] = False
        first = next(iter(lost.items()))
        _warn(f"{store}: {len(lost)} finished tile(s) cannot be read (tile {first[0]}: {first[1]}); "
              "recomputing them")
    return done


def _create_store(store: Path, layout: _Layout) -> None:
    """Write the store's metadata (and coordinates) into a temporary directory beside ``store`` and rename it into
    place: a creation interrupted at any point leaves either no store or a complete one."""
    import dask.array as da
    import xarray as xr

    dataset = xr.Dataset(
        {layout.variable: (layout.names, da.full(layout.shape, np.nan, chunks=layout.chunks)),
         "tile_done": ([f"tile_{n}" for n in layout.names],
                       da.zeros(layout.tiles, dtype="uint8", chunks=(1,) * len(layout.tiles)))},
        coords=dict(zip(layout.names, layout.grids)),
        attrs={"sweep": json.dumps(layout.spec), "sweep_hash": layout.digest})
    try:
        staging = Path(tempfile.mkdtemp(prefix=f".{store.name}.creating-", dir=store.parent))
    except OSError as error:
        raise UserInputError(f"cannot write {store}: {error.strerror or error}") from None
    try:
        dataset.to_zarr(staging, compute=False, mode="w", consolidated=False)
        os.rename(staging, store)  # onto nothing, or onto an empty directory
    except OSError as error:
        if os.path.lexists(store) and not (store.is_dir() and not any(store.iterdir())):
            raise UserInputError(f"{store} appeared while this sweep was being created (another run?); "
                                 "rerun to resume it") from None
        raise UserInputError(f"cannot write {store}: {error.strerror or error}") from None
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def _check_writable(store: Path) -> None:
    try:
        store.parent.mkdir(parents=True, exist_ok=True)
        if not os.access(store.parent, os.W_OK):
            raise PermissionError(str(store.parent))
    except OSError as error:
        raise UserInputError(f"cannot write {store}: {error.strerror or error}") from None


def writer_lock(store: Path):
    """The lock of the store ``store`` held while a sweep reads its state or writes it (``.NAME.zarr.lock`` beside
    it, :func:`analysis.atomic.exclusive`): a second sweep into the same store at the same time is refused in one
    line (an :class:`~analysis.errors.OutputError`), and the store stays as the first one writes it."""
    _check_writable(store)
    return exclusive(store, "--out", kind="store")


def plan(model: str, parameterization, options: dict, values: dict, initial: dict, axes, measure: str, out: str,
         steps: int, tile=(16, 16), *, max_memory=None, force: bool = False) -> dict:
    """Validate a sweep, check its store if it exists (module docstring: a damaged store of this sweep is repaired
    or removed, another one refused) and list the tiles still to compute. Raises :class:`UserInputError` before any
    work on bad input; ``values``/``initial`` are ``{name: value}`` and ``axes`` a list of
    :class:`~numerics.axis.Axis` (each of increasing values). A new store is created by :func:`execute`, once
    the scheduler answered."""
    if measure not in MEASURES:
        raise UserInputError(f"unknown measure {measure!r}; expected one of: {', '.join(MEASURES)}")
    steps = to_count("steps", steps)
    tile = tuple(to_count("tile", size) for size in tile)
    axes = [Axis.of(axis) for axis in axes]
    if not 1 <= len(axes) <= 2 or len({axis.name for axis in axes}) != len(axes):
        raise UserInputError("a sweep varies one or two axes over different names")
    for axis in axes:
        if len(axis) > 1 and not np.all(np.diff(axis.array) > 0):
            raise UserInputError(f"axis {axis.to_text(counted=True)!r}: a sweep's values must increase (A < B)")
    axes = [(axis.name, axis.array) for axis in axes]
    from analysis import DerivedModel

    from .iterated_map import IteratedMap

    derived = DerivedModel(model, parameterization, **options)
    parameter_names = [p.name for p in derived.model.parameters]
    state_names = [v.name for v in derived.model.state]
    for name, _ in axes:
        if name not in parameter_names and name not in state_names:
            raise UserInputError(f"unknown name {name!r} to vary; expected a parameter "
                                 f"({', '.join(parameter_names)}) or a state variable "
                                 f"({', '.join(state_names)})")
    # An integer parameter (a width) on a geometric axis gets integer values: 63.999999999999986 is not a width.
    axes = [(name, np.rint(grid) if name in parameter_names and derived.model.parameter(name).domain ==
             "positive_integer" else grid) for name, grid in axes]
    values = {k: str(v) for k, v in values.items()}
    initial = {k: str(v) for k, v in (initial or {}).items()}
    for name, grid in axes:  # placeholders for varied parameters (each tile sets its own)
        if name in parameter_names:
            values.setdefault(name, repr(float(grid[0])))
    # Validate every grid value (against the value bounds, analysis.values) and the initial state before any work.
    for name, grid in axes:
        to_floats(name, grid, derived.model.parameter(name).domain if name in parameter_names else "real")
        if name in parameter_names:
            for value in (grid[0], grid[-1]):
                IteratedMap(derived, {**values, name: float(value)})
    IteratedMap(derived, values).initial_state(initial)
    from . import budget

    total = math.prod(len(grid) for _, grid in axes)
    # The driver holds the store's metadata and one tile at a time; the store itself is on disk.
    budget.check_memory(total * 8 * 2, f"a sweep of {total:,} points", "use fewer points", max_memory)
    budget.check_work(total * steps, f"a sweep of {total:,} points x {steps:,} steps", force)
    tile = tuple(tile[: len(axes)])
    spec = _specification(model, derived.parameterization, options, values, initial, axes, measure, steps, tile)
    store = Path(out)
    layout = _Layout(spec, axes, tile)
    with writer_lock(store):  # what is read here (and repaired) is not being written by another sweep
        group = _open_existing(store, layout)
        if group is None:
            _check_writable(store)
            done = np.zeros(layout.tiles, dtype=bool)
        else:
            done = _verified_done(store, group, layout)
    jobs = []
    for index in np.ndindex(*done.shape):
        if done[index]:
            continue
        jobs.append({**{k: spec[k] for k in ("model", "parameterization", "options", "values", "initial",
                                             "measure", "steps")},
                     "names": layout.names, "grids": [grid.tolist() for grid in layout.grids],
                     "ranges": layout.ranges(index), "tile": list(index)})
    return {"store": store, "names": layout.names, "variable": layout.variable, "jobs": jobs,
            "tiles": int(done.size), "skipped": int(done.sum()), "create": group is None, "layout": layout}


def execute(planned: dict, scheduler: str | None = None, progress=None, after_tile=None, client=None) -> dict:
    """Compute the planned tiles on Dask and write each as it finishes; returns a :class:`SweepRun`. ``client`` (from :func:`connect`) is used if given, else one is connected to ``scheduler`` (or a
    local cluster) before anything is written. ``after_tile(count)`` is called after each tile is written (the
    tests' fault-injection hook). A scheduler lost on the way raises :class:`UserInputError`; the tiles written
    until then are kept, and a rerun resumes."""
    store, jobs = planned["store"], planned["jobs"]
    summary = {"out": str(store), "tiles": planned["tiles"], "computed": 0, "skipped": planned["skipped"]}
    if not jobs:
        return SweepRun(**summary)
    with writer_lock(store), nullcontext(client) if client is not None else connect(scheduler) as client:
        if planned.get("create"):
            _create_store(store, planned["layout"])
            planned["create"] = False
        _compute(client, planned, summary, scheduler, progress, after_tile)
    return SweepRun(**summary)


@dataclass(frozen=True)
class SweepRun:
    """What a sweep run did (:func:`sweep`, :func:`execute`); the values are in the store (:meth:`load`).

    Attributes
    ----------
    out : str
        The Zarr store.
    tiles : int
        Tiles of the whole grid.
    computed : int
        Tiles computed by this run.
    skipped : int
        Tiles already done by an earlier run (resumed), not computed again.
    """

    out: str
    tiles: int
    computed: int
    skipped: int

    def to_dict(self) -> dict:
        """``sharpness sweep --json``: ``{"out", "tiles", "computed", "skipped"}``."""
        return {"out": self.out, "tiles": self.tiles, "computed": self.computed, "skipped": self.skipped}

    def load(self):
        """The store as an xarray Dataset (:func:`load`)."""
        return load(self.out)

    def plot(self, path: str, title: str) -> None:
        """The sweep's figure (:func:`numerics.plots.sweep_figure`: a curve in 1-D, an image in 2-D), written to
        ``path``."""
        from .plots import sweep_figure

        sweep_figure(self.load(), path, title)

    def __repr__(self) -> str:
        return f"SweepRun({self.out}: {self.tiles} tiles, {self.computed} computed, {self.skipped} already done)"


def _compute(client, planned: dict, summary: dict, scheduler, progress, after_tile) -> None:
    """The tile loop. Values are written before the done mark, so an interruption anywhere leaves every marked
    tile complete. Errors of the connection (not of a task, nor of writing the store) become one
    :class:`UserInputError` (:func:`finished`)."""
    import zarr

    store, layout = planned["store"], planned["layout"]
    group = zarr.open_group(str(store), mode="r+")
    # write_empty_chunks: an all-NaN tile (all lanes diverged) still gets its chunk file, so that a done tile
    # without one is known to be lost (see _verified_done).
    values = group[layout.variable].with_config({"write_empty_chunks": True})
    flags = group["tile_done"]

    def stopped(reason):
        return (f"{reason}; {summary['computed']} tile(s) written this run; finished tiles are kept, rerun to "
                "resume")

    for index, block in finished(client, compute_tile, planned["jobs"], scheduler, stopped):
        index = tuple(index)
        values[layout.region(index)] = block
        flags[layout.cell(index)] = 1
        summary["computed"] += 1
        if progress:
            progress()
        if after_tile:
            after_tile(summary["computed"])


def finished(client, function, jobs: list, scheduler, stopped):
    """Yield ``function(job)`` for every job of ``jobs``, one Dask task each, in the order they finish: the loop
    of every command that computes on Dask (the tiles of a sweep, the runs of a network grid), whose driver alone
    writes what is yielded.

    A worker lost while it runs a task (its process killed, its machine gone) costs nothing but time: the
    scheduler gives the task to another worker, up to ``distributed.scheduler.allowed-failures`` deaths of the
    workers running it (3 by default), after which the task is taken to be what kills them (out of memory, a
    crash) and the loop ends. The connection's errors (the scheduler at ``scheduler`` lost: cancelled futures,
    closed comms, timeouts) and that end raise one :class:`UserInputError`, ``stopped(reason)`` (the caller says
    what was kept); an exception raised by a task itself is raised as it is (not retried: a task is
    deterministic, and would raise it again)."""
    from distributed import KilledWorker, as_completed

    lost = _lost_errors()

    def scheduler_lost(error):
        return UserInputError(stopped(f"lost the Dask scheduler at {scheduler or 'the local cluster'} "
                                      f"({_why(error)})"))

    try:
        pending = as_completed(client.map(function, jobs, pure=False))
    except lost as error:
        raise scheduler_lost(error) from None
    while True:
        future = None
        try:
            future = next(pending, None)
            if future is None:
                return
            result = future.result()
        except KilledWorker:
            raise UserInputError(stopped(f"{_allowed_failures() + 1} Dask workers in turn died running one task "
                                         "(out of memory? a crash in the task?)")) from None
        except lost as error:
            if future is not None and future.status == "error":
                raise  # the task itself failed: not the scheduler's doing
            raise scheduler_lost(error) from None
        yield result


def _allowed_failures() -> int:
    import dask

    return int(dask.config.get("distributed.scheduler.allowed-failures"))


def run_sweep(model: str, parameterization, options: dict, values: dict, initial: dict, axes, measure: str,
              out: str, steps: int, scheduler: str | None = None, tile=(16, 16), progress=None,
              after_tile=None, client=None, max_memory=None, force: bool = False) -> SweepRun:
    """:func:`plan` then :func:`execute`: run (or resume) a sweep."""
    planned = plan(model, parameterization, options, values, initial, axes, measure, out, steps, tile,
                   max_memory=max_memory, force=force)
    return execute(planned, scheduler, progress, after_tile, client)


def sweep(model, vary, values=None, *, measure: str = "outcome", out: str = "sweep.zarr", steps: int = 1000,
          init=None, parameterization=None, tile: int = 16, scheduler=None, progress=None, options=None,
          max_memory=None, force: bool = False) -> SweepRun:
    """A measure over a grid of one or two names (parameters or initial state variables), tiled on Dask into
    the resumable Zarr store ``out`` (module docstring). ``vary`` is one :class:`~numerics.axis.Axis` (or
    ``(name, values)``) or a list of two; ``values`` (``{name: value}``) fix the other parameters. Returns a
    :class:`SweepRun` (``.to_dict()``: ``{"out", "tiles", "computed", "skipped"}``); the store loads with :func:`load`.

    ``model`` is a registered name or a path (the workers load it by that reference)."""
    if not isinstance(model, (str, os.PathLike)):
        raise WrongTypeError("model", model, "a model name or the path of a model file")
    if isinstance(vary, (str, bytes)) or not isinstance(vary, (Axis, tuple, list)):
        raise WrongTypeError("vary", vary, "an Axis, a pair (name, values) or a list of two of them")
    axes = [Axis.of(v) for v in ([vary] if isinstance(vary, (Axis, tuple)) else vary)]
    size = tile if isinstance(tile, (int, np.integer)) and not isinstance(tile, bool) else (
        tile[0] if isinstance(tile, (tuple, list)) and tile else tile)
    return run_sweep(str(model), parameterization, dict(options or {}), value_mapping(values), dict(init or {}), axes,
                     measure, out, steps, scheduler, (size, size), progress, max_memory=max_memory, force=force)


def load(out: str):
    """The sweep store as an xarray Dataset (values in memory). A store that cannot be read (a damaged chunk) is a
    :class:`UserInputError` that says how to repair it: a rerun of the sweep checks every tile."""
    import xarray as xr

    try:
        return xr.open_zarr(out, consolidated=False).load()
    except MemoryError:
        raise
    except Exception as error:  # noqa: BLE001 - every unreadable store is the same user error
        raise UserInputError(f"cannot read the sweep store {out} ({_why(error)}); rerun the sweep to check and "
                             "repair it") from None
