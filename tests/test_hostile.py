"""Hostile input, round two (issue 24): probes that each run the command line in their own process under CPU,
wall-time and address-space limits (as ``tests/test_fuzz.py`` runs its cases), and check what the user sees.

Classes of probes:

* **the cache directory**: payloads planted in every kind of file the toolkit reads back (derivation-cache
  pickles, generated kernel modules, numba's ``*.nbi`` index and ``*.nbc`` data files) must not run, and the result
  must equal a clean run's; entries that are not regular files (a FIFO, a link to ``/dev/zero``) or are oversized
  are skipped without being read (no hang, no memory blow-up); a secret file others may read is not used.

A payload "runs" if the marker file it would create exists afterwards; the probes first check that the payload
does create the marker when it is executed directly, so that a probe cannot pass because its payload is inert.
"""
from __future__ import annotations

import hashlib
import json
import os
import pickle
import re
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # process-level probes: planted files, full disks, signals, concurrent writers

ROOT = Path(__file__).resolve().parents[1]
CPU_LIMIT = 60                  # CPU seconds per probe: a cold compile of the kernels takes ~15
WALL_LIMIT = 120                # wall seconds per probe (a blocked hang; the machine is shared)
MEMORY_LIMIT = 3 * 1024 ** 3    # RLIMIT_AS, as in test_fuzz.py (numba/LLVM reserve ~1.5 GiB of address space)

# Above numerics.classify.SMALL_WORK lane-steps, so that the numba-compiled kernels (and their disk cache) run.
COMPILED_RUN = ["run", "uv-eos", "--set", "k=1.2", "--steps", "1000000", "--every", "100000", "--json"]
DERIVE = ["fixed-points", "uv-eos", "--set", "k=1.2", "--json"]


def _limits():
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    resource.setrlimit(resource.RLIMIT_CPU, (CPU_LIMIT, CPU_LIMIT + 5))


def cli(args, env, cwd=None, **options):
    """``python -m numerics.cli ARGS`` of this checkout under the limits: the CompletedProcess (text)."""
    return subprocess.run([sys.executable, "-m", "numerics.cli", *args], cwd=cwd or ROOT, env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=WALL_LIMIT,
                          preexec_fn=_limits, **options)


def _environment(root: Path) -> dict:
    return dict(os.environ, SHARPNESS_CACHE_DIR=str(root / "cache"),
                SHARPNESS_SECRET_FILE=str(root / "secret" / "cache-secret"), PYTHONDONTWRITEBYTECODE="1")


@pytest.fixture
def hostile_env(tmp_path):
    """An environment with a cache and a secret of this probe's own."""
    return _environment(tmp_path)


@pytest.fixture(scope="module")
def primed(tmp_path_factory):
    """A cache filled by a clean :data:`COMPILED_RUN` and :data:`DERIVE` (with its secret), and their outputs."""
    root = tmp_path_factory.mktemp("primed")
    env = _environment(root)
    outputs = {}
    for name, args in (("run", COMPILED_RUN), ("derive", DERIVE)):
        out = cli(args, env)
        assert out.returncode == 0, out.stderr
        outputs[name] = _json(out.stdout)
    return root, outputs


@pytest.fixture
def primed_env(primed, tmp_path):
    """:func:`hostile_env` starting from a copy of the primed cache (numba's stamps are content hashes and the
    MACs bind file names, not directories, so the copy verifies)."""
    root, outputs = primed
    shutil.copytree(root / "cache", tmp_path / "cache", symlinks=True)
    shutil.copytree(root / "secret", tmp_path / "secret")
    return _environment(tmp_path), outputs


