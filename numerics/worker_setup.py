"""What every worker process of a local Dask cluster of processes does first (distributed's ``preload``:
:func:`dask_setup` runs in each new worker, including one a nanny restarts).

A Ctrl-C at the terminal sends SIGINT to every process of the foreground group, the workers included: left to
Python's default, each would die with a ``KeyboardInterrupt`` traceback on the terminal, where the command
promises the one line ``sharpness: interrupted``. The command (the driver) answers the interrupt and closes the
cluster, which ends the workers; so they ignore SIGINT.
"""
import signal
import threading


def dask_setup(worker) -> None:
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
