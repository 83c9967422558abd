"""The command line explains itself: every option has help, every subcommand ends its --help with examples that
parse, and ``--version`` answers."""
import argparse
import shlex
import subprocess
import sys

import pytest

from numerics.cli.parser import build_parser


def _subcommands():
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices


@pytest.mark.parametrize("name", sorted(_subcommands()))
def test_every_option_has_help_and_the_help_ends_with_examples_that_parse(name):
    subparser = _subcommands()[name]
    for action in subparser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        assert action.help and action.help.strip(), f"{name}: {action.option_strings or action.dest} has no help"
    text = subparser.format_help()
    assert "examples:" in text, f"{name} --help has no examples"
    examples = [line.strip() for line in text.split("examples:")[1].splitlines() if line.strip()]
    assert examples and all(line.startswith(f"sharpness {name}") for line in examples)
    for line in examples:  # the syntax of each example is accepted (not run: some take minutes)
        build_parser().parse_args(shlex.split(line)[1:])


def test_defaults_are_shown_once():
    """The formatter appends a default where the option has one and its help does not state it already."""
    for name, subparser in _subcommands().items():
        for action in subparser._actions:
            text = (subparser._get_formatter()._get_help_string(action) or "").replace("%(default)s", "D")
            assert text.count("(default") <= 1, f"{name} {action.option_strings}: {text}"
            assert "(default: None)" not in text and "(default: False)" not in text
    assert "(default: 2000)" in _subcommands()["bifurcation"].format_help()  # --steps


def test_version():
    out = subprocess.run([sys.executable, "-m", "numerics.cli", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("sharpness ")
