"""`sharpness report --quick`: every figure and results.json key, its numbers equal direct CLI calls, and its
LaTeX reads as a paper (tables, math mode, abstract, bibliography)."""
import atexit
import functools
import json
import re
import shlex
import shutil
import tempfile
from pathlib import Path

import pytest

from numerics.cli import main
from numerics import report
from numerics.report.cascade import delta_rows
from numerics.report.latex import latex_engine

# One worker builds the quick report once for both files (tests/numerics/report/test_report.py:quick_report).
pytestmark = pytest.mark.xdist_group("quick-report")

SECTIONS = ("fixed_points", "trajectories", "phase_diagram", "cascade", "lyapunov_sweep", "chebyshev",
            "xy_quartic", "width_scan", "crosscheck", "nn", "central_flow", "continuation", "momentum")


@functools.lru_cache(maxsize=None)
def quick_report():
    """The quick report, built once per test process (tests/numerics/report/test_pdf.py compiles the same one)."""
    out = Path(tempfile.mkdtemp(prefix="sharpness-quick-report-"))
    atexit.register(shutil.rmtree, out, True)
    assert main(["report", "--out", str(out), "--quick", "--quiet"]) == 0
    return out, json.loads((out / "results.json").read_text())


@pytest.fixture(scope="module")
def built():
    return quick_report()


def test_every_file_and_key(built):
    out, results = built
    tex = (out / "report.tex").read_text()
    assert tex.startswith(r"\documentclass")
    assert set(results) >= {"command", "quick", "versions", "sections", "figures", "pdf"}
    assert results["command"].startswith("sharpness report --out") and results["quick"] is True
    assert results["versions"]["sympy"] and results["versions"]["numpy"]
    assert set(results["sections"]) == set(SECTIONS)
    for name in report.FIGURES:
        for path in results["figures"][name]:
            assert path.endswith((".png", ".pdf")) and (out / path.split("/")[-1]).stat().st_size > 1000
        assert re.search(rf"\\includegraphics\[width=0\.\d+\\linewidth\]\{{{name}\.pdf\}}", tex), name
    # report.pdf exists exactly when the report says it was built, and it is built wherever an engine exists.
    assert results["pdf"]["built"] == (out / "report.pdf").is_file()
    assert results["pdf"]["built"] == (latex_engine() is not None)
    if not results["pdf"]["built"]:
        assert "apt-get install texlive-latex-base" in results["pdf"]["note"]


def test_tex_reads_as_a_paper(built):
    """Tables for the numbers, mathematics in math mode, an abstract and the bibliography."""
    out, results = built
    tex = (out / "report.tex").read_text()
    for label in ("fixed-points", "regimes", "phase-boundaries", "flips", "delta", "xy-quartic", "width-scan",
                  "crosscheck", "flips_continuation", "flip_curves", "momentum"):
        assert rf"\label{{tab:{label}}}" in tex, label
    assert r"\begin{abstract}" in tex and r"\begin{thebibliography}" in tex
    for key in ("kalra2023", "zhu2023", "liu2025", "benettin1980", "aitken1926", "lanczos1950", "cohen2025"):
        assert rf"\bibitem{{{key}}}" in tex and rf"\cite{{{key}}}" in tex, key
    equations = re.findall(r"\\begin\{equation\}(.*?)\\end\{equation\}", tex, flags=re.S)
    assert len(equations) > 20
    assert not [e for e in equations if r"\cdot" in e]  # implicit multiplication (see tests/analysis/test_latex.py)
    # No plain-text mathematics left in captions (the earlier report had "eta = 0.5", "z -> ...", "lam >= ...").
    captions = re.findall(r"\\caption\{(.*)\}\\label", tex)
    assert len(captions) >= len(report.FIGURES) + 7
    for caption in captions:
        outside_math = re.sub(r"\$[^$]*\$|\\ref\{[^}]*\}", "", caption)
        assert not re.search(r"\b(eta|lam|mu|epsilon)\b|->|>=|\^|_", outside_math), caption
    # The delta table carries the correct digits of each estimate from results.json.
    cascade = results["sections"]["cascade"]["result"]
    rows = re.findall(r"^\$(\d+)\$ & \$([\d.]+)\$ & \$(\d+)\$(?: & .*)? \\\\$", tex, flags=re.M)
    assert [int(r[2]) for r in rows] == cascade["correct_digits"]
    if cascade.get("alpha_digits"):  # and Feigenbaum's alpha beside it, where the cascade gives it
        first = f"${cascade['alpha_digits'][0][:22]}$ & ${cascade['alpha_correct_digits'][0]}$"
        assert r"$\alpha_i$" in tex and first in tex


