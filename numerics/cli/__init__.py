"""The ``sharpness`` command line: a thin layer over the public API (:mod:`analysis`, :mod:`numerics`).

:mod:`.parser` is the grammar (argparse), :mod:`.commands` turns options into library calls, :mod:`.render`
prints results. Library errors are typed (:mod:`analysis.errors`); :func:`main` prints each on one line of stderr
(keyword arguments named as the options that set them, by :func:`option_for`) and exits with status 2, never with a traceback.
"""
from __future__ import annotations

import os
import signal
import sys
import threading

# Nothing here imports the toolkit at module level: ``python -m numerics.cli`` imports this package before
# ``__main__`` runs, outside every handler, so an interrupt during heavy imports here would end in a traceback.
# The toolkit is imported inside :func:`main`, where an interrupt is answered with exit status 130.


# Python arguments whose option is not ``--`` + the name with dashes.
OPTIONS = {"values": "--set", "use_torch": "--no-torch", "vary": "--vary"}


def option_for(argument: str, value=None) -> str:
    """The command-line option that sets the Python ``argument`` to ``value`` (``--every 11445``; a flag alone
    for ``True`` or no value): the one place where the library's argument names become options."""
    flag = OPTIONS.get(argument, "--" + argument.replace("_", "-"))
    return flag if value is None or value is True else f"{flag} {value}"


def _message(error) -> str:
    from analysis.errors import DerivationError, KeywordError, MissingValueError

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
    stdout = sys.stdout
    delivered = threading.Event()
    previous_handler = _interrupts_win(delivered)
    previous_hook = sys.unraisablehook

    def quiet_about_interrupts(unraisable):
        # The interrupt that a callback or finalizer swallowed is answered below ("interrupted", status 130), and
        # so is what it broke there (a Dask GC callback cut halfway asserts on its next call): Python's "Exception
        # ignored ... Traceback" about either would be a traceback where one line is promised.
        if not (delivered.is_set() or isinstance(unraisable.exc_value, KeyboardInterrupt)):
            previous_hook(unraisable)

    sys.unraisablehook = quiet_about_interrupts
    try:
        status = _run(argv, stdout)
        if not delivered.is_set():
            return status
        # the KeyboardInterrupt landed in a callback or finalizer (a Dask GC callback) that swallowed it, and the
        # command then finished before the grace timer: the answer is still "interrupted", not the command's
        raise KeyboardInterrupt
    except (KeyboardInterrupt, SystemError) as error:  # at any moment: imports, work, handling another error
        if not _interrupted(error):
            raise
        print("sharpness: interrupted", file=sys.stderr)
        return 130
    finally:
        sys.stdout = stdout
        sys.unraisablehook = previous_hook
        if previous_handler is not None:
            signal.signal(signal.SIGINT, previous_handler)


def _interrupted(error: BaseException) -> bool:
    """Whether ``error`` is an interrupt, or was caused by one: a ``KeyboardInterrupt`` raised by the SIGINT handler
    while a compiled (numba) function runs comes out of it as ``SystemError: ... returned a result with an
    exception set``, with the interrupt as its cause."""
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, KeyboardInterrupt):
            return True
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return False


def console() -> None:
    """The ``sharpness`` command (and ``python -m numerics.cli``): :func:`main` on ``sys.argv``, then the end of
    the process with main's status.

    Until main takes over the interrupts, and again once it returned, SIGINT ends the process at once with status
    130 (:func:`exit_interrupted`; nothing is being written then), so a late second Ctrl-C cannot become a
    traceback. Not where SIGINT is ignored (a background job of a script). The process ends with ``os._exit``,
    without interpreter shutdown: that would run the finalizers of what an interrupt cut short (a Dask cluster's,
    torch's threads), where a KeyboardInterrupt recorded as unhandled turns the status into death by SIGINT, and
    it resets SIGINT to the system default before tearing down the modules, so that an interrupt arriving then
    would kill the process without a word. Everything main wrote is closed (outputs are written atomically, the
    Dask client and cluster are closed by the command); only the standard streams remain, flushed here."""
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, exit_interrupted)
    status = main()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(status)


def exit_interrupted(number=None, frame=None):
    """The SIGINT handler outside :func:`main` (installed by ``python -m numerics.cli`` before it calls main, and
    in place again when main returns): nothing is being written there, so end at once with status 130."""
    try:
        print("sharpness: interrupted", file=sys.__stderr__, flush=True)
    finally:
        os._exit(130)


