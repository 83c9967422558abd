r"""The public object of the symbolic layer: a model with its derived results.

>>> from analysis import load_model
>>> uv = load_model("uv", "mup")
>>> uv.sharpness.expression
lam/2 + sqrt(12*f**2*x**2 - 16*f*x**2*y + lam**2 + 4*x**2*y**2)/2
>>> print(uv.fixed_points_at({"eta": 0.5, "y": 1, "n": 4})["III"].coordinates)
{'f': 5.0, 'lam': 10.0}

Results are derived on first access (with what they depend on, in the order of the derivation graph) and
cached in memory and on disk (:mod:`analysis.engine`), so that a script pays for a derivation once.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Optional

from .engine import Derivation
from .errors import UnknownNameError
from . import environment
from .evaluate import FixedPointTable, fixed_points_at
from .values import value_mapping
from .registry import get_model

# User-written losses are derived under a time budget (seconds; SHARPNESS_DERIVATION_BUDGET overrides): SymPy
# has no bound on the work a legal expression can ask for.
USER_LOSS_TIME_BUDGET = 120.0
# Momentum maps double the state (three times for Gram models): their closed forms can take SymPy minutes (the UV
# model's heavy-ball fixed points take about 40 s) or more than anyone waits (its Nesterov fixed points), so they
# are derived under a budget too, which reports the result that did not finish instead of hanging.
MOMENTUM_TIME_BUDGET = 300.0


def _result(node: str, doc: str) -> property:
    """The derived result ``node`` as a read-only attribute of :class:`DerivedModel`, documented by ``doc``."""
    return property(lambda self: self.result(node), doc=doc)


class DerivedModel:
    r"""A model in one parameterization, with every derived result as a lazily derived, cached attribute.

    Parameters
    ----------
    model:
        a registered name (``"uv"``, see :func:`analysis.model_names`), the path of a Python file defining
        ``MODEL``, or an :class:`analysis.Model`.
    parameterization:
        one of the model's parameterizations (``"sp"``/``"mup"`` for ``uv``); ``None`` takes the first.
    use_cache:
        read and write the on-disk derivation cache.
    time_budget:
        seconds allowed per derivation step (default: none, or :data:`USER_LOSS_TIME_BUDGET` for a
        user-written loss).
    **options:
        a variant of the model (``product``: ``loss="(a*b - y)^2/2"`` or ``depth=3``), and ``optimizer``: ``"gd"``
        (default), ``"heavy-ball"`` or ``"nesterov"`` (:mod:`analysis.optimizers`; adds the parameter ``beta``
        and the velocity state, see :meth:`analysis.model.Model.with_optimizer`).

    Attributes
    ----------
    map, jacobian, sharpness, hessian_spectrum, fixed_points, stability, eos_map, minima, loss, eos_manifold,
    state_definitions, gd_update, normal_form, grad_sharpness, central_flow:
        the derived result of that name, a dataclass of :mod:`analysis.derivations.results` (``eos_*`` exist for
        Gram models only). Each has ``.equations``, ``.notes``, ``.title``, ``.to_dict()`` (what ``sharpness
        derive --json`` prints) and its own documented fields, e.g. ``uv.map.images`` (the images of the state),
        ``uv.sharpness.expression``, ``uv.fixed_points.solutions``
        (:class:`~analysis.derivations.records.FixedPointSolution`), ``uv.stability.points``, ``uv.minima.sets``.
    """

    def __init__(self, model, parameterization: Optional[str] = None, *, use_cache: bool = True,
                 time_budget: Optional[float] = None, **options):
        self.model = get_model(model, **options)
        if time_budget is None and self.model.options.get("loss") is not None:
            time_budget = environment.seconds("SHARPNESS_DERIVATION_BUDGET", USER_LOSS_TIME_BUDGET)
        elif time_budget is None and self.model.optimizer != "gd":
            time_budget = environment.seconds("SHARPNESS_DERIVATION_BUDGET", MOMENTUM_TIME_BUDGET)
        self.derivation = Derivation(self.model, parameterization, use_cache=use_cache, time_budget=time_budget)
        self.parameterization = self.derivation.parameterization
        self.description = self.derivation.spec

    @property
    def name(self) -> str:
        return self.model.name

    @property
    def kind(self) -> str:
        """``"gram"`` or ``"coordinate"``: which description the derivations work from."""
        return self.derivation.kind

    @property
    def available(self) -> list:
        """Names of the results derived for this model, in evaluation order."""
        return self.derivation.available

    def result(self, name: str):
        """The result ``name`` (see :attr:`available`), derived with what it needs, or read from the cache."""
        if name not in self.derivation.graph:
            where = f" for model {self.name!r} (a {type(self.description).__name__})"
            raise UnknownNameError("result", name, self.available, where)
        return self.derivation.result(name)

    def results(self, only: Optional[str] = None) -> list:
        """Every result, or ``only`` and what it is derived from, in evaluation order."""
        if only is not None:
            self.result(only)
        return self.derivation.results(only)

    # The results as attributes (a name for each node of the derivation graph; ``map`` is ``function_map``).
    map = _result("function_map",
                  "The exact map on the state (closure proved): :class:`~analysis.derivations.FunctionMap`.")
    jacobian = _result("jacobian", "Jacobian of the map: :class:`~analysis.derivations.Jacobian`.")
    sharpness = _result("sharpness",
                        "Top Hessian eigenvalue (or the Hessian): :class:`~analysis.derivations.Sharpness`.")
    hessian_spectrum = _result("hessian_spectrum",
                               "Hessian eigenvalues: :class:`~analysis.derivations.HessianSpectrum`.")
    fixed_points = _result("fixed_points",
                           "Fixed points in closed form: :class:`~analysis.derivations.FixedPoints`.")
    stability = _result("stability",
                        "Eigenvalues, stability, boundaries: :class:`~analysis.derivations.Stability`.")
    eos_manifold = _result("eos_manifold",
                           "EoS manifolds (Gram models): :class:`~analysis.derivations.EoSManifolds`.")
    eos_map = _result("eos_map",
                      "Cubic normal form on the EoS manifolds: :class:`~analysis.derivations.EoSMap`.")
    minima = _result("minima",
                     "Zero-loss sets and self-stabilisation drift: :class:`~analysis.derivations.Minima`.")
    loss = _result("loss", "The loss in the state variables: :class:`~analysis.derivations.Loss`.")
    state_definitions = _result("state_definitions",
                                "State of the parameters: :class:`~analysis.derivations.StateDefinitions`.")
    gd_update = _result("gd_update",
                        "The optimizer's step in parameter space: :class:`~analysis.derivations.ParameterUpdate`.")
    normal_form = _result("normal_form",
                          "Derivative tensors and flip coefficients: :class:`~analysis.derivations.NormalForm`.")
    grad_sharpness = _result("grad_sharpness",
                             "Gradient of the sharpness: :class:`~analysis.derivations.GradSharpness`.")
    central_flow = _result("central_flow",
                           "The central flow's vector field: :class:`~analysis.derivations.CentralFlowField`.")

    @property
    def optimizer(self) -> str:
        """The optimizer whose map is derived: ``"gd"`` (default), ``"heavy-ball"`` or ``"nesterov"``."""
        return self.model.optimizer

    @property
    def threshold(self):
        r"""The linear stability threshold on the sharpness, in the parameters: the curvature at which the
        optimizer's multiplier on a quadratic reaches -1 (:func:`analysis.optimizers.model_threshold`):
        :math:`2/\eta` for GD, :math:`(2 + 2\beta)/\eta` heavy-ball, :math:`(2 + 2\beta)/(\eta(1 + 2\beta))` Nesterov.

        >>> from analysis import load_model
        >>> load_model("uv", "sp", optimizer="heavy-ball").threshold
        2*(beta + 1)/eta
        """
        from .optimizers import model_threshold

        return model_threshold(self.description)

    def bind(self, values: Optional[Mapping] = None) -> dict:
        """``{symbol: exact number}`` for the parameter ``values`` (``{name: number}``; defaults filled in),
        validated (:meth:`analysis.model.Model.bind_values`)."""
        return self.model.bind_values(value_mapping(values))

    def fixed_points_at(self, values: Optional[Mapping] = None) -> FixedPointTable:
        """Every fixed point at the parameter ``values`` (``{name: number}``, defaults filled in), with its
        eigenvalues, stability and realizability.

        Examples
        --------
        >>> from analysis import load_model
        >>> [p.stability for p in load_model("uv-eos").fixed_points_at({"k": 0.5})]
        ['attracting', 'repelling', 'attracting']
        """
        return fixed_points_at(self.derivation, self.bind(values))

    def to_dict(self, only: Optional[str] = None) -> dict:
        """``sharpness derive --json``: ``{"model", "parameterization", "results": {name: result.to_dict()}}``."""
        return {"model": self.name, "parameterization": self.parameterization,
                "results": {r.name: r.to_dict() for r in self.results(only)}}

    def latex(self, path=None, only: Optional[str] = None) -> str:
        """The standalone LaTeX document of the results (``sharpness derive --latex``); written to ``path`` if
        given (an unwritable path raises :class:`~analysis.errors.UserInputError`)."""
        from .atomic import write_output
        from .latex import document, symbol_order

        text = document([(self.name, self.parameterization, self.results(only), symbol_order(self.model))])
        if path is not None:  # atomically: a full disk leaves no 0-byte file (an OutputError says so)
            write_output(path, text)
        return text

    def __repr__(self) -> str:
        if self.optimizer != "gd":
            return f"DerivedModel({self.name!r}, {self.parameterization!r}, optimizer={self.optimizer!r})"
        return f"DerivedModel({self.name!r}, {self.parameterization!r})"


def load_model(name_or_path, parameterization: Optional[str] = None, **options) -> DerivedModel:
    """A :class:`DerivedModel`: ``load_model("uv", "mup")``, ``load_model("./my_model.py")``,
    ``load_model("product", loss="(a*b - y)^2/2")``, ``load_model("uv", "sp", optimizer="heavy-ball")`` (momentum:
    :meth:`analysis.model.Model.with_optimizer`); ``use_cache`` and ``time_budget`` are passed on."""
    return DerivedModel(name_or_path, parameterization, **options)
