"""Network grids on Dask (numerics.nn.grid, ``sharpness nn --vary ... --vary ...``): a grid on a two-worker local
cluster equals the same runs made one at a time, to the bit; a worker killed mid-grid loses nothing (its run is
given to another worker); an interrupted grid keeps its finished runs and a rerun computes only the missing ones;
the store is the eta sweep's, so their files resume each other.

Tiny runs (64 digits, width 8 or 16, tens of steps: well under a second each); the clusters have two workers of
one thread each (the machine has two cores)."""
import contextlib
import io
import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from analysis.errors import UserInputError
from numerics import Axis, nn, sweeps
from numerics.cli import main

ROOT = Path(__file__).resolve().parents[3]
torch_required = pytest.mark.skipif(not pytest.importorskip("importlib").util.find_spec("torch"),
                                    reason="PyTorch is the optional [torch] extra")
# one xdist worker for the module: its tests share one two-worker cluster (the machine has two cores)
pytestmark = [torch_required, pytest.mark.xdist_group("nn_grid"), pytest.mark.slow]  # clusters of processes

# 2 step sizes x 2 widths x 2 seeds, the sharpness at every step (so the EoS observables are computed too).
SETTINGS = ["--samples", "64", "--steps", "40", "--measure-every", "1"]
GRID = ["--vary", "eta=0.1,0.3", "--vary", "width=8,16", "--vary", "seed=0,1"]
CELLS = [(eta, width, seed) for eta in (0.1, 0.3) for width in (8, 16) for seed in (0, 1)]


def cli_json(capsys, argv) -> dict:
    capsys.readouterr()
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert status == 0, err
    return json.loads(out)


def without_elapsed(run: dict) -> dict:
    """A run's JSON without its wall-clock time, the one field that is not reproducible."""
    return {key: value for key, value in run.items() if key != "elapsed"}


@pytest.fixture(scope="module")
def cluster():
    """A local cluster of two single-threaded worker processes (each behind a nanny, as ``dask worker`` starts
    them), and a client of the test's own to look at it."""
    import dask
    from distributed import Client, LocalCluster

    with dask.config.set(sweeps.WORKER_ENVIRONMENT), LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      scheduler_kwargs={"dashboard_address": "127.0.0.1:0"}, silence_logs=logging.CRITICAL,
                      preload=[sweeps.WORKER_SETUP]) as local, Client(local) as client:
        client.get_task_stream()  # the scheduler records the task stream from now on (which worker ran what)
        yield local.scheduler_address, client


@pytest.fixture(scope="module")
def one_at_a_time():
    """The runs of :data:`CELLS` made one at a time, each by its own ``sharpness nn --set eta=E --width W --seed S
    --json`` in this process: ``{(eta, width, seed): run JSON}``."""
    runs = {}
    for eta, width, seed in CELLS:
        stdout = io.StringIO()  # capsys is function-scoped
        with contextlib.redirect_stdout(stdout):
            status = main(["nn", "--set", f"eta={eta}", "--width", str(width), "--seed", str(seed), *SETTINGS,
                           "--json", "--quiet"])
        assert status == 0
        runs[eta, width, seed] = json.loads(stdout.getvalue())
    return runs


def test_grid_on_two_workers_equals_the_runs_made_one_at_a_time(cluster, one_at_a_time, tmp_path, capsys):
    """The 8 runs of a 2 x 2 x 2 grid, as Dask tasks spread over both workers, are the runs made one at a time in
    this process, field for field and bit for bit (each run is seeded, full batch, one PyTorch thread); the store
    holds each under its cell."""
    address, client = cluster
    start = time.time()
    out = tmp_path / "grid.json"
    grid = cli_json(capsys, ["nn", *GRID, *SETTINGS, "--out", out, "--scheduler", address, "--json", "--quiet"])
    assert grid["axes"] == ["eta=0.1:0.3:2", "width=8:16:2", "seed=0:1:2"]
    assert (grid["computed"], grid["skipped"]) == (8, 0)
    assert [(c["eta"], c["width"], c["seed"]) for c in grid["cells"]] == CELLS
    for cell, run in zip(CELLS, grid["runs"]):
        assert (run["eta"], run["width"], run["seed"]) == cell
        assert without_elapsed(run) == without_elapsed(one_at_a_time[cell]), cell
    # one task per run, run on both workers
    tasks = [t for t in client.get_task_stream(start=start) if "train_cell" in t["key"]]
    assert len(tasks) == 8 and len({t["worker"] for t in tasks}) == 2
    stored = json.loads(out.read_text())
    assert sorted(stored["runs"]) == sorted(f"eta={e!r},seed={s},width={w}" for e, w, s in CELLS)
    assert "width" not in stored["settings"] and stored["settings"]["samples"] == 64
    # a rerun reads everything back and starts no cluster at all
    again = cli_json(capsys, ["nn", *GRID, *SETTINGS, "--out", out, "--json", "--quiet"])
    assert (again["computed"], again["skipped"]) == (0, 8) and again["runs"] == grid["runs"]