def _run(argv, stdout) -> int:
    """Parse ``argv``, run the command, and turn each kind of error into its one line and exit status."""
    # inside main's handling: an interrupt during the imports is an interrupt too
    from analysis.errors import OutputError, ToolkitError

    try:
        from .commands import refuse_replaced
        from .parser import shared_parser

        sys.stdout = _Stdout(stdout)
        args = shared_parser().parse_args(argv)
        refuse_replaced(args)
        status = args.run(args)
        sys.stdout.flush()  # here, not at exit: a full disk behind stdout is reported like any failed write
        return status
    except OutputError as error:  # the input was fine; the output could not be written
        print(f"sharpness: error: {error}".splitlines()[0], file=sys.stderr)
        _discard_stdout()
        return 1
    except ToolkitError as error:
        print(f"sharpness: error: {_message(error)}".splitlines()[0], file=sys.stderr)
        return 2
    except MemoryError:
        print("sharpness: error: out of memory; use smaller sizes or lower --max-memory", file=sys.stderr)
        return 2
    except BrokenPipeError:
        _discard_stdout()
        return 0
    except OSError as error:  # a write the command did not expect to fail: full disk, read-only, I/O error
        where = error.filename or "the output"
        print(f"sharpness: error: cannot write {where}: {error.strerror or error}".splitlines()[0], file=sys.stderr)
        _discard_stdout()
        return 1


# Seconds an interrupted command has to unwind (remove its temporary files, close its Dask cluster) before the
# process ends anyway: a KeyboardInterrupt that lands in a finalizer or a callback is printed as "Exception
# ignored" and lost, and the command would run on.
INTERRUPT_GRACE = 3.0


def _interrupts_win(delivered: threading.Event):
    """Install a SIGINT handler that raises ``KeyboardInterrupt`` as Python's does, sets ``delivered`` and also arms
    a timer: if the process still runs :data:`INTERRUPT_GRACE` seconds later (the exception was swallowed
    somewhere), it says so and exits with status 130. Returns the previous handler (``None`` where none was
    installed: not the main thread, or a handler of the caller's)."""
    if threading.current_thread() is not threading.main_thread() or \
            signal.getsignal(signal.SIGINT) not in (signal.default_int_handler, exit_interrupted):
        return None

    def interrupted(number, frame):
        delivered.set()

        def finish():
            try:  # on a line of its own: a progress bar may be half-drawn (it ends in a carriage return)
                print("\nsharpness: interrupted", file=sys.__stderr__, flush=True)
            finally:
                os._exit(130)

        timer = threading.Timer(INTERRUPT_GRACE, finish)
        timer.daemon = True
        timer.start()
        raise KeyboardInterrupt

    return signal.signal(signal.SIGINT, interrupted)


# What the output writes outside ASCII, and how it reads on a terminal that cannot show it.
ASCII_FALLBACKS = str.maketrans({"\u00b1": "+/-", "\u2014": "--", "\u2013": "-", "\u2212": "-", "\u00d7": "x",
                                 "\u2264": "<=", "\u2265": ">=", "\u2192": "->", "\u2026": "..."})


def _can_encode_all(stream) -> bool:
    encoding = (getattr(stream, "encoding", None) or "ascii").lower().replace("_", "-")
    return encoding.startswith("utf") or encoding in ("gb18030",)


class _Stdout:
    """``sys.stdout`` as the one output layer of the command line:

    * failed writes (a full disk, an I/O error; not a closed pipe) say that it was standard output that failed
      (an ``OSError`` from ``print`` carries no file name);
    * on a stream whose encoding cannot write every character (``LANG=C``, ``PYTHONIOENCODING=ascii``), text is
      written in that encoding: the symbols the output uses become their ASCII spellings (:data:`ASCII_FALLBACKS`,
      ``+/-`` for the plus-minus sign), anything else a backslash escape (``\\u03bb``); never a
      ``UnicodeEncodeError``."""

    def __init__(self, stream):
        self._stream = stream
        self._unicode = _can_encode_all(stream)

    def _tagged(self, operation, *args):
        try:
            return operation(*args)
        except BrokenPipeError:
            raise
        except OSError as error:
            from analysis.errors import OutputError

            raise OutputError(f"cannot write standard output: {error.strerror or error}") from None

    def write(self, text):
        if not self._unicode and not text.isascii():
            encoding = getattr(self._stream, "encoding", None) or "ascii"
            text = text.translate(ASCII_FALLBACKS).encode(encoding, "backslashreplace").decode(encoding)
        return self._tagged(self._stream.write, text)

    def flush(self):
        return self._tagged(self._stream.flush)

    def __getattr__(self, name):
        return getattr(self._stream, name)


def _discard_stdout() -> None:
    """Point stdout at /dev/null so that the interpreter's final flush of what is still buffered does not fail a
    second time (with a traceback) after the one-line message."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


__all__ = ["main"]
