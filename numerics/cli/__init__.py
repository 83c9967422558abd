"""The ``sharpness`` command line: a thin layer over the public API (:mod:`analysis`, :mod:`numerics`).

:mod:`.parser` is the grammar (argparse), :mod:`.commands` turns options into library calls, :mod:`.render`
prints results. Library errors are typed (:mod:`analysis.errors`); :func:`main` prints each on one line of stderr
(rephrased with the option that sets the value) and exits with status 2, never with a traceback.
"""
from __future__ import annotations

import sys

from analysis.errors import DerivationError, KeywordError, MissingValueError, ToolkitError


def _message(error: ToolkitError) -> str:
    if isinstance(error, MissingValueError):
        option = "--set" if error.kind == "parameter" else "--init"
        what = "value for parameter" if error.kind == "parameter" else "initial value of"
        return f"missing {what} {error.name!r} of model {error.model!r}; give it with {option} {error.name}=VALUE"
    if isinstance(error, KeywordError):
        text = str(error)
        for keyword in error.keywords:  # the library names keyword arguments; the command line its options
            option = "--" + keyword.replace("_", "-")
            text = text.replace(f"{keyword}=True", option).replace(f"{keyword}=)", f"{option})")
            text = text.replace(f"{keyword}= ", f"{option} ").replace(f"{keyword}=", f"{option} ")
        return text
    if isinstance(error, DerivationError):
        return f"derivation failed: {error}"
    return str(error)


def main(argv=None) -> int:
    from .parser import build_parser

    from .commands import refuse_replaced

    try:
        args = build_parser().parse_args(argv)
        refuse_replaced(args)
        return args.run(args)
    except ToolkitError as error:
        print(f"sharpness: error: {_message(error)}".splitlines()[0], file=sys.stderr)
        return 2
    except MemoryError:
        print("sharpness: error: out of memory; use smaller sizes or lower --max-memory", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("sharpness: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


__all__ = ["main"]
