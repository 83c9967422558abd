"""Evaluate derived results in the order of the derivation graph, with a verified disk cache.

The cache key of a model's results (:attr:`Derivation.cache_key`) covers everything that defines them: the
model description (its SymPy objects), what the :class:`~analysis.model.Model` declares (name, parameters with
their symbols, assumptions, domains and defaults, state variables with defaults, options), the parameterization
and the source of the whole ``analysis`` package, so that a changed model or a changed derivation is never served
stale. Entries are stored and verified by :mod:`analysis.cache` (directory: :func:`analysis.cache.cache_dir`).
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import pickle
import re
import signal
import threading
import time

import networkx as nx
import sympy as sp

from . import cache, derivations
from .errors import DerivationTimeout, DomainError, UserInputError
from .registry import get_model


@functools.lru_cache(maxsize=64)
def _graph_of(names: tuple) -> nx.DiGraph:
    """The derivation graph restricted to the results ``names``, built once per set of names and frozen (a
    :class:`Derivation` made per call of a command then costs no graph construction)."""
    return nx.freeze(derivations.build_graph().subgraph(names).copy())


def described(model, parameterization: str):
    """``model.describe(parameterization)``, made once per model object and parameterization: the model and its
    descriptions are frozen, and a command that builds a new :class:`Derivation` per call (an orbit diagram in a
    loop) then reuses the description and its fingerprint (a SHA-256 of its ``srepr``) instead of making both
    again. Kept in the model object's ``__dict__``, so it lives and dies with the model."""
    made = model.__dict__.setdefault("_descriptions", {})  # frozen dataclass: its __dict__ is still its own
    if parameterization not in made:
        made[parameterization] = model.describe(parameterization)
    return made[parameterization]


