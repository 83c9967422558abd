"""Hostile ``--loss`` inputs (model ``product``): the audit's cases and the limits of :mod:`analysis.safe_parse`.

Every command-line case runs in its own subprocess (``numerics.cli``) with a fresh derivation cache, under an
address-space limit (``RLIMIT_AS`` = :data:`MEMORY_BYTES`, 2 GiB) and a CPU-time limit; ``wait4`` measures each
one's CPU time and peak resident memory. A refused loss must exit with status 2 and exactly one stderr line
``sharpness: error: refused --loss: <reason>``, and every case must end within :data:`CPU_SECONDS` of CPU time
(CPU, not wall, time: a loaded machine stretches the wall clock several fold; a hang is killed at
:data:`KILL_SECONDS`). The subprocesses of the selected tests are
started together on a pool of two, each still measured on its own.

The fuzz test feeds :func:`analysis.safe_parse.parse_loss` random expressions of the grammar (names, reserved
names, functions, unsupported functions, numbers huge and tiny) and random token soup, each under a deadline:
either a SymPy expression within the limits or a :class:`~analysis.errors.UserInputError`, never anything else.
"""
from __future__ import annotations

import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest
import sympy as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analysis import safe_parse
from analysis.errors import UserInputError
from analysis.safe_parse import parse_loss

CPU_SECONDS = 20.0  # per case: user + system time of the subprocess, measured by wait4 (independent of load)
KILL_SECONDS = 90.0  # backstop for a hang (the machine may be shared: a 10 s numba compile can take 30 s of wall)
MEMORY_BYTES = 2 * 1024 ** 3  # RLIMIT_AS of the subprocess
PREFIX = "sharpness: error: refused --loss: "

_MAIN = """\
import sys
from numerics.cli import main
sys.exit(main(sys.argv[1:]))
"""


@dataclass
class Outcome:
    returncode: int | None  # None: killed at KILL_SECONDS of wall time
    stdout: str
    stderr: str
    seconds: float  # wall
    cpu_seconds: float
    max_rss_bytes: int

    def describe(self) -> str:
        return (f"exit {self.returncode} after {self.seconds:.1f} s wall, {self.cpu_seconds:.1f} s CPU, "
                f"{self.max_rss_bytes / 2 ** 20:.0f} MiB resident\n--- stdout (tail)\n{self.stdout[-2000:]}"
                f"\n--- stderr (tail)\n{self.stderr[-3000:]}")


def _limit_resources():  # runs in the child, before exec
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_BYTES, MEMORY_BYTES))
    resource.setrlimit(resource.RLIMIT_CPU, (int(CPU_SECONDS) + 10, int(CPU_SECONDS) + 15))  # SIGXCPU backstop


def run_cli(args) -> Outcome:
    """``sharpness ARGS`` in a subprocess with a fresh cache, under the memory limit; its own wall time, CPU time
    and peak resident memory (``wait4``), killed after KILL_SECONDS."""
    with tempfile.TemporaryDirectory(prefix="loss-limits-") as cache, \
            tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        env = {**os.environ, "SHARPNESS_CACHE_DIR": cache}
        start = time.perf_counter()
        process = subprocess.Popen([sys.executable, "-c", _MAIN, *args], stdout=out, stderr=err,
                                   stdin=subprocess.DEVNULL, env=env, preexec_fn=_limit_resources)
        killed = []
        timer = threading.Timer(KILL_SECONDS, lambda: (killed.append(True), process.kill()))
        timer.start()
        try:
            _, status, usage = os.wait4(process.pid, 0)
        finally:
            timer.cancel()
        seconds = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)  # reaped: Popen must not wait for it again
        out.seek(0)
        err.seek(0)
        stdout, stderr = (stream.read().decode(errors="replace") for stream in (out, err))
        return Outcome(None if killed else process.returncode, stdout, stderr, seconds,
                       usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024)


# ---------------------------------------------------------------------------------------------------------------
# The audit's cases: (id, command, loss, part of the reason)

