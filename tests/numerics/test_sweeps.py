"""Sweeps: tiles on Dask, Zarr storage, interruption and resumption, a scheduler given by address."""
import numpy as np
import pytest

from numerics import Axis, load_sweep, sweep, sweeps
from numerics.cli import main

AXES = lambda: [Axis.parse("k=0.5:2:20"), Axis.parse("z=0.1:0.9:7")]  # noqa: E731


class Interrupted(Exception):
    pass


def run_sweep(out, after_tile=None, scheduler=None):
    """The full-signature entry point: rectangular 8 x 4 tiles (6 of them) and the after-tile fault hook, which
    the public ``sweep`` does not take."""
    return sweeps.run_sweep("uv-eos", None, {}, {}, {}, AXES(), "final-sharpness", str(out), 400,
                            scheduler=scheduler, tile=(8, 4), after_tile=after_tile)


def test_interrupted_sweep_resumes_to_identical_content(tmp_path):
    """A sweep stopped after 2 of 6 tiles (fault injected through the after-tile hook) keeps them, and the
    rerun computes only the other 4 and ends byte-for-byte equal to an uninterrupted sweep."""
    whole = run_sweep(tmp_path / "whole.zarr")
    assert whole.to_dict() == {"out": str(tmp_path / "whole.zarr"), "tiles": 6, "computed": 6, "skipped": 0}

    def fail(count):
        if count == 2:
            raise Interrupted

    with pytest.raises(Interrupted):
        run_sweep(tmp_path / "resumed.zarr", after_tile=fail)
    partial = sweeps.load(tmp_path / "resumed.zarr")
    assert int(partial["tile_done"].sum()) == 2
    assert np.isnan(partial["final_sharpness"].values).sum() > 0
    resumed = run_sweep(tmp_path / "resumed.zarr")
    assert resumed.computed == 4 and resumed.skipped == 2
    a, b = sweeps.load(tmp_path / "whole.zarr"), sweeps.load(tmp_path / "resumed.zarr")
    np.testing.assert_array_equal(a["final_sharpness"].values, b["final_sharpness"].values)
    np.testing.assert_array_equal(a["tile_done"].values, b["tile_done"].values)
    assert not np.isnan(a["final_sharpness"].values).all()
    # and a third run has nothing left to do
    assert run_sweep(tmp_path / "resumed.zarr").computed == 0


def test_values_are_the_measure(tmp_path):
    """Spot check through the public ``sweep``: converged lanes (k < 1) end at z = +-1 with sharpness
    V''(1) = 2k; and its square tiles give the same values as the 8 x 4 tiles of ``run_sweep``."""
    summary = sweep("uv-eos", [Axis.parse("k=0.5:2:20"), Axis.parse("z=0.1:0.9:7")], measure="final-sharpness",
                    out=str(tmp_path / "s.zarr"), steps=400, tile=8)
    assert summary.to_dict() == {"out": str(tmp_path / "s.zarr"), "tiles": 3, "computed": 3, "skipped": 0}
    data = load_sweep(tmp_path / "s.zarr")["final_sharpness"]
    for k in data["k"].values[data["k"].values < 0.95]:
        # rtol 1e-9: |1 - 2k| <= 0.9 at z = 1 and 0.9^400 ~ 5e-19: the lanes have converged to round-off.
        np.testing.assert_allclose(data.sel(k=k).values, 2 * k, rtol=1e-9)
    run_sweep(tmp_path / "rectangular.zarr")
    np.testing.assert_array_equal(data.values, sweeps.load(tmp_path / "rectangular.zarr")["final_sharpness"].values)


def test_sweep_on_a_scheduler_given_by_address(tmp_path):
    from distributed import LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None) as cluster:
        summary = run_sweep(tmp_path / "remote.zarr", scheduler=cluster.scheduler_address)
    assert summary.computed == 6
    run_sweep(tmp_path / "local.zarr")
    np.testing.assert_array_equal(sweeps.load(tmp_path / "remote.zarr")["final_sharpness"].values,
                                  sweeps.load(tmp_path / "local.zarr")["final_sharpness"].values)


def test_cli_sweep_and_bad_input(tmp_path, capsys):
    out = tmp_path / "cli.zarr"
    assert main(["sweep", "uv-eos", "--vary", "k=0.5:1.5:10", "--measure", "period", "--out", str(out),
                 "--steps", "300", "--quiet"]) == 0
    data = sweeps.load(out)
    assert set(data["period"].values.tolist()) >= {1.0, 2.0}
    capsys.readouterr()
    blocked = tmp_path / "file"
    blocked.write_text("x")
    cases = [
        (["sweep", "uv-eos", "--vary", "k=1:2", "--out", str(tmp_path / "a.zarr")], "give the number of points: k=1:2:N"),
        (["sweep", "uv-eos", "--vary", "q=1:2:3", "--out", str(tmp_path / "a.zarr")], "unknown name 'q'"),
        (["sweep", "uv-eos", "--vary", "k=1:2:3", "--measure", "colour", "--out", str(tmp_path / "a.zarr")],
         "unknown measure 'colour'"),
        (["sweep", "uv-eos", "--vary", "k=1:2:3", "--out", str(blocked / "a.zarr")], "cannot write"),
        (["sweep", "uv-eos", "--vary", "k=0.5:1.5:10", "--measure", "outcome", "--out", str(out)],
         "holds a different sweep"),
        (["sweep", "uv-eos", "--vary", "k=1:2:3", "--out", str(tmp_path / "b.zarr"), "--quiet",
          "--scheduler", "tcp://127.0.0.1:9"], "cannot reach the Dask scheduler"),
    ]
    for argv, fragment in cases:
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert fragment in err and err.count("\n") == 1, (argv, err)
    # the existing store was not touched by the refused runs
    np.testing.assert_array_equal(sweeps.load(out)["period"].values, data["period"].values)
