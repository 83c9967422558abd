"""The Python examples of the README and of the documentation (docs/) run and print what the pages show: each
```python block is a doctest; a page's blocks share one namespace, in page order. A block that only includes a
file (``--8<-- "examples/my_model.py"``, shown by the site) is not a doctest: tests run that file as a model."""
import doctest
import importlib.util

import pytest

from tests.doc_pages import PAGES, ROOT, fenced_blocks, page_id

TORCH = importlib.util.find_spec("torch") is not None


def _python_blocks(page):
    return ["\n".join(lines) + "\n" for info, lines in fenced_blocks(page.read_text())
            if info == "python" and not (lines and lines[0].startswith("--8<--"))]


PYTHON_PAGES = [page for page in PAGES if _python_blocks(page)]


def test_readme_has_the_python_api():
    assert PAGES[0].name == "README.md" and PAGES[0] in PYTHON_PAGES


@pytest.mark.parametrize("page", PYTHON_PAGES, ids=[page_id(p) for p in PYTHON_PAGES])
def test_python_examples(page, monkeypatch):
    monkeypatch.chdir(ROOT)  # file names in the examples are relative to the repository root
    parser = doctest.DocTestParser()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    namespace = {}
    for index, block in enumerate(_python_blocks(page)):
        if "numerics.nn" in block and not TORCH:
            pytest.skip("trains a PyTorch network: needs the optional [torch] extra")
        test = parser.get_doctest(block, namespace, f"{page_id(page)} block {index}", str(page), 0)
        assert test.examples, f"{page_id(page)} block {index} is not written as a doctest (>>> lines)"
        runner.run(test, clear_globs=False)
    assert runner.failures == 0, f"{runner.failures} of {runner.tries} examples of {page_id(page)} failed (output above)"