class Derivation:
    """All derived results of one model in one parameterization.

    Examples
    --------
    >>> from analysis import Derivation
    >>> d = Derivation("uv", "mup")
    >>> d.result("sharpness").expression
    lam/2 + sqrt(12*f**2*x**2 - 16*f*x**2*y + lam**2 + 4*x**2*y**2)/2

    Parameters
    ----------
    model:
        a registered model name (see ``sharpness models``) or a :class:`~analysis.model.Model` (e.g. a
        ``product`` variant from ``get_model("product", loss=...)``).
    parameterization:
        one of the model's parameterizations (``sp``/``mup`` for ``uv``); ``None`` takes the first.
    use_cache:
        read and write the disk cache (:func:`analysis.cache.cache_dir`).
    time_budget:
        seconds of wall time allowed to each derivation step; a step that takes longer raises
        :class:`~analysis.errors.DerivationTimeout`. SymPy has no bound on the work a legal expression can ask
        for, so user-written losses are derived under one. Enforced with ``SIGALRM``, hence only in the main
        thread (and where the platform has it); elsewhere steps run without a limit.
    """

    def __init__(self, model, parameterization: str | None = None, use_cache: bool = True,
                 time_budget: float | None = None):
        if time_budget is not None and not time_budget > 0:
            raise DomainError("time_budget", time_budget, "a positive number of seconds")
        self.model = get_model(model)
        self.parameterization = self.model.check_parameterization(parameterization)
        self.spec = described(self.model, self.parameterization)
        self.kind = derivations.kind_of(self.spec)
        self.use_cache = use_cache
        self.time_budget = time_budget
        self.graph = _graph_of(tuple(name for name, node in derivations.NODES.items()
                                     if self.kind in node.kinds and node.applies(self.spec)))
        self._results: dict = {}
        self.computed: list = []  # names derived (not read from cache) in this object's lifetime

    @property
    def available(self) -> list:
        """Result names for this model, in evaluation (topological) order."""
        return list(nx.lexicographical_topological_sort(self.graph))

    def requirements(self, name: str) -> list:
        """``name`` and everything it is derived from, in evaluation order."""
        self._check(name)
        needed = nx.ancestors(self.graph, name) | {name}
        return [n for n in self.available if n in needed]

    def _check(self, name: str):
        if name not in self.graph:
            allowed = ", ".join(self.available)
            raise UserInputError(f"unknown result {name!r} for model {self.model.name!r}; expected one of: {allowed}")

    @property
    def cache_key(self) -> str:
        """SHA-256 (hex) of everything that defines this model's results: the description's fingerprint, the
        model's declaration, the parameterization and :func:`analysis.cache.source_fingerprint`.

        The declaration counts because derivations read it too (a state default or a parameter's domain can
        change a result) and two models may share one description. Computed once per object as long as its model
        and description are the same objects (both are frozen; replacing either computes it again)."""
        model = self.model
        known = self.__dict__.get("_cache_key")
        if known is not None and known[0] is model and known[1] is self.spec and known[2] == self.parameterization:
            return known[3]
        identity = {
            "description": self.spec.fingerprint(),
            "model": model.name,
            "parameters": [[p.name, sp.srepr(p.symbol), p.domain, sp.srepr(p.default)] for p in model.parameters],
            "state": [[s.name, sp.srepr(s.symbol), sp.srepr(s.default)] for s in model.state],
            "options": {str(k): repr(v) for k, v in model.options.items()},
            "parameterization": self.parameterization,
            "source": cache.source_fingerprint(),
        }
        key = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()
        self._cache_key = (model, self.spec, self.parameterization, key)
        return key

    def _cache_location(self) -> tuple:
        """``(directory, key)`` of this model's entries. The directory is named by the model, the
        parameterization and a key prefix, to be readable; each entry is checked against the full key."""
        key = self.cache_key
        label = re.sub(r"[^A-Za-z0-9_.-]", "_", f"{self.model.name}-{self.parameterization}")
        return cache.cache_dir() / f"{label}-{key[:16]}", key

    def _cache_path(self, name: str):
        """Where the entry of result ``name`` lives."""
        return cache.entry_path(self._cache_location()[0], name)

    def result(self, name: str):
        """The typed result ``name`` (:mod:`analysis.derivations.results`), derived (with what it needs) or read
        from the cache."""
        for step in self.requirements(name):
            if step not in self._results:
                loaded = self._load(step)
                self._results[step] = self._derive(step) if loaded is None else loaded
        return self._results[name]

    def results(self, only: str | None = None) -> list:
        names = self.requirements(only) if only else self.available
        return [self.result(n) for n in names]

    def _derive(self, name: str):
        node = derivations.NODES[name]
        inputs = {d: self._results[d] for d in node.depends_on}
        context = derivations.Context(self.model, self.parameterization, self.spec, inputs)
        hint = ("simplify the loss" if self.model.options.get("loss") is not None
                else "no closed form in that time (SHARPNESS_DERIVATION_BUDGET sets the budget in seconds); the "
                     "map itself (run, lyapunov, bifurcation, ...) does not need it")
        message = (f"deriving {name!r} of model {self.model.name!r} took longer than {self.time_budget:g} s; "
                   f"{hint}") if self.time_budget else ""
        with _time_limit(self.time_budget, message):
            derived = node.derive(context)
        # Through pickle even when not caching: unpickling re-evaluates SymPy's automatic simplifications
        # (e.g. (a + b)/2 -> a/2 + b/2), so a cold and a cached run must both hand out the unpickled form.
        payload = pickle.dumps(derived, protocol=pickle.HIGHEST_PROTOCOL)
        self.computed.append(name)
        if self.use_cache:
            cache.store(*self._cache_location(), name, payload)
        return pickle.loads(payload)

    def _load(self, name: str):
        return cache.load(*self._cache_location(), name) if self.use_cache else None


@contextlib.contextmanager
def _time_limit(seconds: float | None, message: str):
    """Raise :class:`DerivationTimeout` (``message``) in the body once ``seconds`` of wall time have passed.

    Only in the main thread, where Python runs signal handlers; elsewhere (or without ``setitimer``) the body
    runs without a limit. The alarm repeats every 0.1 s until the body is left, because SymPy catches broad
    exceptions in places and could swallow a single one. The previous handler and timer (with the time it had
    left) are restored afterwards.
    """
    if (seconds is None or not hasattr(signal, "setitimer")
            or threading.current_thread() is not threading.main_thread()):
        yield
        return
    armed = True

    def expire(signum, frame):
        if armed:  # a late alarm, delivered while leaving the body, is ignored
            raise DerivationTimeout(message)

    previous_handler = signal.getsignal(signal.SIGALRM)
    previous_delay, previous_interval = signal.getitimer(signal.ITIMER_REAL)
    started = time.monotonic()
    try:  # from the first change on, so that an alarm landing anywhere still leads to the restoring below
        signal.signal(signal.SIGALRM, expire)
        signal.setitimer(signal.ITIMER_REAL, seconds, 0.1)
        yield
    finally:
        try:
            armed = False  # later alarms are ignored ...
        finally:  # ... and one landing just before that line still leaves through the restoring below
            armed = False
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, signal.SIG_DFL if previous_handler is None else previous_handler)
            if previous_delay:
                remaining = previous_delay - (time.monotonic() - started)
                signal.setitimer(signal.ITIMER_REAL, max(remaining, 1e-6), previous_interval)
