"""The report's references (``\\cite`` keys of the sections)."""


BIBLIOGRAPHY = [
    r"\bibitem{kalra2023} D.~S. Kalra, T.~He and M.~Barkeshli, \emph{Universal sharpness dynamics in neural network "
    r"training: fixed point analysis, edge of stability, and route to chaos}, arXiv:2311.02076 (2023).",
    r"\bibitem{zhu2023} X.~Zhu, Z.~Wang, X.~Wang, M.~Zhou and R.~Ge, \emph{Understanding edge-of-stability "
    r"training dynamics with a minimalist example}, ICLR 2023.",
    r"\bibitem{liu2025} Liu, Zhang, Du and Zhao, \emph{A minimalist example of edge-of-stability and progressive "
    r"sharpening} (2025).",
    r"\bibitem{cohen2021} J.~M. Cohen, S.~Kaur, Y.~Li, J.~Z. Kolter and A.~Talwalkar, \emph{Gradient descent on "
    r"neural networks typically occurs at the edge of stability}, ICLR 2021.",
    r"\bibitem{cohen2022} J.~M. Cohen, B.~Ghorbani, S.~Krishnan, N.~Agarwal, S.~Medapati, M.~Badura, D.~Suo, "
    r"D.~Cardoze, Z.~Nado, G.~E. Dahl and J.~Gilmer, \emph{Adaptive gradient methods at the edge of stability}, "
    r"arXiv:2207.14484 (2022).",
    r"\bibitem{wu2018} L.~Wu, C.~Ma and W.~E, \emph{How SGD selects the global minima in over-parameterized "
    r"learning: a dynamical stability perspective}, NeurIPS 2018.",
    r"\bibitem{andreyev2024} A.~Andreyev and P.~Beneventano, \emph{Edge of stochastic stability: revisiting the "
    r"edge of stability for SGD} (2024).",
    r"\bibitem{cohen2025} J.~M. Cohen, A.~Damian, A.~Talwalkar, J.~Z. Kolter and J.~D. Lee, \emph{Understanding "
    r"optimization in deep learning with central flows}, ICLR 2025.",
    r"\bibitem{benettin1980} G.~Benettin, L.~Galgani, A.~Giorgilli and J.-M. Strelcyn, \emph{Lyapunov "
    r"characteristic exponents for smooth dynamical systems and for Hamiltonian systems; a method for computing "
    r"all of them}, Meccanica \textbf{15}, 9--30 (1980).",
    r"\bibitem{aitken1926} A.~C. Aitken, \emph{On Bernoulli's numerical solution of algebraic equations}, "
    r"Proc. Roy. Soc. Edinburgh \textbf{46}, 289--305 (1926).",
    r"\bibitem{lanczos1950} C.~Lanczos, \emph{An iteration method for the solution of the eigenvalue problem of "
    r"linear differential and integral operators}, J. Res. Nat. Bur. Standards \textbf{45}, 255--282 (1950).",
    r"\bibitem{kuznetsov2019} Yu.~A. Kuznetsov and H.~G.~E. Meijer, \emph{Numerical Bifurcation Analysis of Maps: "
    r"From Theory to Software}, Cambridge University Press (2019); W.~Govaerts, R.~Khoshsiar Ghaziani, "
    r"Yu.~A. Kuznetsov and H.~G.~E. Meijer, \emph{Numerical methods for two-parameter local bifurcation analysis of "
    r"maps}, SIAM J. Sci. Comput. 29 (2007) 2644--2667.",
    r"\bibitem{feigenbaum1978} M.~J. Feigenbaum, \emph{Quantitative universality for a class of nonlinear "
    r"transformations}, J. Stat. Phys. \textbf{19}, 25--52 (1978).",
]