class Payload:
    """Unpickling this runs ``exec`` of code that creates ``marker``."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return exec, (f"open({self.marker!r}, 'w').write('payload ran')",)


def _payload_pickle(marker) -> bytes:
    data = pickle.dumps(Payload(marker), protocol=4)
    pickle.loads(data)  # the payload is live: it creates the marker when unpickled
    assert Path(marker).exists()
    Path(marker).unlink()
    return data


def _payload_module(marker) -> str:
    source = f"open({str(marker)!r}, 'w').write('payload ran')\n"
    exec(compile(source, "<payload>", "exec"), {})  # live, as above
    assert Path(marker).exists()
    Path(marker).unlink()
    return source


def _json(out: str):
    """The JSON document of a run's stdout (numba's cache messages, if enabled, come first)."""
    return json.loads(out[out.index("{"):])


REJECTION = re.compile(r"^sharpness: (cache entry|kernel cache file) (\S+) failed verification \((.+)\); "
                       r"(re-deriving|recompiling)$")


def _rejections(stderr: str, what: str = "") -> list:
    """``[(path, reason)]`` of the one-line rejections of cache files in ``stderr`` whose kind contains ``what``."""
    found = [REJECTION.match(line) for line in stderr.splitlines()]
    return [(m[2], m[3]) for m in found if m and what in m[1]]


# ------------------------------------------------------------------------------------------------------------------
# The cache directory

def test_planted_derivation_pickles_do_not_run(primed_env, tmp_path):
    """A raw pickle in place of an entry, and one behind a well-formed header whose SHA-256 is right (anyone can
    compute that) but whose HMAC is not (only the secret's owner can): neither is unpickled; each is reported in
    one line and re-derived, and the answer is the clean run's."""
    hostile_env, clean = primed_env
    entries = sorted(Path(hostile_env["SHARPNESS_CACHE_DIR"]).glob("uv-eos-*/*.pickle"))
    assert entries
    marker = tmp_path / "marker"
    payload = _payload_pickle(marker)
    from analysis import cache

    headers = {entry: json.loads(entry.read_bytes()[len(cache.MAGIC):].split(b"\n", 1)[0]) for entry in entries}
    for forge in ("raw", "header"):
        for entry, header in headers.items():
            if forge == "raw":
                entry.write_bytes(payload)
            else:
                import hashlib
                header.update(sha256=hashlib.sha256(payload).hexdigest(), length=len(payload), hmac="0" * 64)
                entry.write_bytes(cache.MAGIC + json.dumps(header).encode() + b"\n" + payload)
        again = cli(DERIVE, hostile_env)
        assert again.returncode == 0, again.stderr
        assert not marker.exists(), forge
        assert _json(again.stdout) == clean["derive"]
        rejected = _rejections(again.stderr, "cache entry")
        # Every line names a planted entry (the primed cache also holds entries this command does not read), and
        # the answer's own entry is among them.
        assert {path for path, _ in rejected} <= {str(e) for e in entries}, again.stderr
        assert any(path.endswith("/fixed_points.pickle") for path, _ in rejected), again.stderr
        if forge == "header":
            assert {reason for _, reason in rejected} == {"not signed with this user's cache secret"}


def test_planted_kernel_module_and_numba_files_do_not_run(primed_env, tmp_path):
    """Code planted in the generated kernel module (same name, other text), and pickles planted in numba's index
    and data files (in numba's own format, and behind this toolkit's header with a wrong MAC): nothing runs; the
    module is rewritten, every numba file is rejected in one line and recompiled, and the numbers are the clean
    run's."""
    hostile_env, clean = primed_env
    kernels = Path(hostile_env["SHARPNESS_CACHE_DIR"]) / "kernels"
    [module] = kernels.glob("sharpness_kernels_*.py")
    numba_files = sorted((kernels / "__pycache__").glob("*.nb[ic]"))
    assert {p.suffix for p in numba_files} == {".nbi", ".nbc"}
    original = module.read_text()
    marker = tmp_path / "marker"
    payload = _payload_pickle(marker)
    import numba

    from numerics import kernel_cache

    # An index is read first and names the data files, so for each kernel one kind is planted (beside valid files
    # of the other kind); two kernels cover the two kinds in one run, and two runs the two forges (numba's own
    # format and this toolkit's header with a wrong MAC) on each kind.
    kernel_names = sorted({path.name.split("-")[0] for path in numba_files})
    assert len(kernel_names) == 2, kernel_names
    for forges in (("numba", "signed-header"), ("signed-header", "numba")):
        module.write_text(_payload_module(marker))
        planted = []
        for name, suffix, forge in zip(kernel_names, (".nbi", ".nbc"), forges):
            for path in numba_files:
                if path.name.startswith(name + "-") and path.suffix == suffix:
                    planted.append(path)
                    if forge == "signed-header":
                        path.write_bytes(kernel_cache.MAGIC + b"0" * 64 + b"\n" + payload)
                    else:
                        path.write_bytes(pickle.dumps(numba.__version__) + payload if suffix == ".nbi" else payload)
        assert {path.suffix for path in planted} == {".nbi", ".nbc"}
        again = cli(COMPILED_RUN, hostile_env)
        assert again.returncode == 0, again.stderr
        assert not marker.exists(), forges
        assert _json(again.stdout) == clean["run"]
        assert module.read_text() == original
        rejected = _rejections(again.stderr, "kernel cache file")
        assert sorted(path for path, _ in rejected) == sorted(str(p) for p in planted), again.stderr
    # The rewritten files verify: a third run loads them and reports nothing.
    third = cli(COMPILED_RUN, hostile_env)
    assert third.returncode == 0 and "failed verification" not in third.stderr, third.stderr


@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "oversized", "directory"])
def test_non_regular_and_oversized_cache_entries_are_skipped_unread(primed_env, kind):
    """A FIFO (reading it would block forever), a link to /dev/zero (endless), a sparse file beyond the size bound
    and a directory, in place of a derivation entry and of a numba index: skipped before a byte is read, one line
    each, and the answer is right. The wall-time limit catches a hang, RLIMIT_AS a read of /dev/zero."""
    hostile_env, clean = primed_env
    cache = Path(hostile_env["SHARPNESS_CACHE_DIR"])
    targets = [next(cache.glob(f"uv-eos-*/{name}.pickle")) for name in ("function_map", "jacobian")] + sorted(cache.glob("kernels/__pycache__/*.nbi"))[:1]
    assert len(targets) == 3
    for target in targets:
        target.unlink()
        if kind == "fifo":
            os.mkfifo(target)
        elif kind == "dev-zero":
            target.symlink_to("/dev/zero")
        elif kind == "oversized":
            with open(target, "wb") as out:
                out.truncate(65 * 1024 ** 2 + 1)
        else:
            target.mkdir()
    again = cli(COMPILED_RUN, hostile_env)
    assert again.returncode == 0, again.stderr
    assert _json(again.stdout) == clean["run"]
    rejected = _rejections(again.stderr)
    assert {path for path, _ in rejected} == {str(t) for t in targets}, again.stderr
    if kind != "directory":  # a directory cannot be removed, so it is met again when numba saves the index
        assert len(rejected) == 3, again.stderr


