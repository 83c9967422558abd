"""`sharpness report --quick`: every figure and results.json key, and its numbers equal direct CLI calls."""
import json
import shlex

import pytest

from numerics.cli import main
from numerics import report

SECTIONS = ("fixed_points", "trajectories", "phase_diagram", "cascade", "lyapunov_sweep", "chebyshev",
            "xy_quartic", "width_scan", "crosscheck", "nn")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    assert main(["report", "--out", str(out), "--quick", "--quiet"]) == 0
    return out, json.loads((out / "results.json").read_text())


def test_every_file_and_key(built):
    out, results = built
    assert (out / "report.tex").read_text().startswith(r"\documentclass")
    assert set(results) >= {"command", "quick", "versions", "sections", "figures", "pdf"}
    assert results["command"].startswith("sharpness report --out") and results["quick"] is True
    assert results["versions"]["sympy"] and results["versions"]["numpy"]
    assert set(results["sections"]) == set(SECTIONS)
    for name in report.FIGURES:
        for path in results["figures"][name]:
            assert path.endswith((".png", ".pdf")) and (out / path.split("/")[-1]).stat().st_size > 1000
        assert rf"\includegraphics[width=0.85\linewidth]{{{name}.pdf}}" in (out / "report.tex").read_text()
    # report.pdf exists exactly when the report says it was built (whether a TeX engine is installed or not).
    assert results["pdf"]["built"] == (out / "report.pdf").is_file()
    if not results["pdf"]["built"]:
        assert results["pdf"].get("note") or results["pdf"].get("engine")


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


def test_report_bad_output_directory(tmp_path, capsys):
    blocked = tmp_path / "file"
    blocked.write_text("x")
    assert main(["report", "--out", str(blocked / "sub"), "--quick", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "cannot write to --out" in err and err.count("\n") == 1
