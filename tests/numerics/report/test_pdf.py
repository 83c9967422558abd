"""PDF wherever a TeX engine exists: the quick report and `derive --latex` compile with no LaTeX error and every
figure included; a LaTeX error fails the run loudly (a typed error, one line)."""
import re
import shutil
from pathlib import Path

import pytest

from numerics import report
from numerics.report import latex
from numerics.cli import main

# One worker builds the quick report once for both files (tests/numerics/report/test_report.py:quick_report).
pytestmark = [pytest.mark.xdist_group("quick-report"), pytest.mark.slow]  # the whole quick report, built once

ENGINE = latex.latex_engine()
needs_tex = pytest.mark.skipif(ENGINE is None, reason="no TeX engine (pdflatex, latexmk or tectonic) on PATH; "
                                                      "Debian: apt-get install texlive-latex-base "
                                                      "texlive-latex-recommended")


def compile_copy(source_dir, tex_name, tmp_path, extra=()):
    """Compile ``tex_name`` (with the files ``extra`` beside it) in a copy, returning ``(pdf, log)``."""
    work = tmp_path / "work"
    work.mkdir()
    for name in (tex_name, *extra):
        shutil.copy(source_dir / name, work / name)
    scratch = tmp_path / "build"
    scratch.mkdir()
    return report.compile_latex(work / tex_name, scratch, ENGINE)


def assert_clean_log(log: str):
    assert not re.search(r"^! ", log, flags=re.M), latex.first_error(log)
    assert "LaTeX Error" not in log
    undefined = re.findall(r"LaTeX Warning: (?:Reference|Citation) .* undefined.*|There were undefined references",
                           log)
    assert not undefined, undefined[:3]  # checked on the last of the engine's runs, after the references settled
    missing = re.findall(r"File `[^']*' not found", log)
    assert not missing, missing


@needs_tex
def test_quick_report_compiles_with_every_figure(tmp_path):
    from test_report import quick_report

    out, results = quick_report()
    assert results["pdf"]["built"] and (out / "report.pdf").stat().st_size > 10_000
    figures = [f"{name}.pdf" for name in report.FIGURES]
    pdf, log = compile_copy(out, "report.tex", tmp_path, figures)
    assert_clean_log(log)
    for figure in figures:  # pdflatex logs each included graphic as <./NAME.pdf>
        assert re.search(rf"<(\./)?{re.escape(figure)}[>,]", log), figure
    assert pdf.stat().st_size > 10_000
    overfull = re.findall(r"Overfull \\hbox \((\d+\.\d+)pt too wide\)", log)
    assert all(float(width) < 20 for width in overfull), overfull  # nothing runs visibly into the margin


@needs_tex
@pytest.mark.parametrize("model,parameterization", [("uv", "sp"), ("uv-eos", None), ("xy-quartic", None)])
def test_derive_latex_compiles(model, parameterization, tmp_path, capsys):
    path = tmp_path / "derived.tex"
    argv = ["derive", model, "--latex", str(path)] + (["-p", parameterization] if parameterization else [])
    assert main(argv) == 0
    capsys.readouterr()
    text = path.read_text()
    assert r"\cdot" not in text
    pdf, log = compile_copy(tmp_path, "derived.tex", tmp_path)
    assert_clean_log(log)
    assert pdf.stat().st_size > 5_000


@needs_tex
def test_a_latex_error_is_one_typed_line(tmp_path):
    (tmp_path / "bad.tex").write_text("\\documentclass{article}\n\\begin{document}\n\\undefinedmacro\n"
                                      "\\end{document}\n")
    (tmp_path / "build").mkdir()
    with pytest.raises(report.LatexError) as error:
        report.compile_latex(tmp_path / "bad.tex", tmp_path / "build", ENGINE)
    message = str(error.value)
    assert "Undefined control sequence" in message and "l.3" in message and "\n" not in message


@needs_tex
def test_report_pdf_step_raises_and_records_nothing_built(tmp_path):
    """`_pdf` on a broken report.tex raises LatexError (the CLI prints it as one line, exit status 2) and places
    no report.pdf."""
    outputs = report.Outputs(tmp_path, overwrite=False)
    outputs.write_text("report.tex", "\\documentclass{article}\n\\begin{document}\n$x^$\n\\end{document}\n")
    with pytest.raises(report.LatexError):
        latex.build_pdf(outputs, "report.tex")
    assert not (tmp_path / "report.pdf").exists()
    assert not list(tmp_path.glob(".latex-*"))  # the scratch directory is removed


def test_without_an_engine_the_report_says_how_to_get_one(tmp_path, monkeypatch):
    monkeypatch.setattr(latex, "latex_engine", lambda: None)
    outputs = report.Outputs(tmp_path, overwrite=False)
    outputs.write_text("report.tex", "\\documentclass{article}\n\\begin{document}x\\end{document}\n")
    result = latex.build_pdf(outputs, "report.tex")
    assert result["built"] is False and "apt-get install texlive-latex-base" in result["note"]
    assert not (tmp_path / "report.pdf").exists()


@needs_tex
def test_relative_paths_compile(tmp_path, monkeypatch):
    """`sharpness report` writes to the relative directory `report` by default (the README's main job); the engine
    runs in the document's directory, so the paths it is given must not be relative to the caller's."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "out").mkdir()
    (tmp_path / "build").mkdir()  # the caller's scratch directory, as in the other tests
    (tmp_path / "out" / "doc.tex").write_text("\\documentclass{article}\\begin{document}relative\\end{document}\n")
    pdf, log = report.compile_latex(Path("out") / "doc.tex", Path("build"), ENGINE)
    assert Path(pdf).is_file() and "Output written" in log
