"""Fuzz test of the ``sharpness`` command line and of the ``--loss`` parser (issue: "no traceback, no hang, bounded
memory, no wrong answer with exit 0").

Design
------
* **Generation** (Hypothesis, ``derandomize=True``, no database, no shrinking): one strategy per subcommand
  (``models``, ``derive``, ``fixed-points``, ``run``, ``bifurcation``, ``basin``, ``cascade``, ``crosscheck``,
  ``width-scan``, ``lyapunov``, ``sweep``, ``phase-diagram``, plus token soup; ``nn`` and ``report`` are too slow),
  each with a quota of the cases (:data:`CLI_STRATEGIES`), over model names (registered and junk, paths included),
  parameterizations, ``--set``/``--init`` names (right and wrong) and values (typical, 0, negative, huge such as
  1e400 and 1e999999999, tiny such as 1e-400, nan, inf, fractions, junk text), step counts and other sizes (1 up to
  10^15 and beyond), option presence and absence and order, paths, and ``--loss`` texts from the loss grammar of
  :mod:`analysis.safe_parse`. A case starts from a complete valid command and gets 0, 1 or 2 deliberate faults
  (:class:`Junk`), so that a fault is not hidden behind an earlier one and the computations themselves run.
  Sizes are either small or beyond the library's one-day work refusal, never in between, and ``--force`` is never
  combined with a huge size: both would be legitimately long runs, not hangs. Hypothesis only *generates*: the
  cases are collected first (the same list on every run; every third example, as Hypothesis generates runs of
  near-copies), then executed two at a time. Every failure is collected and reported, not only the first
  (shrinking would re-run multi-second commands). :data:`EXPLICIT_CASES` always run: every junk model name and
  the failures this test found, as regression examples.
* **Execution**: every case is its own process. A fork server (:data:`tests.cli_fork.DRIVER`, one per worker, started with
  ``python -c``) imports the toolkit once and forks one child per case, which calls ``main(argv)`` as
  ``python -c "import sys; from numerics.cli import main; sys.exit(main(sys.argv[1:]))" ARGV`` does (an uncaught
  exception prints its traceback and exits 1; then non-daemon threads are joined, atexit callbacks run and stdio
  is flushed; only the module teardown, 0.4 s of copy-on-write, is skipped), in its own empty working directory,
  with stdin from /dev/null, ``RLIMIT_AS`` (memory), ``RLIMIT_CPU`` (a CPU-bound hang) and a wall-time limit (a
  blocked hang: the process group is killed). This saves ~1.4 s per case; a crash, a kill or a hang is still
  attributed to exactly one case. Every suspect case is re-run with the exact ``python -c`` command in a fresh
  interpreter and a new directory (same limits), and only that run is reported; ``SHARPNESS_FUZZ_FRESH=1`` runs
  every case that way (about twice as slow).
* **Environment**: one derivation cache shared by all cases (the session's ``SHARPNESS_CACHE_DIR``),
  ``SHARPNESS_MAX_MEMORY=1G``, and ``SHARPNESS_DERIVATION_BUDGET`` (the library's own wall-time budget for
  deriving a user loss, default 120 s) below the CPU limit, so that a slow derivation must end in a one-line
  refusal rather than count as a hang.
* **Checks** (:func:`cli_problems`): a case fails on a traceback in stderr; an exit status other than 0 or 2;
  death by a signal (a crash, an allocation beyond ``RLIMIT_AS``); the CPU or wall-time limit (a hang); a peak
  resident set beyond :data:`RSS_LIMIT_KB` (the memory budget is 1 GiB); exit 2 with other than exactly one line
  of stderr (``--quiet`` is always given where the subcommand has it; ``lyapunov`` has none, so progress lines are
  tolerated only with exit 0); and, for exit 0 ("no wrong answer"): ``--json`` output that is not strict JSON
  (NaN and Infinity are not JSON); an accepted invalid ``--set``/``--init`` (an unknown name, or a value outside
  its documented domain: not finite, underflowing to 0, not positive, not an integer); JSON that echoes another
  parameter or initial value than the one given; sizes and counts that contradict the request
  (:func:`structure_problems`: trajectory rows, orbit counts, grid sizes, flips found, widths, tiles); a
  ``--plot``, ``--latex`` or ``--out`` that was not written.
* **The loss parser** (:func:`test_loss_parser_fuzz`) is fuzzed directly with many more, cheap, cases (each in its
  own forked process under the same limits), from general trees of the grammar and from shapes near the limits
  (deep nesting, wide sums, powers of sums with large or fine coefficients, nested functions) and a list of
  sharp texts: :func:`analysis.product.variant` must return a model or raise one ``UserInputError`` reading
  ``refused --loss: ...`` on one line; a loss that breaks a documented rule (``sqrt``, ``abs``, unknown
  functions, reserved names, non-integer or non-constant exponents, exponents beyond 16, tree degree beyond 64,
  functions of the parameters nested more than 2 deep, more than 16 names, names longer than 32 characters, text
  longer than 2000 characters, no parameter) must be refused; an accepted loss must have the value of the
  generated tree (evaluated independently: exactly where it is rational, else with mpmath at 80 digits) at two
  points, and be real there.

Budget: ~135 command-line cases (~110 generated, ~28 explicit) and ~680 loss cases: about 1.5 minutes on
2 idle cores when every case passes (most of it the numba compilation that every running case pays; the cache
starts cold); a failing case costs its re-run, a hang 2 x 30 s of CPU. :data:`CLI_EXAMPLES` and
:data:`LOSS_EXAMPLES` (or the environment variables ``SHARPNESS_FUZZ_CLI_EXAMPLES`` /
``SHARPNESS_FUZZ_LOSS_EXAMPLES``) scale it.
"""
from __future__ import annotations

import json
import math
import os
import queue
import re
import resource
import shlex
import signal
import subprocess
import sys
import threading
import time
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from analysis import get_model, model_names
from tests.cli_fork import ForkServer

pytestmark = pytest.mark.slow  # hundreds of command lines, each in its own process

# ------------------------------------------------------------------------------------------------------------------
# Limits and budget

CPU_LIMIT = 30          # CPU seconds per case (RLIMIT_CPU): beyond it the case is a hang
WALL_LIMIT = 90         # wall seconds per case (a blocked hang; generous: CI machines are shared)
MEMORY_LIMIT = 3 * 1024 ** 3  # RLIMIT_AS; a normal run peaks at ~0.6-1.6 GiB of address space (numba/LLVM, dask)
RSS_LIMIT_KB = 2 * 1024 ** 2  # peak resident set (1 GiB budget + the ~0.4 GiB interpreter, numba and torch)
DERIVATION_BUDGET = "15"      # SHARPNESS_DERIVATION_BUDGET for the cases, below CPU_LIMIT
WORKERS = max(1, min(2, os.cpu_count() or 1))
CLI_EXAMPLES = int(os.environ.get("SHARPNESS_FUZZ_CLI_EXAMPLES", "130"))
LOSS_EXAMPLES = int(os.environ.get("SHARPNESS_FUZZ_LOSS_EXAMPLES", "800"))
FRESH = os.environ.get("SHARPNESS_FUZZ_FRESH") == "1"

CLI_COMMAND = "import sys; from numerics.cli import main; sys.exit(main(sys.argv[1:]))"

# ------------------------------------------------------------------------------------------------------------------
# The fork server

def _case_environment(cache_dir):
    env = dict(os.environ)
    env.update(SHARPNESS_CACHE_DIR=str(cache_dir), SHARPNESS_MAX_MEMORY="1G",
               SHARPNESS_DERIVATION_BUDGET=DERIVATION_BUDGET, MPLBACKEND="Agg", PYTHONHASHSEED="0")
    env.pop("PYTHONSTARTUP", None)
    return env


def _limits(memory=MEMORY_LIMIT, cpu=CPU_LIMIT):
    def apply():
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
    return apply


def run_fresh(argv, cwd, env):
    """The brief's exact command in a new interpreter, with the same limits: (outcome, stdout, stderr)."""
    start = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-c", CLI_COMMAND, *argv], cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=_limits(),
                            start_new_session=True)
    streams = {}
    readers = [threading.Thread(target=lambda name, pipe: streams.__setitem__(name, pipe.read()), args=(name, pipe))
               for name, pipe in (("out", proc.stdout), ("err", proc.stderr))]
    for reader in readers:
        reader.start()
    timed_out = False
    while True:  # os.wait4, not Popen.wait: the child's own CPU time and peak memory
        done, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() - start > WALL_LIMIT:
            timed_out = True
            os.killpg(proc.pid, signal.SIGKILL)
            done, status, usage = os.wait4(proc.pid, 0)
            break
        time.sleep(0.02)
    proc.returncode = os.waitstatus_to_exitcode(status)
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    for reader in readers:
        reader.join()
    outcome = {"status": proc.returncode, "timed_out": timed_out, "wall": time.monotonic() - start,
               "cpu": usage.ru_utime + usage.ru_stime, "maxrss_kb": usage.ru_maxrss}
    return outcome, streams["out"].decode("utf-8", "replace"), streams["err"].decode("utf-8", "replace")


