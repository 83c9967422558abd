"""The ``sharpness`` command line: a thin layer over the public API (:mod:`analysis`, :mod:`numerics`).

:mod:`.parser` is the grammar (argparse), :mod:`.commands` turns options into library calls, :mod:`.render`
prints results. Library errors are typed (:mod:`analysis.errors`); :func:`main` prints each on one line of stderr
(keyword arguments named as the options that set them, by :func:`option_for`) and exits with status 2, never with a traceback.
"""
from __future__ import annotations

import sys

from analysis.errors import DerivationError, KeywordError, MissingValueError, ToolkitError


# Python arguments whose option is not ``--`` + the name with dashes.
OPTIONS = {"values": "--set", "use_torch": "--no-torch", "vary": "--vary"}


def option_for(argument: str, value=None) -> str:
    """The command-line option that sets the Python ``argument`` to ``value`` (``--every 11445``; a flag alone
    for ``True`` or no value): the one place where the library's argument names become options."""
    flag = OPTIONS.get(argument, "--" + argument.replace("_", "-"))
    return flag if value is None or value is True else f"{flag} {value}"


def _message(error: ToolkitError) -> str:
    if isinstance(error, MissingValueError):
        option = "--set" if error.kind == "parameter" else "--init"
        what = "value for parameter" if error.kind == "parameter" else "initial value of"
        return f"missing {what} {error.name!r} of model {error.model!r}; give it with {option} {error.name}=VALUE"
    if isinstance(error, KeywordError):  # the library names its arguments; the command line its options
        return error.phrase(option_for)
    if isinstance(error, DerivationError):
        return f"derivation failed: {error}"
    return str(error)


def main(argv=None) -> int:
    from .commands import refuse_replaced
    from .parser import build_parser

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
