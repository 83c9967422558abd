"""Hostile input, round two (issue 24), the classes after the cache: concurrent writers, interrupts at every moment,
users' code that misbehaves, an ASCII terminal, wrong types through the API, grid axes out of range or at round-off,
budgets of ``basin`` and ``nn``, a finished ``nn`` run the UV comparison cannot use, and a Dask scheduler address
that is not a scheduler.

Each probe runs the command line (or ``python -c``) in its own process under the CPU, wall-time and address-space
limits of :mod:`tests.test_hostile`, with the derivation cache this test run shares (``tests/conftest.py``: warm
after the first probe), and checks the exit status and the one line on stderr; where a run must still be right,
its numbers are compared with a clean run's.
"""
from __future__ import annotations

import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from test_hostile import ROOT, WALL_LIMIT, _limits, cli, interrupt_after, python_probe, wait_for_lock

pytestmark = pytest.mark.slow  # process-level probes: concurrent writers, interrupts, misbehaving user code

MODEL_FILE = (ROOT / "examples" / "my_model.py").read_text()
DESCRIBE_BODY = ("    loss = (a * b - y) ** 2 / 2 + wd * (a ** 2 + b ** 2) / 2\n"
                 "    return CoordinateModel(loss=loss, step=eta, state=STATE)\n")


@pytest.fixture
def env():
    """This run's environment: the shared, signed derivation cache of tests/conftest.py (a warm cache keeps the
    probes cheap), this checkout first on the path."""
    return dict(os.environ, PYTHONPATH=str(ROOT), PYTHONDONTWRITEBYTECODE="1")


def one_line(out, status: int, *words) -> str:
    """Exit status ``status`` and exactly one line on stderr, ``sharpness: ...``, containing ``words``."""
    lines = out.stderr.splitlines()
    assert out.returncode == status and len(lines) == 1 and lines[0].startswith("sharpness: "), \
        (out.returncode, out.stderr[-2000:])
    assert all(word in lines[0] for word in words), lines[0]
    return lines[0]


def start(args, env, **options):
    """``python -m numerics.cli ARGS`` started (not waited for), under the limits."""
    return subprocess.Popen([sys.executable, "-m", "numerics.cli", *map(str, args)], cwd=ROOT, env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_limits, **options)


# ------------------------------------------------------------------------------------------------------------------
# Concurrent writers

SWEEP = ["sweep", "uv-eos", "--vary", "k=0.5:1.3:64", "--vary", "z=-0.5:0.5:64", "--steps", "20000", "--quiet",
         "--json"]
# the same grid run a thousand times longer (8e10 lane-steps, about 20 s at the orbit kernel's 4e9 steps/s): an
# interrupt at 2.5 s must find it running on a quiet machine with a warm cache (sweep tiles keep only final states,
# so 2e5 steps finished in under a second)
LONG_SWEEP = [*SWEEP[:SWEEP.index("--steps")], "--steps", "20000000", *SWEEP[SWEEP.index("--steps") + 2:]]


def test_a_second_sweep_into_the_same_store_is_refused_and_the_store_stays_right(env, tmp_path):
    """While one sweep writes a store, a second into the same store is refused at once (one line, exit 1); the
    first finishes, and its store holds exactly what a clean sweep into another store holds; a rerun then skips
    every tile."""
    store = tmp_path / "s.zarr"
    first = start([*SWEEP, "--out", store], env)
    try:
        wait_for_lock(tmp_path / ".s.zarr.lock", first)
        second = cli([*SWEEP, "--out", str(store)], env)
        assert one_line(second, 1) == (f"sharpness: error: --out {store} is being written by another process; wait "
                                       "for it to finish or use another store")
    finally:
        out, err = first.communicate(timeout=WALL_LIMIT)
    assert first.returncode == 0, err
    assert json.loads(out)["computed"] == 16
    clean = cli([*SWEEP, "--out", str(tmp_path / "clean.zarr")], env)
    assert clean.returncode == 0, clean.stderr
    from numerics import load_sweep

    np.testing.assert_array_equal(load_sweep(str(store))["outcome"].values,
                                  load_sweep(str(tmp_path / "clean.zarr"))["outcome"].values)
    again = cli([*SWEEP, "--out", str(store)], env)
    assert again.returncode == 0 and json.loads(again.stdout)["skipped"] == 16, again.stderr


