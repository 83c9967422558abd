"""The files of the report: written atomically, recorded with their SHA-256 in a manifest so that a rerun replaces
its own files and never one it did not write; the checkpoint of finished sections."""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from importlib import metadata
from pathlib import Path

from analysis.atomic import exclusive, replacing, write_atomic
from analysis.errors import UserInputError

from .record import versions

MANIFEST = ".sharpness-report.json"
FIGURE_FORMATS = ("png", "pdf")


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class Outputs:
    """The files the report writes in ``--out``, recorded with their SHA-256 in :data:`MANIFEST` so that a rerun
    replaces its own files and never a file it did not write (unless ``overwrite``).

    A file is written under a temporary name, its hash added to the manifest, then renamed into place, and only
    then the manifest keeps the new hash alone: interrupted at any point, the file on disk is one whose hash is
    recorded."""

    def __init__(self, target: Path, overwrite: bool):
        self.target, self.overwrite = target, overwrite
        self.files: dict[str, list[str]] = {}
        manifest = target / MANIFEST
        if not os.path.lexists(manifest):
            return
        try:
            data = json.loads(manifest.read_text())
            files = data["files"]
            if not (isinstance(files, dict) and all(isinstance(v, list) for v in files.values())):
                raise TypeError
            self.files = {str(k): [str(h) for h in v] for k, v in files.items()}
        except (OSError, ValueError, KeyError, TypeError):
            if not overwrite:
                raise UserInputError(f"{manifest} is not a report manifest (it records the files the report wrote); "
                                     "pass --overwrite to replace it, or choose another --out") from None

    def owned(self, name: str) -> bool:
        """Whether ``name`` exists as the report last wrote it."""
        path = self.target / name
        return path.is_file() and not path.is_symlink() and sha256(path) in self.files.get(name, ())

    def foreign(self, name: str) -> bool:
        """Whether writing ``name`` would replace something the report did not write (a directory always counts)."""
        path = self.target / name
        if path.is_dir() and not path.is_symlink():
            return True
        return os.path.lexists(path) and not self.overwrite and not self.owned(name)

    def check(self, names) -> None:
        """Refuse, in one line, if any of ``names`` would replace a file the report did not write."""
        clashes = [name for name in names if self.foreign(name)]
        if not clashes:
            return
        first = self.target / clashes[0]
        if first.is_dir() and not first.is_symlink():
            raise UserInputError(f"{first} is a directory where the report writes a file; remove it or choose "
                                 "another --out")
        more = f" (and {len(clashes) - 1} more of the report's files)" if len(clashes) > 1 else ""
        raise UserInputError(f"{first}{more} exists and was not written by sharpness report; pass --overwrite to "
                             "replace it, or choose another --out")

    def _save(self) -> None:
        manifest = self.target / MANIFEST
        try:
            write_atomic(manifest, json.dumps({"written_by": "sharpness report", "files": self.files}, indent=1,
                                              sort_keys=True), private=False, suffix=".tmp.json")
        except OSError as error:
            raise UserInputError(f"cannot write {manifest}: {error.strerror or error}") from None

    def write_with(self, name: str, write) -> Path:
        """``write(path)`` writes the file (a figure, text) at a new temporary path with the same suffix
        (matplotlib picks the format by it); its hash is added to the manifest, it is renamed into place, then the
        manifest keeps the new hash alone (class docstring). The file is readable as the umask allows (the
        report's files are not secret)."""
        path = self.target / name
        try:
            with replacing(path, suffix=f".tmp{os.path.splitext(name)[1]}", private=False) as staged:
                write(str(staged))
                self.check([name])
                digest = sha256(staged)
                self.files[name] = [*self.files.get(name, []), digest]
                self._save()
            self.files[name] = [digest]
            self._save()
        except OSError as error:
            raise UserInputError(f"cannot write {path}: {error.strerror or error}") from None
        return path

    def write_text(self, name: str, text: str) -> Path:
        return self.write_with(name, lambda path: Path(path).write_text(text))

    def write_bytes(self, name: str, data: bytes) -> Path:
        return self.write_with(name, lambda path: Path(path).write_bytes(data))

    def remove(self, name: str) -> None:
        if self.owned(name):
            (self.target / name).unlink()
        if self.files.pop(name, None) is not None:
            self._save()


def writer_lock(target: Path):
    """The lock held by the report writing the directory ``target``: ``.NAME.lock`` beside it
    (:func:`analysis.atomic.exclusive`), so that nothing is created in ``--out`` before the report's own checks
    (its parent is created if missing)."""
    try:
        target.absolute().parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UserInputError(f"cannot write to --out {target}: {error.strerror or error}") from None
    return exclusive(target, "--out", kind="directory")


def prepare_directory(target: Path, settings) -> None:
    """Create ``--out`` and its sweep directory and check that it is writable (with a file name of our own: a
    fixed probe name could be a user's file)."""
    try:
        (target / "sweeps" / settings.name).mkdir(parents=True, exist_ok=True)
        handle, probe = tempfile.mkstemp(prefix=".write-test-", dir=target)
        os.close(handle)
        os.unlink(probe)
    except OSError as error:
        raise UserInputError(f"cannot write to --out {target}: {error.strerror or error}") from None


def checkpoint_name(settings) -> str:
    return f".sharpness-report-{settings.name}.json"


def checkpoint_key(target: Path, settings, scheduler) -> str:
    """What the finished sections depend on: a checkpoint written under another key is not used."""
    try:
        toolkit = metadata.version("sharpness-dynamics")
    except metadata.PackageNotFoundError:
        toolkit = None
    facts = {"out": str(target.resolve()), "settings": vars(settings), "scheduler": scheduler,
             "versions": versions(), "toolkit": toolkit}
    return hashlib.sha256(json.dumps(facts, sort_keys=True, default=str).encode()).hexdigest()


def finished_sections(outputs: Outputs, name: str, key: str) -> dict:
    """The sections of the interrupted run with this key, if the report wrote the checkpoint and it is intact."""
    if not outputs.owned(name):
        return {}
    try:
        data = json.loads((outputs.target / name).read_text())
    except (OSError, ValueError):
        return {}
    return data.get("sections", {}) if isinstance(data, dict) and data.get("key") == key else {}
