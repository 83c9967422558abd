import os
import sys

try:
    from . import main
except KeyboardInterrupt:  # before main() took over the interrupts
    print("sharpness: interrupted", file=sys.stderr)
    sys.exit(130)

status = main()
if status == 130:
    # Interrupted: end here. Interpreter shutdown would run the finalizers of what the interrupt cut short (a Dask
    # cluster's, torch's threads), where a KeyboardInterrupt recorded as unhandled turns the status into death by
    # SIGINT; what was finished is already on disk (every output is written atomically).
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(130)
sys.exit(status)
