r"""``product``: a model from a loss the user writes, so that anyone can study their own minimalist example.

Default: the depth-:math:`d` scalar linear network :math:`L = \tfrac12(\prod_{i=1}^d \theta_i - y)^2` (``--depth``,
default 2). With ``--loss "EXPR"`` the loss is parsed by the whitelist parser :mod:`analysis.safe_parse`
(nothing of the text reaches ``eval``, and the limits of that module bound its size before SymPy sees it);
every symbol of the expression is a state variable (a network parameter that GD moves), except ``y``, which is
the target parameter. GD has step :math:`\eta`, so a loss cannot use the name ``eta`` (:data:`RESERVED`).
Several losses separated by ``;`` (:data:`EXAMPLE_SEPARATOR`) are the per-example losses :math:`L_1, \dots, L_m`
(for mini-batch SGD, ``--optimizer sgd --batch-size B``); the loss is their mean.
"""
from __future__ import annotations


import sympy as sp

from .errors import UserInputError
from .model import CoordinateModel, Model, Parameter, StateVariable
from .registry import register
from .safe_parse import MAX_LENGTH, parse_loss
from .values import to_count

eta = sp.Symbol("eta", positive=True)
y = sp.Symbol("y", real=True)
MAX_DEPTH = 8
# ``--loss "L_1; L_2; ..."`` declares one loss per example; the model's loss is their mean.
EXAMPLE_SEPARATOR = ";"
MAX_EXAMPLES = 64
#: Names a user loss cannot use here (on top of :data:`analysis.safe_parse.RESERVED`), with the reason.
RESERVED = {"eta": "the learning rate of GD in model 'product' (give its value with --set eta=VALUE)"}


def _build(loss: sp.Expr, summary: str, options: dict, examples: tuple = ()) -> Model:
    if any(s.name in RESERVED for s in loss.free_symbols):  # parse_loss refuses them; a loss built otherwise too
        raise UserInputError(f"refused --loss: the names {', '.join(RESERVED)} are reserved")
    state_symbols = sorted((s for s in loss.free_symbols if s.name != "y"), key=lambda s: s.name)
    if not state_symbols:
        raise UserInputError("refused --loss: it has no parameters for GD to move (y is the target)")
    # A start off every symmetry of the default product (theta_i equal) and away from zero.
    state = tuple(StateVariable(s.name, s, "network parameter", default=sp.Rational(1, 2) + sp.Rational(i, 10))
                  for i, s in enumerate(state_symbols))
    parameters = (Parameter("eta", eta, "learning rate", "positive"),)
    if loss.has(y):
        parameters += (Parameter("y", y, "target", "real", default=sp.Integer(1)),)
    spec = CoordinateModel(loss=loss, step=eta, state=state, examples=examples)
    return Model(name="product", summary=summary, parameters=parameters, state=state,
                 parameterizations=("default",), describe=lambda parameterization: spec,
                 reference="user loss" if options.get("loss") else "depth-d scalar linear network",
                 variant=variant, options=dict(options))


def variant(loss: str | None = None, depth: int | None = None) -> Model:
    """The ``product`` model for a user ``loss`` (text) or the default product of ``depth`` factors."""
    if loss is not None:
        if depth is not None:
            raise UserInputError("give --loss or --depth, not both")
        pieces = str(loss).split(EXAMPLE_SEPARATOR)
        if len(pieces) > 1:
            if len(pieces) > MAX_EXAMPLES or len(str(loss)) > MAX_LENGTH:
                raise UserInputError(f"refused --loss: at most {MAX_EXAMPLES} examples and {MAX_LENGTH} characters "
                                     f"in all, got {len(pieces)} examples and {len(str(loss))} characters")
            if any(not piece.strip() for piece in pieces):
                raise UserInputError(f"refused --loss: an empty example between '{EXAMPLE_SEPARATOR}' separators")
            examples = tuple(parse_loss(piece, reserved=RESERVED, parameters=("y",)) for piece in pieces)
            expr = sp.Add(*examples) / len(examples)
            shown = "; ".join(sp.sstr(e) for e in examples)
            return _build(expr, f"user loss, the mean of {len(examples)} examples {shown}", {"loss": loss},
                          examples)
        expr = parse_loss(loss, reserved=RESERVED, parameters=("y",))
        return _build(expr, f"user loss {sp.sstr(expr)}", {"loss": loss})
    depth = to_count("depth", 2 if depth is None else depth, 1, MAX_DEPTH)  # 1.5 and True are not depths
    thetas = sp.symbols(f"theta1:{depth + 1}", real=True)
    expr = (sp.Mul(*thetas) - y) ** 2 / 2
    return _build(expr, f"(prod_i theta_i - y)^2 / 2, depth {depth} (or --loss EXPR)", {"depth": depth})


MODEL = register(variant())
