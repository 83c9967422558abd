import os

import pytest


@pytest.fixture(scope="session", autouse=True)
def isolated_cache(tmp_path_factory, worker_id):
    """One derivation cache per test run, signed with its own secret (:mod:`analysis.signing`) and shared by its
    pytest-xdist workers: tests never read a stale or foreign cache, never touch the user's secret, and a
    derivation made by one worker is loaded, not redone, by the other.

    Sharing is safe: entries are keyed by the model's definition and written atomically (temporary file and
    rename), so two workers deriving the same result at once both write the same bytes; the secret is created
    once (a hard link of a finished file), and the other worker reads it.
    """
    previous = {name: os.environ.get(name) for name in ("SHARPNESS_CACHE_DIR", "SHARPNESS_SECRET_FILE")}
    # getbasetemp().parent is the run's directory, common to every worker (pytest-xdist's documented recipe).
    run_directory = tmp_path_factory.getbasetemp() if worker_id == "master" else tmp_path_factory.getbasetemp().parent
    for name in ("sharpness-cache", "sharpness-secret"):
        (run_directory / name).mkdir(exist_ok=True)
    os.environ["SHARPNESS_CACHE_DIR"] = str(run_directory / "sharpness-cache")
    os.environ["SHARPNESS_SECRET_FILE"] = str(run_directory / "sharpness-secret" / "cache-secret")
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