def test_delta_table_shows_alpha_where_the_cascade_has_it():
    cascade = {"delta_digits": ["4.54", "4.64"], "correct_digits": [1, 2], "delta_aitken": ["4.6692"],
               "correct_digits_aitken": [4], "alpha_digits": ["-2.49", "-2.501"], "alpha_correct_digits": [2, 3],
               "alpha_aitken": ["-2.50290"], "alpha_correct_digits_aitken": [5]}
    header, rows = delta_rows(cascade)
    assert header[3] == r"$\alpha_i$" and len(header) == 5
    assert rows[1] == ["$2$", "$4.64$", "$2$", "$-2.501$", "$3$"] and rows[2][3:] == ["$-2.50290$", "$5$"]
    header, rows = delta_rows({k: v for k, v in cascade.items() if not k.startswith("alpha")})
    assert len(header) == 3 and all(len(row) == 3 for row in rows)


def rerun(command: str, capsys) -> dict:
    argv = shlex.split(command)[1:]
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_numbers_equal_direct_cli_calls(built, capsys):
    _, results = built
    sections = results["sections"]
    for name in ("fixed_points", "cascade", "chebyshev", "crosscheck", "width_scan"):
        assert rerun(sections[name]["command"], capsys) == sections[name]["result"], name
    catapult = sections["trajectories"]["catapult"]
    assert rerun(catapult["command"], capsys) == catapult["result"]
    first_xy = next(iter(sections["xy_quartic"].values()))
    assert rerun(first_xy["command"], capsys) == first_xy["result"]
    nesterov = sections["momentum"]["uv"]["nesterov"]
    assert rerun(nesterov["command"], capsys) == nesterov["result"]
    cascade_by_continuation = sections["continuation"]["cascade"]
    assert rerun(cascade_by_continuation["command"], capsys) == cascade_by_continuation["result"]
    flow = sections["central_flow"]["uv_eos"]
    assert rerun(flow["command"], capsys) == flow["result"]


def test_central_flow_section_without_torch_says_so_without_a_figure(built):
    """Without PyTorch the network's record is a note: the section prints it and draws no MLP figure (the uv-eos
    part stands as computed)."""
    from numerics.report.central_flow import NETWORK_FIGURE, TOY_FIGURE, tex_central_flow

    _, results = built
    section = {"uv_eos": results["sections"]["central_flow"]["uv_eos"],
               "mlp": {"command": None, "result": None, "note": "PyTorch is not installed: not computed."}}
    tex = "\n".join(tex_central_flow(section, results))
    assert "PyTorch is not installed" in tex and NETWORK_FIGURE not in tex and TOY_FIGURE in tex
    network = results["sections"]["central_flow"]["mlp"]
    assert network["result"]["gd_comparison"]["median_rel_error_loss"] is not None
    assert set(network["result"]["trajectory"]) >= {"time", "sharpness", "sigma2", "loss", "predicted_loss"}


def test_report_bad_output_directory(tmp_path, capsys):
    blocked = tmp_path / "file"
    blocked.write_text("x")
    assert main(["report", "--out", str(blocked / "sub"), "--quick", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "cannot write to --out" in err and err.count("\n") == 1


def test_network_records_rerun_with_the_same_library_call(monkeypatch):
    """The report's real-network records (the nn section, the MLP under each optimizer in the momentum section): the
    ``sharpness nn`` command line each carries (the request's ``to_argv()``) reaches :func:`numerics.nn.eta_sweep`
    with exactly the step sizes and settings of the report's own call (compared before any training, so this needs
    no PyTorch)."""
    from numerics import nn
    from numerics.report import network

    class Reached(Exception):
        pass

    calls = []

    def reached(etas, out=None, progress=None, on_start=None, **settings):
        calls.append((list(etas), out, settings))
        raise Reached

    monkeypatch.setattr(nn, "eta_sweep", reached)  # what the command line and the report call
    for optimizer, beta in (("gd", "0"), ("heavy-ball", "0.5"), ("nesterov", "0.5")):
        request = network.network_run(150, 256, 0.15, optimizer, beta)
        with pytest.raises(Reached):
            request.call()
        with pytest.raises(Reached):
            main(request.to_argv())
        report_call, command_call = calls[-2:]
        assert report_call == command_call and report_call[2]["optimizer"] == optimizer
        assert report_call[0] == [0.15] and report_call[2]["beta"] == (0.5 if beta == "0.5" else 0.0)

