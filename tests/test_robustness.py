"""Hostile inputs to ``sharpness sweep`` and ``sharpness report``: damaged and foreign stores, unreachable, empty and
lost Dask schedulers, a user's files in --out, Ctrl-C. Each case ends either in the right result or in exit status 2
with exactly one line on stderr, within a bounded time.

The sweeps are small (uv-eos, 10 tiles of a few lanes); the report runs with tiny sizes and its non-sweep sections
replaced by stubs (:func:`light_report`), since what is tested here is its bookkeeping (stores, files, checkpoint,
Dask), not its numbers (``tests/numerics/report/test_report.py``)."""
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from numerics import Axis, report, sweeps
from numerics.report import runner
from numerics.cli import main

# 20 x 7 points in 4 x 4 tiles: 5 x 2 = 10 tiles.
SWEEP = ["sweep", "uv-eos", "--vary", "k=0.5:2:20", "--vary", "z=0.1:0.9:7", "--measure", "final-sharpness",
         "--steps", "400", "--tile", "4", "--quiet", "--json"]
TILES = 10


#: A backstop against hangs only, far above any correct run even on a loaded machine: how long a command waits is
#: asserted through what it says (e.g. "has no worker (waited 1 s)"), never through the wall clock.
HANG_SECONDS = 300.0


def cli(argv, capfd, limit=HANG_SECONDS):
    """``(status, stdout, stderr)`` of the command line, which must not hang (``limit`` seconds)."""
    capfd.readouterr()
    start = time.monotonic()
    status = main([str(a) for a in argv])
    elapsed = time.monotonic() - start
    out, err = capfd.readouterr()
    assert elapsed < limit, (argv, elapsed, err)
    return status, out, err


def refused(argv, capfd, fragment, limit=HANG_SECONDS):
    """The command fails with status 2 and one stderr line containing ``fragment``; returns that line."""
    status, _, err = cli(argv, capfd, limit)
    assert status == 2 and err.count("\n") == 1 and err.startswith("sharpness: error: "), (argv, status, err)
    assert fragment in err, (fragment, err)
    return err


def sweep_into(out, capfd, *extra, warnings=0):
    """Run :data:`SWEEP` into ``out``; ``warnings`` is the number of stderr lines expected (repairs)."""
    status, stdout, err = cli([*SWEEP, "--out", out, *extra], capfd)
    assert status == 0 and err.count("\n") == warnings, err
    assert all(line.startswith("sharpness: warning: ") for line in err.splitlines()), err
    return json.loads(stdout), err


def values(out):
    return sweeps.load(out)["final_sharpness"].values