def test_a_second_report_into_the_same_directory_is_refused_in_one_line(env, tmp_path):
    """A report writing --out holds the lock beside it (``.NAME.lock``); a second report into it meanwhile is
    refused at once with one line, exit 1, and nothing in the directory is called foreign. The first writer is
    played by this test holding that lock (a real report takes a minute)."""
    out = tmp_path / "r"
    with open(tmp_path / ".r.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        second = cli(["report", "--quick", "--quiet", "--out", str(out)], env)
    assert one_line(second, 1) == (f"sharpness: error: --out {out} is being written by another process; wait for "
                                   "it to finish or use another directory")
    assert not out.exists()


# ------------------------------------------------------------------------------------------------------------------
# Interrupts

@pytest.mark.parametrize("args, delay", [
    (["run", "uv-eos", "--set", "k=1.2", "--steps", "300000000", "--every", "1000000", "--json"], 0.1),  # imports
    (["run", "uv-eos", "--set", "k=1.2", "--steps", "300000000", "--every", "1000000", "--json"], 0.6),
    (["run", "uv-eos", "--set", "k=1.2", "--steps", "300000000", "--every", "1000000", "--json"], 1.5),  # kernels
    ([*LONG_SWEEP, "--out", "{tmp}/s.zarr"], 0.4),   # imports
    ([*LONG_SWEEP, "--out", "{tmp}/s.zarr"], 1.5),   # Dask starting
    ([*LONG_SWEEP, "--out", "{tmp}/s.zarr"], 2.5),   # tiles running
    (["nn", "--set", "eta=0.05", "--steps", "300", "--samples", "300", "--quiet"], 1.0),  # torch importing
    (["report", "--quick", "--quiet", "--out", "{tmp}/report"], 0.5),
])
def test_sigint_at_every_moment_ends_with_130(env, tmp_path, args, delay):
    """SIGINT during the imports, the start of Dask, the compiled kernels (where numba turns the interrupt into a
    SystemError) and the work: exit status 130 within 10 s and ``sharpness: interrupted`` as the last line
    (earlier lines are progress bars). The interpreter's own start-up (its first ~50 ms, before any code of the
    toolkit runs) is Python's."""
    interrupt_after(delay, [a.replace("{tmp}", str(tmp_path)) for a in args], env)


# ------------------------------------------------------------------------------------------------------------------
# Users' code

MISBEHAVING = {
    "raises": ("    raise RuntimeError('no description today')\n",
               "describe('default') raised RuntimeError: no description today"),
    "returns-int": ("    return 42\n", "describe('default') returned int, not a CoordinateModel or GramModel"),
    "exits": ("    import sys\n    sys.exit(0)\n", "describe('default') called sys.exit(0)"),
    "empty-state": ("    return CoordinateModel(loss=(a * b - y) ** 2 / 2, step=eta, state=())\n",
                    "describe('default') returned a description with an empty state"),
    "undeclared": ("    z = sp.Symbol('z', real=True)\n    loss = (a * b - y) ** 2 / 2 + z * a ** 2\n"
                   "    return CoordinateModel(loss=loss, step=eta, state=STATE)\n",
                   "describe('default'): the loss uses z, which is neither a parameter"),
    "abs": ("    loss = (a * b - y) ** 2 / 2 + wd * sp.Abs(a)\n    return CoordinateModel(loss=loss, step=eta, "
            "state=STATE)\n", "describe('default'): the loss uses Abs"),
}
COMMANDS = (["fixed-points", "{model}", "--set", "eta=0.5"], ["run", "{model}", "--set", "eta=0.5", "--steps", "50"],
            ["crosscheck", "{model}", "--set", "eta=0.5"], ["lyapunov", "{model}", "--set", "eta=0.5"],
            ["derive", "{model}"])


@pytest.mark.parametrize("kind", sorted(MISBEHAVING))
def test_a_misbehaving_model_file_is_one_line_naming_it_in_every_command(env, tmp_path, kind):
    """A model file whose ``describe`` raises, returns something else, exits, has an empty state, uses an
    undeclared symbol (which a generated kernel would meet as a NameError) or a non-smooth function: exit 2 and one
    line naming the file and what is wrong, in every command. The commands run in one process through
    ``numerics.cli.main`` (the exit itself is checked through the real command line once, for ``sys.exit``)."""
    body, what = MISBEHAVING[kind]
    assert DESCRIBE_BODY in MODEL_FILE
    model = tmp_path / f"{kind}.py"
    model.write_text(MODEL_FILE.replace(DESCRIBE_BODY, body))
    code = f"""
import contextlib, io, json
from numerics.cli import main
results = []
for args in {[[a.replace("{model}", str(model)) for a in c] for c in COMMANDS]!r}:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        status = main(args)
    results.append([status, err.getvalue()])
print(json.dumps(results))
"""
    out = python_probe(code, env)
    assert out.returncode == 0, out.stderr[-2000:]
    for args, (status, err) in zip(COMMANDS, json.loads(out.stdout)):
        assert status == 2 and err.count("\n") == 1, (args, err)
        assert err.startswith(f"sharpness: error: model file {model}: {what}"), (args, err)
    if kind == "exits":
        one_line(cli(["run", str(model), "--set", "eta=0.5", "--steps", "50"], env), 2, str(model), "sys.exit(0)")


def test_a_model_file_that_exits_on_import_and_a_factory_that_exits(env, tmp_path):
    """``sys.exit`` at the top of a model file, in an ``nn --model`` factory and in the factory's file: exit 2,
    one line naming the file (it used to end the tool with the file's status and no output)."""
    model = tmp_path / "exits.py"
    model.write_text("import sys\nsys.exit(0)\n")
    one_line(cli(["fixed-points", str(model)], env), 2, f"model file {model}: importing it called sys.exit(0)")
    factory = tmp_path / "factory.py"
    factory.write_text("import sys\ndef make(shape, outputs):\n    sys.exit(3)\n")
    nn = ["nn", "--set", "eta=0.05", "--steps", "2", "--quiet", "--model"]
    one_line(cli([*nn, f"{factory}:make"], env), 2, f"--model {factory}:make: make(", "called sys.exit(3)")
    factory.write_text("import sys\nsys.exit(1)\n")
    one_line(cli([*nn, f"{factory}:make"], env), 2, f"importing {factory} called sys.exit(1)")


# ------------------------------------------------------------------------------------------------------------------
# An ASCII terminal

def test_output_on_an_ascii_terminal(env):
    """With an ASCII-only stdout the plus-minus sign is written ``+/-`` (the CLI's output layer), the numbers are
    those of a UTF-8 run, and there is no UnicodeEncodeError."""
    args = ["lyapunov", "uv-eos", "--set", "k=1.2", "--steps", "20000"]
    ascii_run = cli(args, dict(env, PYTHONIOENCODING="ascii"))
    utf8_run = cli(args, dict(env, PYTHONIOENCODING="utf-8"))
    assert ascii_run.returncode == 0 and utf8_run.returncode == 0, ascii_run.stderr[-1000:]
    assert ascii_run.stdout.isascii() and "+/-" in ascii_run.stdout
    assert ascii_run.stdout == utf8_run.stdout.replace("\u00b1", "+/-")


# ------------------------------------------------------------------------------------------------------------------
# Types, grids and budgets

def test_wrong_types_through_the_api_are_one_line_errors(env, tmp_path):
    """Each wrong call raises a TypeError or ValueError (a UserInputError) with a one-line message that names the
    argument, before any work; none is a deep traceback from NumPy or an AttributeError."""
    code = f"""
from analysis import load_model
from analysis.errors import UserInputError
from numerics import Axis, IteratedMap, sweep
out = {str(tmp_path / 'a.zarr')!r}
cases = {{
    "IteratedMap(['uv'])": (lambda: IteratedMap(['uv']), TypeError, "model must be"),
    "run(init=[1, 2])": (lambda: IteratedMap('uv-eos', values={{'k': 1.2}}).run(10, init=[1, 2]), TypeError, "init"),
    "values=[1]": (lambda: IteratedMap('uv-eos', [1]), TypeError, "values"),
    "sweep(steps=0)": (lambda: sweep('uv-eos', Axis('k', [1.0, 1.2]), steps=0, out=out), ValueError, "steps"),
    "sweep(tile=0)": (lambda: sweep('uv-eos', Axis('k', [1.0, 1.2]), tile=0, out=out), ValueError, "tile"),
    "sweep(tile=True)": (lambda: sweep('uv-eos', Axis('k', [1.0, 1.2]), tile=True, out=out), ValueError, "tile"),
    "sweep 1e300": (lambda: sweep('uv-eos', Axis('k', [-1e300, 1e300]), out=out), ValueError, "1e+15"),
    "basin 'a'": (lambda: IteratedMap('uv', values={{'eta': 0.5, 'n': 4, 'y': 1}}).basin(
        [('f', ['a', 1]), ('lam', [0.1, 1])], steps=10), ValueError, "real numbers"),
    "basin 1e300": (lambda: IteratedMap('uv', values={{'eta': 0.5, 'n': 4, 'y': 1}}).basin(
        [('f', [-1e300, 1e300]), ('lam', [0.1, 1])], steps=10), ValueError, "1e+15"),
    "depth=1.5": (lambda: load_model('product', depth=1.5), ValueError, "depth must be an integer"),
    "depth=True": (lambda: load_model('product', depth=True), ValueError, "depth must be an integer"),
}}
for name, (call, kind, word) in cases.items():
    try:
        call()
    except UserInputError as error:
        assert isinstance(error, kind) and word in str(error) and "\\n" not in str(error), (name, error)
    else:
        raise AssertionError(name + " accepted")
print("ok")
"""
    out = python_probe(code, env)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]
    assert not (tmp_path / "a.zarr").exists()


