"""Compiling the report's LaTeX: the engine found on PATH, its first error in one line, and ``report.pdf`` placed
like the report's other files."""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from analysis.errors import ToolkitError

from .outputs import Outputs


def latex_engine():
    """The TeX engine the report uses: ``latexmk`` (runs pdflatex as often as needed), ``pdflatex`` or
    ``tectonic``, the first found on PATH; None if there is none."""
    return shutil.which("latexmk") and shutil.which("pdflatex") and shutil.which("latexmk") or \
        shutil.which("pdflatex") or shutil.which("tectonic")


class LatexError(ToolkitError, RuntimeError):
    """The TeX engine reported an error on the report (the message names the first one and the log)."""


def first_error(log: str) -> str:
    """The first ``! ...`` error of a TeX log, with its ``l.N`` line, in one line."""
    lines = log.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("!"):
            where = next((l.split(" ", 1)[0] for l in lines[i + 1:i + 12] if l.startswith("l.")), "")
            return f"{line[1:].strip()}{f' ({where})' if where else ''}"
    return ""


def compile_latex(tex: Path, scratch: Path, engine: str | None = None) -> tuple:
    """Compile ``tex`` with ``engine`` (default :func:`latex_engine`) into ``scratch``; returns ``(pdf path,
    log text)``. Raises :class:`LatexError` (one line: the engine, the first error and where) when the engine
    exits with an error, its log holds an error (``!`` lines) or no PDF appears."""
    engine = engine or latex_engine()
    if engine is None:
        raise LatexError("no LaTeX engine (pdflatex, latexmk or tectonic) found")
    # Absolute: the engine runs in the document's directory, where a relative path (`--out report`) means nothing.
    tex, scratch = Path(tex).resolve(), Path(scratch).resolve()
    name = Path(engine).name
    if name.startswith("tectonic"):
        runs = [[engine, "--keep-logs", "--outdir", str(scratch), str(tex)]]
    elif name.startswith("latexmk"):
        runs = [[engine, "-pdf", "-interaction=nonstopmode", "-halt-on-error", f"-outdir={scratch}", str(tex)]]
    else:  # twice, for the references
        runs = [[engine, "-interaction=nonstopmode", "-halt-on-error", f"-output-directory={scratch}", str(tex)]] * 2
    log_path, pdf = scratch / (tex.stem + ".log"), scratch / (tex.stem + ".pdf")
    for argv in runs:
        try:
            done = subprocess.run(argv, cwd=tex.parent, capture_output=True, stdin=subprocess.DEVNULL, timeout=600)
        except (OSError, subprocess.TimeoutExpired) as error:
            raise LatexError(f"{name} could not compile {tex}: {error}") from None
        log = log_path.read_text(errors="replace") if log_path.is_file() else ""
        error = first_error(log)
        if done.returncode != 0 or error:
            detail = error or (done.stderr or done.stdout).decode(errors="replace").strip().splitlines()[-1:] or [
                f"exit status {done.returncode}"]
            detail = detail if isinstance(detail, str) else detail[0]
            raise LatexError(f"{name} failed on {tex}: {detail}; see {log_path.name} (rerun {name} in "
                             f"{tex.parent})")
    if not pdf.is_file():
        raise LatexError(f"{name} wrote no PDF for {tex}")
    return pdf, log


def build_pdf(outputs: Outputs, tex: str) -> dict:
    """Compile ``tex`` in a scratch directory (the engine's auxiliary files never land in ``--out``) and place
    ``report.pdf`` like the report's other files. No engine: ``{"built": False, "note"}`` (the .tex and the
    figures are there to compile elsewhere); an engine that reports an error: :class:`LatexError`."""
    engine = latex_engine()
    if engine is None:
        return {"built": False, "note": "no LaTeX engine (pdflatex, latexmk or tectonic) found; compile report.tex "
                                        "yourself (Debian: apt-get install texlive-latex-base "
                                        "texlive-latex-recommended)"}
    with tempfile.TemporaryDirectory(prefix=".latex-", dir=outputs.target) as scratch:
        pdf, log = compile_latex(outputs.target / tex, Path(scratch), engine)
        outputs.write_bytes("report.pdf", pdf.read_bytes())
    return {"built": True, "engine": engine}
