"""The ``sharpness`` command line. It only orchestrates: every formula comes from :mod:`analysis`.

Bad input is reported on one line of stderr with exit status 2, never with a traceback.
"""
from __future__ import annotations

import argparse
import json
import sys

from .errors import UserInputError


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse prints the whole usage; we want one line and status 2
        raise UserInputError(message)


def _assignments(pairs, option="--set") -> dict:
    """``["NAME=VALUE", ...]`` as a dict; a malformed pair is a :class:`UserInputError`."""
    result = {}
    for pair in pairs or []:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise UserInputError(f"malformed {option} {pair!r}; expected NAME=VALUE, e.g. {option} eta=0.5")
        if name.strip() in result:
            raise UserInputError(f"{option} {name.strip()} given twice")
        result[name.strip()] = value.strip()
    return result


def _print_json(obj) -> None:
    json.dump(obj, sys.stdout, indent=2, allow_nan=False)
    sys.stdout.write("\n")


# --------------------------------------------------------------------------------------------------------------


def cmd_models(args) -> int:
    from .registry import get_model, model_names

    entries = []
    for name in model_names():
        model = get_model(name)
        entries.append({
            "name": model.name, "description": model.summary,
            "parameters": [{"name": p.name, "description": p.description, "domain": p.domain,
                            "default": None if p.default is None else float(p.default)} for p in model.parameters],
            "state": [{"name": s.name, "description": s.description} for s in model.state],
            "parameterizations": list(model.parameterizations), "reference": model.reference,
        })
    if args.json:
        _print_json(entries)
        return 0
    for e in entries:
        params = ", ".join(p["name"] + ("" if p["default"] is None else f"={p['default']:g}") for p in e["parameters"])
        print(f"{e['name']:<10} {e['description']}")
        print(f"{'':<10} parameters: {params}; state: {', '.join(s['name'] for s in e['state'])}; "
              f"parameterizations: {', '.join(e['parameterizations'])}")
    return 0


def cmd_derive(args) -> int:
    from .engine import Derivation
    from .latex import document, to_latex

    derivation = Derivation(args.model, args.parameterization)
    results = derivation.results(args.only)
    if args.latex:
        try:
            with open(args.latex, "w") as handle:
                handle.write(document([(derivation.model.name, derivation.parameterization, results)]))
        except OSError as error:
            raise UserInputError(f"cannot write {args.latex}: {error.strerror}") from None
    if args.json:
        _print_json({
            "model": derivation.model.name, "parameterization": derivation.parameterization,
            "results": {r.name: {"title": r.title, "notes": r.notes,
                                 "equations": [{"label": e.label, "lhs": e.lhs, "relation": e.relation,
                                                "rhs": str(e.rhs), "latex": to_latex(e.rhs)} for e in r.equations]}
                        for r in results}})
        return 0
    print(f"# {derivation.model.name} ({derivation.parameterization})")
    for result in results:
        print(f"\n## {result.name}: {result.title}")
        for equation in result.equations:
            lhs = f"{equation.lhs} {equation.relation} " if equation.lhs else ""
            print(f"  [{equation.label}] {lhs}{equation.rhs}")
        if result.notes:
            print(f"  ({result.notes})")
    if args.latex:
        print(f"\nLaTeX written to {args.latex}")
    return 0


def cmd_fixed_points(args) -> int:
    from .engine import Derivation
    from .evaluate import fixed_points_at

    derivation = Derivation(args.model, args.parameterization)
    values = derivation.model.parse_values(_assignments(args.set))
    entries = fixed_points_at(derivation, values)
    if args.json:
        _print_json(entries)
        return 0
    for e in entries:
        coords = ", ".join(f"{k} = {v:.10g}" for k, v in e["coordinates"].items())
        eigs = ", ".join(f"{v:.10g}" if isinstance(v, float) else f"{v['re']:.6g}{v['im']:+.6g}j" for v in e["eigenvalues"])
        real = "" if e["realizable"] is None else ("" if e["realizable"] else "  [not realizable]")
        print(f"{e['label']:>4}: {coords}   eigenvalues [{eigs}]   {e['stability']}{real}")
        print(f"      {e['expression']}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="sharpness", description="Sharpness dynamics of gradient descent: derive, iterate, check.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = commands.add_parser("models", help="list the models")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_models)

    p = commands.add_parser("derive", help="derive a model's results symbolically")
    p.add_argument("model")
    p.add_argument("--parameterization", "-p")
    p.add_argument("--only", metavar="RESULT", help="derive RESULT and what it needs, nothing more")
    p.add_argument("--latex", metavar="PATH", help="write a standalone LaTeX document")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_derive)

    p = commands.add_parser("fixed-points", help="fixed points, eigenvalues and stability at given parameters")
    p.add_argument("model")
    p.add_argument("--parameterization", "-p")
    p.add_argument("--set", action="append", metavar="NAME=VALUE")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_fixed_points)
    return parser


def main(argv=None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return args.run(args)
    except UserInputError as error:
        print(f"sharpness: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("sharpness: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