class Runner:
    """Runs jobs on :data:`WORKERS` fork servers (or fresh interpreters), each case in its own directory."""

    def __init__(self, root, cache_dir):
        self.root = str(root)
        self.env = _case_environment(cache_dir)
        self.servers = [ForkServer(self.env, self.root, i) for i in range(WORKERS)]
        self.counter = 0
        self.lock = threading.Lock()

    def _paths(self, tag):
        with self.lock:
            self.counter += 1
            n = self.counter
        cwd = os.path.join(self.root, f"{tag}-{n:04d}")
        os.makedirs(cwd)
        return cwd, os.path.join(self.root, f"{tag}-{n:04d}.out"), os.path.join(self.root, f"{tag}-{n:04d}.err")

    def _one(self, server, job):
        cwd, out_path, err_path = self._paths(job["kind"])
        if FRESH and job["kind"] == "cli":
            outcome, out, err = run_fresh(job["argv"], cwd, self.env)
            return outcome, out, err, cwd
        full = dict(job, cwd=cwd, stdout=out_path, stderr=err_path, mem=MEMORY_LIMIT, cpu=CPU_LIMIT, wall=WALL_LIMIT)
        outcome = server.run(full)
        if outcome is None:
            outcome = {"status": None, "server_died": True, "timed_out": False, "wall": None, "cpu": None,
                       "maxrss_kb": None}

        def read(path):
            try:
                with open(path, "rb") as handle:
                    return handle.read().decode("utf-8", "replace")
            except OSError:
                return ""
        return outcome, read(out_path), read(err_path), cwd

    def run_all(self, jobs):
        """``[(outcome, stdout, stderr, cwd)]`` in the order of ``jobs``."""
        results = [None] * len(jobs)
        todo = queue.Queue()
        for i, job in enumerate(jobs):
            todo.put(i)

        def work(server):
            while True:
                try:
                    i = todo.get_nowait()
                except queue.Empty:
                    return
                try:
                    results[i] = self._one(server, jobs[i])
                except Exception as error:  # noqa: BLE001 - the harness, not the case: report it as such
                    results[i] = ({"status": None, "server_died": True, "timed_out": False, "wall": None,
                                   "cpu": None, "maxrss_kb": None}, "", f"fuzz harness error: {error!r}", "")

        threads = [threading.Thread(target=work, args=(server,)) for server in self.servers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return results

    def close(self):
        for server in self.servers:
            server.close()


@pytest.fixture(scope="module")
def runner(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz")
    cache_dir = os.environ.get("SHARPNESS_CACHE_DIR") or str(tmp_path_factory.mktemp("fuzz-cache"))
    result = Runner(root, cache_dir)
    yield result
    result.close()


def collect(strategy, n, stride=3):
    """``n`` examples of ``strategy``, deterministically (``derandomize``), without duplicates: every ``stride``-th
    of what Hypothesis generates, since it generates runs of near-copies (mutations of earlier examples)."""
    found, seen = [], set()

    @settings(max_examples=n * stride, deadline=None, derandomize=True, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def gather(example):
        key = json.dumps(example, sort_keys=True, default=str)
        if key not in seen:
            seen.add(key)
            found.append(example)

    gather()
    return found[::stride][:n]


def weighted(*pairs):
    """``one_of`` with integer weights: ``weighted((3, a), (1, b))`` draws from ``a`` three times as often."""
    total = sum(w for w, _ in pairs)

    def pick(i):
        for w, strategy in pairs:
            if i < w:
                return strategy
            i -= w
        raise AssertionError  # pragma: no cover
    return st.integers(0, total - 1).flatmap(pick)


# ------------------------------------------------------------------------------------------------------------------
# The loss grammar: trees, their text and their value

FUNCTIONS = ("exp", "log", "sin", "cos", "tanh")
REFUSED_FUNCTIONS = ("sqrt", "abs")
UNKNOWN_FUNCTIONS = ("foo", "eval", "Symbol", "__import__", "exec", "Abs", "E")
NAMES = tuple("abcdefgh")
RESERVED_NAMES = ("t", "E", "I", "oo", "zoo", "nan", "eta")
OTHER_NAMES = ("y", "y", "x1", "theta1", "w_2", "lam", "pi", "A" * 32, "B" * 33, "lambda", "import", "None")
LOSS_POINTS = [
    {"a": "0.7", "b": "-1.3", "c": "0.45", "d": "1.9", "e": "-0.6", "f": "1.15", "g": "-2.05", "h": "0.85",
     "y": "1.25"},
    {"a": "-0.35", "b": "0.8", "c": "-1.7", "d": "0.55", "e": "1.4", "f": "-0.95", "g": "0.3", "h": "-1.1",
     "y": "-0.4"},
]
LOSS_DEFAULT = "0.37"  # any other name

NUMBER_TEXTS = ("0", "1", "2", "3", "10", "0.5", "1.25", ".5", "5.", "1e3", "2.5E-2", "1e-3", "0.001", "100",
                "1e300", "1e301", "1e-300", "1e-301", "9" * 40, "9" * 41, "1e9999", "1e99999", "0e99999",
                "0.0", "00", "1.5e+2", "12345678901234567890.5", "1e14", "1e17", "7")


def _number(text):
    return ("num", text)


leaf = weighted(
    (10, st.sampled_from(NAMES).map(lambda n: ("name", n))),
    (2, st.sampled_from(("y", "y", "x1", "w_2")).map(lambda n: ("name", n))),
    (3, st.integers(0, 9).map(lambda i: _number(str(i)))),
    (3, st.sampled_from(NUMBER_TEXTS).map(_number)),
    (1, st.just(("const", "pi"))),
    (1, st.sampled_from(RESERVED_NAMES + OTHER_NAMES).map(lambda n: ("name", n))),
)

small_exponent = weighted(
    (8, st.integers(0, 4).map(lambda i: _number(str(i)))),
    (2, st.sampled_from(("16", "17", "8", "32", "2.0", "0.5")).map(_number)),
    (2, st.integers(1, 3).map(lambda i: ("neg", _number(str(i))))),
    (1, st.just(("bin", "/", _number("1"), _number("2")))),
    (1, st.just(("const", "pi"))),
    (1, st.sampled_from(NAMES).map(lambda n: ("name", n))),
)


def _extend(children):
    return weighted(
        (4, st.tuples(st.sampled_from("+-"), children, children).map(lambda t: ("bin", *t))),
        (4, st.tuples(st.sampled_from("*/"), children, children).map(lambda t: ("bin", *t))),
        (3, st.tuples(children, weighted((4, small_exponent), (1, children)), st.sampled_from(("^", "**")))
         .map(lambda t: ("pow", *t))),
        (1, children.map(lambda c: ("neg", c))),
        (1, children.map(lambda c: ("pos", c))),
        (2, st.tuples(weighted((10, st.sampled_from(FUNCTIONS)), (1, st.sampled_from(REFUSED_FUNCTIONS)),
                               (1, st.sampled_from(UNKNOWN_FUNCTIONS))), children).map(lambda t: ("call", *t))),
    )


loss_tree = st.recursive(leaf, _extend, max_leaves=30)
small_loss_tree = st.recursive(
    weighted((4, st.sampled_from("abcy").map(lambda n: ("name", n))),
             (2, st.integers(1, 3).map(lambda i: _number(str(i))))),
    lambda children: weighted(
        (3, st.tuples(st.sampled_from("+-*"), children, children).map(lambda t: ("bin", *t))),
        (1, st.tuples(children, st.sampled_from((_number("2"), _number("2"), _number("3"))), st.just("^"))
         .map(lambda t: ("pow", *t))),
        (1, st.tuples(st.sampled_from(("exp", "sin", "cos", "tanh")), children).map(lambda t: ("call", *t)))),
    max_leaves=4)


def _level(node):
    """4 atom, 3 unary (sign, power), 2 term, 1 sum."""
    kind = node[0]
    if kind == "bin":
        return 1 if node[1] in "+-" else 2
    return 3 if kind in ("neg", "pos", "pow") else 4


def render(node, space=""):
    """The text of ``node`` under the grammar of :mod:`analysis.safe_parse` (parentheses only where needed)."""
    def wrap(child, needed):
        text = render(child, space)
        return text if _level(child) >= needed else f"({text})"
    kind = node[0]
    if kind in ("num", "name", "const"):
        return node[1]
    if kind == "paren":
        return f"({render(node[1], space)})"
    if kind == "call":
        return f"{node[1]}({render(node[2], space)})"
    if kind in ("neg", "pos"):
        return ("-" if kind == "neg" else "+") + wrap(node[1], 3)
    if kind == "pow":
        return wrap(node[1], 4) + space + node[3] + space + wrap(node[2], 3)
    op, left, right = node[1], node[2], node[3]
    level = 1 if op in "+-" else 2
    return wrap(left, level) + space + op + space + wrap(right, level + 1)


def _names(node, out=None):
    out = set() if out is None else out
    if node[0] == "name":
        out.add(node[1])
    for child in node[1:]:
        if isinstance(child, tuple):
            _names(child, out)
    return out


def _functions(node, out=None):
    out = set() if out is None else out
    if node[0] == "call":
        out.add(node[1])
    for child in node[1:]:
        if isinstance(child, tuple):
            _functions(child, out)
    return out


class NotConstant(Exception):
    pass


def _constant_value(node):
    """Exact value of a constant subtree without calls or pi, or raise :class:`NotConstant`."""
    kind = node[0]
    if kind == "num":
        return Fraction(node[1])
    if kind in ("name", "const", "call"):
        raise NotConstant
    if kind == "neg":
        return -_constant_value(node[1])
    if kind in ("pos", "paren"):
        return _constant_value(node[1])
    if kind == "pow":
        base, exponent = _constant_value(node[1]), _constant_value(node[2])
        if exponent.denominator != 1 or abs(exponent) > 64 or (base == 0 and exponent < 0):
            raise NotConstant
        return base ** int(exponent)
    a, b = _constant_value(node[2]), _constant_value(node[3])
    if node[1] == "/" and b == 0:
        raise NotConstant
    return {"+": a + b, "-": a - b, "*": a * b, "/": a / b if b else None}[node[1]]


def _degree(node):
    """The documented tree degree: deg(p+q)=max, deg(pq)=deg(p/q)=deg p+deg q, deg(p^k)=|k| deg p, deg f(p)=deg p."""
    kind = node[0]
    if kind == "name":
        return 1
    if kind in ("num", "const"):
        return 0
    if kind in ("neg", "pos", "paren"):
        return _degree(node[1])
    if kind == "call":
        return _degree(node[2])
    if kind == "pow":
        try:
            k = _constant_value(node[2])
        except (NotConstant, ZeroDivisionError, OverflowError):
            return 0
        return abs(int(k)) * _degree(node[1]) if k.denominator == 1 else 0
    a, b = _degree(node[2]), _degree(node[3])
    return max(a, b) if node[1] in "+-" else a + b


def must_refuse(node, text):
    """Documented reasons (module docstring of :mod:`analysis.safe_parse`) why ``text`` must be refused."""
    reasons = []
    names = _names(node)
    if set(RESERVED_NAMES) & names:
        reasons.append(f"reserved name {sorted(set(RESERVED_NAMES) & names)}")
    functions = _functions(node)
    if functions & set(REFUSED_FUNCTIONS + UNKNOWN_FUNCTIONS):
        reasons.append(f"function {sorted(functions & set(REFUSED_FUNCTIONS + UNKNOWN_FUNCTIONS))}")
    if any(len(n) > 32 for n in names):
        reasons.append("a name longer than 32 characters")
    parameters = names - {"pi"}
    if len(parameters) > 16:
        reasons.append("more than 16 names")
    if not parameters - {"y"}:
        reasons.append("no parameter for GD to move")
    if len(text) > 2000:
        reasons.append("longer than 2000 characters")

    def walk(n):
        if n[0] == "pow":
            try:
                k = _constant_value(n[2])
            except NotConstant:
                if _depends(n[2]):
                    reasons.append(f"non-constant exponent {render(n[2])}")
                elif _functions(n[2]) or "pi" in render(n[2]):
                    reasons.append(f"non-integer (irrational) exponent {render(n[2])}")
                k = None
            except ZeroDivisionError:
                k = None
            if k is not None:
                if k.denominator != 1:
                    reasons.append(f"non-integer exponent {k}")
                elif abs(k) > 16:
                    reasons.append(f"exponent {k} beyond 16")
        for child in n[1:]:
            if isinstance(child, tuple):
                walk(child)
    walk(node)
    if _degree(node) > 64:
        reasons.append(f"tree degree {_degree(node)} beyond 64")
    if _calls(node) > 2:
        reasons.append(f"functions of the parameters nested {_calls(node)} deep")
    return reasons


def _calls(node):
    """Nesting of function calls whose argument depends on a parameter (documented limit: 2)."""
    inner = max((_calls(c) for c in node[1:] if isinstance(c, tuple)), default=0)
    if node[0] == "call" and _depends(node[2]):
        return inner + 1
    return inner


def _depends(node):
    """Whether ``node`` depends on a parameter on the tree (``p^0`` is the constant 1, as the parser has it)."""
    kind = node[0]
    if kind == "name":
        return node[1] != "pi"
    if kind == "pow":
        try:
            if _constant_value(node[2]) == 0:
                return False
        except (NotConstant, ZeroDivisionError, OverflowError):
            pass
    return any(_depends(c) for c in node[1:] if isinstance(c, tuple))


def evaluate(node, point):
    """``(value, scale)``: the value of ``node`` at ``point`` (a Fraction where it is rational, else an mpmath
    number at 80 digits) and the largest magnitude met on the way (for the tolerance); ``None`` if undefined."""
    import mpmath

    scale = [Fraction(1)]

    def note(v):
        try:
            m = abs(v)
            if isinstance(m, Fraction) or mpmath.isfinite(m):
                if m > scale[0]:
                    scale[0] = m
        except TypeError:
            pass
        return v

    def real(x):
        return mpmath.mpf(x.numerator) / x.denominator if isinstance(x, Fraction) else x

    def ev(n):
        kind = n[0]
        if kind == "num":
            return Fraction(n[1])
        if kind == "name":
            return mpmath.pi if n[1] == "pi" else Fraction(point.get(n[1], LOSS_DEFAULT))
        if kind == "const":
            return mpmath.pi
        if kind == "neg":
            return note(-ev(n[1]))
        if kind in ("pos", "paren"):
            return ev(n[1])
        if kind == "call":
            x = real(ev(n[2]))
            return note({"exp": mpmath.exp, "log": mpmath.log, "sin": mpmath.sin, "cos": mpmath.cos,
                         "tanh": mpmath.tanh}[n[1]](x))
        if kind == "pow":
            base, k = ev(n[1]), ev(n[2])
            if not isinstance(k, Fraction) or k.denominator != 1:
                raise ZeroDivisionError
            return note(base ** int(k))
        a, b = ev(n[2]), ev(n[3])
        if n[1] == "/" and b == 0:
            raise ZeroDivisionError
        if not (isinstance(a, Fraction) and isinstance(b, Fraction)):
            a, b = real(a), real(b)
        return note({"+": lambda: a + b, "-": lambda: a - b, "*": lambda: a * b, "/": lambda: a / b}[n[1]]())

    with mpmath.workdps(80):
        try:
            return ev(node), scale[0]
        except (ZeroDivisionError, ValueError, OverflowError):
            return None, None


SPECIAL_LOSSES = [
    "(a*b - y)^2/2", "(a*b*c - y)^2/2 + (a-b)^2/100", "log(1 + a^2) + (a*b - y)^2", "exp(exp(a)) + b^2",
    "exp(exp(exp(a)))", "1e14*(a*b - y)^2", "1e17*(a*b - y)^2", "1e-20*(a - y)^2", "((2^16)^16)^16*a*b",
    "(a+b+c+d+e+f+g+h)^16", "(a^16)^16", "a*b*c*d*e*f*g*h", "(a*b*c*d*e*f*g*h - y)^2", "a*b*c*d*e*f*g*h*x1",
    "2^2^2^2^2*a", "a^2^2^2^2", "exp(exp(1000))*a", "exp(1000)*a", "exp(690)*a", "log(0)*a", "log(-1)*a",
    "a/(b - b)", "a/(b-b+0)", "1/(a - a)", "(a - a)^-1", "0^-1*a", "a^-2", "1/a", "a/0", "a^0", "a^-0",
    "a^1.0", "a^0.5", "a^(1/2)", "a^(4/2)", "a^pi", "a^a", "a^-a", "sqrt(a)", "abs(a)", "a^2 + b^2 + sqrt(2)*a",
    "sin(a)^16*cos(b)^16", "tanh(tanh(a))", "exp(-a^2)", "log(a^2)", "log(1 + exp(a))", "log(exp(a))", "log(a)",
    "log(1+a^2-1)", "log(2)*a", "pi*a^2", "pi^300*a", "pi^700*a", "E*a", "I*a", "t*a", "oo*a", "zoo*a", "nan*a",
    "eta*a", "a*eta", "y^2", "y", "pi", "2+3", "", " ", "(", ")", "()", "a b", "a,b", "exp(a,b)", "exp a", "exp",
    "a..b", "a.b", "a[0]", "a;b", "a@b", "a%b", "a//b", "a***b", "a^^b", "a=1", "'a'", "\"a\"", "a\nb", "α*a",
    "ａ", "１*a", "a\x00", "__import__('os').system('true')", "lambda: 1", "a if b else c", "[a]", "{a}",
    "a #", "\\a", "exp(a))", "((a)", "a+", "*a", "/a", "^a", "a^", "a**", "-", "+", "--a", "-+-+a",
    "a_b_c*2", "_a", "1a", "a1b2", "x" * 33 + "*a", "A" * 32 + "*a", "1e", "1e+", ".", "1.2.3*a", "0x10*a",
    "1_000*a", "a*1e99999", "a*0e99999", "a*1e9999", "a*" + "9" * 41, "a*" + "9" * 40,
    "(" * 31 + "a" + ")" * 31, "(" * 32 + "a" + ")" * 32, "(" * 33 + "a" + ")" * 33, "(" * 10000 + "a" + ")" * 10000,
    "(" * 100000, "-" * 31 + "a", "-" * 33 + "a", "-" * 100000 + "a", "exp(" * 40 + "a" + ")" * 40,
    "+".join("abcdefgh" * 40), "+".join("abcdefgh" * 300), "+".join(["1"] * 1000) + "+a", "a" + "+a" * 1000,
    "*".join(["a"] * 65), "*".join(["a"] * 64), "a^16*a^16*a^16*a^16*a^16",
    "+".join(f"p{i}" for i in range(16)), "+".join(f"p{i}" for i in range(17)),
    "+".join(f"p{i}" for i in range(40)), "*".join(f"p{i}" for i in range(9)), "a" * 2001, "a" * 10 ** 6,
    "(a+b)^16*(c+d)^16", "(a+b+c)^16", "(a-1)^16 + (b-1)^16", "(1/3*a - y)^2", "(a/3 + b/7 - y/11)^16",
    "1/(3^40)*a", "a/(1e-300)", "a*1e-300*1e-300", "(1e300*a)^2", "(a*1e150)^2", "sin(1e300)*a", "exp(-1000)*a",
    "cos(a)^-1", "1/(1+a^2)", "1/exp(a)", "tanh(a)^-2", "(a*b-y)**2/2", "a ** 2", "a **2", "a* *2", "a^ 2",
    "\t(a*b-y)^2 ", "exp(a)*exp(-a)", "(a-b)/(a-b)", "(a^2-b^2)/(a-b)", "a/a",
]


def _wrap(kind, child, draw):
    if kind == "paren":
        return ("paren", child)
    if kind == "neg":
        return ("neg", child)
    if kind == "call":
        return ("call", draw(st.sampled_from(FUNCTIONS)), child)
    return ("pow", _number(draw(st.sampled_from(("1", "2", "3")))), child, "^")  # an exponent: 2^(child)


@st.composite
def deep_tree(draw):
    """Nesting near MAX_NESTING (32): a chain of signs, function calls and exponents around a small tree, as
    text with explicit parentheses (``(((a)))``) where drawn."""
    depth = draw(st.integers(24, 40))
    tree = draw(small_loss_tree)
    kinds = draw(st.lists(st.sampled_from(("neg", "call", "pow", "paren")), min_size=depth, max_size=depth))
    for kind in kinds:
        tree = _wrap(kind, tree, draw)
    return tree


@st.composite
def wide_tree(draw):
    """Many terms (the 300-node and 1000-term limits): a sum of products of names and numbers."""
    terms = []
    for _ in range(draw(st.integers(5, 80))):
        factors = draw(st.lists(weighted((5, st.sampled_from(NAMES + ("y",)).map(lambda n: ("name", n))),
                                         (1, st.integers(1, 99).map(lambda i: _number(str(i))))),
                                min_size=1, max_size=draw(st.integers(1, 10))))
        term = factors[0]
        for factor in factors[1:]:
            term = ("bin", "*", term, factor)
        terms.append(term)
    tree = terms[0]
    for term in terms[1:]:
        tree = ("bin", draw(st.sampled_from("+-")), tree, term)
    return tree


@st.composite
def power_tree(draw):
    """Degrees and expansions near the limits: products of powers of sums, with large or fine coefficients."""
    factors = []
    for _ in range(draw(st.integers(1, 3))):
        names = draw(st.lists(st.sampled_from(NAMES + ("y",)), min_size=1, max_size=8))
        base = ("name", names[0])
        for name in names[1:]:
            base = ("bin", "+", base, ("name", name))
        factors.append(("pow", base, _number(str(draw(st.integers(1, 17)))), "^"))
    tree = factors[0]
    for factor in factors[1:]:
        tree = ("bin", "*", tree, factor)
    if draw(st.booleans()):
        coefficient = draw(st.sampled_from(("1e14", "1e17", "1e-20", "12345678901", "1e30", "3", "0.001")))
        tree = ("bin", draw(st.sampled_from("*/")), tree, _number(coefficient))
    return tree


@st.composite
def call_tree(draw):
    """Functions of the parameters nested 1 to 4 deep (at most 2 are allowed), and functions of constants."""
    tree = draw(small_loss_tree)
    for _ in range(draw(st.integers(1, 4))):
        tree = ("call", draw(st.sampled_from(FUNCTIONS)), tree)
    return tree


@st.composite
def loss_case(draw):
    """``{"text", "tree"}``: a loss from the grammar (tree kept for the checks) or a special text (tree None)."""
    choice = draw(st.integers(0, 13))
    if choice < 3:
        return {"text": draw(st.sampled_from(SPECIAL_LOSSES)), "tree": None}
    strategies = [loss_tree] * 5 + [small_loss_tree, deep_tree(), wide_tree(), power_tree(), call_tree(), call_tree()]
    tree = draw(strategies[choice - 3])
    if draw(st.integers(0, 5)) == 0:  # a whole loss of the usual shape around the tree
        tree = ("bin", "/", ("pow", ("bin", "-", tree, ("name", "y")), _number("2"), "^"), _number("2"))
    return {"text": render(tree, draw(st.sampled_from(("", "", " ")))), "tree": tree}


def loss_problems(case, outcome, out, err):
    """Failures of one loss case (empty: it passed)."""
    problems = process_problems(outcome, err)
    if problems:
        return problems
    if outcome["status"] != 0:
        return [f"exit status {outcome['status']}"]
    try:
        result = json.loads(out)
    except ValueError:
        return [f"no result on stdout: {out[:300]!r}"]
    tree, text = case["tree"], case["text"]
    if "refused" in result:
        message = result["refused"]
        if not message.startswith("refused --loss: ") or "\n" in message:
            problems.append(f"refusal is not one line 'refused --loss: ...': {message[:300]!r}")
        return problems
    if tree is None:
        return problems
    reasons = must_refuse(tree, text)
    if reasons:
        problems.append(f"accepted {result['accepted'][:200]!r} although it must be refused: {'; '.join(reasons)}")
        return problems
    extra = set(result["state"]) - (_names(tree) - {"y", "pi"})
    if extra:
        problems.append(f"state variables {sorted(extra)} that are not names of the loss")
    import mpmath

    for point, (re_text, im_text) in zip(LOSS_POINTS, result["values"]):
        expected, scale = evaluate(tree, point)
        if expected is None:
            continue
        with mpmath.workdps(80):
            got = mpmath.mpf(re_text) if re_text not in ("nan", "zoo", "oo", "-oo") else None
            imag = mpmath.mpf(im_text) if im_text not in ("nan", "zoo", "oo", "-oo") else None
            if isinstance(expected, Fraction):
                want, tol = mpmath.mpf(expected.numerator) / expected.denominator, mpmath.mpf(10) ** -50
            else:
                want = expected
                tol = mpmath.mpf(10) ** -40 * max(1, mpmath.mpf(scale.numerator) / scale.denominator
                                                  if isinstance(scale, Fraction) else scale)
            if isinstance(want, mpmath.mpc):
                if abs(want.imag) > tol * max(1, abs(want)):
                    problems.append(f"accepted a loss that is not real at {point}: value {mpmath.nstr(want, 15)}")
                    break
                want = want.real
            if got is None or imag is None:
                problems.append(f"accepted loss evaluates to {re_text} + {im_text} i at {point}, expected "
                                f"{mpmath.nstr(want, 15)}")
                break
            if abs(imag) > tol * max(1, abs(want)):
                problems.append(f"accepted loss is not real at {point}: imaginary part {im_text}")
                break
            if abs(got - want) > tol * max(1, abs(want)) * (1 if isinstance(expected, Fraction) else 1e10):
                problems.append(f"accepted {result['accepted'][:200]!r}, whose value at {point} is "
                                f"{mpmath.nstr(got, 20)}, but the text means {mpmath.nstr(want, 20)}")
                break
    return problems


# ------------------------------------------------------------------------------------------------------------------
# Command-line cases

MODELS = {name: get_model(name) for name in model_names()}
PARAMETERS = {name: {p.name: p.domain for p in m.parameters} for name, m in MODELS.items()}
REQUIRED = {name: [p.name for p in m.parameters if p.default is None] for name, m in MODELS.items()}
STATE = {name: [s.name for s in m.state] for name, m in MODELS.items()}
PARAMETERIZATIONS = {name: list(m.parameterizations) for name, m in MODELS.items()}
RESULTS = ("gd_update", "state_definitions", "function_map", "eos_manifold", "eos_map", "fixed_points",
           "hessian_spectrum", "jacobian", "loss", "sharpness", "minima", "stability")
MEASURES = ("outcome", "period", "final-sharpness", "lyapunov", "regime")
JUNK_MODELS = ("nope", "", " ", "UV", "uv ", "Product", "models", "--json", "x.py", "missing/model.py", "./",
               "/dev/null", "/dev/zero", "..", "uv-eos.py", "-1")
# Typical values (so that computations run), by (model, name); else by domain.
TYPICAL = {("uv", "n"): (1, 64), ("uv", "eta"): (0.05, 2.5), ("uv", "x"): (0.2, 2.0), ("uv", "y"): (-2.0, 2.0),
           ("uv-eos", "k"): (0.3, 2.6), ("xy-quartic", "eta"): (0.01, 0.5), ("two-input", "s"): (0.01, 1.0)}
TYPICAL_INIT = {("uv", "f"): (-0.5, 0.5), ("uv", "lam"): (0.5, 3.0)}  # realizable: lam large enough for f
EDGE_NUMBERS = (
    "0", "-0", "-1", "-2.5", "1e400", "-1e400", "1e999999999", "1e-400", "-1e-400", "1e-320", "5e-324", "1e308",
    "1.7976931348623157e308", "2e308", "nan", "NaN", "-nan", "inf", "-inf", "Infinity", "1e15", "1e16", "1e30",
    "abc", "", " ", "1/3", "2/3", "-7/2", "1/0", "0/0", "1e308/1e-308", "1e-300/1e300", "1/1e-320", "0x10",
    "1_000", "\u0661", "\uff11", "True", "--1", "1e", ".", "e5", "1e+", "+.5", "5.", "1.5.2", "1//2", "1/2/3",
    "2**3", "10**15", "1" + "0" * 400, "9" * 70, "0." + "0" * 60 + "1", "__import__('os')", "1 2", "1,5",
    "1e1000000000000", "-0.0", "\t1\n", "4.0", "4.5", "1e2", "3/1", "1" * 64, "1" * 65, "2 ", "0.1e1",
)
SIZE_EDGES = ("0", "-1", "1.5", "1e3", "abc", "", " 3", "+5", "0x10", "1_0", "9" * 5000, "\u0663", "-0")
HUGE = (10 ** 13, 10 ** 15, 10 ** 18, 2 ** 63, 10 ** 30, 10 ** 100)
PLOTS = ("plot.png", "plot.pdf", "plot.svg", "plot.gif", "plot", "", " ", "missing/plot.png", "/dev/null/x.png",
         ".png", "PLOT.PNG", "plot.png/")
MEMORY = ("1G", "512M", "64M", "2T", "1GiB", "100000000")
JUNK_MEMORY = ("100", "1", "0", "-1", "1e400", "nan", "inf", "abc", "", "1e18", "1KB", "0.5K", "0.001", "1e-400",
               "9" * 30, "1P")
WRONG_NAMES = ("q", "", " ", "ETA", "eta ", "lam", "f", "k", "n", "x", "y", "z", "theta1", "theta9", "a",
               "__class__", "eta.real", "\u00e9")
MALFORMED = ("eta", "=1", "eta=", "eta==1", "eta=1=2", "=", "", " = ")


class Junk:
    """How many deliberate faults a case may still get: most cases get 0 or 1, so that a fault is not hidden by an
    earlier one and the computations themselves run."""

    def __init__(self, count):
        self.left = count

    def take(self, draw, odds=3):
        """Whether this site gets a fault (probability 1/odds while any are left)."""
        if self.left > 0 and draw(st.integers(0, odds - 1)) == 0:
            self.left -= 1
            return True
        return False


def _format(x):
    return f"{x:.4g}"


def typical_value(model, name):
    domain = PARAMETERS.get(model, {}).get(name, "real")
    low, high = TYPICAL.get((model, name), (1, 8) if domain == "positive_integer"
                            else (0.05, 2.0) if domain == "positive" else (-2.0, 2.0))
    if domain == "positive_integer":
        return st.integers(low, high).map(str)
    return st.floats(low, high, allow_nan=False).map(_format)


def bad_number():
    return weighted((4, st.sampled_from(EDGE_NUMBERS)),
                    (1, st.tuples(st.integers(-5, 5), st.integers(-2, 5)).map(lambda t: f"{t[0]}/{t[1]}")),
                    (1, st.tuples(st.integers(1, 9), st.integers(-420, 420)).map(lambda t: f"{t[0]}e{t[1]}")),
                    (1, st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=6)))


def size(draw, junk, small_max, low=1, absent=1):
    """Text of a size option, or None (absent: the default); with a fault, an invalid or a huge count."""
    if junk.take(draw, odds=4):
        return draw(weighted((1, st.sampled_from(SIZE_EDGES)), (1, st.sampled_from(HUGE).map(str))))
    return draw(weighted((absent, st.none()), (6, st.integers(low, small_max).map(str))))


@st.composite
def model_spec(draw, junk, prefer=()):
    """``(model name, argv of -p/--loss/--depth, parameters {name: domain}, state names)``; ``prefer``: models
    drawn more often (those the subcommand is meant for)."""
    if junk.take(draw, odds=12):
        name = draw(st.sampled_from(JUNK_MODELS))
    elif prefer and draw(st.integers(0, 4)):
        name = draw(st.sampled_from(prefer))
    else:
        name = draw(st.sampled_from(sorted(MODELS)))
    argv = []
    pzs = PARAMETERIZATIONS.get(name, [])
    if junk.take(draw, odds=12):
        argv += [draw(st.sampled_from(("--parameterization", "-p"))),
                 draw(st.sampled_from(("ntk", "", "SP", "sp mup", "mup ")))]
    elif draw(st.integers(0, 9)) < (6 if len(pzs) > 1 else 1):
        argv += [draw(st.sampled_from(("--parameterization", "-p"))), draw(st.sampled_from(pzs or ["default"]))]
    parameters = dict(PARAMETERS.get(name, {}))
    state = list(STATE.get(name, []))
    variant = "none"
    if name == "product":
        variant = draw(weighted((3, st.just("none")), (3, st.just("depth")), (4, st.just("loss"))))
    if junk.take(draw, odds=10):
        variant = draw(st.sampled_from(("depth", "loss", "both", "bad depth", "bad loss")))
    if variant in ("depth", "both", "bad depth"):
        if variant == "bad depth":
            depth = draw(st.sampled_from(("0", "-1", "9", "100", str(10 ** 15), "abc", "2.0", "")))
        else:
            depth = str(draw(weighted((8, st.integers(1, 4)), (1, st.integers(5, 8)))))
            state = [f"theta{i}" for i in range(1, int(depth) + 1)]
        argv += ["--depth", depth]
    if variant in ("loss", "both", "bad loss"):
        if variant == "bad loss":
            case = draw(loss_case())
            text, tree = case["text"], case["tree"]
        else:
            tree = draw(small_loss_tree)
            tree = ("bin", "/", ("pow", ("bin", "-", tree, ("name", "y")), _number("2"), "^"), _number("2"))
            text = render(tree)
        argv += ["--loss", text]
        names = _names(tree) if tree is not None else set(re.findall(r"[A-Za-z][A-Za-z0-9_]*", text))
        state = sorted(names - {"y", "pi"} - set(FUNCTIONS) - set(REFUSED_FUNCTIONS))
        parameters = {"eta": "positive", "y": "real"} if "y" in names else {"eta": "positive"}
    return name, argv, parameters, state


@st.composite
def assignments(draw, junk, model, names, option, exclude=()):
    """``[option, "NAME=VALUE", ...]``: every required name (and some optional ones) with a typical value; a fault
    is a bad value, a missing, unknown, repeated or malformed pair, or an extreme value."""
    pairs = []
    for name in names:
        if option == "--set" and name not in REQUIRED.get(model, ["eta"]) and draw(st.booleans()):
            continue
        if option == "--init" and draw(st.integers(0, 2)) == 0:
            continue
        if name in exclude:
            continue
        pairs.append([name, draw(typical_value(model, name) if option == "--set"
                                 else st.floats(*TYPICAL_INIT.get((model, name), (-2, 2))).map(_format))])
    if junk.take(draw, odds=3):
        kind = draw(st.integers(0, 5))
        if kind <= 1 and pairs:
            i = draw(st.integers(0, len(pairs) - 1))
            pairs[i][1] = draw(bad_number())
        elif kind == 2 and pairs:
            pairs.pop(draw(st.integers(0, len(pairs) - 1)))
        elif kind == 3:
            pairs.append([draw(st.sampled_from(WRONG_NAMES)), draw(st.floats(0.1, 1).map(_format))])
        elif kind == 4 and pairs:
            pairs.append(list(pairs[draw(st.integers(0, len(pairs) - 1))]))
        else:
            pairs.append([draw(st.sampled_from(MALFORMED)), None])
    argv = []
    for name, value in pairs:
        argv += [option, name if value is None else f"{name}={value}"]
    return argv


def _join(groups, draw):
    """Options in a drawn order (argparse takes them in any order)."""
    order = draw(st.permutations(range(len(groups)))) if draw(st.integers(0, 3)) == 0 else range(len(groups))
    argv = []
    for i in order:
        argv += groups[i]
    return argv


def _huge(texts):
    return any(t is not None and t.strip().isdigit() and len(t) < 200 and int(t) >= 10 ** 9 for t in texts)


def faults():
    return weighted((8, st.just(0)), (9, st.just(1)), (3, st.just(2)))


@st.composite
def common(draw, junk, init=True, budget=True, prefer=(), exclude=()):
    """The options of ``common()`` in the parser: model, -p, --set, --init, --json, --max-memory, --force, --loss,
    --depth. Returns (head argv, option groups, info, force)."""
    model, margv, parameters, state = draw(model_spec(junk, prefer))
    groups = [margv, draw(assignments(junk, model, list(parameters), "--set", exclude))]
    if init:
        groups.append(draw(assignments(junk, model, state, "--init")))
    json_flag = draw(weighted((6, st.just(True)), (1, st.just(False))))
    if json_flag:
        groups.append(["--json"])
    force = False
    if budget:
        if junk.take(draw, odds=8):
            groups.append(["--max-memory", draw(st.sampled_from(JUNK_MEMORY))])
        elif draw(st.integers(0, 5)) == 0:
            groups.append(["--max-memory", draw(st.sampled_from(MEMORY))])
        force = draw(st.integers(0, 7)) == 0
    info = {"model": model, "parameters": parameters, "state": state, "json": json_flag}
    return [model], groups, info, force


def _finish(draw, command, head, groups, info, force, sizes, quiet=False):
    if force and not _huge(sizes):  # never --force with work beyond a day: that would be a legitimate hang
        groups.append(["--force"])
    if quiet:
        groups.append(["--quiet"])
    argv = [command] + head + _join(groups, draw)
    return {"argv": argv, **info, "command": command}


def _plot(draw, junk, odds=10):
    if junk.take(draw, odds=6):
        return [["--plot", draw(st.sampled_from(PLOTS))]]
    return [["--plot", "plot.png"]] if draw(st.integers(0, odds - 1)) == 0 else []


@st.composite
def cmd_models(draw):
    argv = ["models"] + draw(st.lists(st.sampled_from(("--json", "--json", "--quiet", "-h", "uv", "--set")),
                                      max_size=2, unique=True))
    return {"argv": argv, "command": "models", "json": "--json" in argv, "model": None, "parameters": {},
            "state": []}


@st.composite
def cmd_derive(draw):
    junk = Junk(draw(faults()))
    model, margv, parameters, state = draw(model_spec(junk))
    groups = [margv]
    if junk.take(draw):
        groups.append(["--only", draw(st.sampled_from(("nothing", "", " ", "SHARPNESS", "all", "eos_map")))])
    elif draw(weighted((2, st.just(True)), (1, st.just(False)))):
        groups.append(["--only", draw(st.sampled_from(RESULTS[:3] + RESULTS[5:]))])
    if junk.take(draw, odds=5):
        groups.append(["--latex", draw(st.sampled_from(("", " ", "missing/out.tex", "/dev/null/x.tex", ".")))])
    elif draw(st.integers(0, 5)) == 0:
        groups.append(["--latex", draw(st.sampled_from(("out.tex", "out")))])
    json_flag = draw(weighted((4, st.just(True)), (1, st.just(False))))
    if json_flag:
        groups.append(["--json"])
    info = {"model": model, "parameters": parameters, "state": state, "json": json_flag}
    return _finish(draw, "derive", [model], groups, info, False, [])


@st.composite
def cmd_fixed_points(draw):
    head, groups, info, force = draw(common(Junk(draw(faults())), init=False, budget=False))
    return _finish(draw, "fixed-points", head, groups, info, False, [])


@st.composite
def cmd_run(draw):
    junk = Junk(draw(faults()))
    head, groups, info, force = draw(common(junk))
    steps = size(draw, junk, 300, absent=0)
    if junk.take(draw, odds=8):
        steps = None  # --steps is required
    every = size(draw, junk, 20, absent=6)
    for option, value in (("--steps", steps), ("--every", every)):
        if value is not None:
            groups.append([option, value])
    groups += _plot(draw, junk)
    return _finish(draw, "run", head, groups, info, force, [steps])


@st.composite
def cmd_bifurcation(draw):
    junk = Junk(draw(faults()))
    head, groups, info, force = draw(common(junk))
    names = list(info["parameters"]) or ["eta"]
    name = draw(st.sampled_from(["q", "", "lam", "z", "theta1"] + info["state"]) if junk.take(draw, odds=6)
                else st.sampled_from(names))
    a, b = sorted(draw(st.lists(typical_value(info["model"], name), min_size=2, max_size=2, unique=True)), key=float)
    count = size(draw, junk, 40, absent=0)
    if junk.take(draw, odds=5):
        bad = draw(st.integers(0, 6))
        spec = (None,  # the option missing (required)
                f"{name}={b}:{a}:{count}",  # descending
                f"{name}={draw(bad_number())}:{b}:{count}", f"{name}={a}:{draw(bad_number())}:{count}",
                f"{name}={a}:{b}",  # no number of points
                name,  # no range at all (the former --vary NAME --range A B)
                f"{name}={a}:{b}:{count}:{draw(st.sampled_from(('log', 'lin', '', 'x')))}")[bad]
    else:
        spec = f"{name}={a}:{a}:1" if draw(st.integers(0, 9)) == 0 else f"{name}={a}:{b}:{count}"
    if spec is not None:
        groups.append(["--vary", spec])
    if junk.take(draw, odds=10):  # the former grammar, refused with the new form
        groups.append(draw(st.sampled_from((["--range", a, b], ["--points", "5"]))))
    sizes = [count, size(draw, junk, 300, absent=0), size(draw, junk, 20, absent=2)]
    steps = int(sizes[1]) if sizes[1] and sizes[1].isdigit() and len(sizes[1]) < 5 else None
    if steps and (sizes[2] is None or sizes[2].isdigit() and int(sizes[2]) > steps):
        sizes[2] = str(draw(st.integers(1, steps)))  # --keep (default 200) must not exceed --steps
    for option, value in zip(("--steps", "--keep"), sizes[1:]):
        if value is not None:
            groups.append([option, value])
    groups += _plot(draw, junk)
    return _finish(draw, "bifurcation", head, groups, info, force, sizes)


@st.composite
def grid(draw, junk, state):
    name = draw(st.sampled_from(("q", "", "eta", "k"))) if junk.take(draw, odds=8) else \
        draw(st.sampled_from(state or ["x"]))
    if junk.take(draw, odds=6):
        return draw(st.sampled_from((f"{name}=1:2", f"{name}=a:b:c", f"{name}=2:1:3", f"{name}=1:2:0",
                                     f"{name}=1:1:3", f"{name}=nan:1:3", f"{name}=-inf:inf:3", f"{name}=1e400:2e400:2",
                                     f"{name}=1:2:1e3", f"{name}", f"{name}=1:2:3:4", f"={name}", f"{name}=1:2:3:log",
                                     "=1:2:3", f"{name}=0:1:-1", f"{name}=0:1:{10 ** 7}", f"{name}=0:1:{10 ** 13}")))
    a = draw(st.floats(-2, 1).map(_format))
    b = draw(st.floats(1.1, 3).map(_format))
    return f"{name}={a}:{b}:{draw(st.integers(2, 6))}"


@st.composite
def cmd_basin(draw):
    junk = Junk(draw(faults()))
    head, groups, info, force = draw(common(junk, prefer=("xy-quartic", "uv", "product", "two-input")))
    state = info["state"]
    if len(state) >= 2:
        names = draw(st.permutations(state))[:2]
    else:
        names = (state or ["x"]) * 2
    count = draw(st.sampled_from((0, 1, 3))) if junk.take(draw, odds=8) else 2
    for i in range(count):
        groups.append(["--grid", draw(grid(junk, [names[i % 2]]))])
    steps = size(draw, junk, 300)
    if steps is not None:
        groups.append(["--steps", steps])
    groups += _plot(draw, junk)
    return _finish(draw, "basin", head, groups, info, force, [steps] + [g[1] for g in groups if g[:1] == ["--grid"]])


@st.composite
def cmd_cascade(draw):
    junk = Junk(draw(faults()))
    head, groups, info, force = draw(common(junk, init=False, prefer=("uv-eos", "uv-eos", "uv")))
    names = (["eta"] if info["model"] == "uv" else list(info["parameters"])) or ["k"]
    groups.append(["--vary", draw(st.sampled_from(("q", "", "z"))) if junk.take(draw, odds=6)
                   else draw(st.sampled_from(names))])
    if junk.take(draw, odds=4):
        groups.append(["--doublings", draw(st.sampled_from(("0", "19", "100", str(10 ** 15), "-1", "abc", "")))])
    else:
        groups.append(["--doublings", str(draw(st.integers(1, 6)))])  # the default, 14, takes ~10 s; 18 ~90 s
    if junk.take(draw, odds=4):
        groups.append(["--digits", draw(st.sampled_from(("14", "301", "0", str(10 ** 15), "x", "1e2")))])
    elif draw(st.integers(0, 2)):
        groups.append(["--digits", draw(weighted((6, st.integers(15, 60)), (1, st.just(300)))).__str__()])
    return _finish(draw, "cascade", head, groups, info, force, [], quiet=True)


@st.composite
def cmd_crosscheck(draw):
    junk = Junk(draw(faults()))
    head, groups, info, force = draw(common(junk, prefer=("uv",), exclude=("n",)))  # n is the width
    if junk.take(draw, odds=6):
        width = draw(st.sampled_from((None, "0", "-3", "10000000000", str(10 ** 15), "2.5", "x")))
    else:  # required for a width-n model (uv), refused for the others
        width = draw(st.integers(1, 16).map(str)) if info["model"] == "uv" else None
    steps = size(draw, junk, 50)
    if junk.take(draw, odds=6):
        seed = draw(st.sampled_from(("-1", str(2 ** 32), str(2 ** 63), str(2 ** 64), str(10 ** 30), "x")))
    else:
        seed = draw(weighted((3, st.none()), (2, st.integers(0, 2 ** 32 - 1).map(str))))
    for option, value in (("--width", width), ("--steps", steps), ("--seed", seed)):
        if value is not None:
            groups.append([option, value])
    if draw(weighted((3, st.just(True)), (1, st.just(False)))):
        groups.append(["--no-torch"])
    return _finish(draw, "crosscheck", head, groups, info, force, [steps, width], quiet=True)


@st.composite
def cmd_width_scan(draw):
    junk = Junk(draw(faults()))
    head, groups, info, force = draw(common(junk, init=False, prefer=("uv",), exclude=("n",)))
    if junk.take(draw, odds=4):
        widths = draw(st.sampled_from(("", ",", "1,,2", "0", "-1", "1e3", "1,x", str(10 ** 10), str(10 ** 15),
                                       ",".join(["1"] * 1000), "1;2", "4, 8 ")))
    else:  # the default, 1 to 4096, takes ~10 s
        widths = ",".join(map(str, draw(st.lists(st.integers(1, 32), min_size=1, max_size=3))))
    groups.append(["--widths", widths])
    steps = size(draw, junk, 50)
    seed = draw(st.sampled_from((str(2 ** 32), str(2 ** 64), "-1"))) if junk.take(draw, odds=8) else \
        draw(st.sampled_from((None, "0", "7")))
    for option, value in (("--steps", steps), ("--seed", seed)):
        if value is not None:
            groups.append([option, value])
    groups += _plot(draw, junk)
    return _finish(draw, "width-scan", head, groups, info, force,
                   [steps] + ([widths] if widths and widths.strip().isdigit() else []), quiet=True)


@st.composite
def cmd_lyapunov(draw):
    junk = Junk(draw(faults()))
    head, groups, info, force = draw(common(junk))
    sizes = [size(draw, junk, 2000, low=20, absent=1), size(draw, junk, 100, low=0, absent=2),
             size(draw, junk, 10, low=2, absent=2)]
    for option, value in zip(("--steps", "--transient", "--batches"), sizes):
        if value is not None:
            groups.append([option, value])
    return _finish(draw, "lyapunov", head, groups, info, force, sizes)


@st.composite
def axis(draw, junk, names):
    name = draw(st.sampled_from(("q", "", " "))) if junk.take(draw, odds=8) else draw(st.sampled_from(names or ["eta"]))
    if junk.take(draw, odds=6):
        return draw(st.sampled_from((f"{name}=1:2", f"{name}=a:b:3", f"{name}=2:1:3", f"{name}=1:2:0",
                                     f"{name}=1:1:1", f"{name}=nan:1:2", f"{name}=0:1:3:log", f"{name}=-1:1:3:log",
                                     f"{name}=1:2:3:lin", f"{name}=1e-400:1:2:log", f"{name}=1:1e400:2",
                                     f"{name}=1:2:1e3", f"{name}", f"{name}=0.5:1:{10 ** 5}",
                                     f"{name}=0.5:1:{10 ** 13}")))
    a = draw(st.floats(0.1, 1.0).map(_format))
    b = draw(st.floats(1.1, 2.5).map(_format))
    return f"{name}={a}:{b}:{draw(st.integers(1, 4))}" + (":log" if draw(st.integers(0, 3)) == 0 else "")


@st.composite
def cmd_sweep(draw, command):
    junk = Junk(draw(faults()))
    head, groups, info, force = draw(common(junk, budget=False))
    names = list(info["parameters"]) + list(info["state"])
    count = draw(st.sampled_from((0, 3))) if junk.take(draw, odds=10) else draw(st.sampled_from((1, 2)))
    for _ in range(count):
        groups.append(["--vary", draw(axis(junk, names))])
    if junk.take(draw, odds=8):
        groups.append(["--measure", draw(st.sampled_from(("nope", "", "Outcome", "regime ")))])
    elif draw(st.integers(0, 2)) == 0:
        groups.append(["--measure", draw(st.sampled_from(MEASURES))])
    if junk.take(draw, odds=8):
        out = draw(st.sampled_from((None, "grid", "", "missing/grid.zarr", "/dev/null/grid.zarr", ".zarr",
                                    "grid.zarr/")))
    else:
        out = "grid.zarr"
    if out is not None:
        groups.append(["--out", out])
    steps = size(draw, junk, 100)
    if junk.take(draw, odds=8):
        tile = draw(st.sampled_from(("0", str(10 ** 9), str(10 ** 15), "x")))
    else:
        tile = draw(st.sampled_from((None, "1", "2", "4")))
    for option, value in (("--steps", steps), ("--tile", tile)):
        if value is not None:
            groups.append([option, value])
    if junk.take(draw, odds=12):
        groups.append(["--scheduler", draw(st.sampled_from(("tcp://127.0.0.1:1", "nonsense", "", "tcp://")))])
    if command == "phase-diagram":
        if junk.take(draw, odds=6):
            groups += [["--plot", draw(st.sampled_from(PLOTS))]] if draw(st.booleans()) else []
        else:
            groups.append(["--plot", "diagram.png"])
    else:
        groups += _plot(draw, junk)
    return _finish(draw, command, head, groups, info, False, [steps], quiet=True)


@st.composite
def cmd_soup(draw):
    """Any tokens: subcommand names, options and values in any order."""
    tokens = ("run", "derive", "models", "uv", "uv-eos", "--json", "--set", "eta=0.5", "--steps", "10", "--init",
              "--quiet", "-p", "--loss", "a^2", "--depth", "--vary", "k=1:2:3", "--range", "--", "-", "-h", "--help", "",
              "--steps=5", "--set=k=1", "--js", "--no-such-option", "sweep", "nn", "report", "\x01", "-x")
    argv = draw(st.lists(st.sampled_from(tokens), max_size=6))
    return {"argv": argv, "command": argv[0] if argv else "", "json": False, "model": None, "parameters": {},
            "state": []}


#: (strategy, share of the cases): every subcommand gets its quota, cheap ones more.
CLI_STRATEGIES = (
    (cmd_models(), 0.03), (cmd_derive(), 0.08), (cmd_fixed_points(), 0.12), (cmd_run(), 0.17),
    (cmd_bifurcation(), 0.08), (cmd_basin(), 0.08), (cmd_cascade(), 0.06), (cmd_crosscheck(), 0.09),
    (cmd_width_scan(), 0.05), (cmd_lyapunov(), 0.09), (cmd_sweep("sweep"), 0.05),
    (cmd_sweep("phase-diagram"), 0.03), (cmd_soup(), 0.03),
)


def _explicit(command, argv, model=None, json_flag=False):
    # A --loss replaces the model's state by the loss's own variables: the built-in state does not apply.
    state = [] if "--loss" in argv else list(STATE.get(model, []))
    return {"argv": [command, *argv], "command": command, "json": json_flag, "model": model,
            "parameters": dict(PARAMETERS.get(model, {})), "state": state}


#: Always run (cheap): every junk model name, and a few known-sharp inputs, whatever Hypothesis draws.
EXPLICIT_CASES = [_explicit("fixed-points", [name, "--set", "eta=0.5", "--json"], name, True)
                  for name in JUNK_MODELS] + [
    _explicit("run", ["uv-eos", "--set", "k=1.2", "--steps", str(10 ** 15), "--every", str(10 ** 15), "--json"],
              "uv-eos", True),
    _explicit("run", ["product", "--loss", "a*b*c*d*e*f*g*h", "--set", "eta=0.1", "--steps", "5", "--json"],
              "product", True),
    _explicit("fixed-points", ["product", "--loss", "(a*b*c*d*e*f*g*h - y)^2", "--set", "eta=0.1", "--json"],
              "product", True),
    # Found by this test (kept as regression examples; see the report of the first run).
    _explicit("bifurcation", ["uv-eos", "--set", "k=1", "--vary", f"k=0.5:1:{10 ** 30}", "--steps", "10", "--keep",
                              "5", "--json"], "uv-eos", True),
    # The former range grammar: refused on one line that shows the new form.
    dict(_explicit("bifurcation", ["uv-eos", "--vary", "k", "--range", "0.5", "1", "--points", "50", "--steps", "10",
                                   "--json"], "uv-eos", True), refused_with="--vary k=0.5:1:50"),
    _explicit("crosscheck", ["uv", "--width", "4", "--set", "eta=0.5", "--set", "y=1", "--init", "f=0.1", "--init",
                             "lam=1", "--steps", "5", "--no-torch", "--quiet", "--json"], "uv", True),
    _explicit("cascade", ["product", "--loss", "(c-y)^2/2", "--set", "eta=0.05", "--vary", "eta", "--doublings", "3",
                          "--quiet", "--json"], "product", True),
    _explicit("run", ["uv", "--set", "eta=0.1", "--set", "n=45", "--set", "y=0", "--init", "f=-0.2959", "--init",
                      "lam=2.705", "--json", "--max-memory", "0.001", "--steps", "192"], "uv", True),
    _explicit("fixed-points", ["uv", "--set", "eta=1.153", "--set", "n=41", "--set", "y=0.2987", "--set", "x=3e-249",
                               "--json", "-p", "mup"], "uv", True),
    _explicit("run", ["xy-quartic", "--set", "eta=0.01", "--steps", "79", "--every", str(10 ** 30), "--json"],
              "xy-quartic", True),
    _explicit("fixed-points", ["two-input", "--set", "eta=0.3309", "--set", "s=1e308", "--json"], "two-input", True),
    _explicit("fixed-points", ["uv", "--set", "eta=0.5", "--set", "n=4", "--set", "y=1e308", "--set", "x=1", "--json"],
              "uv", True),
    _explicit("fixed-points", ["two-input", "--set", "eta=0.5", "--set", "y=1", "--set",
                               "s=123456789012345678901234567890", "--json"], "two-input", True),
]


def cli_cases(n):
    cases = list(EXPLICIT_CASES)
    for strategy, share in CLI_STRATEGIES:
        cases += collect(strategy, max(2, round(n * share)))
    return cases


# ------------------------------------------------------------------------------------------------------------------
# Checks

HAS_QUIET = {"cascade", "crosscheck", "width-scan", "sweep", "phase-diagram"}
#: Subcommands whose successful runs may print progress lines (they have no --quiet).
PROGRESS_WITHOUT_QUIET = {"lyapunov"}
DOMAIN_TEXT = set("0123456789+-./eE")


def expected_number(text, domain):
    """The value the documented grammar gives ``text`` (analysis.values), or None if it must be refused."""
    stripped = text.strip()
    if not stripped or len(stripped) > 64 or set(stripped) - DOMAIN_TEXT:
        return None
    numerator, slash, denominator = stripped.partition("/")
    try:
        parts = [float(numerator)] + ([float(denominator)] if slash else [])
        if not all(math.isfinite(p) for p in parts) or (slash and parts[1] == 0):
            return None
        value = Fraction(numerator) / (Fraction(denominator) if slash else 1)
    except (ValueError, ZeroDivisionError):
        return None
    try:
        as_float = float(value)
    except OverflowError:
        return None
    if not math.isfinite(as_float) or (value != 0 and as_float == 0):
        return None
    if domain in ("positive", "positive_integer") and not value > 0:
        return None
    if domain == "positive_integer" and (value.denominator != 1 or value > 10 ** 15):
        return None
    return value


def _pairs(argv, option):
    pairs = []
    for i, token in enumerate(argv[:-1]):
        if token == option:
            pairs.append(argv[i + 1])
    return pairs


def process_problems(outcome, err):
    """Failures visible in how the process ended."""
    if outcome.get("server_died"):
        return ["the fork server died (the case could not run)"]
    problems = []
    status = outcome["status"]
    if outcome["timed_out"]:
        problems.append(f"hang: killed after {WALL_LIMIT} s of wall time")
    elif status is not None and status < 0:
        sig = -status
        name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig)
        if sig == signal.SIGXCPU:
            problems.append(f"hang: over {CPU_LIMIT} s of CPU time (killed by {name})")
        else:
            problems.append(f"killed by {name} (a crash, or an allocation beyond the {MEMORY_LIMIT >> 30} GiB "
                            "address-space limit)")
    if "Traceback" in err:
        problems.append("traceback on stderr")
    if outcome.get("maxrss_kb") and outcome["maxrss_kb"] > RSS_LIMIT_KB:
        problems.append(f"peak memory {outcome['maxrss_kb'] >> 10} MiB (SHARPNESS_MAX_MEMORY=1G)")
    return problems


def cli_problems(case, outcome, out, err, cwd=None):
    """Failures of one command-line case (empty: it passed); ``cwd``: its working directory (files written)."""
    problems = process_problems(outcome, err)
    status = outcome["status"]
    if problems or status is None:
        return problems or ["no exit status"]
    argv = case["argv"]
    if status not in (0, 2):
        return problems + [f"exit status {status}"]
    if case.get("refused_with") is not None and (status != 2 or case["refused_with"] not in err):
        problems.append(f"exit {status}; expected exit 2 and a message that shows {case['refused_with']!r}")
    if status == 2:
        lines = err.split("\n")
        if not (err.endswith("\n") and len(lines) == 2 and "\r" not in err):
            problems.append(f"exit 2 with {err.count(chr(10))} lines of stderr (expected exactly one)")
        return problems
    # exit 0
    if "-h" in argv or "--help" in argv:
        return problems
    payload = None
    if case["json"] and "--json" in argv:
        def no_constant(name):
            raise ValueError(f"{name} is not JSON")
        try:
            payload = json.loads(out, parse_constant=no_constant)
        except ValueError as error:
            return problems + [f"exit 0 with --json but stdout is not strict JSON ({error}): {out[:200]!r}"]
    model = case.get("model")
    if model and case.get("command") in ("fixed-points", "run", "bifurcation", "basin", "cascade", "crosscheck",
                                          "width-scan", "lyapunov", "sweep", "phase-diagram"):
        parameters = case["parameters"]
        for pair in _pairs(argv, "--set"):
            name, sep, text = pair.partition("=")
            if name.strip() not in parameters:
                problems.append(f"exit 0 with --set {pair!r}: {name.strip()!r} is not a parameter of {model} "
                                f"({', '.join(parameters)})")
                continue
            value = expected_number(text, parameters[name.strip()])
            if value is None:
                problems.append(f"exit 0 with --set {pair!r}: the value must be refused "
                                f"(domain {parameters[name.strip()]})")
            elif isinstance(payload, dict) and isinstance(payload.get("parameters"), dict):
                echoed = payload["parameters"].get(name.strip())
                if echoed is not None and not math.isclose(float(echoed), float(value), rel_tol=1e-12,
                                                            abs_tol=1e-300):
                    problems.append(f"--set {pair!r} but the result says {name.strip()} = {echoed}")
        if case["state"]:
            for pair in _pairs(argv, "--init"):
                name, sep, text = pair.partition("=")
                if name.strip() not in case["state"]:
                    problems.append(f"exit 0 with --init {pair!r}: not a state variable ({', '.join(case['state'])})")
                    continue
                value = expected_number(text, "real")
                if value is None:
                    problems.append(f"exit 0 with --init {pair!r}: the value must be refused")
                elif isinstance(payload, dict) and isinstance(payload.get("initial"), dict):
                    echoed = payload["initial"].get(name.strip())
                    if echoed is not None and not math.isclose(float(echoed), float(value), rel_tol=1e-12,
                                                                abs_tol=1e-300):
                        problems.append(f"--init {pair!r} but the result says {name.strip()} = {echoed}")
    if payload is not None:
        problems += structure_problems(case, payload)
    if cwd is not None:
        for option in ("--plot", "--latex", "--out"):
            path = _option(argv, option)
            if path is not None and case.get("command") != "models":
                target = os.path.join(cwd, path)
                if not (os.path.isdir(target) if option == "--out" else os.path.isfile(target)
                        and os.path.getsize(target) > 0):
                    problems.append(f"exit 0 but {option} {path!r} was not written")
    return problems


def _option(argv, option, default=None):
    """The last value of ``option`` in ``argv`` (argparse keeps the last), or ``default``."""
    values = _pairs(argv, option)
    return values[-1] if values else default


def _int(text):
    try:
        return int(text)
    except (TypeError, ValueError):
        return None


def _range(vary):
    """``(A, B, N)`` of ``--vary NAME=A:B:N`` as the documented grammar reads them (None where it cannot)."""
    parts = str(vary).partition("=")[2].split(":")
    if len(parts) not in (3, 4):
        return None, None, None
    try:
        return float(parts[0]), float(parts[1]), _int(parts[2])
    except ValueError:
        return None, None, _int(parts[2])


def structure_problems(case, payload):
    """Exit-0 answers that contradict the request: sizes, counts and echoed options (keys that are absent are not
    checked: the JSON schema is not this test's business)."""
    argv, command, problems = case["argv"], case.get("command"), []
    if not isinstance(payload, (dict, list)):
        return problems

    def get(*keys):
        node = payload
        for key in keys:
            if not isinstance(node, dict) or key not in node:
                raise LookupError
            node = node[key]
        return node

    def check(ok, message):
        if not ok:
            problems.append(message)

    try:
        if command == "run":
            steps, every = _int(_option(argv, "--steps")), _int(_option(argv, "--every", "1"))
            check(get("steps") == steps and get("every") == every,
                  f"--steps {steps} --every {every} but the result says steps {get('steps')}, every {get('every')}")
            trajectory = get("trajectory")
            lengths = {len(v) for v in trajectory.values()}
            check(len(lengths) == 1, f"trajectory columns of different lengths {sorted(lengths)}")
            length, expected = max(lengths), steps // every + 1
            if get("outcome", "name") != "diverged":
                check(length == expected and trajectory.get("step", list(range(0, steps + 1, every)))
                      == list(range(0, steps + 1, every)),
                      f"{length} trajectory rows for --steps {steps} --every {every} (expected {expected})")
            else:
                check(length <= expected, f"{length} trajectory rows, more than {expected}")
        elif command == "bifurcation":
            low, high, points = _range(_option(argv, "--vary"))
            keep = _int(_option(argv, "--keep", "200"))
            values, orbits = get("values"), get("orbits")
            check(len(values) == points and len(orbits) == points,
                  f"--vary {_option(argv, '--vary')}: {points} points but {len(values)} values and {len(orbits)} orbits")
            check(all(len(orbit) == keep for orbit in orbits), f"--keep {keep} but orbits of lengths "
                  f"{sorted({len(o) for o in orbits})}")
            last = high if points != 1 else low  # N = 1: the one value A
            check(values and all(math.isclose(v, end, rel_tol=1e-12, abs_tol=1e-300)
                                 for v, end in ((values[0], low), (values[-1], last))),
                  f"--vary from {low} to {high} but the values run from {values[0] if values else None} to "
                  f"{values[-1] if values else None}")
        elif command == "basin":
            sizes = [_int(g.rpartition(":")[2]) for g in _pairs(argv, "--grid")]
            grids = get("grids")
            check([len(g) for g in grids] == sizes, f"--grid sizes {sizes} but grids of {[len(g) for g in grids]}")
        elif command == "lyapunov":
            if get("diverged_at") is None:
                check(len(get("exponents")) == len(get("stderr")) == len(get("state")),
                      f"{len(get('exponents'))} exponents for {len(get('state'))} state variables")
            check(get("steps") == _int(_option(argv, "--steps", "100000")),
                  f"--steps {_option(argv, '--steps', '100000')} but the result says {get('steps')}")
        elif command == "cascade":
            doublings = _int(_option(argv, "--doublings", "14"))
            found = get("bifurcations")
            periods = [b.get("period") for b in found]
            # Fewer flips than asked is an outcome only when the result says why ("stopped").
            check(periods == [2 ** i for i in range(len(periods))] and 1 <= len(periods) <= doublings
                  and (len(periods) == doublings or bool(payload.get("stopped"))),
                  f"--doublings {doublings} but periods {periods} (stopped: {payload.get('stopped')!r})")
            values = [b.get("parameter") for b in found]
            check(all(isinstance(v, (int, float)) for v in values) and
                  (all(a < b for a, b in zip(values, values[1:])) or all(a > b for a, b in zip(values, values[1:]))),
                  f"flip parameters not monotonic: {values}")
        elif command == "crosscheck":
            check(get("steps") == _int(_option(argv, "--steps", "100")),
                  f"--steps {_option(argv, '--steps', '100')} but the result says {get('steps')}")
        elif command == "width-scan":
            given = {_int(w) for w in _option(argv, "--widths", "").split(",")}
            got = {row.get("width") for row in get("rows")}
            check(got == given, f"--widths {sorted(given)} but rows for {sorted(got)}")
        elif command == "fixed-points":
            for point in payload["fixed_points"]:
                check(len(point["eigenvalues"]) == len(point["coordinates"]) == len(case["state"] or
                                                                                      point["coordinates"]),
                      f"fixed point {point.get('label')}: {len(point['eigenvalues'])} eigenvalues for "
                      f"{len(point['coordinates'])} coordinates")
        elif command in ("sweep", "phase-diagram"):
            check(get("computed") + get("skipped") == get("tiles") and get("skipped") == 0,
                  f"a new store but tiles {get('tiles')}, computed {get('computed')}, skipped {get('skipped')}")
    except (LookupError, TypeError, ValueError, AttributeError, ZeroDivisionError):
        pass
    return problems


def _report(failures):
    lines = [f"{len(failures)} failing case(s):"]
    for failure in failures:
        lines.append("")
        lines.append("  " + "; ".join(failure["problems"]))
        lines.append("  argv: " + repr(failure["argv"]))
        lines.append("  repro: python -c " + shlex.quote(CLI_COMMAND) + " " + shlex.join(failure["argv"])
                     if failure["kind"] == "cli" else f"  loss: {failure['argv']!r}")
        lines.append(f"  exit: {failure['status']}   cpu: {failure['cpu']}   wall: {failure['wall']}")
        if failure["stderr"].strip():
            errors = [line for line in failure["stderr"].splitlines()
                      if re.match(r"\s*[\w.]*(Error|Exception)\b", line)]
            if errors:
                lines.append("  error: " + errors[-1].strip()[:300])
            lines.append("  stderr: " + failure["stderr"][-1500:].rstrip().replace("\n", "\n          "))
        if failure.get("stdout", "").strip():
            lines.append("  stdout: " + failure["stdout"][:300].rstrip().replace("\n", "\n          "))
    return "\n".join(lines)


def _bounded(text):
    return text if len(text) <= 300 else text[:150] + f"...[{len(text)} characters]..." + text[-100:]


# ------------------------------------------------------------------------------------------------------------------
# The tests


def test_render_follows_the_grammar():
    """The renderer's parentheses: precedence, associativity, signs and right-associative powers."""
    a, b, c = ("name", "a"), ("name", "b"), ("name", "c")
    assert render(("bin", "-", a, ("bin", "-", b, c))) == "a-(b-c)"
    assert render(("bin", "-", ("bin", "-", a, b), c)) == "a-b-c"
    assert render(("bin", "/", a, ("bin", "*", b, c))) == "a/(b*c)"
    assert render(("pow", ("pow", a, _number("2"), "^"), _number("3"), "^")) == "(a^2)^3"
    assert render(("pow", a, ("pow", _number("2"), _number("3"), "^"), "^")) == "a^2^3"
    assert render(("pow", ("neg", a), _number("2"), "^")) == "(-a)^2"
    assert render(("neg", ("pow", a, _number("2"), "**"))) == "-a**2"
    assert render(("pow", a, ("neg", _number("2")), "^")) == "a^-2"
    assert render(("bin", "*", a, ("neg", b))) == "a*-b"
    assert must_refuse(("pow", a, ("bin", "/", _number("1"), _number("2")), "^"), "a^(1/2)")
    assert not must_refuse(("pow", a, _number("16"), "^"), "a^16")
    assert evaluate(("pow", _number("2"), ("pow", _number("3"), _number("2"), "^"), "^"), {})[0] == 512
    assert expected_number("1/3", "real") == Fraction(1, 3) and expected_number("1e-400", "real") is None
    assert expected_number("4.0", "positive_integer") == 4 and expected_number("4.5", "positive_integer") is None


def test_loss_parser_fuzz(runner):
    cases = collect(loss_case(), LOSS_EXAMPLES, stride=1)  # cheap cases: near-copies cost little
    jobs = [{"kind": "loss", "text": c["text"], "points": LOSS_POINTS, "default": LOSS_DEFAULT} for c in cases]
    started = time.monotonic()
    results = runner.run_all(jobs)
    failures = []
    for case, (outcome, out, err, cwd) in zip(cases, results):
        problems = loss_problems(case, outcome, out, err)
        if problems:
            failures.append({"kind": "loss", "argv": _bounded(case["text"]), "problems": problems,
                             "status": outcome["status"], "cpu": outcome["cpu"], "wall": outcome["wall"],
                             "stderr": err, "stdout": out})
    print(f"\n{len(cases)} loss cases in {time.monotonic() - started:.1f} s, {len(failures)} failing")
    assert not failures, _report(failures)


def test_cli_fuzz(runner):
    cases = cli_cases(CLI_EXAMPLES)
    jobs = [{"kind": "cli", "argv": c["argv"]} for c in cases]
    started = time.monotonic()
    results = runner.run_all(jobs)
    failures, notes = [], []
    suspects = [i for i, (case, result) in enumerate(zip(cases, results)) if cli_problems(case, *result)]
    if suspects and not FRESH:  # confirm with the exact command, in a fresh interpreter
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(WORKERS) as pool:
            def again(i):  # in a new empty directory: the first run may have left a store or a figure
                cwd = results[i][3] + "-fresh"
                os.makedirs(cwd, exist_ok=True)
                return run_fresh(cases[i]["argv"], cwd, runner.env)
            fresh = list(pool.map(again, suspects))
        for i, (outcome, out, err) in zip(suspects, fresh):
            if cli_problems(cases[i], outcome, out, err, results[i][3] + "-fresh"):
                results[i] = (outcome, out, err, results[i][3] + "-fresh")
            else:
                notes.append(f"only under the fork server: {cli_problems(cases[i], *results[i])}: "
                             f"{cases[i]['argv']!r}")
                results[i] = None
    for case, result in zip(cases, results):
        if result is None:
            continue
        problems = cli_problems(case, *result)
        outcome, out, err, cwd = result
        if (not problems and outcome["status"] == 0 and err.strip()
                and case["command"] not in PROGRESS_WITHOUT_QUIET and "-h" not in case["argv"]):
            notes.append(f"exit 0 with stderr output (not a failure): {err.strip().splitlines()[-1][:150]!r}: "
                         f"{shlex.join(case['argv'])[:200]}")
        if problems:
            failures.append({"kind": "cli", "argv": case["argv"], "problems": problems, "status": outcome["status"],
                             "cpu": outcome["cpu"], "wall": outcome["wall"], "stderr": err, "stdout": out})
    elapsed = time.monotonic() - started
    print(f"\n{len(cases)} command-line cases in {elapsed:.1f} s, {len(failures)} failing")
    timed = sorted(((r[0].get("cpu") or 0, c["argv"]) for c, r in zip(cases, results) if r), key=lambda x: -x[0])
    for cpu, argv in timed[:5]:
        print(f"slowest: {cpu:5.1f} s CPU  {shlex.join(argv)[:160]}")
    for note in notes:
        print("note:", note)
    assert not failures, _report(failures)