ETA = ["--set", "eta=0.1"]
AUDIT_REFUSED = [
    ("expansion-hang", "derive", "(a+b+c+d+e+f+g+h)^16", "up to 245157 terms (at most 1000)"),
    ("expansion-3.9GB", "derive", "(((a+b+c+d)^4+e)^4+f)^4", "terms (at most 1000)"),
    ("billion-digit-literal", "derive", "a*1e999999999", "exponent of more than 4 digits"),
    ("coefficient-crashing-numba", "run", "((2^16)^16)^16*a*b", "beyond 1e300"),
    ("int64-coefficient", "run", "1e17*(a*b - y)^2", "compiled kernels need integers below 2^62"),
    ("sum-of-390-parameters", "run", "+".join(f"a{i}" for i in range(390)), "more than 16 different parameters"),
    ("product-of-60-parameters", "derive", "*".join(f"a{i}" for i in range(60)), "more than 16 different parameters"),
    ("exp-tower", "derive", "exp(exp(exp(exp(a))))", "nested 3 deep (at most 2"),
    ("constant-overflowing-float", "run", "a*exp(exp(exp(exp(100))))", "not finite as a float"),
    ("division-by-zero", "run", "a/0", "division by zero"),
    ("log-of-zero", "run", "log(0)*a", "log of zero"),
    ("eta-is-the-learning-rate", "run", "a*eta", "'eta' is reserved: the learning rate"),
    ("sqrt", "derive", "sqrt(a)", "sqrt is not supported"),
    ("cube-root", "derive", "a^(1/3)", "non-integer exponent 1/3"),
    ("abs", "derive", "abs(a*b - y)", "abs is not supported"),
    ("sqrt-of-minus-one", "derive", "sqrt(-1)*a", "sqrt is not supported"),
    ("irrational-power", "derive", "a^pi", "non-integer exponent"),
    # Non-finite constants that only SymPy's evaluation reveals (the other spellings: test_other_refusals).
    ("zoo-from-sympy", "derive", "a/(b - b)", "not finite"),
]

# Legitimate losses: every whitelisted function end to end. (id, loss, fixed point {state: value} at eta = 0.1)
FUNCTION_LOSSES = [
    ("exp", "exp(a) + a^2", {"a": -0.35173371124919584}),  # e^a + 2a = 0: a = -W(1/2)
    ("log", "log(1 + a^2) + (b - 1)^2", {"a": 0.0, "b": 1.0}),
    ("sin", "sin(a)", {"a": 3 * math.pi / 2}),
    ("cos", "cos(a)", {"a": math.pi}),
    ("tanh", "(tanh(a) - 1/2)^2", {"a": math.log(3) / 2}),  # atanh(1/2)
]
COMBINED = "exp(a) + a^2 + log(1 + b^2) + (tanh(c) - 1/2)^2 + cos(d) + sin(e)"
SIXTEEN = " + ".join(f"(a{i} - {i}/4)^2" for i in range(1, 14)) + " + (a14*a0 - y)^2"  # 15 state variables and y

CLI_CASES = {f"refused-{case_id}": [command, "product", "--loss", loss] + (ETA + ["--steps", "200"]
                                                                           if command == "run" else [])
             for case_id, command, loss, _ in AUDIT_REFUSED}
for _id, _loss, _ in FUNCTION_LOSSES:
    CLI_CASES[f"derive-{_id}"] = ["derive", "product", "--loss", _loss, "--json"]
    CLI_CASES[f"fixed-points-{_id}"] = ["fixed-points", "product", "--loss", _loss, *ETA, "--json"]
CLI_CASES["run-combined"] = ["run", "product", "--loss", COMBINED, *ETA, "--steps", "200", "--json"]
CLI_CASES["run-largest-coefficient"] = ["run", "product", "--loss", "1e14*(a*b - y)^2", "--set", "eta=1e-15",
                                        "--steps", "200", "--json"]
CLI_CASES["derive-unsolvable-fixed-points"] = ["derive", "product", "--loss", "cos(a) + a^2/10"]
CLI_CASES["run-sixteen-parameters"] = ["run", "product", "--loss", SIXTEEN, *ETA, "--steps", "200", "--json"]


