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

Store layout (an xarray Dataset in Zarr): the measure as a variable over the axis coordinates, chunked by tile;
``tile_done`` over the tile grid; attributes: the sweep specification (JSON) and its hash.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path

import numpy as np

from analysis.errors import UserInputError


MEASURES = ("outcome", "period", "final-sharpness", "lyapunov", "regime")
REGIME_ORDER = ("intermediate saturation", "early sharpness reduction", "progressive sharpening",
                "edge of stability", "catapult", "divergence")


def parse_axis(text: str):
    """``NAME=A:B:N`` (linear) or ``NAME=A:B:N:log`` (geometric, A > 0) -> (name, values)."""
    name, sep, spec = text.partition("=")
    parts = spec.split(":")
    try:
        if not sep or not name.strip() or len(parts) not in (3, 4) or (len(parts) == 4 and parts[3] != "log"):
            raise ValueError
        low, high, points = float(parts[0]), float(parts[1]), int(parts[2])
    except ValueError:
        raise UserInputError(f"malformed --vary {text!r}; expected NAME=A:B:N or NAME=A:B:N:log, "
                             "e.g. --vary eta=0.1:2:64") from None
    if not (math.isfinite(low) and math.isfinite(high)) or points < 1 or (points > 1 and not low < high):
        raise UserInputError(f"--vary {text!r} needs finite A < B and N >= 1")
    if len(parts) == 4:
        if low <= 0:
            raise UserInputError(f"--vary {text!r}: a log axis needs A > 0")
        return name.strip(), np.geomspace(low, high, points)
    return name.strip(), np.linspace(low, high, points)


def compute_tile(job: dict) -> tuple:
    """One tile: ``(tile index, values)``; runs on a Dask worker (plain data in, plain data out)."""
    from analysis import DerivedModel

    from .classify import OUTCOMES
    from .iterated_map import IteratedMap

    derived = DerivedModel(job["model"], job["parameterization"], **job["options"])
    base = IteratedMap(derived, **job["values"])
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

        orbits = base._grid_states(starts, params, steps, min(TAIL, steps), "a sweep tile")
        classified = base._classify(orbits, params)
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
            lane_map = base.with_values(**dict(zip(compiled.parameter_names, params[lane].tolist())))
            trajectory = lane_map.run(steps, init=dict(zip(compiled.state_names, starts[lane].tolist())))
            names = {r["name"] for r in trajectory.regimes}
            code = 0
            for rank, name in enumerate(REGIME_ORDER):
                if name in names:
                    code = rank
            result[lane] = code
    shape = tuple(len(r) for r in index_ranges)
    return tuple(job["tile"]), result.reshape(shape)


def _specification(model, parameterization, options, values, initial, axes, measure, steps, tile) -> dict:
    return {"model": model, "parameterization": parameterization, "options": options, "values": values,
            "initial": initial, "axes": [[name, [float(v) for v in grid]] for name, grid in axes],
            "measure": measure, "steps": steps, "tile": list(tile)}


def _client(scheduler: str | None):
    from distributed import Client, LocalCluster

    if scheduler:
        try:
            return Client(scheduler, timeout="5s"), None
        except (OSError, TimeoutError, ValueError) as error:
            raise UserInputError(f"cannot reach the Dask scheduler at {scheduler}: {error}".splitlines()[0]) from None
    # Threads, not processes: the kernels release the GIL (nogil), and one process compiles them once.
    cluster = LocalCluster(n_workers=1, threads_per_worker=os.cpu_count() or 1, processes=False,
                           dashboard_address=None)
    return Client(cluster), cluster


def _prepare_store(out: Path, spec: dict, axes, tile):
    """Create the store (metadata only) or check that an existing one holds the same sweep."""
    import dask.array as da
    import xarray as xr

    digest = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()
    if out.exists():
        try:
            existing = xr.open_zarr(out, consolidated=False)
        except Exception as error:  # noqa: BLE001 - any unreadable store is the same user error
            raise UserInputError(f"{out} exists but is not a sweep store ({type(error).__name__})") from None
        if existing.attrs.get("sweep_hash") != digest:
            raise UserInputError(f"{out} holds a different sweep; choose another --out or remove it")
        return
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        if not os.access(out.parent, os.W_OK):
            raise PermissionError(str(out.parent))
    except OSError as error:
        raise UserInputError(f"cannot write {out}: {error.strerror or error}") from None
    names = [name for name, _ in axes]
    shape = tuple(len(grid) for _, grid in axes)
    tiles = tuple(math.ceil(n / t) for n, t in zip(shape, tile))
    dataset = xr.Dataset(
        {spec["measure"].replace("-", "_"): (names, da.full(shape, np.nan, chunks=tuple(tile[:len(shape)]))),
         "tile_done": ([f"tile_{n}" for n in names], da.zeros(tiles, dtype="uint8", chunks=(1,) * len(tiles)))},
        coords={name: grid for name, grid in axes},
        attrs={"sweep": json.dumps(spec), "sweep_hash": digest})
    try:
        dataset.to_zarr(out, compute=False, mode="w-", consolidated=False)
    except OSError as error:
        raise UserInputError(f"cannot write {out}: {error.strerror or error}") from None