def test_a_secret_others_can_read_is_not_used(hostile_env):
    """A secret file of mode 0644 may be known to others: it is not used (one line), nothing is read from or
    written to the disk cache, and the answer is still right."""
    secret = Path(hostile_env["SHARPNESS_SECRET_FILE"])
    secret.parent.mkdir(mode=0o700)
    secret.write_bytes(os.urandom(32))
    secret.chmod(0o644)
    out = cli(DERIVE, hostile_env)
    assert out.returncode == 0, out.stderr
    assert out.stderr.count("cache secret") == 1 and "mode 0644" in out.stderr, out.stderr
    assert not list(Path(hostile_env["SHARPNESS_CACHE_DIR"]).glob("*/*.pickle"))
    secret.chmod(0o600)
    trusted = cli(DERIVE, hostile_env)
    assert trusted.returncode == 0 and trusted.stderr == "", trusted.stderr
    assert _json(trusted.stdout) == _json(out.stdout)


def test_the_secret_is_created_private_on_first_use(hostile_env):
    secret = Path(hostile_env["SHARPNESS_SECRET_FILE"])
    out = cli(["models"], hostile_env)
    assert out.returncode == 0, out.stderr
    cli(DERIVE, hostile_env)
    assert secret.stat().st_mode & 0o777 == 0o600 and secret.parent.stat().st_mode & 0o777 == 0o700
    assert secret.stat().st_size == 32