def test_round_off_for_zero_on_a_grid_is_zero(env):
    """``linspace(-0.3, 0.5, 9)`` computes 5.55e-17 for the value between -0.1 and 0.1: below the smallest
    magnitude a value may have (1e-15), but round-off for 0. The axis makes it 0, so the orbit diagram runs, and its
    orbit at y = 0 is exactly the one a run at ``--set y=0`` computes (the same compiled kernel from the same
    start, so equal to the last bit)."""
    diagram = cli(["bifurcation", "uv", "--set", "eta=0.5", "--set", "n=4", "--vary", "y=-0.3:0.5:9", "--json"], env)
    assert diagram.returncode == 0, diagram.stderr
    result = json.loads(diagram.stdout)
    assert result["values"][3] == 0.0
    alone = cli(["bifurcation", "uv", "--set", "eta=0.5", "--set", "n=4", "--vary", "y=0,1", "--json"], env)
    assert alone.returncode == 0, alone.stderr
    assert json.loads(alone.stdout)["orbits"][0] == result["orbits"][3]


@pytest.mark.parametrize("args, words", [
    (["sweep", "uv-eos", "--vary", "k=-1e300:1e300:4", "--out", "{tmp}/s.zarr", "--quiet"], ["k must be 0 or of "
                                                                                             "magnitude"]),
    (["basin", "uv", "--set", "eta=0.5", "--set", "n=4", "--set", "y=1", "--grid", "f=-1e300:1e300:8", "--grid",
      "lam=0.1:1:8"], ["f must be 0 or of magnitude"]),
    # 9e8 initial states: refused from the estimate (TiB) before the mesh is allocated (RLIMIT_AS is 3 GiB)
    (["basin", "uv", "--set", "eta=0.5", "--set", "n=4", "--set", "y=1", "--grid", "f=-1:1:30000", "--grid",
      "lam=0.1:1:30000"], ["a basin of 900,000,000 initial states would need", "--max-memory"]),
    (["nn", "--set", "eta=0.1", "--steps", "1000000000", "--quiet"], ["1,000,000,000 steps would need",
                                                                        "--max-memory"]),
    (["nn", "--set", "eta=0.1", "--steps", "1000000000", "--max-memory", "1000G", "--quiet"],
     ["is estimated at", "days", "--force"]),
    (["nn", "--vary", "eta=0.1:0.2:1000000", "--quiet"], ["1,000,000 training runs", "--max-memory"]),
    (["nn", "--vary", "eta=0.1:0.2:100000000", "--quiet"], ["at most 1,000,000 points per axis"]),
])
def test_out_of_range_grids_and_budgets_are_refused_before_any_work(env, tmp_path, args, words):
    started = time.monotonic()
    out = cli([a.replace("{tmp}", str(tmp_path)) for a in args], env)
    one_line(out, 2, "sharpness: error: ", *words)
    assert time.monotonic() - started < 20 and not (tmp_path / "s.zarr").exists()


