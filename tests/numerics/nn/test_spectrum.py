"""Edge-of-stability observables of real networks: power spectrum and period of the sharpness, resumable eta sweeps,
and momentum thresholds (issue 13 item 4)."""
import json
from pathlib import Path

import numpy as np
import pytest

from analysis.errors import UserInputError
from numerics import nn


def drifting(series: np.ndarray, seed: int = 0) -> np.ndarray:
    """A sharpness-like series: level 10, a slow linear drift of 1 over the window, noise at 1e-3 of the level."""
    rng = np.random.default_rng(seed)
    t = np.arange(len(series))
    return 10 + t / len(t) + series + 1e-2 * rng.standard_normal(len(t))


def logistic(r: float, count: int, skip: int = 2000) -> np.ndarray:
    x = 0.3
    out = []
    for i in range(skip + count):
        x = r * x * (1 - x)
        if i >= skip:
            out.append(x)
    return np.array(out)


def test_spectrum_peaks_at_half_and_quarter():
    """Welch spectra of synthetic period-2 and period-4 series (with drift and noise) peak at 0.5 and 0.25 cycles per
    step (the frequency grid has step 1/256, so the peaks are exactly on the grid)."""
    t = np.arange(600)
    period2 = drifting(0.3 * (-1.0) ** t)
    period4 = drifting(0.3 * np.cos(np.pi * t / 2) + 0.1 * (-1.0) ** t)
    for series, peak in ((period2, 0.5), (period4, 0.25)):
        spectrum = nn.power_spectrum(series)
        frequency, power = np.array(spectrum["frequency"]), np.array(spectrum["power"])
        assert frequency[np.argmax(power[1:]) + 1] == pytest.approx(peak, abs=1e-12)
    spectrum = nn.power_spectrum(period2[::2], measure_every=2)  # sampled every 2 steps: Nyquist 0.25 cycles/step
    assert max(spectrum["frequency"]) == pytest.approx(0.25)
    assert nn.power_spectrum(period2[:10]) is None


def test_period_of_synthetic_and_map_orbits():
    """oscillation_period: period 2 and 4 for the series above and for the logistic map's period-2 (r = 3.2) and
    period-4 (r = 3.5) orbits; none (aperiodic) at r = 3.9 (chaotic); 1 for a constant; undetermined (not a guess)
    for a window shorter than 128."""
    t = np.arange(600)
    assert nn.oscillation_period(drifting(0.3 * (-1.0) ** t))["period"] == 2
    assert nn.oscillation_period(drifting(0.3 * np.cos(np.pi * t / 2) + 0.1 * (-1.0) ** t))["period"] == 4
    assert nn.oscillation_period(logistic(3.2, 400))["period"] == 2
    assert nn.oscillation_period(logistic(3.5, 400))["period"] == 4
    chaotic = nn.oscillation_period(logistic(3.9, 400))
    assert chaotic["period"] is None and chaotic["status"] == "aperiodic"
    assert nn.oscillation_period(np.full(300, 5.0))["period"] == 1
    short = nn.oscillation_period(drifting(0.3 * (-1.0) ** np.arange(100)))
    assert short["period"] is None and short["status"] == "undetermined" and "at least 128" in short["reason"]