@pytest.fixture(scope="module")
def cli(request):
    """``case -> Future[Outcome]`` for the command-line cases of the selected tests, started together."""
    wanted = []
    for item in request.session.items:
        case = getattr(item, "callspec", None) and item.callspec.params.get("case")
        if getattr(item, "module", None) is sys.modules[__name__] and case in CLI_CASES and case not in wanted:
            wanted.append(case)
    with ThreadPoolExecutor(max_workers=max(1, min(2, os.cpu_count() or 1))) as pool:
        futures = {case: pool.submit(run_cli, CLI_CASES[case]) for case in wanted}
        yield futures
        for future in futures.values():
            future.cancel()


def _outcome(cli, case) -> Outcome:
    outcome = cli[case].result()
    assert outcome.returncode is not None, f"killed after {KILL_SECONDS} s of wall time\n" + outcome.describe()
    assert outcome.cpu_seconds < CPU_SECONDS and outcome.max_rss_bytes < MEMORY_BYTES, outcome.describe()
    return outcome


@pytest.mark.parametrize("case,reason", [(f"refused-{c}", reason) for c, _, _, reason in AUDIT_REFUSED],
                         ids=[c for c, _, _, _ in AUDIT_REFUSED])
@pytest.mark.slow  # a fresh interpreter and cache per case, under resource limits
def test_audit_case_is_refused_on_one_line(cli, case, reason):
    """Exit status 2, one stderr line naming the reason, nothing on stdout, within the time and memory limits
    (a MemoryError would print 'out of memory' instead, a hang would be killed)."""
    outcome = _outcome(cli, case)
    lines = outcome.stderr.splitlines()
    assert outcome.returncode == 2 and len(lines) == 1 and not outcome.stdout, outcome.describe()
    assert lines[0].startswith(PREFIX) and reason in lines[0], outcome.describe()


def _fixed_points(payload) -> list:
    """Every ``coordinates`` mapping in a fixed-points JSON payload, however it is nested."""
    found = []
    if isinstance(payload, dict):
        if isinstance(payload.get("coordinates"), dict):
            found.append(payload["coordinates"])
        for value in payload.values():
            found += _fixed_points(value)
    elif isinstance(payload, list):
        for value in payload:
            found += _fixed_points(value)
    return found


def _accepted(cli, case) -> dict:
    outcome = _outcome(cli, case)
    assert outcome.returncode == 0 and "Traceback" not in outcome.stderr, outcome.describe()
    return json.loads(outcome.stdout)


@pytest.mark.parametrize("case", [f"derive-{f}" for f, _, _ in FUNCTION_LOSSES],
                         ids=[f for f, _, _ in FUNCTION_LOSSES])
@pytest.mark.slow  # a fresh interpreter and cache per case, under resource limits
def test_every_function_derives(cli, case):
    text = json.dumps(_accepted(cli, case))
    assert all(name in text for name in ("function_map", "sharpness", "fixed_points", "stability", "minima"))


@pytest.mark.parametrize("case,expected", [(f"fixed-points-{f}", point) for f, _, point in FUNCTION_LOSSES],
                         ids=[f for f, _, _ in FUNCTION_LOSSES])
@pytest.mark.slow  # a fresh interpreter and cache per case, under resource limits
def test_every_function_has_its_fixed_point(cli, case, expected):
    points = _fixed_points(_accepted(cli, case))
    assert any(all(isinstance(p.get(k), float) and p[k] == pytest.approx(v, abs=1e-9) for k, v in expected.items())
               for p in points), points


@pytest.mark.parametrize("case", ["run-combined"])
@pytest.mark.slow  # a fresh interpreter and cache per case, under resource limits
def test_every_function_runs(cli, case):
    """All five functions in one loss, 200 compiled GD steps: each coordinate converges to its own minimum."""
    final = _accepted(cli, case)["final"]
    assert final["a"] == pytest.approx(-0.35173371124919584, abs=1e-8)
    assert final["b"] == pytest.approx(0.0, abs=1e-8)
    assert final["c"] == pytest.approx(math.log(3) / 2, abs=1e-8)
    assert final["d"] == pytest.approx(math.pi, abs=1e-6)
    assert final["e"] == pytest.approx(-math.pi / 2, abs=1e-6)


