"""LaTeX export: printed as a paper prints it, and every exported expression round-trips through sympy's
parse_latex (ANTLR backend) to an expression equal to the derived one."""
import re

import pytest
import sympy as sp

from analysis import Derivation, load_model
from analysis.latex import (document, parse_back, prose, readable, round_trips, symbol_order, text_escape, texttt,
                            to_latex)

CASES = [("uv", "sp"), ("uv", "mup"), ("uv-eos", None), ("xy-quartic", None), ("two-input", None),
         ("product", None)]

# A product written with an explicit operator between two symbol tokens (a letter, a \command, a braced or
# subscripted/superscripted symbol), e.g. "\eta \cdot f" or "x^{2} \cdot y".
SYMBOL = r"(?:\\[A-Za-z]+|[A-Za-z])(?:_\{[^{}]*\}|\^\{[^{}]*\})*"
OPERATOR_BETWEEN_SYMBOLS = re.compile(rf"{SYMBOL}\s*\\(?:cdot|times)\s*{SYMBOL}")


@pytest.mark.parametrize("model,parameterization", CASES)
def test_every_exported_expression_round_trips(model, parameterization):
    derivation = Derivation(model, parameterization)
    order = symbol_order(derivation.model)
    equations = [e for r in derivation.results() for e in r.equations]
    assert len(equations) > 5
    # Both with the model's order of symbols (derive --latex, the report) and without (derive --json).
    failures = [(e.label, to_latex(e.rhs, order)) for e in equations if not round_trips(e.rhs, order)]
    failures += [(e.label, to_latex(e.rhs)) for e in equations if not round_trips(e.rhs)]
    assert not failures


def test_uv_map_has_implicit_multiplication_and_reads_as_a_paper():
    """The UV map's LaTeX (SP): no \\cdot (or \\times) between two symbols, a sum starts with a positive term
    (y - f), a series in eta, and it parses back to the derived map."""
    uv = load_model("uv", "sp")
    order = symbol_order(uv.model)
    for state, image in uv.map.images.items():
        text = to_latex(image, order)
        assert not OPERATOR_BETWEEN_SYMBOLS.search(text), text
        assert r"\cdot" not in text and r"\times" not in text, text
        assert sp.simplify(parse_back(text, image) - image) == 0, text
        assert "- f + y" not in text and r"\left(y - f\right)" in text, text
    f_image = to_latex(uv.map.images[sp.Symbol("f", real=True)], order)
    assert f_image.index(r"\eta \lambda") < f_image.index(r"\eta^{2} x^{2} f")  # eta, then eta^2; x before f


def test_the_detector_of_explicit_products_can_fail():
    """The stock printer with mul_symbol='dot' (the earlier export) is caught by the same check."""
    uv = load_model("uv", "sp")
    stock = sp.latex(next(iter(uv.map.images.values())), mul_symbol="dot")
    assert OPERATOR_BETWEEN_SYMBOLS.search(stock)


def test_a_parenthesised_factor_after_a_symbol_is_a_product_not_a_call():
    """parse_latex reads "f (y - f)" as the function f applied to y - f; the printer's brace group is a product."""
    from sympy.parsing.latex import parse_latex

    f, y, eta = sp.symbols("f y eta", real=True)
    assert isinstance(parse_latex(r"f \left(y - f\right)"), sp.core.function.AppliedUndef)  # the pitfall
    expr = eta * f * (y - f)
    assert round_trips(expr) and "(" in to_latex(expr, rewrite=False)


def test_readable_forms_are_equal_and_shorter():
    uv = load_model("uv", "sp")
    sharpness = uv.sharpness.expression
    shown = readable(sharpness, symbol_order(uv.model))
    assert sp.simplify(shown - sharpness) == 0
    text = to_latex(sharpness, symbol_order(uv.model))
    assert text.startswith(r"\frac{\lambda}{2} + ") and r"\sqrt{n \lambda^{2} + 4 x^{2}" in text
    # a form that only looks shorter is never taken: the candidate must prove equal
    x = sp.Symbol("x", real=True)
    assert sp.simplify(readable(sp.sqrt(x ** 2) + x) - (sp.sqrt(x ** 2) + x)) == 0


def test_round_trip_detects_a_wrong_parse():
    """The check can fail: the stock printer's |.| form after a product is silently dropped by the parser."""
    f, y, x = sp.symbols("f y x", real=True)
    expr = x * sp.Abs(f - y)
    stock = sp.latex(expr, mul_symbol="dot")
    assert sp.simplify(parse_back(stock, expr) - expr) != 0
    assert round_trips(expr)


def test_document_is_standalone_with_unique_labels():
    derivations = [(m, d.parameterization, d.results(), symbol_order(d.model)) for m, p in CASES
                   for d in [Derivation(m, p)]]
    text = document(derivations)
    assert text.startswith(r"\documentclass")
    assert r"\usepackage{amsmath" in text and text.rstrip().endswith(r"\end{document}")
    labels = re.findall(r"\\label\{([^}]*)\}", text)
    assert len(labels) == len(set(labels)) > 50
    assert text.count(r"\begin{equation}") == text.count(r"\end{equation}") == len(labels)
    assert r"\cdot" not in text