def test_eos_observables_need_every_step():
    """The period needs the sharpness at every step: sampled every 5 steps it is undetermined (aliasing), though
    the spectrum is still given in cycles per step."""
    steps = np.arange(0, 1000, 5)
    values = drifting(0.3 * (-1.0) ** (steps // 5))
    regimes = [{"name": "edge of stability", "start": 0, "end": 995}]
    observables = nn.eos_observables(steps, values, regimes, 5)
    assert observables["period"] is None and observables["period_detail"]["status"] == "undetermined"
    assert max(observables["power_spectrum"]["frequency"]) == pytest.approx(0.1)
    none = nn.eos_observables(steps, values, [{"name": "progressive sharpening", "start": 0, "end": 995}], 5)
    assert none["eos_window"] is None and none["power_spectrum"] is None


torch_required = pytest.mark.skipif(not pytest.importorskip("importlib").util.find_spec("torch"),
                                    reason="PyTorch is the optional [torch] extra")


@torch_required
def test_eta_sweep_resumes_from_finished_etas(tmp_path, tiny_data):
    """A sweep interrupted during its second eta resumes from the file: the first eta is read back, not rerun, and
    the result equals an uninterrupted sweep (the runs are deterministic: seeded initialisation, full batch)."""
    settings = dict(data=tiny_data, arch="mlp", width=8, steps=6, measure_every=1, top_k=2, tol=1e-9)
    out = tmp_path / "sweep.json"
    calls = {"count": 0}

    def interrupt():
        calls["count"] += 1
        if calls["count"] > 7 + 3:  # in the second eta (each eta reports steps + 1 = 7 times)
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        nn.eta_sweep([0.1, 0.2, 0.3], str(out), progress=interrupt, **settings)
    assert list(json.loads(out.read_text())["runs"]) == ["0.1"]
    # written atomically (no temporary file left; the writers' lock file stays, see analysis.atomic.exclusive) and
    # readable like any new file (the umask's mode, as open() gives)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".sweep.json.lock", "sweep.json", "tiny.npz"]
    assert out.stat().st_mode & 0o777 == Path(tiny_data).stat().st_mode & 0o777
    started = []
    resumed = nn.eta_sweep([0.1, 0.2, 0.3], str(out), on_start=lambda i, eta, done: started.append(done),
                           **settings)
    assert started == [True, False, False]
    fresh = nn.eta_sweep([0.1, 0.2, 0.3], **settings)
    for a, b in zip(resumed, fresh):
        np.testing.assert_allclose(a.top_eigenvalues["values"], b.top_eigenvalues["values"], rtol=1e-12)
        assert a.loss == pytest.approx(b.loss, rel=1e-12)
    with pytest.raises(UserInputError, match="other settings"):
        nn.eta_sweep([0.1], str(out), **dict(settings, width=9))


@torch_required
def test_momentum_uses_torch_sgd_and_its_threshold(tiny_data):
    """--optimizer heavy-ball/nesterov: the threshold is analysis.optimizers' (2+2b)/eta and (2+2b)/(eta(1+2b));
    the trajectory is torch.optim.SGD(momentum=b, nesterov=...) itself (the loss of a hand-run SGD agrees to
    round-off)."""
    import torch

    from analysis.optimizers import sharpness_threshold

    for optimizer, expected in (("heavy-ball", 3.0 / 0.1), ("nesterov", 3.0 / (0.1 * 2.0))):
        run = nn.train(eta=0.1, steps=5, data=tiny_data, arch="mlp", width=8, optimizer=optimizer, beta=0.5)
        assert run.threshold == pytest.approx(expected, rel=1e-14)
        assert run.threshold == sharpness_threshold(optimizer, 0.1, 0.5)
        inputs, targets = nn.load_data(data=tiny_data)
        model = nn.build("mlp", 8, 0, (4,), 3)
        sgd = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.5, nesterov=optimizer == "nesterov")
        losses = []
        for _ in range(6):
            loss = nn.mse_loss(model(inputs), targets)
            losses.append(loss.item())
            sgd.zero_grad()
            loss.backward()
            sgd.step()
        assert run.loss == pytest.approx(losses, rel=1e-13)


@torch_required
def test_heavy_ball_sharpness_hovers_at_its_own_threshold():
    """MLP on 256 digits, heavy-ball beta = 0.5, eta = 0.225: the sharpness settles at the heavy-ball threshold
    (2+2b)/eta = 13.33, not at 2/eta = 8.89: median over steps 150-300 within 10 % of the former (measured 1.03
    over steps 300-600 of a longer run) and more than 30 % above the latter."""
    run = nn.train("digits", "mlp", 0.225, 300, width=64, measure_every=5, samples=256, optimizer="heavy-ball",
                   beta=0.5)
    steps = np.array(run.sharpness["step"])
    late = np.median(np.array(run.sharpness["value"])[steps >= 150])
    assert abs(late / run.threshold - 1) < 0.10
    assert late / (2 / 0.225) > 1.3
    assert "edge of stability" in [r.name for r in run.regimes]


@torch_required
def test_eta_sweep_refuses_a_damaged_stored_run(tmp_path, tiny_data):
    """A sweep file with the right settings but a run that is not a Training's to_dict() (a key removed, an outcome
    that is not a dict): one UserInputError naming the eta, never a traceback from reading it back."""
    settings = dict(data=tiny_data, arch="mlp", width=8, steps=2)
    out = tmp_path / "sweep.json"
    nn.eta_sweep([0.1], str(out), **settings)
    content = json.loads(out.read_text())
    stored = content["runs"]["0.1"]
    without_threshold = {key: value for key, value in stored.items() if key != "threshold"}
    for run in (without_threshold, dict(stored, outcome="completed")):
        out.write_text(json.dumps(dict(content, runs={"0.1": run})))
        with pytest.raises(UserInputError, match=r"eta=0\.1 in a form"):
            nn.eta_sweep([0.1], str(out), **settings)
