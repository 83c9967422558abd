"""Collection rules for the doctests of the package modules (``--doctest-modules`` in setup.cfg)."""
import importlib.util

# Examples that train PyTorch networks run only where the optional [torch] extra is installed; without it the
# module still imports (torch is loaded on first use) and its other tests skip with their reason.
collect_ignore = [] if importlib.util.find_spec("torch") else ["numerics/nn/spectrum.py"]