# ------------------------------------------------------------------------------------------------------------------
# Real-network inputs, at the library boundary and through the command line

def python_probe(code: str, env, cwd=None):
    """``python -c CODE`` of this checkout under the limits (the CompletedProcess, text)."""
    return subprocess.run([sys.executable, "-c", code], cwd=cwd or ROOT, env=env, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=WALL_LIMIT, preexec_fn=_limits)


def _one_line_refusal(out, *words):
    """Exit status 2 and exactly one line on stderr, ``sharpness: error: ...``, containing ``words``."""
    lines = out.stderr.splitlines()
    assert out.returncode == 2 and len(lines) == 1 and lines[0].startswith("sharpness: error: "), out.stderr
    assert all(word in lines[0] for word in words), lines[0]
    return lines[0]


NN = ["nn", "--set", "eta=0.05", "--steps", "2", "--measure-every", "1", "--quiet", "--json"]


def test_labels_of_every_dtype_have_their_meaning(hostile_env, tmp_path):
    """Boolean labels are two classes (one-hot by the label as 0/1, two columns even when only one class occurs):
    the 32 labels that used to index ``np.eye`` as a mask now train on the right targets; integer labels are class
    indices; float labels are regression targets; negative integer labels are refused. Checked against one-hot
    targets built here by comparison, not by indexing."""
    code = f'''
import numpy as np
from numerics.nn.data import read_npz
rng = np.random.default_rng(0)
X = rng.normal(size=(32, 3))
y = rng.random(32) < 0.5
for labels, expected, task in ((y, np.stack([~y, y], 1).astype(float), "classification"),
                               (np.zeros(32, bool), np.stack([np.ones(32), np.zeros(32)], 1), "classification"),
                               (y.astype(np.uint8) * 2, (np.arange(3) == (y * 2)[:, None]).astype(float),
                                "classification"),
                               (y.astype(float) - 0.5, (y.astype(float) - 0.5)[:, None], "regression")):
    np.savez({str(tmp_path / "d.npz")!r}, X=X, y=labels)
    _, targets, found = read_npz({str(tmp_path / "d.npz")!r})
    assert found == task and targets.shape == expected.shape and (targets == expected).all(), (labels.dtype, targets)
print("ok")
'''
    out = python_probe(code, hostile_env)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
    rng = __import__("numpy").random.default_rng(1)
    import numpy as np

    np.savez(tmp_path / "bool.npz", X=rng.normal(size=(32, 4)), y=rng.random(32) < 0.5)
    ran = cli([*NN, "--data", str(tmp_path / "bool.npz")], hostile_env)
    assert ran.returncode == 0, ran.stderr
    result = json.loads(ran.stdout)
    assert result["task"] == "classification" and result["outcome"]["name"] == "completed"
    np.savez(tmp_path / "negative.npz", X=rng.normal(size=(8, 4)), y=np.arange(8) - 3)
    _one_line_refusal(cli([*NN, "--data", str(tmp_path / "negative.npz")], hostile_env), "non-negative")