def test_a_worker_killed_mid_grid_loses_nothing(cluster, tmp_path):
    """When the first run is saved, the worker that ran it has started another one: that worker is killed
    (SIGKILL, as a machine that dies). The scheduler gives its runs to the other worker, the grid completes in the
    same call with every run saved, and every run equals the same run made in this process."""
    _, client = cluster
    settings = dict(samples=64, steps=150, measure_every=1, width=8)  # ~0.7 s per run: the kill lands mid-run
    etas = [0.1, 0.15, 0.2, 0.25]
    killed = {}
    nn.uv_prediction(1.0, 8)  # the driver's first UV comparison compiles the UV model: not while the runs finish
    start = time.time()

    def kill_a_busy_worker(count):
        if count != 1:
            return
        first = next(t["worker"] for t in client.get_task_stream(start=start) if "train_cell" in t["key"])
        deadline = time.monotonic() + 10
        while not client.processing()[first] and time.monotonic() < deadline:  # its next run is being assigned
            time.sleep(0.01)
        keys = client.processing()[first]
        pid = client.run(os.getpid, workers=[first])[first]
        os.kill(pid, signal.SIGKILL)
        killed.update(worker=first, keys=set(keys))

    out = tmp_path / "killed.json"
    # on the test's own client (client=), which the hook uses too: two clients of one process must not be used
    # from inside each other's loop
    grid = nn.network_grid(Axis("eta", etas), str(out), client=client, after_run=kill_a_busy_worker, **settings)
    assert killed["keys"], "the killed worker was running nothing"
    assert (grid.computed, grid.skipped) == (4, 0)
    assert sorted(json.loads(out.read_text())["runs"]) == sorted(repr(eta) for eta in etas)
    # the runs the killed worker held were finished by another worker
    finished_by = {t["key"]: t["worker"] for t in client.get_task_stream(start=start) if "train_cell" in t["key"]}
    assert len(finished_by) == 4
    assert all(finished_by[key] != killed["worker"] for key in killed["keys"])
    for eta, run in zip(etas, grid.runs):
        alone = nn.eta_sweep([eta], **settings)[0]
        assert without_elapsed(run.to_dict()) == without_elapsed(alone.to_dict()), eta


def test_an_interrupted_grid_reruns_only_the_missing_runs(cluster, one_at_a_time, tmp_path, capsys, monkeypatch):
    """Ctrl-C after two runs are saved (on the default local cluster): status 130, the two runs kept; the rerun
    (on a running cluster, to save the start of another) computes the other six, reads the two back, and the grid
    equals the runs made one at a time."""
    grid = nn.network_grid

    def interrupt_after_two(*args, **kwargs):
        def after_run(count):
            if count == 2:
                raise KeyboardInterrupt

        return grid(*args, after_run=after_run, **kwargs)

    monkeypatch.setattr(nn, "network_grid", interrupt_after_two)
    out = tmp_path / "interrupted.json"
    capsys.readouterr()
    handler = signal.getsignal(signal.SIGINT)
    try:
        assert main(["nn", *GRID, *SETTINGS, "--out", str(out), "--json", "--quiet"]) == 130
    finally:  # an interrupted main() ignores SIGINT from then on (the process is about to end)
        signal.signal(signal.SIGINT, handler)
    assert capsys.readouterr().err == "sharpness: interrupted\n"
    assert len(json.loads(out.read_text())["runs"]) == 2
    monkeypatch.undo()
    resumed = cli_json(capsys, ["nn", *GRID, *SETTINGS, "--out", out, "--scheduler", cluster[0], "--json",
                                "--quiet"])
    assert (resumed["computed"], resumed["skipped"]) == (6, 2)
    for cell, run in zip(CELLS, resumed["runs"]):
        assert without_elapsed(run) == without_elapsed(one_at_a_time[cell]), cell