def test_a_forced_nn_run_passes_the_time_budget(env):
    """``--force`` lets a run estimated beyond a day start: interrupted after the start, it was running."""
    proc = start(["nn", "--set", "eta=0.1", "--steps", "300000000", "--max-memory", "100G", "--force", "--quiet",
                  "--samples", "50"], env)
    time.sleep(4)
    running = proc.poll() is None
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=10)
    assert running and proc.returncode == 130, err[-1000:]


def test_nn_keeps_a_finished_run_the_uv_comparison_refuses(env, tmp_path):
    """eta = 1e300 diverges at once; its eta*lam0 is beyond the UV model's value bounds, so there is no UV
    comparison: one warning line says so, the run is kept in --out and printed, exit status 0."""
    target = tmp_path / "runs.json"
    out = cli(["nn", "--set", "eta=1e300", "--steps", "3", "--samples", "50", "--quiet", "--json", "--out",
               str(target)], env)
    line = one_line(out, 0, "sharpness: warning: eta=1e+300: the run is kept, without the UV comparison")
    assert "1e+15" in line
    printed = json.loads(out.stdout)
    stored = json.loads(target.read_text())["runs"]["1e+300"]
    assert printed["outcome"]["name"] == stored["outcome"]["name"] == "diverged"
    assert printed["uv_prediction"] is None and stored["uv_prediction"] is None


