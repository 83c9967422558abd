"""The README's Python API examples run and print what the README shows (doctest of its ```python block)."""
import doctest
import re
from pathlib import Path


def test_readme_python_examples():
    text = (Path(__file__).parent.parent / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert blocks, "the README has a Python API block"
    parser, runner = doctest.DocTestParser(), doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for index, block in enumerate(blocks):
        runner.run(parser.get_doctest(block, {}, f"README block {index}", "README.md", 0))
    assert runner.failures == 0 and runner.tries > 10
