import os

import pytest


@pytest.fixture(scope="session", autouse=True)
def isolated_cache(tmp_path_factory, worker_id):
    """One derivation cache per test run, shared by its pytest-xdist workers, so that tests never read a stale or
    foreign cache and a derivation made by one worker is loaded, not redone, by the other.

    Sharing is safe: entries are keyed by the model's definition and written atomically (temporary file and
    rename), so two workers deriving the same result at once both write the same bytes.
    """
    previous = os.environ.get("SHARPNESS_CACHE_DIR")
    # getbasetemp().parent is the run's directory, common to every worker (pytest-xdist's documented recipe).
    run_directory = tmp_path_factory.getbasetemp() if worker_id == "master" else tmp_path_factory.getbasetemp().parent
    cache = run_directory / "sharpness-cache"
    cache.mkdir(exist_ok=True)
    os.environ["SHARPNESS_CACHE_DIR"] = str(cache)
    yield
    if previous is None:
        os.environ.pop("SHARPNESS_CACHE_DIR", None)
    else:
        os.environ["SHARPNESS_CACHE_DIR"] = previous


@pytest.fixture(scope="session")
def uv():
    from analysis import Derivation
    return {p: Derivation("uv", p) for p in ("sp", "mup")}
