r"""``sharpness report``: the whole analysis on defaults, as a LaTeX report, a results file and figures.

Every number comes from the public Python API (:mod:`analysis`, :mod:`numerics`); each section records, beside
its JSON (the result's ``to_dict()``), the equivalent ``sharpness ...`` command, so a reader can rerun any number
from the command line and get the same answer (the tests do).

What a rerun in the same ``--out`` finds, and why:

* Sweeps run on Dask (a local cluster, or ``--scheduler``, connected before any work so that a wrong address
  fails at once) into Zarr stores under ``OUT/sweeps/quick`` or ``OUT/sweeps/full``: one directory per setting,
  so a ``--quick`` report and a full one share an ``--out`` and each resumes its own stores.
* The report never replaces a file it did not write. It records every file it writes, with its SHA-256, in
  ``OUT/.sharpness-report.json``; a file that exists and is not recorded with its current content (a user's own
  ``report.tex``, or a report file edited since) is refused, before any work, unless ``--overwrite``. Files are
  written to a temporary name and renamed, the new hash recorded first, so an interruption never leaves a file
  of the report unrecorded.
* Interrupted (Ctrl-C, a lost scheduler), the report keeps its finished sections in a checkpoint,
  ``OUT/.sharpness-report-quick.json`` (or ``-full``), keyed by the output directory, the settings, the scheduler
  and the package versions; a rerun takes those sections (and their figures, if unchanged) from it, resumes the
  interrupted sweep, and computes the rest. The checkpoint is removed when the report is complete, so a rerun of a
  complete report recomputes everything but the finished sweeps.

Modules: :mod:`.runner` (:class:`Settings`, the ``Run`` the sections share, :func:`build`), :mod:`.sections` (the
:class:`Section` records, in report order: name, compute function, figures, TeX renderer), one module per subject
for the sections (:mod:`.uv`, :mod:`.cascade`, :mod:`.xy_quartic`, :mod:`.crosscheck`, :mod:`.network`,
:mod:`.continuation`, :mod:`.momentum`, :mod:`.sgd_adam`), :mod:`.record` (a result with its command line), :mod:`.outputs` (the
files, the manifest and the checkpoint), :mod:`.fragments` (LaTeX pieces), :mod:`.document` (the whole LaTeX
source), :mod:`.latex` (compiling it), :mod:`.bibliography`.
"""
from .latex import LatexError, compile_latex
from .outputs import MANIFEST, Outputs
from .runner import Settings, build
from .sections import FIGURES, SECTIONS, Section

STEPS = len(SECTIONS)  # progress reports per report run, one per section

__all__ = ["FIGURES", "MANIFEST", "SECTIONS", "STEPS", "LatexError", "Outputs", "Section", "Settings", "build",
           "compile_latex"]
