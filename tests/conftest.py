import os

import pytest


@pytest.fixture(scope="session", autouse=True)
def isolated_cache(tmp_path_factory):
    """Every test session derives into its own cache, signed with its own secret (analysis.signing), so tests
    never read a stale or foreign cache and never touch the user's secret."""
    previous = {name: os.environ.get(name) for name in ("SHARPNESS_CACHE_DIR", "SHARPNESS_SECRET_FILE")}
    os.environ["SHARPNESS_CACHE_DIR"] = str(tmp_path_factory.mktemp("sharpness-cache"))
    os.environ["SHARPNESS_SECRET_FILE"] = str(tmp_path_factory.mktemp("sharpness-secret") / "cache-secret")
    yield
    for name, value in previous.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(scope="session")
def uv():
    from analysis import Derivation
    return {p: Derivation("uv", p) for p in ("sp", "mup")}
