r"""Numerical continuation of fixed points and period-J orbits of the derived maps, in one and two parameters.

One parameter (Kuznetsov & Meijer, *Numerical Bifurcation Analysis of Maps*, CUP 2019, Ch. 4 and 6; Govaerts,
Khoshsiar Ghaziani, Kuznetsov & Meijer, MatContM, SIAM J. Appl. Dyn. Syst. 6 (2007); AUTO-07p with IPS = -1).
The solution set of :math:`G(x, \alpha) = F^J(x, \alpha) - x = 0` is traced by **pseudo-arclength continuation**
(Keller 1977): tangent :math:`t` = null vector of :math:`G_u = [A - I \mid F^J_\alpha]` (:math:`A = D_xF^J`,
both from the *derived* Jacobians chained along the orbit, never finite differences), predictor :math:`u + h t`,
Newton corrector on :math:`G(u) = 0`, :math:`\langle t, u - u_{\rm pred}\rangle = 0`, adaptive :math:`h`.

Test functions along the branch, each located by Illinois' regula falsi along the arclength (every trial point
corrected onto the branch) until the bracket is below :data:`LOCATE_TOLERANCE` in the continuation variable:

=====  =====================================================  ======================================
type   test function                                          meaning
=====  =====================================================  ======================================
LP     :math:`t_\alpha` (last component of the tangent)       fold, multiplier +1
BP     :math:`\det\begin{pmatrix}G_u\\ t^T\end{pmatrix}`      branch point (two branches cross)
PD     :math:`\det(A + I)`                                    flip, multiplier -1
NS     :math:`\prod_{i<j}(\mu_i\mu_j - 1)` (bialternate)      complex pair on the unit circle
=====  =====================================================  ======================================

At a PD the **flip normal-form coefficient** :math:`b` (MatContM ``nf_PDm``; see
:mod:`analysis.derivations.normal_form`) is evaluated for the period-J orbit: the multilinear forms of
:math:`F^J` are chained along the orbit from the derived one-step tensors,

.. math::
   v_{i+1} = A_i v_i,\quad w_{i+1} = A_i w_i + B_i(v_i, v_i),\quad
   c_{i+1} = A_i c_i + 3B_i(v_i, w_i) + C_i(v_i, v_i, v_i),

so that :math:`B^J(q, q) = w_J` and :math:`C^J(q, q, q) = c_J` (:math:`v_0 = q`, :math:`w_0 = c_0 = 0`).
**Branch switching** at a PD: the period-2J orbit bifurcates from :math:`(x^*, \alpha^*)` in the direction of the
critical eigenvector :math:`q` (a pitchfork of :math:`F^{2J} - x`); its first point solves
:math:`F^{2J}(x) = x`, :math:`\langle q, x - x^*\rangle = \varepsilon` for :math:`(x, \alpha)`.

**Families** of fixed points (a line or hyperbola of minima; ``fixed-points`` reports them with ``line``): one
multiplier is identically 1 along the family, so :math:`G_u` has a two-dimensional kernel; the family is traced
with its free coordinate as the continuation variable (``--vary lam=A:B`` for the UV line of minima) at fixed
parameters, or with the free coordinate held while a parameter varies; the corrector is then Gauss-Newton (the
equations are consistent but of deficient rank). The flip of a family is where its transverse multiplier is -1:
the onset of the edge of stability on the zero-loss set. (The flip normal form of a family involves the neutral
direction, the self-stabilisation drift of :func:`analysis.derivations.minima.minima`; no coefficient is given.)

Two parameters: :func:`continue_curve` follows a PD, LP or NS curve of the period-J orbit by the standard
extended system (Kuznetsov & Meijer 2019, Sec. 6.3) and detects codimension-two points (:data:`CODIM2`).

Modules: :mod:`.derivatives` (compiled derivatives, multilinear forms, normal-form coefficients), :mod:`.engine`
(predictor-corrector, test-function location), :mod:`.records` (typed results), :mod:`.one_parameter`,
:mod:`.two_parameter` (the report's section on the UV model's flip curves is :mod:`numerics.report.continuation`).

>>> from numerics import Axis
>>> from numerics.branches import continuation
>>> result = continuation("uv-eos", Axis.parse("k=0.5:1.3"), doublings=1)
>>> result
Continuation(uv-eos, vary k: 2 branch(es), 0 curve(s); special points PD@1, PD@2)
>>> round(result.special_points[0]["normal_form"]["coefficient"], 10)     # b = F'''/6 + F''^2/4 = -1 + 9 at z = -1, k = 1
8.0
"""
from __future__ import annotations

from .derivatives import Kernels, flip_coefficient, fold_coefficient, kernels, ns_coefficient
from .engine import CODIM2, DEGENERATE, LOCATE_TOLERANCE, MAX_DOUBLINGS, MAX_POINTS
from .one_parameter import continuation
from .records import Branch, Continuation
from .two_parameter import continue_curve

__all__ = ["CODIM2", "DEGENERATE", "LOCATE_TOLERANCE", "MAX_DOUBLINGS", "MAX_POINTS", "Branch", "Continuation",
           "Kernels", "continuation", "continue_curve", "flip_coefficient",
           "fold_coefficient", "kernels", "ns_coefficient"]