@pytest.mark.parametrize("case", ["derive-unsolvable-fixed-points"])
@pytest.mark.slow  # a fresh interpreter and cache per case, under resource limits
def test_unsolvable_fixed_points_are_a_note(cli, case):
    """Solvability is undecidable, so the parser cannot refuse this loss; the derivation says in its notes that
    F(s) = s has no closed-form solution SymPy can find (``fixed-points`` then searches and says it is not
    complete: tests/analysis/test_polynomial_systems.py)."""
    outcome = _outcome(cli, case)
    assert outcome.returncode == 0 and "Traceback" not in outcome.stderr, outcome.describe()
    assert "no closed-form solution" in outcome.stdout


@pytest.mark.parametrize("case", ["run-largest-coefficient", "run-sixteen-parameters"])
@pytest.mark.slow  # a fresh interpreter and cache per case, under resource limits
def test_losses_at_the_limits_compile_and_run(cli, case):
    """At the coefficient limit the numba kernels still type their integers; at 16 names (15 state variables,
    y, plus eta) they still take every parameter as an argument. Both converge to their minimum."""
    payload = _accepted(cli, case)
    assert payload["outcome"]["name"] == "converged", payload["outcome"]
    assert payload["final"]["loss"] == pytest.approx(0.0, abs=1e-12)


# ---------------------------------------------------------------------------------------------------------------
# The limits, in process (fast): each just inside and just outside, with the reason


def refused(text: str, reserved=None) -> str:
    with pytest.raises(UserInputError) as caught:
        parse_loss(text, reserved)
    message = str(caught.value)
    assert message.startswith("refused --loss: ") and "\n" not in message
    return message


@pytest.mark.parametrize("inside,outside,reason", [
    ("+".join(f"p{i}" for i in range(15)) + "+y", "+".join(f"p{i}" for i in range(17)),
     "more than 16 different parameters"),
    ("(a*b)^16*a^16*a^16", "(a*b)^16*a^16*a^16*a", "degree 65 exceeds 64"),
    ("exp(exp(a))", "exp(exp(exp(a)))", "nested 3 deep"),
    ("exp(exp(exp(exp(0))))*a", "log(1 + exp(exp(exp(a))))", "nested 3 deep"),  # constants do not count
    ("a*b*c*d*e*f*g*h", "a*b*c*d*e*f*g*h*k", "multiplies 9 different parameters"),
    ("(a+b+c+d)^16", "(a+b+c+d+e)^16", "up to 4845 terms (at most 1000)"),
    ("a^16", "a^17", "exponent 17 exceeds 16"),
    ("(a^8)^8", "(a^16)^5", "exponent 80 exceeds 64 after combining powers"),
    ("1e14*(a*b - y)^2", "1e17*(a*b - y)^2", "integers below 2^62"),
    ("1e-14*(a - y)^2", "1e-20*(a - y)^2", "integers below 2^62"),
    ("a*" + "0" * 39 + "1", "a*" + "0" * 40 + "1", "more than 40 digits"),
    ("a + 0e9999", "a*1e9999", "outside the range"),
    ("a*(1e300/1e290)", "a*1e301", "outside the range"),
    ("a*(1e-300*1e300)", "a*1e-301", "outside the range"),
    ("a*exp(690)/exp(690)", "a*exp(691)", "not finite as a float"),
    ("(" * 31 + "a" + ")" * 31, "(" * 33 + "a" + ")" * 33, "nested deeper than 32 levels"),
    ("+".join(["a*b"] * 99), "+".join(["a*b"] * 100), "more than 300"),
    ("a" * 32, "a" * 33, "longer than 32 characters"),
    ("a +" + " " * 1994 + " b", "a +" + " " * 1996 + " b", "longer than 2000 characters"),
    ("log(1 + a^2)", "log(a)", "positive for every real value"),
    ("a/(b + 1)", "a/((b+1)^2 - b^2 - 2*b - 1)", "denominator multiplies out to 0"),
])
def test_limit(inside, outside, reason):
    accepted = parse_loss(inside)
    assert isinstance(accepted, sp.Expr) and accepted.free_symbols
    assert reason in refused(outside)


def test_literal_magnitude_is_read_from_the_text():
    """``1e999999999`` never becomes an integer: refused in well under a second, with no memory to speak of."""
    start = time.process_time()  # CPU time: a loaded machine does not inflate it
    for text in ("a*1e999999999", "a*1e-999999999", "a*9" + "9" * 5000, "a*1e99999", "a*0.000000000000001e-9999"):
        refused(text)
    assert time.process_time() - start < 1.0


