r"""Real networks on real data, on the CPU: the bundled digits or the user's own ``.npz``, a built-in architecture
or the user's own PyTorch model, GD (full batch or mini-batches, with or without heavy-ball / Nesterov momentum) or
Adam, the top Hessian eigenvalues tracked during training with the optimizer's own measure of stability (the batch
sharpness of mini-batches, Adam's preconditioned sharpness), and the edge-of-stability observables of Kalra, He & Barkeshli (arXiv 2311.02076,
Sec. 7): the sharpness, its power spectrum over the edge-of-stability window and the period of its oscillation.

One concept per module:

:mod:`.data`
    ``digits`` (scikit-learn's bundled 8x8 images) or a user's ``.npz`` (``X``, ``y``: class labels become
    centred one-hot targets, float targets are regressed as given).
:mod:`.architectures`
    ``mlp``, ``cnn``, ``linear``, ``resnet`` (smooth: tanh), ``uv`` (two linear layers: the UV model on one
    example), in a parameterization (``pytorch``: PyTorch's default initialization; Yang & Hu's ``sp``, ``ntk``,
    ``mup``: :func:`layer_scales`) and an initialization scale, or ``PATH.py:FACTORY`` returning a
    ``torch.nn.Module``.
:mod:`.spectrum`
    The ``k`` largest *algebraic* Hessian eigenvalues by a warm-started block Krylov (thick-restart Lanczos)
    Rayleigh-Ritz iteration on autograd Hessian-vector products; products per measurement are reported. On the
    same products: the batch sharpness (:func:`batch_sharpness`) and the top eigenvalues of :math:`P^{-1}H`
    (:func:`preconditioned_eigenpairs`).
:mod:`.training`
    Training, loss :math:`L = \frac{1}{2N}\sum_i |f(x_i) - y_i|^2`, with ``torch.optim.SGD`` (full batch or
    mini-batches, :func:`training_batches`) or ``torch.optim.Adam``; the sharpness, batch sharpness or
    preconditioned sharpness against the optimizer's derived threshold
    (:func:`analysis.optimizers.sharpness_threshold`) and the regimes labelled against it
    (:func:`numerics.classify.label_regimes`); the run is a :class:`Training`.
:mod:`.signal`
    Over the longest *edge of stability* regime (the EoS window), measured every step: the Welch power spectrum
    (:func:`power_spectrum`) and the period (:func:`oscillation_period`).
:mod:`.sweep`
    Step-size sweeps in one process, saved run by run, resumable (:func:`eta_sweep`).
:mod:`.grid`
    Grids over the settings of :func:`train` (eta, width, seed, ...), one Dask task per run, into the same
    resumable store (:func:`network_grid`, :class:`NetworkGrid`).
:mod:`.central_flows`
    The central flow of the network (Cohen et al. 2025): GD's time-averaged dynamics at the edge of stability,
    with the top-``k`` critical subspace and its semidefinite complementarity problem (:func:`central_flow`).
:mod:`.comparison`
    The UV model's regimes at a network's :math:`\eta\lambda_0` (:func:`uv_prediction`, :func:`uv_early_regime`), in
    the parameterization matching the network's (:func:`uv_parameterization`).
:mod:`.phase`
    The early-training phase diagram of a grid beside the UV model's (:class:`PhaseDiagram`, :class:`PhaseCell`).
:mod:`.plots`
    The sharpness orbit diagram of a sweep (:func:`orbit_figure`).

PyTorch is an optional dependency (``pip install -e .[torch]``), imported on first use.
"""
from .architectures import (ARCHITECTURES, PARAMETERIZATIONS, build, layer_scales, layers, load_factory,
                            model_from_factory)
from .central_flows import MAX_K, NetworkCentralFlow, SDCPSolution, central_flow, solve_sdcp
from .comparison import uv_early_regime, uv_parameterization, uv_prediction
from .phase import PhaseCell, PhaseDiagram, phase_cell
from .data import DATASETS, DTYPES, load_data, read_npz
from .plots import orbit_figure
from .signal import EXPLAINED, MIN_WINDOW, PERIODS, eos_observables, eos_window, oscillation_period, power_spectrum
from .spectrum import (HessianOperator, HessianSpectrum, SharpnessTracker, batch_sharpness, hessian_eigenvalues, mse_loss,
                       preconditioned_eigenpairs, sharpness, top_eigenpairs, top_eigenvalue)
from .grid import NetworkGrid, network_grid, sweep_table, variable_settings
from .sweep import eta_sweep
from .training import (BATCH_SHARPNESS_BATCHES, NN_OPTIMIZERS, TIME_BUDGET, TRACKING_TOLERANCE, Training,
                       adam_preconditioner, measurement_batches, threshold_of, train, training_batches)

__all__ = ["adam_preconditioner", "ARCHITECTURES", "PARAMETERIZATIONS", "layer_scales", "layers", "BATCH_SHARPNESS_BATCHES", "batch_sharpness", "measurement_batches",
           "NN_OPTIMIZERS", "preconditioned_eigenpairs", "training_batches", "DATASETS", "DTYPES", "EXPLAINED", "MAX_K", "MIN_WINDOW", "PERIODS", "TIME_BUDGET",
           "TRACKING_TOLERANCE", "build", "central_flow", "eos_observables", "eos_window", "eta_sweep",
           "hessian_eigenvalues", "HessianOperator", "HessianSpectrum", "load_data", "load_factory",
           "model_from_factory", "mse_loss", "NetworkCentralFlow", "NetworkGrid", "network_grid", "orbit_figure",
           "oscillation_period", "power_spectrum", "read_npz", "SDCPSolution", "sharpness", "SharpnessTracker",
           "solve_sdcp", "sweep_table", "threshold_of", "top_eigenpairs", "top_eigenvalue", "train", "Training",
           "uv_early_regime", "uv_parameterization", "uv_prediction", "variable_settings", "PhaseCell",
           "PhaseDiagram", "phase_cell"]
