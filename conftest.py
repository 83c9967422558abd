"""Collection rules for the doctests of the package modules (``--doctest-modules`` in setup.cfg)."""
import importlib.util

import pytest

HAVE_TORCH = importlib.util.find_spec("torch") is not None

# Examples that train PyTorch networks run only where the optional [torch] extra is installed; without it the
# module still imports (torch is loaded on first use) and its other tests skip with their reason.
collect_ignore = [] if HAVE_TORCH else ["numerics/nn/spectrum.py"]

# Single examples that build or train a network, in modules whose other examples need no PyTorch.
TORCH_EXAMPLES = {"numerics.nn.architectures.build", "numerics.nn.training.train"}


def pytest_collection_modifyitems(config, items):
    if HAVE_TORCH:
        return
    skip = pytest.mark.skip(reason="builds or trains a PyTorch network: needs the optional [torch] extra")
    for item in items:
        if item.name in TORCH_EXAMPLES:
            item.add_marker(skip)