@pytest.mark.parametrize("text,expected", [
    ("Closure: d/dG_vv of every image.", r"Closure: $\partial/\partial G_{vv}$ of every image."),
    ("Delta S / epsilon^2: sharpness change", r"$\Delta S / \varepsilon^{2}$: sharpness change"),
    ("at k = 1 (fixed points z = +-1, multiplier 1 - 2k).", r"at $k = 1$ (fixed points $z = \pm 1$, multiplier "
                                                            r"$1 - 2k$)."),
    ("holds (|mu| < 1 for each eigenvalue).", r"holds ($|\mu| < 1$ for each eigenvalue)."),
    ("R = 0 is invariant; off it, R is multiplied", r"$R = 0$ is invariant; off it, $R$ is multiplied"),
    ("a stable period-2 orbit (MatContM, <q, q> = 1)",
     r"a stable period-2 orbit (MatContM, $\langle q, q\rangle = 1$)"),
    ("PyTorch's convention: 100% of x_{uv} & more --out", r"PyTorch's convention: 100\% of $x_{uv}$ \& more -{}-out"),
])
def test_prose_sets_mathematics_in_math_mode(text, expected):
    assert prose(text).strip() == expected


def test_text_escapes_survive_pdflatex_literally():
    assert text_escape(r"a_b ^ ~ \ {x} <y> | --out") == (r"a\_b \textasciicircum{} \textasciitilde{} "
                                                         r"\textbackslash{} \{x\} \textless{}y\textgreater{} "
                                                         r"\textbar{} -{}-out")
    assert r"\mbox{-{}-out}" in texttt("sharpness report --out /tmp/x")


def test_a_radical_alone_or_too_large_to_expand_prints_itself():
    """Radicals are held whole while the outside is rewritten; they must come back (no placeholder leaks), also
    when the rewrite is skipped for a power too large to expand."""
    a, b, c = sp.symbols("a b c", real=True)
    for expr in (sp.sqrt(a * b + c), sp.sqrt((a + b + c) ** 30 + 1), sp.sqrt(a + b) * (a ** 2 - b ** 2)):
        text = to_latex(expr)
        assert "r_{" not in text and "Dummy" not in text and re.search(r"\\sqrt\{|\^\{3/2\}", text), text
    assert round_trips(sp.sqrt(a * b + c)) and round_trips(sp.sqrt(a + b) * (a ** 2 - b ** 2))


def test_prose_code_spans():
    """Backticks mark code: `pip install -e .[torch]` is typewriter text, its "-e" an option, not a minus sign
    (it was typeset as $-e$); the prose around it keeps its maths, and an unpaired backtick stays text."""
    from analysis.latex import prose

    text = prose("PyTorch not installed (`pip install -e .[torch]`): no runs with |mu| < 1")
    assert r"\texttt{" in text and r"\mbox{-e}" in text and "$-e$" not in text and r"$|\mu| < 1$" in text
    assert r"\texttt" not in prose("a ` b") and "`" in prose("a ` b")


def test_every_declared_symbol_is_valid_matplotlib_math_text():
    """Figures label their axes with the models' declared LaTeX (numerics.plots.axis_name): every declared form,
    of every model under every optimizer, parses in matplotlib's mathtext (a failure would only show when a
    figure is saved); names without a declared form print as SymPy writes them or stay words."""
    from matplotlib.mathtext import MathTextParser

    from analysis import load_model
    from analysis.latex import SYMBOL_NAMES
    from analysis.optimizers import OPTIMIZERS
    from analysis.registry import model_names
    from numerics.plots import axis_name

    for name in model_names():
        for optimizer in OPTIMIZERS:
            load_model(name, optimizer=optimizer).model
    parser = MathTextParser("agg")
    assert SYMBOL_NAMES
    for symbol in list(SYMBOL_NAMES):
        parser.parse(axis_name(symbol.name), dpi=72)
    assert axis_name("lam") == r"$\lambda$" and axis_name("w1") == "$w_{1}$" and axis_name("momentum") == "momentum"
    assert axis_name("lam_vv") == r"$\ddot{\lambda}$"


def test_each_eos_manifolds_equations_say_which_manifold_they_hold_on():
    """The UV model's EoS equations come per manifold (u = v, then u = -v): the first equation of each group carries
    a heading naming it, printed before the group in the text, the JSON and the LaTeX, and nowhere else."""
    from analysis.latex import body

    derived = load_model("uv", "sp")
    for name in ("eos_manifold", "eos_map"):
        result = derived.result(name)
        headed = [(e.label, e.heading) for e in result.equations if e.heading]
        assert [label.endswith("u=v") for label, _ in headed] == [True, False], headed
        assert headed[1][0].endswith("u=-v"), headed
        assert "u = v" in headed[0][1] and "u = -v" in headed[1][1]
        first = next(e for e in result.equations if e.heading)
        assert first.to_dict()["heading"] == first.heading and str(first).startswith(first.heading)
        assert all("heading" not in e.to_dict() for e in result.equations if not e.heading)
        lines = body([("uv", "sp", [result], symbol_order(derived.model))])
        positions = [i for i, line in enumerate(lines) if line.startswith("On the manifold of")]
        assert len(positions) == 2 and lines[positions[0] + 1] == r"\begin{equation}"