def test_product_counts_factors_as_its_depth_does():
    """``y`` is the target, not solved for: a product of 8 state variables against it is what ``--depth 8`` is."""
    from analysis import get_model
    model = get_model("product", loss="(a0*a1*a2*a3*a4*a5*a6*a7 - y)^2/2")
    assert len(model.state) == 8 and [p.name for p in model.parameters] == ["eta", "y"]
    with pytest.raises(UserInputError, match="a term multiplies 9 different parameters"):
        get_model("product", loss="(a0*a1*a2*a3*a4*a5*a6*a7*a8 - y)^2/2")
    assert "multiplies 9" in refused("(a0*a1*a2*a3*a4*a5*a6*a7 - y)^2")  # without the model, y counts


@pytest.mark.parametrize("name", sorted({**safe_parse.RESERVED, "eta": ""}))
def test_reserved_names(name):
    from analysis.product import RESERVED
    assert f"the name {name!r} is reserved" in refused(f"a + {name}", RESERVED)


@pytest.mark.parametrize("text,reason", [
    ("sqrt(1 + a^2)", "sqrt is not supported"),
    ("(1 + a^2)^(1/2)", "non-integer exponent 1/2"),
    ("a^0.5", "non-integer exponent 1/2"),
    ("a^exp(1)", "non-integer exponent"),
    ("abs(a)", "abs is not supported"),
    ("sqrt + a", "sqrt is not supported"),
    ("exp + a", "'exp' is a function"),
    ("gamma(a)", "unknown function 'gamma'"),
    ("0^-1*a", "division by zero"),
    ("a/(2 - 2)", "division by zero"),
    ("a/sin(pi)", "not finite"),
    ("a*log(-2)", "not real"),
    ("a*exp(-800)", "below 1e-300"),
    ("I*a", "'I' is reserved: SymPy's imaginary unit"),
    ("oo*a", "'oo' is reserved"),
    ("a*zoo", "'zoo' is reserved"),
    ("nan + a", "'nan' is reserved"),
    ("2^4097*a", "exponent 4097 exceeds 16"),
    ("a^(2^5)", "exponent 32 exceeds 16"),
    ("a*(2^16)^16^16", "exponent 18446744073709551616 exceeds 16"),
    ("a - a", "no parameters"),
    ("pi^2", "no parameters"),
    ("a^0", "no parameters"),
    ("a b", "unexpected 'b' after a complete expression"),
    ("(a", "expected ')' at the end"),
    ("a,b", "unexpected ','"),
])
def test_other_refusals(text, reason):
    assert reason in refused(text)


def test_degree_is_counted_without_expanding():
    """A degree-64 product of sums is measured in microseconds, not expanded."""
    start = time.process_time()  # CPU time: a loaded machine does not inflate it
    assert "terms (at most 1000)" in refused("(a+b+c+d+e+f+g+h)^16")
    assert "terms (at most 1000)" in refused("(((a+b+c+d)^4+e)^4+f)^4")
    assert "degree 68 exceeds 64" in refused("(a^4+b)^16*c^4")
    assert time.process_time() - start < 0.5


def test_accepted_losses_keep_their_form():
    a, b, y = sp.symbols("a b y", real=True)
    assert parse_loss("(a*b - y)^2/2") == (a * b - y) ** 2 / 2
    assert parse_loss("1e14*(a*b - y)^2") == 10 ** 14 * (a * b - y) ** 2
    assert parse_loss("exp(1)*a + pi") == sp.E * a + sp.pi
    assert parse_loss("a^-2 + 2.5e-3*a") == a ** -2 + sp.Rational(1, 400) * a


# ---------------------------------------------------------------------------------------------------------------
# Fuzz: parse_loss returns a bounded expression or refuses, never anything else, never slowly

NAMES = ["a", "b", "c", "y", "w_1", "x2", "lambda", "e"]
HOSTILE_NAMES = ["eta", "t", "E", "I", "oo", "nan", "zoo", "pi", "exp", "sqrt", "a" * 33]
NUMBERS = ["0", "1", "2", "3", "16", "0.5", ".25", "1e3", "2.5e-3", "1e14"]
HOSTILE_NUMBERS = ["17", "65", "4097", "1e17", "1e300", "1.5e300", "1e-300", "1e-301", "1e999999999",
                   "1e-999999999", "9" * 45, "0e99999"]
