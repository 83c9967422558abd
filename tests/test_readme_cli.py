"""The command-line examples of the README and of the documentation (docs/) run and print what the pages show.

Every ``$ sharpness ...`` line in a fenced block is run (in a temporary directory that sees the repository's
``examples/``, with the test session's derivation cache, as a child of a fork server: :mod:`tests.cli_fork`) and its output compared with the lines that follow it on
the page: text exactly, numbers to
a relative 1e-6 or an absolute 1e-12 (round-off figures such as a cross-check's 2e-15 depend on the BLAS and the
numpy version; the figures a reader compares are far above that). Commands listed in :data:`NOT_RUN` are skipped,
each with its reason.
"""
import importlib.util
import re
import shlex

import pytest

from tests.cli_fork import run_cli
from tests.doc_pages import PAGES, ROOT, fenced_blocks, page_id

NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")

# (substring of the command, why it is not run here)
NOT_RUN = [
    ("sharpness nn", "trains networks with PyTorch for minutes; tests/numerics/nn/ cover the command"),  # but see
    # QUICK_NETWORK_SAMPLES
    ("phase-diagram", "a 48 x 13 grid of 1,000-step runs; tests/numerics/test_sweeps.py covers the command"),
    ("--help", "help text: tests/numerics/cli/test_cli_help.py checks every option and example"),
    ("--plot", "writes a figure; the numbers are covered by the same command without --plot"),
    ("cascade uv-eos --vary k", "40-digit Newton for 14 flips (a minute); tests/numerics/test_flips.py covers cascade"),
    ("--version", "the version changes with every release"),
]


def _examples(page):
    examples = []
    for _, lines in fenced_blocks(page.read_text()):
        index = 0
        while index < len(lines):
            line = lines[index]
            if not line.startswith("$ "):
                index += 1
                continue
            command = line[2:]
            while command.endswith("\\"):
                index += 1
                command = command[:-1] + lines[index]
            index += 1
            output = []
            while index < len(lines) and not lines[index].startswith("$ "):
                output.append(lines[index])
                index += 1
            command = re.split(r"\s+#", command)[0].strip()
            if command.startswith("sharpness "):
                examples.append((command, [o for o in output if o.strip()]))
    return examples


EXAMPLES = [(page_id(page), command, shown) for page in PAGES for command, shown in _examples(page)]


def _parts(line):
    return NUMBER.split(line), [float(n) for n in NUMBER.findall(line)]


def _same(shown, printed):
    """``printed`` is the page's ``shown`` line: the same text, numbers within tolerance; ``...`` inside a line
    stands for any text (an elided part), and a trailing ``  # comment`` is the page's annotation."""
    shown = re.sub(r"\s{2,}#.*$", "", shown)
    if "..." in shown:
        pieces = shown.split("...")
        pattern = ".*".join(re.escape(piece) for piece in pieces)
        return re.fullmatch(pattern, printed) is not None
    shown_text, shown_numbers = _parts(shown)
    printed_text, printed_numbers = _parts(printed)
    return (shown_text == printed_text and len(shown_numbers) == len(printed_numbers)
            and all(abs(a - b) <= max(1e-6 * abs(a), 1e-12) for a, b in zip(shown_numbers, printed_numbers)))


def test_the_readme_and_the_pages_have_examples():
    pages = {page for page, _, _ in EXAMPLES}
    assert "README.md" in pages and len(pages) > 5, pages


# Examples whose cold derivation is expensive run on the worker of the tests that derive the same model (same
# xdist group), so that the derivation cache shared by the workers is warm for all but the first.
SHARED_DERIVATIONS = {"uv --optimizer nesterov": "uv-nesterov", "uv --optimizer heavy-ball": "uv-heavy-ball"}


def _example(page, command, shown):
    groups = [group for key, group in SHARED_DERIVATIONS.items() if f"fixed-points {key}" in command]
    return pytest.param(page, command, shown, id=f"{page}: {command[:70]}",
                        marks=[pytest.mark.xdist_group(group) for group in groups])


# A network example on at most this many examples trains in seconds: it runs (where PyTorch is installed).
QUICK_NETWORK_SAMPLES = 64


def _quick_network_example(arguments) -> bool:
    if arguments[:1] != ["nn"] or "--samples" not in arguments:
        return False
    return int(arguments[arguments.index("--samples") + 1]) <= QUICK_NETWORK_SAMPLES


@pytest.mark.parametrize("page, command, shown", [_example(*example) for example in EXAMPLES])
def test_readme_cli_example(page, command, shown, tmp_path):
    arguments = shlex.split(command)[1:]
    if _quick_network_example(arguments):
        if importlib.util.find_spec("torch") is None:
            pytest.skip("trains a network: needs the optional PyTorch extra")
    else:
        for marker, reason in NOT_RUN:
            if marker in command:
                pytest.skip(reason)
    (tmp_path / "examples").symlink_to(ROOT / "examples")  # examples/my_model.py as from the repository root
    done = run_cli(arguments, cwd=tmp_path)
    if importlib.util.find_spec("torch") is None:
        # crosscheck prints its torch row only with PyTorch installed (the optional [torch] extra)
        shown = [line for line in shown if not line.lstrip().startswith("torch ")]
    refused = bool(shown) and shown[0].startswith("sharpness: error:")  # an example of a one-line refusal
    assert done.returncode == (2 if refused else 0), done.stderr
    printed = [line for line in (done.stderr if refused else done.stdout).splitlines() if line.strip()]
    if not shown:  # the page shows the command only (its output is described in the text)
        return
    if any(line.strip() == "..." for line in shown):
        # an excerpt: the shown lines appear in this order, "..." standing for any number of printed lines
        position = 0
        for expected in (line for line in shown if line.strip() != "..."):
            while position < len(printed) and not _same(expected, printed[position]):
                position += 1
            assert position < len(printed), f"{page} line not printed (in order): {expected}\n" + "\n".join(printed)
            position += 1
        return
    assert len(printed) == len(shown), f"{page} shows {len(shown)} lines, the command printed {len(printed)}:\n" \
                                       + "\n".join(printed)
    for expected, got in zip(shown, printed):
        assert _same(expected, got), f"{page}: {expected}\nprinted: {got}"
