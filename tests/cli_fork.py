"""Command-line runs in a forked process: a fork server that imported the toolkit once.

A fresh interpreter per command costs about a second of CPU before the command starts (the interpreter, numpy,
sympy, numba and the toolkit's modules). :class:`ForkServer` (:data:`DRIVER`, started with ``python -c``) pays it
once and forks one child per command, which calls ``main(argv)`` as ``python -c "import sys; from numerics.cli
import main; sys.exit(main(sys.argv[1:]))" ARGV`` does: an uncaught exception prints its traceback and exits 1;
non-daemon threads are joined, atexit callbacks run and stdio is flushed; only the module teardown is skipped. Each
child runs in its own working directory and process group, with stdin from /dev/null, optional ``RLIMIT_AS`` and
``RLIMIT_CPU``, a wall-time limit (the group is killed), and environment overrides applied before ``main`` (so only
settings read at call time can differ from the server's: the toolkit reads ``SHARPNESS_*`` at call time).

Tests that are about a fresh interpreter (imports, signals at start-up, what a planted file does on import, the
kernel cache across processes) start one themselves; the rest use :func:`run_cli`.
"""
import atexit
import json
import os
import subprocess
import sys
import tempfile

DRIVER = r'''
import atexit, gc, json, os, resource, signal, sys, threading, time

from numerics.cli import main  # the imports every case needs, done once
import numerics.cli.commands, numerics.cli.parser, numerics.cli.render  # noqa: F401
import analysis.product, analysis.safe_parse  # noqa: F401

for _name in sys.argv[1:]:  # what the server's user asks to have imported once (no module starts a thread on import)
    __import__(_name)


def limits(job):
    os.setpgid(0, 0)
    if job.get("mem"):
        resource.setrlimit(resource.RLIMIT_AS, (job["mem"], job["mem"]))
    if job.get("cpu"):
        resource.setrlimit(resource.RLIMIT_CPU, (job["cpu"], job["cpu"] + 5))
    os.environ.update(job.get("env", {}))
    for fd, path, flags in ((0, os.devnull, os.O_RDONLY), (1, job["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
                            (2, job["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)):
        new = os.open(path, flags, 0o644)
        os.dup2(new, fd)
        os.close(new)
    os.chdir(job["cwd"])


def loss_case(job):
    import sympy as sp
    from analysis import product
    from analysis.errors import UserInputError
    from analysis.safe_parse import parse_loss

    started = time.process_time()
    try:
        expr = parse_loss(job["text"], reserved=product.RESERVED, parameters=("y",))
        model = product.variant(loss=job["text"])
    except UserInputError as error:
        print(json.dumps({"refused": str(error), "seconds": time.process_time() - started}))
        return
    seconds = time.process_time() - started
    values = []
    for point in job["points"]:
        subs = {s: sp.Rational(point.get(s.name, job["default"])) for s in expr.free_symbols}
        value = sp.N(expr.subs(subs), 60)
        values.append([str(sp.re(value)), str(sp.im(value))])
    print(json.dumps({"accepted": sp.sstr(expr), "state": [s.name for s in model.state], "values": values,
                      "seconds": seconds}))


def finish(code):
    """Exit as ``sys.exit(code)`` at the top of ``python -c`` would: what the interpreter does before tearing the
    modules down (join non-daemon threads, run atexit callbacks, flush stdio), without the teardown itself, which
    costs ~0.4 s here (every object of the inherited heap is touched, so copied)."""
    if code is None:
        code = 0
    elif not isinstance(code, int):
        print(code, file=sys.stderr)
        code = 1
    try:
        threading._shutdown()
    except BaseException:
        sys.excepthook(*sys.exc_info())
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:
            code = code or 120  # what Py_FinalizeEx reports when flushing stdout fails
    os._exit(code & 0xFF)


def serve():
    gc.freeze()  # the inherited heap is never collected in the children
    for line in sys.stdin:
        job = json.loads(line)
        sys.stdout.flush()
        sys.stderr.flush()
        start = time.monotonic()
        pid = os.fork()
        if pid == 0:  # the case
            limits(job)
            try:
                if job["kind"] == "cli":
                    sys.argv = ["-c", *job["argv"]]
                    code = main(job["argv"])
                else:
                    code = loss_case(job)
            except SystemExit as stop:
                code = stop.code
            except BaseException:
                sys.excepthook(*sys.exc_info())  # as the interpreter does: "Traceback ..." on stderr, status 1
                code = 1
            finish(code)
        timed_out = False
        while True:
            done, status, usage = os.wait4(pid, os.WNOHANG)
            if done:
                break
            if time.monotonic() - start > job["wall"]:
                timed_out = True
                os.killpg(pid, signal.SIGKILL)
                done, status, usage = os.wait4(pid, 0)
                break
            time.sleep(0.01)
        try:
            os.killpg(pid, signal.SIGKILL)  # anything the case left behind
        except (ProcessLookupError, PermissionError):
            pass
        print(json.dumps({"status": os.waitstatus_to_exitcode(status), "timed_out": timed_out,
                          "wall": time.monotonic() - start, "cpu": usage.ru_utime + usage.ru_stime,
                          "maxrss_kb": usage.ru_maxrss}), flush=True)


serve()
'''