def plan(model: str, parameterization, options: dict, values: dict, initial: dict, axes, measure: str, out: str,
         steps: int, tile=(16, 16)) -> dict:
    """Validate a sweep, create (or check) its store and list the tiles still to compute. Raises
    :class:`UserInputError` before any work on bad input; ``values``/``initial`` are the text of ``--set``/``--init``
    and ``axes`` a list of ``(name, grid)``."""
    import xarray as xr

    if measure not in MEASURES:
        raise UserInputError(f"unknown measure {measure!r}; expected one of: {', '.join(MEASURES)}")
    if not 1 <= len(axes) <= 2 or len({name for name, _ in axes}) != len(axes):
        raise UserInputError("give one or two --vary over different names")
    from analysis import DerivedModel

    from .iterated_map import IteratedMap

    derived = DerivedModel(model, parameterization, **options)
    compiled_names = IteratedMap(derived, _placeholders=[n for n, _ in axes], **values).compiled
    parameter_names, state_names = compiled_names.parameter_names, compiled_names.state_names
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
    # Validate every grid value and the initial state before any work.
    for name, grid in axes:
        if name in parameter_names:
            for value in (grid[0], grid[-1]):
                IteratedMap(derived, **{**values, name: float(value)})
    IteratedMap(derived, **values).initial_state(initial)
    tile = tuple(tile[: len(axes)])
    spec = _specification(model, derived.parameterization, options, values, initial, axes, measure, steps, tile)
    store = Path(out)
    _prepare_store(store, spec, axes, tile)
    done = xr.open_zarr(store, consolidated=False)["tile_done"].values
    shape = [len(grid) for _, grid in axes]
    jobs = []
    for index in np.ndindex(*done.shape):
        if done[index]:
            continue
        ranges = [(i * t, min((i + 1) * t, n)) for i, t, n in zip(index, tile, shape)]
        jobs.append({**{k: spec[k] for k in ("model", "parameterization", "options", "values", "initial",
                                             "measure", "steps")},
                     "names": [name for name, _ in axes], "grids": [grid.tolist() for _, grid in axes],
                     "ranges": ranges, "tile": list(index)})
    return {"store": store, "names": [name for name, _ in axes], "variable": measure.replace("-", "_"),
            "jobs": jobs, "tiles": int(done.size), "skipped": int(done.sum())}


def execute(planned: dict, scheduler: str | None = None, progress=None, after_tile=None) -> dict:
    """Compute the planned tiles on Dask and write each as it finishes; returns ``{"out", "tiles", "computed",
    "skipped"}``. ``after_tile(count)`` is called after each tile is written (the tests' fault-injection hook)."""
    import xarray as xr

    store, names, variable, jobs = planned["store"], planned["names"], planned["variable"], planned["jobs"]
    summary = {"out": str(store), "tiles": planned["tiles"], "computed": 0, "skipped": planned["skipped"]}
    if not jobs:
        return summary
    client, cluster = _client(scheduler)
    by_tile = {tuple(job["tile"]): job for job in jobs}
    try:
        from distributed import as_completed

        for future in as_completed(client.map(compute_tile, jobs, pure=False)):
            index, block = future.result()
            ranges = by_tile[tuple(index)]["ranges"]
            region = {name: slice(lo, hi) for name, (lo, hi) in zip(names, ranges)}
            xr.Dataset({variable: (names, block)}).to_zarr(store, region=region, consolidated=False)
            flag = np.ones((1,) * len(names), dtype="uint8")
            xr.Dataset({"tile_done": ([f"tile_{n}" for n in names], flag)}).to_zarr(
                store, region={f"tile_{n}": slice(i, i + 1) for n, i in zip(names, index)}, consolidated=False)
            summary["computed"] += 1
            if progress:
                progress()
            if after_tile:
                after_tile(summary["computed"])
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return summary


def run_sweep(model: str, parameterization, options: dict, values: dict, initial: dict, axes, measure: str,
              out: str, steps: int, scheduler: str | None = None, tile=(16, 16), progress=None,
              after_tile=None) -> dict:
    """:func:`plan` then :func:`execute`: run (or resume) a sweep."""
    planned = plan(model, parameterization, options, values, initial, axes, measure, out, steps, tile)
    return execute(planned, scheduler, progress, after_tile)


def sweep(model, vary, measure: str = "outcome", out: str = "sweep.zarr", steps: int = 1000, init=None,
          parameterization=None, tile: int = 16, scheduler=None, progress=None, options=None, **values) -> dict:
    """A measure over a grid of one or two names (parameters or initial state variables), tiled on Dask into
    the resumable Zarr store ``out`` (module docstring). ``vary`` is one or two ``"NAME=A:B:N[:log]"`` strings
    or ``(name, values)`` pairs; ``values`` fix the other parameters. Returns ``{"out", "tiles", "computed",
    "skipped"}``; the store loads with :func:`load`.

    ``model`` is a registered name or a path (the workers load it by that reference)."""
    axes = [parse_axis(v) if isinstance(v, str) else (v[0], np.asarray(v[1], float))
            for v in ([vary] if isinstance(vary, (str, tuple)) else vary)]
    size = tile if isinstance(tile, int) else tile[0]
    return run_sweep(str(model), parameterization, dict(options or {}), values, dict(init or {}), axes, measure,
                     out, steps, scheduler, (size, size), progress)


def load(out: str):
    """The sweep store as an xarray Dataset (values in memory)."""
    import xarray as xr

    return xr.open_zarr(out, consolidated=False).load()