def test_npz_that_is_not_a_zip_or_is_truncated_is_refused(hostile_env, tmp_path):
    import numpy as np

    np.save(tmp_path / "array.npy", np.zeros((4, 2)))
    (tmp_path / "array.npy").rename(tmp_path / "renamed.npz")
    _one_line_refusal(cli([*NN, "--data", str(tmp_path / "renamed.npz")], hostile_env), "not a zip archive")
    np.savez(tmp_path / "whole.npz", X=np.random.default_rng(0).normal(size=(64, 8)), y=np.arange(64) % 3)
    data = (tmp_path / "whole.npz").read_bytes()
    for cut in (len(data) // 2, len(data) - 30):
        (tmp_path / "cut.npz").write_bytes(data[:cut])
        _one_line_refusal(cli([*NN, "--data", str(tmp_path / "cut.npz")], hostile_env), "--data")


def test_hessian_api_refuses_what_would_be_silently_wrong(hostile_env):
    """hessian_eigenvalues and SharpnessTracker: targets of the wrong shape (which the squared error would
    broadcast to an N x N difference), NaN/inf in inputs, targets or weights, and counts of the wrong type, each a
    UserInputError naming the problem; the right problem still gives the closed form (1/N) X^T X of a linear
    model's MSE Hessian: eigenvalues 4/3 and 1/3 for X the 3 x 3 identity with a bias column (exact to the
    solver's 1e-7 residual tolerance, so 1e-6 in the eigenvalue)."""
    code = '''
import torch
from analysis.errors import UserInputError
from numerics.nn import hessian_eigenvalues, SharpnessTracker
net = torch.nn.Linear(3, 1).double()
x, y = torch.eye(3, dtype=torch.float64), torch.zeros(3, 1, dtype=torch.float64)
values = hessian_eigenvalues(net, x, y, k=2).values
assert abs(values[0] - 4 / 3) < 1e-6 and abs(values[1] - 1 / 3) < 1e-6, values
cases = {
    "targets (3,)": lambda: hessian_eigenvalues(net, x, torch.zeros(3, dtype=torch.float64)),
    "targets (3, 2)": lambda: hessian_eigenvalues(net, x, torch.zeros(3, 2, dtype=torch.float64)),
    "targets of 4": lambda: hessian_eigenvalues(net, x, torch.zeros(4, 1, dtype=torch.float64)),
    "NaN input": lambda: hessian_eigenvalues(net, x * float("nan"), y),
    "inf target": lambda: hessian_eigenvalues(net, x, y + float("inf")),
    "k=True": lambda: hessian_eigenvalues(net, x, y, k=True),
    "max_hvps=0": lambda: hessian_eigenvalues(net, x, y, max_hvps=0),
    "tracker k=0": lambda: SharpnessTracker(net, x, y, k=0),
    "tracker targets (3,)": lambda: SharpnessTracker(net, x, torch.zeros(3, dtype=torch.float64)),
    "numpy inputs": lambda: hessian_eigenvalues(net, x.numpy(), y),
}
for name, call in cases.items():
    try:
        call()
    except UserInputError as error:
        assert "\\n" not in str(error), name
    else:
        raise AssertionError(f"{name} accepted")
with torch.no_grad():
    net.weight[0, 1] = float("nan")
for name, call in {"NaN weight": lambda: hessian_eigenvalues(net, x, y),
                   "tracker NaN weight": lambda: SharpnessTracker(net, x, y)}.items():
    try:
        call()
    except UserInputError as error:
        assert "'weight'" in str(error), error
    else:
        raise AssertionError(f"{name} accepted")
print("ok")
'''
    out = python_probe(code, hostile_env)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


FACTORIES = {
    # works on the two examples a sample check would use, not on N
    "batch_of_two": "class M(torch.nn.Module):\n    def __init__(self):\n        super().__init__()\n"
                    "        self.linear = torch.nn.Linear(8, 3)\n    def forward(self, x):\n"
                    "        return self.linear(x.view(2, -1)[:, :8]).repeat(x.shape[0] // 2 if x.shape[0] <= 2 "
                    "else 1, 1)\ndef make(shape, outputs):\n    return M()\n",
    "nan_weights": "def make(shape, outputs):\n    net = torch.nn.Linear(shape[0], outputs)\n"
                   "    with torch.no_grad():\n        net.weight[0, 0] = float('nan')\n    return net\n",
    "raises": "def make(shape, outputs):\n    raise RuntimeError('no model today')\n",
    "not_a_module": "def make(shape, outputs):\n    return 42\n",
}


@pytest.mark.parametrize("kind", sorted(FACTORIES))
def test_factories_are_checked_on_the_real_data(hostile_env, tmp_path, kind):
    import numpy as np

    np.savez(tmp_path / "d.npz", X=np.random.default_rng(0).normal(size=(10, 8)), y=np.arange(10) % 3)
    factory = tmp_path / "factory.py"
    factory.write_text("import torch\n" + FACTORIES[kind])
    out = cli([*NN, "--data", str(tmp_path / "d.npz"), "--model", f"{factory}:make"], hostile_env)
    _one_line_refusal(out, str(factory))


# ------------------------------------------------------------------------------------------------------------------
# The environment

@pytest.mark.parametrize("variable, value, args", [
    ("SHARPNESS_DERIVATION_BUDGET", "abc", ["fixed-points", "product", "--loss", "(a*b-1)^2", "--json"]),
    ("SHARPNESS_DERIVATION_BUDGET", "-5", ["fixed-points", "product", "--loss", "(a*b-1)^2", "--json"]),
    ("SHARPNESS_MAX_MEMORY", "lots", ["run", "uv-eos", "--set", "k=1.2", "--steps", "100", "--json"]),
])
def test_garbage_environment_variables_are_one_line_naming_them(hostile_env, variable, value, args):
    """A garbage value fails only the commands that read the variable, in one line naming it (it used to fail at
    import, so even ``sharpness models`` printed a traceback)."""
    env = dict(hostile_env, **{variable: value})
    assert cli(["models"], env).returncode == 0
    _one_line_refusal(cli(args, env), f"the environment variable {variable}", repr(value))


# ------------------------------------------------------------------------------------------------------------------
# Writes that fail

@pytest.fixture
def small_tmpfs(tmp_path):
    """A 64 KiB tmpfs, filled to the last block (root only; skipped elsewhere)."""
    mount = tmp_path / "tmpfs"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], capture_output=True)
    if made.returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        filler = os.open(mount / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            with pytest.raises(OSError):
                while True:
                    os.write(filler, b"\0" * 512)
        finally:
            os.close(filler)
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def _failed_write(out, path_text):
    lines = out.stderr.splitlines()
    assert out.returncode == 1 and len(lines) == 1 and "Traceback" not in out.stderr, out.stderr
    assert lines[0].startswith("sharpness: error: cannot write") and path_text in lines[0], lines[0]


def test_full_disk_is_one_line_and_leaves_no_partial_file(hostile_env, small_tmpfs):
    """--latex and --plot (png and pdf) onto a full file system, and --json into /dev/full: exit status 1, one
    line, and no 0-byte or partial file left behind (the writes are atomic)."""
    tex = small_tmpfs / "out.tex"
    _failed_write(cli(["derive", "uv-eos", "--latex", str(tex)], hostile_env), str(tex))
    for suffix in (".png", ".pdf"):
        figure = small_tmpfs / f"figure{suffix}"
        _failed_write(cli(["run", "uv-eos", "--set", "k=1.2", "--steps", "200", "--plot", str(figure)], hostile_env),
                      str(figure))
    assert sorted(p.name for p in small_tmpfs.iterdir()) == ["filler"]
    with open("/dev/full", "w") as full:
        out = subprocess.run([sys.executable, "-m", "numerics.cli", "run", "uv-eos", "--set", "k=1.2", "--steps",
                              "100", "--json"], cwd=ROOT, env=hostile_env, stdout=full, stderr=subprocess.PIPE,
                             text=True, timeout=WALL_LIMIT, preexec_fn=_limits)
    out.stdout = ""
    _failed_write(out, "standard output")


def test_nn_out_on_a_read_only_file_system_is_refused_before_training(hostile_env, tmp_path):
    """A read-only directory (a tmpfs remounted read-only: root ignores permission bits) is refused before any
    training, in one line with exit status 1."""
    mount = tmp_path / "ro"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k,ro", "tmpfs", str(mount)]).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        out = cli([*NN[:-1], "--steps", "400", "--out", str(mount / "runs.json")], hostile_env)
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)
    _failed_write(out, str(mount / "runs.json"))
    assert "Read-only file system" in out.stderr


