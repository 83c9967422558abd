import os
import signal
import sys

from . import exit_interrupted, main  # the package imports nothing heavy: this is instant

# Until main() takes over the interrupts, and again once it returned, SIGINT ends the process at once with status
# 130 (nothing is being written then). Not where SIGINT is ignored (a background job of a script).
if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
    signal.signal(signal.SIGINT, exit_interrupted)
status = main()
# End here, with main's status, without interpreter shutdown: it would run the finalizers of what an interrupt cut
# short (a Dask cluster's, torch's threads), where a KeyboardInterrupt recorded as unhandled turns the status into
# death by SIGINT, and it resets SIGINT to the system default before tearing down the modules, so that an
# interrupt arriving then would kill the process without a word. Everything main wrote is closed (outputs are
# written atomically, the Dask client and cluster are closed by the command); only the standard streams remain.
for stream in (sys.stdout, sys.stderr):
    try:
        stream.flush()
    except (OSError, ValueError):
        pass
os._exit(status)