def snapshot(path: Path) -> dict:
    """Every file under ``path`` (or ``path`` itself) with its bytes: to show that a refused run changed nothing."""
    if path.is_file():
        return {"": path.read_bytes()}
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted sweep: the values every repaired or resumed store must end with, byte for byte."""
    out = tmp_path_factory.mktemp("reference") / "ref.zarr"
    assert main([*SWEEP, "--out", str(out)]) == 0
    data = values(out)
    assert np.isfinite(data).any()
    return out, data


def copy_of(reference, tmp_path) -> Path:
    out = tmp_path / "copy.zarr"
    shutil.copytree(reference[0], out)
    return out


def garbage(path: Path):
    path.write_bytes(os.urandom(64))


def truncated(path: Path):
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])


# ------------------------------------------------------------------------------------------------------------------
# 2. damaged stores


@pytest.mark.parametrize("damage", [
    lambda s: shutil.rmtree(s / "tile_done"),                     # creation stopped before tile_done was written
    lambda s: truncated(s / "tile_done" / "zarr.json"),           # ... while it was written
    lambda s: (s / "final_sharpness" / "zarr.json").unlink(),     # the measure's metadata lost
    lambda s: garbage(s / "k" / "c" / "0"),                       # a coordinate's chunk damaged
], ids=["no-tile_done", "truncated-tile_done-metadata", "no-measure-metadata", "garbage-coordinate"])
def test_half_created_store_of_the_same_sweep_is_recreated(reference, tmp_path, capfd, damage):
    out = copy_of(reference, tmp_path)
    damage(out)
    summary, err = sweep_into(out, capfd, warnings=1)
    assert "recreating it" in err
    assert summary["computed"] == TILES and summary["skipped"] == 0
    np.testing.assert_array_equal(values(out), reference[1])


def test_creation_is_atomic(tmp_path, capfd, monkeypatch):
    """A creation interrupted after the metadata was written leaves no store at --out (only a removed staging
    directory), so the rerun starts clean and nothing is left half-created."""
    import xarray as xr

    original = xr.Dataset.to_zarr

    def interrupted(self, store, *args, **kwargs):
        original(self, store, *args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(xr.Dataset, "to_zarr", interrupted)
    status, _, err = cli([*SWEEP, "--out", tmp_path / "new.zarr"], capfd)
    assert status == 130 and err == "sharpness: interrupted\n"
    # only the writers' lock file, which stays beside the store (removing it would race with a new writer)
    assert os.listdir(tmp_path) == [".new.zarr.lock"]
    monkeypatch.undo()
    summary, _ = sweep_into(tmp_path / "new.zarr", capfd)
    assert summary["computed"] == TILES


@pytest.mark.parametrize("damage,fragment", [
    (lambda s: truncated(s / "zarr.json"), "cannot be opened as a sweep store"),
    (lambda s: (s / "zarr.json").write_text('{"zarr_format": 3, "node_type": "group"}'), "not a sweep store"),
    (lambda s: (shutil.rmtree(s), s.write_text("not a store")), "cannot be opened as a sweep store"),
    (lambda s: (shutil.rmtree(s), s.mkdir(), (s / "notes.txt").write_text("mine")), "cannot be opened"),
    (lambda s: (shutil.rmtree(s / "tile_done"), (s / "notes.txt").write_text("mine")), "also holds notes.txt"),
], ids=["truncated-group-metadata", "no-attributes", "a-file", "a-foreign-directory", "damaged-with-foreign-file"])
def test_store_that_cannot_be_opened_is_refused_untouched(reference, tmp_path, capfd, damage, fragment):
    out = copy_of(reference, tmp_path)
    damage(out)
    before = snapshot(out)
    line = refused([*SWEEP, "--out", out], capfd, fragment)
    assert "remove it or choose another --out" in line
    assert snapshot(out) == before


@pytest.mark.parametrize("damage", [
    lambda s: garbage(s / "final_sharpness" / "c" / "2" / "1"),      # garbage bytes: a zstd error
    lambda s: truncated(s / "final_sharpness" / "c" / "4" / "0"),    # a chunk cut short
    lambda s: (s / "final_sharpness" / "c" / "0" / "0").unlink(),    # a chunk lost: would read as NaN
    lambda s: garbage(s / "tile_done" / "c" / "3" / "1"),            # the done mark itself unreadable
], ids=["garbage-chunk", "truncated-chunk", "missing-chunk", "garbage-done-mark"])
def test_unreadable_finished_tile_is_recomputed(reference, tmp_path, capfd, damage):
    out = copy_of(reference, tmp_path)
    damage(out)
    summary, err = sweep_into(out, capfd, warnings=1)
    assert "1 finished tile(s) cannot be read" in err and "recomputing" in err
    assert summary["computed"] == 1 and summary["skipped"] == TILES - 1
    np.testing.assert_array_equal(values(out), reference[1])
    again, _ = sweep_into(out, capfd, warnings=0)
    assert again["computed"] == 0


def test_loading_a_damaged_store_is_one_error(reference, tmp_path, capfd):
    out = copy_of(reference, tmp_path)
    garbage(out / "final_sharpness" / "c" / "1" / "1")
    with pytest.raises(sweeps.UserInputError, match="rerun the sweep to check and repair it"):
        sweeps.load(out)


# ------------------------------------------------------------------------------------------------------------------
# 3. a store of another setting


def changed(argv, old, new):
    return [new if a == old else a for a in argv]


ONE_AXIS = ["sweep", "uv-eos", "--vary", "k=0.5:2:8", "--init", "z=0.3", "--steps", "100", "--quiet", "--json"]


@pytest.mark.parametrize("base,other", [
    (SWEEP, changed(SWEEP, "400", "401")),
    (SWEEP, changed(SWEEP, "final-sharpness", "outcome")),
    (SWEEP, changed(SWEEP, "k=0.5:2:20", "k=0.5:2:21")),
    (SWEEP, changed(SWEEP, "4", "5")),
    (ONE_AXIS, changed(ONE_AXIS, "z=0.3", "z=0.4")),
    (ONE_AXIS, ["sweep", "xy-quartic", "--vary", "eta=0.5:2:8", "--steps", "100", "--quiet"]),
], ids=["steps", "measure", "axes", "tile", "values", "model"])
def test_store_of_another_setting_is_refused_untouched(tmp_path, capfd, base, other):
    out = tmp_path / "s.zarr"
    assert cli([*base, "--out", out], capfd)[0] == 0
    before = snapshot(out)
    refused([*other, "--out", out], capfd, "holds a different sweep; choose another --out or remove it")
    assert snapshot(out) == before


# ------------------------------------------------------------------------------------------------------------------
# 4. Dask schedulers


def test_unreachable_scheduler_fails_at_once_before_any_work(tmp_path, capfd, monkeypatch):
    out = tmp_path / "s.zarr"
    refused([*SWEEP, "--out", out, "--scheduler", "tcp://127.0.0.1:1"], capfd, "cannot reach the Dask scheduler")
    assert not out.exists()  # not even the store's metadata
    calls = stub_sections(monkeypatch, stub_all=True)
    refused(["report", "--out", tmp_path / "r", "--quick", "--quiet", "--scheduler", "tcp://127.0.0.1:1"], capfd,
            "cannot reach the Dask scheduler")
    assert sum(calls.values()) == 0 and not (tmp_path / "r").exists()


def test_scheduler_without_workers_times_out(tmp_path, capfd, monkeypatch):
    from distributed import LocalCluster

    monkeypatch.setattr(sweeps, "WORKER_TIMEOUT", 1.0)
    calls = stub_sections(monkeypatch, stub_all=True)
    with LocalCluster(n_workers=0, processes=False, dashboard_address=None,
                      scheduler_kwargs={"dashboard_address": "127.0.0.1:0"}) as cluster:
        address = cluster.scheduler_address
        refused([*SWEEP, "--out", tmp_path / "s.zarr", "--scheduler", address], capfd, "has no worker (waited 1 s)")
        refused(["report", "--out", tmp_path / "r", "--quick", "--quiet", "--scheduler", address], capfd,
                "has no worker")
    assert not (tmp_path / "s.zarr").exists() and sum(calls.values()) == 0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def remote_scheduler():
    """A scheduler and a one-thread worker in their own processes (so the test can kill the scheduler)."""
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    scheduler = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
                                  "--port", str(port), "--no-dashboard"], **quiet)
    worker = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", address, "--nthreads", "1",
                               "--no-dashboard"], **quiet)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "the test scheduler did not start"
                time.sleep(0.2)
        yield address, scheduler
    finally:
        for process in (worker, scheduler):
            process.kill()
            process.wait()


def test_scheduler_lost_mid_sweep(reference, tmp_path, capfd, monkeypatch, remote_scheduler):
    """The scheduler is killed after the first tile is written: one error line, the store keeps exactly the
    written tiles (each readable), and a rerun on a local cluster computes the rest and equals the reference."""
    address, scheduler = remote_scheduler
    execute = sweeps.execute

    def kill_after_first_tile(count):
        if count == 1:
            scheduler.kill()
            scheduler.wait()

    monkeypatch.setattr(sweeps, "execute", lambda planned, *a, **k: execute(planned, *a, **k,
                                                                            after_tile=kill_after_first_tile))
    out = tmp_path / "lost.zarr"
    line = refused([*SWEEP, "--out", out, "--scheduler", address], capfd, "lost the Dask scheduler at " + address)
    assert "finished tiles are kept, rerun to resume" in line
    monkeypatch.undo()
    done = sweeps.load(out)["tile_done"].values
    assert done.sum() == 1
    summary, _ = sweep_into(out, capfd)
    assert summary["computed"] == TILES - 1 and summary["skipped"] == 1
    np.testing.assert_array_equal(values(out), reference[1])


# ------------------------------------------------------------------------------------------------------------------
# 6. Ctrl-C on a sweep


def test_ctrl_c_on_a_sweep_then_rerun_recomputes_nothing_finished(reference, tmp_path, capfd, monkeypatch):
    execute = sweeps.execute

    def ctrl_c(count):
        if count == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(sweeps, "execute", lambda planned, *a, **k: execute(planned, *a, **k, after_tile=ctrl_c))
    out = tmp_path / "c.zarr"
    status, _, err = cli([*SWEEP, "--out", out], capfd)
    assert status == 130 and err == "sharpness: interrupted\n"
    monkeypatch.undo()
    assert sweeps.load(out)["tile_done"].values.sum() == 3
    summary, _ = sweep_into(out, capfd)
    assert summary == {"out": str(out), "tiles": TILES, "computed": TILES - 3, "skipped": 3}
    np.testing.assert_array_equal(values(out), reference[1])
    np.testing.assert_array_equal(sweeps.load(out)["tile_done"].values, sweeps.load(reference[0])["tile_done"].values)


# ------------------------------------------------------------------------------------------------------------------
# The report: tiny sizes, stubbed non-sweep sections


class TinySettings(report.Settings):
    """Two tiles per sweep; the quick and the full report differ, as the real ones do."""

    def __init__(self, quick):
        super().__init__(quick)
        self.phase = ("lam=0.2:5:12", "n=1:4096:3:log", "40") if quick else ("lam=0.2:5:16", "n=1:4096:4:log", "50")
        self.lyapunov_points = "40" if quick else "48"
        self.lyapunov_steps = "300" if quick else "400"


def stub_sections(monkeypatch, stub_all=False) -> dict:
    """Replace the non-sweep sections (all, with ``stub_all``) by stubs that draw placeholder figures, and count the
    calls of every section; the LaTeX is a stub too (it reads the stubbed sections)."""
    calls = {section.name: 0 for section in report.SECTIONS}
    monkeypatch.setattr(runner, "Settings", TinySettings)
    monkeypatch.setattr(runner, "tex_document",
                        lambda results: "\\documentclass{article}\\begin{document}stub\\end{document}\n")
    stubs = []
    for section in report.SECTIONS:
        stubbed = stub_all or section.name not in ("phase_diagram", "lyapunov_sweep")

        def counted(run, section=section, stubbed=stubbed):
            calls[section.name] += 1
            if not stubbed:
                return section.compute(run)
            for figure in section.figures:
                run.figure(figure, lambda path: Path(path).write_bytes(b"stub " + path.encode()))
            return {"command": f"sharpness {section.name}", "result": {"stub": section.name}}

        stubs.append(replace(section, compute=counted))
    monkeypatch.setattr(runner, "SECTIONS", tuple(stubs))
    return calls


def set_compute(monkeypatch, name: str, compute) -> None:
    """The report's section ``name`` computed by ``compute`` (its other fields kept)."""
    monkeypatch.setattr(runner, "SECTIONS", tuple(replace(s, compute=compute) if s.name == name else s
                                                  for s in runner.SECTIONS))