def test_ctrl_c_at_the_terminal_ends_a_grid_at_once_in_one_line(tmp_path):
    """SIGINT to the whole process group, as a terminal's Ctrl-C sends it (to the command and to the worker
    processes of its local cluster), once a run is saved: status 130, stderr exactly ``sharpness: interrupted``
    from the command's own unwinding (not the 3 s grace timer's, which starts with a newline; no worker's
    traceback, no warning about leaked semaphores: the workers ignore SIGINT and are stopped at once), the saved
    runs kept, and no process of the group left."""
    out = tmp_path / "grid.json"
    proc = subprocess.Popen([sys.executable, "-m", "numerics.cli", "nn", "--vary", "eta=0.1:0.3:6", "--samples", "64",
                             "--steps", "150", "--measure-every", "1", "--out", str(out), "--quiet"],
                            env=dict(os.environ, PYTHONPATH=str(ROOT)), cwd=tmp_path, start_new_session=True,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            # as from a shell: an interrupted main() in this process leaves SIGINT ignored here
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 120
        while not out.exists():
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[1][-2000:]
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert (proc.returncode, err) == (130, "sharpness: interrupted\n")
    assert 1 <= len(json.loads(out.read_text())["runs"]) < 6
    deadline = time.monotonic() + 10
    while True:  # the worker processes are gone too
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            break
        assert time.monotonic() < deadline, "worker processes outlived the command"
        time.sleep(0.05)


def test_a_run_that_kills_its_workers_ends_the_grid_in_one_line(tmp_path, capsys):
    """A user's model whose factory kills the process that calls it: each worker that runs it dies, the scheduler
    tries another, and after ``allowed-failures`` deaths (here 1, to keep the test short) the grid ends with one
    line naming what happened, exit status 2, nothing written."""
    import dask

    factory = tmp_path / "crash.py"
    factory.write_text("import os, signal\n\n\ndef make(input_shape, outputs):\n"
                       "    os.kill(os.getpid(), signal.SIGKILL)\n")
    out = tmp_path / "crash.json"
    capsys.readouterr()
    with dask.config.set({"distributed.scheduler.allowed-failures": 1}):
        status = main(["nn", "--vary", "eta=0.1,0.2", "--model", f"{factory}:make", "--samples", "64", "--steps", "2",
                       "--out", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1, err
    assert "2 Dask workers in turn died running one task (out of memory? a crash in the task?)" in err
    assert f"{out} keeps 0 run(s) (0 finished this time)" in err and not out.exists()


def test_a_command_that_ends_by_os_exit_leaves_no_warning_of_its_cluster(tmp_path):
    """The interrupt's last resort (numerics.cli: ``os._exit`` once its grace period is over, which a loaded machine
    can reach) skips the clean-up of the local cluster's multiprocessing queues: multiprocessing's resource tracker
    removes their semaphores, and says nothing on the command's stderr (it would print a "leaked semaphore objects"
    warning after the one line)."""
    script = ("import os, sys\nfrom numerics import sweeps\ncontext = sweeps.connect(None, processes=1)\n"
              "client = context.__enter__()\nprint(client.submit(abs, -1).result())\nsys.stdout.flush()\n"
              "os._exit(0)\n")
    done = subprocess.run([sys.executable, "-c", script], env=dict(os.environ, PYTHONPATH=str(ROOT)), cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert (done.returncode, done.stdout, done.stderr) == (0, "1\n", "")


def test_eta_sweep_files_and_eta_grids_resume_each_other(tmp_path):
    """A grid over eta alone keeps the eta sweep's file format (runs keyed by repr(eta), the same key): a file of
    ``eta_sweep`` is read back by the grid, which computes nothing (and so starts no cluster), and the other way
    round."""
    settings = dict(samples=64, steps=10, width=8)
    out = str(tmp_path / "etas.json")
    swept = nn.eta_sweep([0.1, 0.2], out, **settings)
    grid = nn.network_grid(Axis("eta", [0.1, 0.2]), out, **settings)
    assert (grid.computed, grid.skipped) == (0, 2)
    assert [without_elapsed(r.to_dict()) for r in grid.runs] == [without_elapsed(r.to_dict()) for r in swept]
    started = []
    nn.eta_sweep([0.2, 0.1], out, on_start=lambda i, eta, done: started.append(done), **settings)
    assert started == [True, True]


def test_grid_refuses_bad_input_before_any_work(tmp_path, capsys):
    """Names train cannot vary, a setting both varied and given, non-integer widths, a file of other settings, an
    unreachable scheduler: one error each, nothing written."""
    with pytest.raises(UserInputError, match="unknown setting 'dataset'"):
        nn.network_grid(Axis("dataset", [1.0]))
    with pytest.raises(UserInputError, match="width is both varied and given"):
        nn.network_grid([Axis("eta", [0.1]), Axis("width", [8, 16])], width=8)
    with pytest.raises(UserInputError, match="width must be an integer, got 8.5"):
        nn.network_grid([Axis("eta", [0.1]), Axis("width", [8.5])])
    with pytest.raises(UserInputError, match="each setting once"):
        nn.network_grid([Axis("eta", [0.1]), Axis("eta", [0.2])])
    out = tmp_path / "s.json"
    nn.eta_sweep([0.1], str(out), samples=64, steps=2, width=8)
    with pytest.raises(UserInputError, match="other settings"):
        nn.network_grid([Axis("eta", [0.1]), Axis("width", [8])], str(out), samples=64, steps=2)
    fresh = tmp_path / "fresh.json"
    capsys.readouterr()
    assert main(["nn", *GRID, *SETTINGS, "--out", str(fresh), "--scheduler", "tcp://127.0.0.1:1", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot reach the Dask scheduler at tcp://127.0.0.1:1" in err
    assert not fresh.exists()