class ForkServer:
    """One :data:`DRIVER` process; :meth:`run` runs one job in a forked child and returns its outcome."""

    def __init__(self, env, root, index, preload=()):
        self.env, self.root, self.index, self.proc, self.preload = env, root, index, None, tuple(preload)

    def start(self):
        log = open(os.path.join(self.root, f"fork-server-{self.index}.log"), "ab")
        self.proc = subprocess.Popen([sys.executable, "-c", DRIVER, *self.preload], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=log, text=True, env=self.env, cwd=self.root)
        log.close()

    def run(self, job):
        if self.proc is None or self.proc.poll() is not None:
            self.start()
        try:
            self.proc.stdin.write(json.dumps(job) + "\n")
            self.proc.stdin.flush()
            line = self.proc.stdout.readline()
        except (BrokenPipeError, OSError):
            line = ""
        if not line:  # the server itself died (never the case's doing: cases run in children)
            self.close()
            return None
        return json.loads(line)

    def close(self):
        if self.proc is not None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None


# Imported once by the server of :func:`run_cli` (what nearly every command loads); importing them starts no thread.
PRELOAD = ("numpy", "sympy", "numba", "analysis.model", "numerics.iterated_map", "numerics.compile")

_servers = {}


def run_cli(argv, cwd, env=None, timeout=600) -> subprocess.CompletedProcess:
    """``sharpness ARGV`` in ``cwd`` (a directory), in a child of this process's fork server (started on first use
    with this process's environment), with ``env`` overriding variables: a :class:`subprocess.CompletedProcess` with
    text output. A command still running after ``timeout`` seconds is killed (``returncode`` -9)."""
    server = _servers.get(os.getpid())
    if server is None:
        root = tempfile.mkdtemp(prefix="cli-fork-")
        server = _servers[os.getpid()] = ForkServer(dict(os.environ), root, 0, preload=PRELOAD)
        atexit.register(server.close)
    with tempfile.TemporaryDirectory(prefix="cli-") as streams:
        out, err = os.path.join(streams, "out"), os.path.join(streams, "err")
        outcome = server.run({"kind": "cli", "argv": [str(a) for a in argv], "cwd": str(cwd), "stdout": out,
                              "stderr": err, "wall": timeout, "env": dict(env or {})})
        if outcome is None:
            raise RuntimeError("the command-line fork server died (not the command's doing: commands run in children)")
        with open(out, encoding="utf-8", errors="replace") as handle:
            stdout = handle.read()
        with open(err, encoding="utf-8", errors="replace") as handle:
            stderr = handle.read()
    return subprocess.CompletedProcess(["sharpness", *argv], outcome["status"], stdout, stderr)