def wait_for_lock(lock: Path, process, seconds: float = 60) -> None:
    """Until ``process`` holds the flock on ``lock`` (it runs the part that writes its output)."""
    import fcntl
    import time

    deadline = time.monotonic() + seconds
    while True:
        assert time.monotonic() < deadline and process.poll() is None, process.stderr.read()
        if lock.exists():
            with open(lock) as probe:
                try:
                    fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    fcntl.flock(probe, fcntl.LOCK_UN)
                except OSError:
                    return
        time.sleep(0.05)


def test_two_nn_runs_into_one_out_file_do_not_overwrite_each_other(hostile_env, tmp_path):
    """While one ``nn --out F`` runs, a second one into F is refused at once (one line, exit 1); the first then
    finishes and F holds its run."""
    target = tmp_path / "runs.json"
    first = subprocess.Popen([sys.executable, "-m", "numerics.cli", *NN[:-1], "--steps", "60", "--samples", "200",
                              "--out", str(target)], cwd=ROOT, env=hostile_env, stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=_limits)
    try:
        wait_for_lock(tmp_path / ".runs.json.lock", first)
        second = cli(["nn", "--set", "eta=0.07", *NN[3:-1], "--out", str(target)], hostile_env)
        lines = second.stderr.splitlines()
        assert second.returncode == 1 and len(lines) == 1, second.stderr
        assert lines[0] == (f"sharpness: error: --out {target} is being written by another process; wait for it "
                            "to finish or use another file")
    finally:
        _, err = first.communicate(timeout=WALL_LIMIT)
    assert first.returncode == 0, err
    runs = json.loads(target.read_text())["runs"]
    assert list(runs) == [repr(0.05)]