def results_of(out: Path) -> dict:
    return json.loads((out / "results.json").read_text())


def test_quick_and_full_reports_share_an_output_directory(tmp_path, capfd, monkeypatch):
    calls = stub_sections(monkeypatch)
    out = tmp_path / "r"
    assert cli(["report", "--out", out, "--quick", "--quiet"], capfd)[0] == 0
    assert cli(["report", "--out", out, "--quiet"], capfd)[0] == 0
    full = results_of(out)
    assert full["quick"] is False and full["sections"]["phase_diagram"]["result"]["computed"] == 2
    assert cli(["report", "--out", out, "--quick", "--quiet"], capfd)[0] == 0
    quick = results_of(out)["sections"]
    for name in ("phase_diagram", "lyapunov_sweep"):  # each setting resumed its own stores
        assert quick[name]["result"]["computed"] == 0 and quick[name]["result"]["skipped"] == 2
        assert "/sweeps/quick/" in quick[name]["result"]["out"]
        assert "/sweeps/full/" in full["sections"][name]["result"]["out"]
    assert calls["phase_diagram"] == 3
    assert not any(p.name.startswith(".sharpness-report-") for p in out.iterdir())  # checkpoints removed


@pytest.mark.parametrize("name", ["report.tex", "results.json", "uv_flow.png"])
def test_report_never_overwrites_a_file_it_did_not_write(tmp_path, capfd, monkeypatch, name):
    calls = stub_sections(monkeypatch)
    out = tmp_path / "r"
    out.mkdir()
    (out / name).write_text("my own file\n")
    refused(["report", "--out", out, "--quick", "--quiet"], capfd, f"{out / name} exists and was not written by "
            "sharpness report; pass --overwrite")
    assert (out / name).read_text() == "my own file\n" and sum(calls.values()) == 0
    assert os.listdir(out) == [name]  # nothing created before the refusal
    assert cli(["report", "--out", out, "--quick", "--quiet", "--overwrite"], capfd)[0] == 0
    assert (out / name).read_text() != "my own file\n"