# ------------------------------------------------------------------------------------------------------------------
# A Dask scheduler address that is not a scheduler

def _silent_listener(server: socket.socket, stop: threading.Event):
    held = []
    server.settimeout(0.2)
    while not stop.is_set():
        try:
            held.append(server.accept()[0])
        except socket.timeout:
            continue
    for connection in held:
        connection.close()


def _http_server():
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the name http.server calls
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"<html>a dashboard</html>")

        def log_message(self, *args):
            pass

    return ThreadingHTTPServer(("127.0.0.1", 0), Handler)


@pytest.mark.parametrize("command, kind", [("sweep", "silent"), ("sweep", "http"), ("nn", "http")])
def test_a_scheduler_address_that_is_not_a_scheduler_is_one_line_within_seconds(env, tmp_path, command, kind):
    """A TCP listener that never answers (distributed would wait for its handshake past every timeout) and an HTTP
    server (distributed read its reply as a huge frame: "out of memory"): one line each, its own, within 10 s, and
    no store created; the same for a network grid (``nn``), which connects through the same check."""
    stop = threading.Event()
    if kind == "silent":
        server = socket.socket()
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        serve = threading.Thread(target=_silent_listener, args=(server, stop), daemon=True)
    else:
        server = _http_server()
        serve = threading.Thread(target=server.serve_forever, daemon=True)
    serve.start()
    address = f"tcp://127.0.0.1:{server.getsockname()[1] if kind == 'silent' else server.server_address[1]}"
    try:
        started = time.monotonic()
        store = tmp_path / ("s.zarr" if command == "sweep" else "s.json")
        argv = (["sweep", "uv-eos", "--vary", "k=1:1.2:4", "--steps", "10"] if command == "sweep" else
                ["nn", "--vary", "eta=0.1,0.2", "--steps", "2", "--samples", "64"])
        out = cli([*argv, "--quiet", "--out", str(store), "--scheduler", address], env)
        elapsed = time.monotonic() - started
    finally:
        stop.set()
        serve.join(timeout=5)  # the listener must not be inside accept() when its socket is closed
        if kind == "http":
            server.shutdown()
        server.close() if kind == "silent" else server.server_close()
    expected = ("sent no Dask handshake within 5 s" if kind == "silent" else
                "is an HTTP server, not a Dask scheduler")
    one_line(out, 2, address, expected)
    assert elapsed < 12 and not store.exists()