# ------------------------------------------------------------------------------------------------------------------
# Interrupts

@pytest.mark.parametrize("args, delay", [
    (["report", "--quick", "--out", "{tmp}/report"], 2.5),
    (["report", "--quick", "--out", "{tmp}/report"], 8.0),
    (["nn", "--set", "eta=0.05", "--steps", "300", "--samples", "300", "--quiet"], 4.0),
])
def test_sigint_ends_the_command_with_130_within_seconds(hostile_env, tmp_path, args, delay):
    """SIGINT during a long command: exit status 130 within 10 s (the grace of numerics.cli.INTERRUPT_GRACE plus
    unwinding), also when the KeyboardInterrupt lands in a finalizer or callback that swallows it."""
    interrupt_after(delay, [a.replace("{tmp}", str(tmp_path)) for a in args], hostile_env)


def interrupt_after(delay: float, argv, env) -> str:
    """Start ``python -m numerics.cli ARGV`` under the limits, send SIGINT after ``delay`` seconds, and check that
    it ends with status 130 within 10 s, ``sharpness: interrupted`` its last line of stderr and no traceback.
    Returns stderr."""
    import signal
    import time

    proc = subprocess.Popen([sys.executable, "-m", "numerics.cli", *argv], cwd=ROOT, env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_limits)
    time.sleep(delay)
    assert proc.poll() is None, "finished before the interrupt: lengthen the command"
    proc.send_signal(signal.SIGINT)
    sent = time.monotonic()
    try:
        _, err = proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise AssertionError("still running 10 s after SIGINT") from None
    assert proc.returncode == 130, (proc.returncode, err[-1500:])
    assert err.rstrip().splitlines()[-1] == "sharpness: interrupted" and "Traceback" not in err, err[-1500:]
    assert time.monotonic() - sent < 10
    return err