def test_report_replaces_its_own_files_but_not_edited_ones(tmp_path, capfd, monkeypatch):
    stub_sections(monkeypatch)
    out = tmp_path / "r"
    assert cli(["report", "--out", out, "--quick", "--quiet"], capfd)[0] == 0
    assert cli(["report", "--out", out, "--quick", "--quiet"], capfd)[0] == 0  # its own files: replaced
    manifest = json.loads((out / report.MANIFEST).read_text())["files"]
    assert {"report.tex", "results.json", "uv_flow.png", "uv_flow.pdf"} <= set(manifest)
    reference = tmp_path / "reference"  # a new file made by open(): the mode the umask gives
    reference.write_text("")
    for name in ("report.tex", "results.json", "uv_flow.png", report.MANIFEST):  # the report's files are not secret
        assert (out / name).stat().st_mode & 0o777 == reference.stat().st_mode & 0o777, name
    with open(out / "report.tex", "a") as tex:
        tex.write("% my notes\n")
    refused(["report", "--out", out, "--quick", "--quiet"], capfd, "report.tex exists and was not written by "
            "sharpness report; pass --overwrite")
    assert (out / "report.tex").read_text().endswith("% my notes\n")


def test_ctrl_c_in_the_report_then_rerun_recomputes_nothing_finished(tmp_path, capfd, monkeypatch):
    """Ctrl-C in the cascade (after the phase diagram): the rerun takes the finished sections from the checkpoint
    and computes only the rest. Ctrl-C inside the Lyapunov sweep after its first tile: the rerun computes only
    its other tile, and the store equals an uninterrupted sweep."""
    calls = stub_sections(monkeypatch)
    out = tmp_path / "r"
    cascade = next(s.compute for s in runner.SECTIONS if s.name == "cascade")

    def ctrl_c(run):
        raise KeyboardInterrupt

    set_compute(monkeypatch, "cascade", ctrl_c)
    status, _, err = cli(["report", "--out", out, "--quick", "--quiet"], capfd)
    assert status == 130 and err == "sharpness: interrupted\n"
    set_compute(monkeypatch, "cascade", cascade)
    execute = sweeps.execute

    def interrupt_lyapunov(planned, scheduler=None, progress=None, after_tile=None, client=None):
        def ctrl_c(count):
            if count == 1:
                raise KeyboardInterrupt
        return execute(planned, scheduler, progress, ctrl_c if "lyapunov" in str(planned["store"]) else after_tile,
                       client)

    monkeypatch.setattr(sweeps, "execute", interrupt_lyapunov)
    status, _, err = cli(["report", "--out", out, "--quick", "--quiet"], capfd)
    assert status == 130 and err == "sharpness: interrupted\n"
    monkeypatch.setattr(sweeps, "execute", execute)
    assert cli(["report", "--out", out, "--quick", "--quiet"], capfd)[0] == 0
    assert calls == {**{s.name: 1 for s in report.SECTIONS}, "lyapunov_sweep": 2}  # (the Ctrl-C stub uncounted)
    sections = results_of(out)["sections"]
    assert sections["phase_diagram"]["result"]["computed"] == 2  # from the first run, not recomputed
    assert sections["lyapunov_sweep"]["result"] == {"out": str(out / "sweeps" / "quick" / "uv_eos_lyapunov.zarr"),
                                                    "tiles": 2, "computed": 1, "skipped": 1}
    whole = sweeps.sweep("uv-eos", Axis.parse("k=0.8:2:40"), measure="lyapunov", out=str(tmp_path / "whole.zarr"),
                         steps=300, tile=32)
    assert whole.computed == 2
    np.testing.assert_array_equal(sweeps.load(out / "sweeps" / "quick" / "uv_eos_lyapunov.zarr")["lyapunov"].values,
                                  sweeps.load(tmp_path / "whole.zarr")["lyapunov"].values)
