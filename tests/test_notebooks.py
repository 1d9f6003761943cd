"""Chapter notebooks and the companion book.

1. Committed notebooks carry no outputs or execution counts (and the check works).
2. Every notebook in notebooks/ executes top to bottom in quick mode within its time
   cap, into build/executed/.
3. The book builds with warnings as errors from those executed copies, so in CI each
   notebook runs exactly once (this test comes after the executions, in file order).
4. The book machinery, on a generated notebook in a temporary folder: figure, math
   and exercise link in the HTML, nothing fetched from a CDN, an executed copy reused
   rather than run again, and a broken cell failing the build.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import nbformat
import pytest

from minitx import book, notebooks

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
EXECUTED = REPO / "build" / "executed"
NOTEBOOK_TIME_CAP = 300  # seconds per notebook in quick mode
_executed_this_run: set[str] = set()


def test_committed_notebooks_have_no_outputs():
    problems = [line for path in NOTEBOOKS for line in notebooks.stored_outputs(path)]
    assert not problems, ("\n".join(problems) + "\nfix with: python -m minitx.notebooks strip "
                          "notebooks/*.ipynb")


def test_the_output_check_catches_outputs_and_strip_removes_them(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# Title"),
        nbformat.v4.new_code_cell("1 + 1", execution_count=3, outputs=[
            nbformat.v4.new_output("execute_result", data={"text/plain": "2"}, execution_count=3)]),
        nbformat.v4.new_code_cell("x = 1", execution_count=4),
    ])
    path = tmp_path / "dirty.ipynb"
    nbformat.write(nb, path)
    problems = notebooks.stored_outputs(path)
    assert problems == ["dirty.ipynb: cell 1 has 1 stored output(s)",
                        "dirty.ipynb: cell 1 has execution count 3",
                        "dirty.ipynb: cell 2 has execution count 4"]
    assert notebooks.main(["check", str(path)]) == 1
    assert notebooks.strip_outputs(path) and notebooks.stored_outputs(path) == []
    assert notebooks.main(["check", str(path)]) == 0


def _execute(path: Path) -> Path:
    dst = notebooks.execute_notebook(path, EXECUTED / path.name, timeout=NOTEBOOK_TIME_CAP)
    _executed_this_run.add(path.name)
    return dst


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_executes_in_quick_mode(path):
    _execute(path)


@pytest.mark.slow
def test_the_book_builds_from_the_executed_notebooks():
    for path in NOTEBOOKS:  # run alone (-k book), it executes them itself, once each
        if path.name not in _executed_this_run:
            _execute(path)
    code = book.build_book(book_dir=REPO / "book", executed_dir=EXECUTED, execute="off", quiet=True)
    assert code == 0, "the book build failed; run `minitx book` to see the warnings"
    html = REPO / "book" / "_build" / "html"
    for path in NOTEBOOKS:
        assert (html / "chapters" / f"{path.stem}.html").is_file()


# ------------------------------------------------------ the machinery, on a temporary book

def demo_notebook(counter: Path, broken=False):
    """A small chapter: math, a figure, the quick-mode switch, and a run counter."""
    cells = [
        nbformat.v4.new_markdown_cell(
            "# Demo chapter\n\nInline math $\\sigma(z) = 1 / (1 + e^{-z})$ and a display:\n\n"
            "$$\n\\bar a = \\bar y \\, b^\\top\n$$"),
        nbformat.v4.new_code_cell(
            "import os, pathlib\n"
            f"counter = pathlib.Path({str(counter)!r})\n"
            "counter.write_text(counter.read_text() + 'x' if counter.exists() else 'x')\n"
            "print('quick mode:', os.environ.get('MINITX_QUICK'))"),
        nbformat.v4.new_code_cell(
            "import matplotlib.pyplot as plt\n"
            "fig, ax = plt.subplots(figsize=(3, 2))\n"
            "ax.plot([0, 1, 2], [0, 1, 4])\n"
            "plt.show()"),
    ]
    if broken:
        cells.append(nbformat.v4.new_code_cell("1 / 0"))
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    return nb


@pytest.fixture
def temp_book(tmp_path):
    shutil.copytree(REPO / "book", tmp_path / "book",
                    ignore=shutil.ignore_patterns("_build", "chapters"))
    (tmp_path / "notebooks").mkdir()
    return tmp_path


def build(root: Path, **kwargs) -> int:
    return book.build_book(out_dir=root / "html", notebooks_dir=root / "notebooks",
                           book_dir=root / "book", exercises_dir=REPO / "exercises",
                           quiet=True, **kwargs)


EXTERNAL = re.compile(r"<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)=\"(?:https?:)?//", re.I)


@pytest.mark.slow
def test_book_renders_figure_math_and_exercise_link_offline(temp_book):
    counter = temp_book / "runs.txt"
    nbformat.write(demo_notebook(counter), temp_book / "notebooks" / "00_demo.ipynb")
    notebooks.execute_notebook(temp_book / "notebooks" / "00_demo.ipynb",
                               temp_book / "executed" / "00_demo.ipynb", timeout=120)
    assert counter.read_text() == "x"
    assert build(temp_book, executed_dir=temp_book / "executed", execute="force") == 0
    assert counter.read_text() == "x", "the executed copy was run again"

    html_dir = temp_book / "html"
    page = (html_dir / "chapters" / "00_demo.html").read_text()
    assert "quick mode: 1" in page
    images = re.findall(r"<img[^>]*src=\"([^\"]+\.png)\"", page)
    assert images and all((html_dir / "chapters" / src).is_file() for src in images)
    assert re.search(r"class=\"math notranslate nohighlight\">\\\(\\sigma\(z\)", page)
    assert "\\bar a = \\bar y" in page
    assert 'src="../_static/mathjax/tex-chtml.js' in page
    assert (html_dir / "_static" / "mathjax" / "tex-chtml.js").is_file()
    assert 'href="exercises/ch00_demo.html"' in page
    assert "run minitx grade ch00" in re.sub(r"<[^>]+>", "", page)
    exercises = (html_dir / "chapters" / "exercises" / "ch00_demo.html").read_text()
    assert "sigmoid" in exercises and 'href="../00_demo.html"' in exercises
    for html in html_dir.rglob("*.html"):
        assert not EXTERNAL.search(html.read_text()), f"{html.name} loads something from the web"


@pytest.mark.slow
def test_a_broken_cell_fails_the_book_build(temp_book):
    counter = temp_book / "runs.txt"
    source = temp_book / "notebooks" / "00_demo.ipynb"
    nbformat.write(demo_notebook(counter), source)
    notebooks.execute_notebook(source, temp_book / "executed" / "00_demo.ipynb", timeout=120)
    nbformat.write(demo_notebook(counter, broken=True), source)  # the executed copy is stale now
    assert build(temp_book, executed_dir=temp_book / "executed", execute="force") != 0
    assert counter.read_text() == "xx", "the stale executed copy should have been run again"
    with pytest.raises(notebooks.NotebookError, match="ZeroDivisionError"):
        notebooks.execute_notebook(source, temp_book / "executed" / "00_demo.ipynb", timeout=120)
    assert not (temp_book / "executed" / "00_demo.ipynb").exists()


@pytest.mark.slow
def test_a_notebook_past_its_time_cap_fails(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import time\ntime.sleep(1)"),
                                         nbformat.v4.new_code_cell("time.sleep(30)")])
    nbformat.write(nb, tmp_path / "slow.ipynb")
    with pytest.raises(notebooks.NotebookError, match="time limit of 3 s"):
        notebooks.execute_notebook(tmp_path / "slow.ipynb", tmp_path / "out.ipynb", timeout=3)


def test_chapters_pair_with_exercise_sets_by_number(tmp_path):
    assert book.chapter_number("03_attention.ipynb") == 3
    assert book.chapter_number("intro.ipynb") is None
    (tmp_path / "nb").mkdir()
    nbformat.write(nbformat.v4.new_notebook(), tmp_path / "nb" / "intro.ipynb")
    with pytest.raises(ValueError, match="named NN_topic.ipynb"):
        book.prepare_chapters(tmp_path / "book", tmp_path / "nb", None, REPO / "exercises")
    (tmp_path / "nb" / "intro.ipynb").unlink()
    for name in ("00_demo", "42_unpaired"):
        nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# T")]),
                       tmp_path / "nb" / f"{name}.ipynb")
    written = book.prepare_chapters(tmp_path / "book", tmp_path / "nb", None, REPO / "exercises")
    assert [p.name for p in written] == ["00_demo.ipynb", "42_unpaired.ipynb"]
    demo = nbformat.read(written[0], as_version=4)
    assert "exercises/ch00_demo.md" in demo.cells[-1].source
    assert len(nbformat.read(written[1], as_version=4).cells) == 1  # no set, no link
    assert (tmp_path / "book" / "chapters" / "exercises" / "ch00_demo.md").is_file()
