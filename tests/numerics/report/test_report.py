"""`sharpness report --quick`: every figure and results.json key, its numbers equal direct CLI calls, and its
LaTeX reads as a paper (tables, math mode, abstract, bibliography)."""
import atexit
import functools
import importlib.util
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
pytestmark = [pytest.mark.xdist_group("quick-report"), pytest.mark.slow]  # the whole quick report, built once

SECTIONS = ("fixed_points", "trajectories", "phase_diagram", "cascade", "lyapunov_sweep", "chebyshev",
            "xy_quartic", "width_scan", "crosscheck", "nn", "central_flow", "continuation", "momentum", "sgd_adam")
# The real network's phase diagram is left out of the report without PyTorch (nothing else can stand for it).
SECTIONS += ("nn_phase",) * (importlib.util.find_spec("torch") is not None)


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
    # every figure drawn is in the text and every figure in the text was drawn (without PyTorch, the network
    # figures are neither: test_without_torch_no_section_claims_what_it_does_not_show)
    assert set(results["figures"]) <= set(report.FIGURES)
    assert set(re.findall(r"\\includegraphics\[width=0\.\d+\\linewidth\]\{(\w+)\.pdf\}", tex)) == set(results["figures"])
    for name, paths in results["figures"].items():
        for path in paths:
            assert path.endswith((".png", ".pdf")) and (out / path.split("/")[-1]).stat().st_size > 1000
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
                  "crosscheck", "flips_continuation", "flip_curves", "momentum", "sgd-adam-toy", "sgd-adam-mlp"):
        assert rf"\label{{tab:{label}}}" in tex, label
    assert r"\begin{abstract}" in tex and r"\begin{thebibliography}" in tex
    for key in ("kalra2023", "zhu2023", "liu2025", "benettin1980", "aitken1926", "lanczos1950", "cohen2025",
                "cohen2022", "wu2018", "andreyev2024"):
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
    toy = sections["sgd_adam"]["toy"]
    for entry in (*toy["sgd"].values(), toy["adam"]):
        assert rerun(entry["command"], capsys) == entry["result"], entry["command"]


class _RunWithoutFigures:
    """The part of the report's ``Run`` that the sections use, recording which figures they draw and discard."""

    def __init__(self, settings):
        self.settings, self.quick, self.drawn, self.discarded = settings, settings.quick, [], []

    def figure(self, name, draw):
        self.drawn.append(name)

    def discard(self, name):
        self.discarded.append(name)


def test_without_torch_no_section_claims_what_it_does_not_show(built, monkeypatch):
    """The sections that train networks, recomputed with PyTorch unimportable (the rest of the quick report as
    built): each says in its text that PyTorch is missing and what was not computed, draws no network figure (and
    discards one an earlier run left), the momentum table has no MLP column of dashes, and the abstract does not
    claim a real network. Without PyTorch at all, `report --quick` itself gives this document."""
    import sys

    from numerics.report import central_flow, document, momentum, network, network_phase, sgd_adam
    from numerics.report.runner import Settings

    monkeypatch.setitem(sys.modules, "torch", None)  # import torch raises ImportError
    _, results = built
    run = _RunWithoutFigures(Settings(quick=True))
    sections = {**results["sections"], "nn": network.section_nn(run),
                "central_flow": central_flow.section_central_flow(run), "momentum": momentum.section_momentum(run),
                "sgd_adam": sgd_adam.section_sgd_adam(run), "nn_phase": network_phase.section_nn_phase(run)}
    assert set(run.discarded) == {"nn_sharpness", central_flow.NETWORK_FIGURE, network_phase.FIGURE}
    assert set(run.drawn) == {central_flow.TOY_FIGURE, momentum.FIGURE, sgd_adam.FIGURE}  # the last: two-input's
    tex = document.tex_document({**results, "sections": sections})
    for name in ("nn_sharpness", central_flow.NETWORK_FIGURE, network_phase.FIGURE):
        assert name not in tex
    assert "phase diagram of a real network" not in tex  # the section is left out
    abstract = tex[tex.index(r"\begin{abstract}"):tex.index(r"\end{abstract}")]
    assert "PyTorch was not installed" in abstract and "MLP" not in abstract
    for title in (r"\section{A real network}", r"\section{Central flows}", r"\section{Momentum}",
                  r"\section{Mini-batch SGD and Adam}"):
        body = tex[tex.index(title):]
        body = body[:min(body.find(end, 1) % len(body) for end in (r"\section{", r"\begin{thebibliography}"))]
        assert "PyTorch is not installed" in body, title
        assert "--" not in body.replace("-{}-", "").replace("---", ""), title  # no column of dashes
        assert "MLP on digits" not in body and "median sharpness / threshold" not in body, title
        assert "digits MLP" not in body and "tab:sgd-adam-mlp" not in body, title