FUNCTION_NAMES = list(safe_parse.FUNCTIONS)
HOSTILE_FUNCTIONS = ["sqrt", "abs", "eval", "gamma"]
OPERATORS = ["+", "-", "*", "/", "^", "**"]
TOKENS = NAMES + HOSTILE_NAMES + NUMBERS + HOSTILE_NUMBERS + FUNCTION_NAMES + HOSTILE_FUNCTIONS + OPERATORS + [
    "(", ")", ",", ";", "__", ".", "[", "'", "\\"]

leaves = st.one_of(st.sampled_from(NAMES), st.sampled_from(NAMES), st.sampled_from(NUMBERS),
                   st.sampled_from(HOSTILE_NAMES), st.sampled_from(HOSTILE_NUMBERS),
                   st.integers(min_value=0, max_value=10 ** 6).map(str),
                   st.floats(min_value=0, allow_nan=False, allow_infinity=False).map(lambda v: f"{v:.17g}"))


def _grow(children):
    return st.one_of(
        st.tuples(children, st.sampled_from(OPERATORS), children).map(lambda t: f"{t[0]} {t[1]} {t[2]}"),
        st.tuples(st.sampled_from(FUNCTION_NAMES), children).map(lambda t: f"{t[0]}({t[1]})"),
        st.tuples(st.sampled_from(HOSTILE_FUNCTIONS), children).map(lambda t: f"{t[0]}({t[1]})"),
        children.map(lambda c: f"({c})"),
        st.tuples(st.sampled_from(["-", "+"]), children).map(lambda t: t[0] + t[1]),
        st.tuples(children, st.sampled_from(["^", "**"]),
                  st.sampled_from(["2", "3", "-1", "-2", "16", "17", "(1/2)", "0", "4", "8", "pi"])
                  ).map(lambda t: f"({t[0]}){t[1]}{t[2]}"),
    )


expressions = st.recursive(leaves, _grow, max_leaves=40)
soup = st.lists(st.sampled_from(TOKENS), max_size=40).map(" ".join)
FUZZ_DEADLINE_SECONDS = 2.0


def _check_within_limits(expr: sp.Expr) -> None:
    symbols = expr.free_symbols
    assert symbols and len(symbols) <= safe_parse.MAX_PARAMETERS
    assert all(s.is_real and s.name not in safe_parse.RESERVED for s in symbols)
    assert not expr.has(sp.zoo, sp.nan, sp.oo, -sp.oo, sp.I)
    assert not expr.atoms(sp.Abs, sp.sign)
    if expr.is_polynomial(*symbols):  # the tree's bounds must hold for the expansion they avoided
        poly = sp.Poly(expr, *sorted(symbols, key=str))
        assert poly.total_degree() <= safe_parse.MAX_DEGREE
        assert len(poly.terms()) <= safe_parse.MAX_TERMS
        coefficients = [c for c in poly.coeffs() if c.is_Rational]  # irrational ones print as floats
        common = math.lcm(1, *[int(c.q) for c in coefficients])
        assert all(abs(c * common) < 2 ** safe_parse.MAX_COEFFICIENT_BITS for c in coefficients)
        assert common < 2 ** safe_parse.MAX_COEFFICIENT_BITS
        assert max(len(m) - m.count(0) for m in poly.monoms()) <= safe_parse.MAX_FACTORS


@settings(max_examples=200, deadline=None, derandomize=True,  # wall deadline off: the CPU bound below holds
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(st.one_of(expressions, soup, st.text(max_size=60)))
def test_fuzz_parse_loss_returns_a_bounded_expression_or_refuses(text):
    start = time.process_time()  # CPU time: a loaded machine does not inflate it
    try:
        expr = parse_loss(text)
    except UserInputError as error:
        assert str(error).startswith("refused --loss: ") and "\n" not in str(error)
    else:
        assert isinstance(expr, sp.Expr)
        _check_within_limits(expr)
    assert time.process_time() - start < FUZZ_DEADLINE_SECONDS
