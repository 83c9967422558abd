import os

import pytest


@pytest.fixture(scope="session", autouse=True)
def isolated_cache(tmp_path_factory):
    """Every test session derives into its own cache, so tests never read a stale or foreign cache."""
    previous = os.environ.get("SHARPNESS_CACHE_DIR")
    os.environ["SHARPNESS_CACHE_DIR"] = str(tmp_path_factory.mktemp("sharpness-cache"))
    yield
    if previous is None:
        os.environ.pop("SHARPNESS_CACHE_DIR", None)
    else:
        os.environ["SHARPNESS_CACHE_DIR"] = previous


@pytest.fixture(scope="session")
def uv():
    from analysis import Derivation
    return {p: Derivation("uv", p) for p in ("sp", "mup")}