def test_report_bad_output_directory(tmp_path, capsys):
    blocked = tmp_path / "file"
    blocked.write_text("x")
    assert main(["report", "--out", str(blocked / "sub"), "--quick", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "cannot write to --out" in err and err.count("\n") == 1


def test_network_records_rerun_with_the_same_library_call(monkeypatch):
    """The report's real-network records (the nn section, the MLP under each optimizer in the momentum section, under
    SGD at two batch sizes and under Adam in the SGD/Adam section): the
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
    from numerics.report.sgd_adam import mlp_requests

    requests = [network.network_run(150, 256, 0.15, optimizer, beta)
                for optimizer, beta in (("gd", "0"), ("heavy-ball", "0.5"), ("nesterov", "0.5"))]
    requests += list(mlp_requests(150, 256).values())
    for request in requests:
        optimizer, beta = request.optimizer, request.beta or "0"
        with pytest.raises(Reached):
            request.call()
        with pytest.raises(Reached):
            main(request.to_argv())
        report_call, command_call = calls[-2:]
        assert report_call == command_call and report_call[2]["optimizer"] == optimizer
        assert report_call[0] == list(request.eta.values)
        assert report_call[2]["beta"] == (0.5 if beta == "0.5" else 0.0)
        assert report_call[2].get("batch_size") == request.batch_size
        assert ("beta1" in report_call[2]) == (optimizer == "adam")
    assert [(r.optimizer, r.batch_size) for r in requests[3:]] == [("sgd", 32), ("sgd", 128), ("adam", None)]


def test_sgd_adam_section_against_its_records_and_without_torch(built, tmp_path):
    """The SGD/Adam section's tables carry the records' numbers: two-input's mean-square threshold below GD's for
    one example per batch and equal to it for the full batch (the derived values, 0.395869 and 0.4 at s = 1/2,
    eta = 0.4: docs/optimizers.md); Adam's toy threshold 38/eta at eta = 1; each MLP row's median and peak ratio
    from the run's own threshold_ratios. Without PyTorch (test_without_torch_no_section_claims_what_it_does_not_show)
    the figure is two-input's panel alone."""
    from numerics.nn import Training
    from numerics.report.sgd_adam import mean_square, sgd_adam_figure, tex_sgd_adam

    _, results = built
    section = results["sections"]["sgd_adam"]
    one, two = (mean_square(section["toy"]["sgd"][size]["result"]) for size in ("1", "2"))
    assert one["eta"] == pytest.approx(0.395869, rel=1e-5) and one["eta"] < one["gd_eta"] == pytest.approx(0.4)
    assert two["eta"] == pytest.approx(two["gd_eta"], rel=1e-12)
    assert section["toy"]["adam"]["result"]["threshold"] == pytest.approx(38.0, rel=1e-12)
    tex = "\n".join(tex_sgd_adam(section, results))
    assert "$0.395869$" in tex
    for name in ("sgd_32", "sgd_128", "adam"):
        run = Training.from_dict(section["mlp"][name]["result"])
        assert run.regimes_of == ("preconditioned_sharpness" if name == "adam" else "batch_sharpness")
        for ratios in run.threshold_ratios.values():
            assert ratios["median"] is not None and f"${ratios['median']:.3g}$" in tex
    without = dict(section, mlp={"command": None, "result": None, "note": "PyTorch is not installed: not trained."})
    sgd_adam_figure(without, str(tmp_path / "without.png"))
    assert (tmp_path / "without.png").stat().st_size > 1000

