"""analysis.atomic: the one atomic-write helper (the derivation cache, the generated kernels, the report, nn sweeps)."""
import os
import stat

import pytest

from analysis.atomic import replacing, umask, write_atomic


@pytest.fixture
def mask_027():
    previous = os.umask(0o027)
    yield 0o027
    os.umask(previous)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_umask_is_the_process_umask(mask_027):
    assert umask() == 0o027


def test_permissions_private_and_shared(tmp_path, mask_027):
    """Private files are 0600 whatever the umask; shared ones get the mode ``open()`` gives a new file under the same
    umask (the independent route: a file created by ``open``)."""
    reference = tmp_path / "reference.txt"
    reference.write_text("x")
    private = write_atomic(tmp_path / "cache.pickle", b"payload")
    shared = write_atomic(tmp_path / "report.tex", "text", private=False)
    assert mode(private) == 0o600
    assert mode(shared) == mode(reference) == 0o640
    assert private.read_bytes() == b"payload" and shared.read_text() == "text"


def test_replaces_and_leaves_nothing_behind(tmp_path, monkeypatch):
    target = tmp_path / "results.json"
    write_atomic(target, "old")
    write_atomic(target, "new")
    assert target.read_text() == "new"

    def interrupted(source, destination):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_atomic(target, "never placed")
    assert target.read_text() == "new"  # the old content, whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json"]  # no temporary file left


def test_replacing_stages_beside_the_target_with_the_suffix(tmp_path):
    """The staged file is new (two stagings differ), beside the target, named by its stem and suffix (matplotlib
    picks a format by the suffix); it replaces the target only when the block ends without an error."""
    target = tmp_path / "figure.png"
    with replacing(target, suffix=".tmp.png") as first, replacing(target, suffix=".tmp.png") as second:
        assert first != second and first.parent == tmp_path and first.stat().st_size == 0
        assert first.name.startswith(".figure.") and first.name.endswith(".tmp.png")
        first.write_bytes(b"first")
        second.write_bytes(b"second")
    assert target.read_bytes() == b"first"  # the outer block ends last: its rename wins
    with pytest.raises(ValueError):
        with replacing(target) as staged:
            staged.write_bytes(b"half")
            raise ValueError
    assert target.read_bytes() == b"first" and [p.name for p in tmp_path.iterdir()] == ["figure.png"]
