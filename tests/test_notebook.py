"""``from grader import check`` in a real Jupyter kernel: the shipped example notebook runs
top to bottom and its last cell shows the grader's report, as HTML and as plain text."""

from __future__ import annotations

import json
import re
import sys
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from grader.spec import load_spec

pytestmark = pytest.mark.worker
ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "examples" / "notebook_check.ipynb"
FAILING = {"WRONG", "ERROR", "TIMEOUT", "CRASH", "MEMORY", "FORBIDDEN", "TODO", "TAMPER"}

# cells a learner might add after the example's own: mistakes that cannot travel to the
# worker, the namespace= form, and a bad exercise id
EXTRA = [
    'SCALE = jnp.ones(3)\n\ndef tanh(x):\n    return jnp.tanh(x) * SCALE.sum() / 3\n\n'
    'check("q10", tanh=tanh, sigmoid=lambda x: x)',
    'check("q10", namespace=globals(), task="relu")',
    'try:\n    check("q99", relu=relu)\nexcept ValueError as e:\n    print("ValueError:", e)',
]


class _Rows(HTMLParser):
    """The report table's rows: per cell, its text outside and inside ``<pre>``."""

    def __init__(self):
        super().__init__()
        self.rows, self.cell, self.in_pre = [], None, False

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self.rows.append([])
        elif tag == "td":
            self.cell = ([], [])
        self.in_pre = self.in_pre or tag == "pre"

    def handle_endtag(self, tag):
        if tag == "pre":
            self.in_pre = False
        if tag == "td" and self.cell is not None:
            self.rows[-1].append(tuple("".join(part) for part in self.cell))
            self.cell = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell[self.in_pre].append(data)


def _verdicts_html(html: str) -> list[tuple[str, str, str]]:
    """(label, check name, details) per verdict row of the HTML report."""
    parser = _Rows()
    parser.feed(html)
    return [(label, name, detail) for (label, _), (name, detail) in
            (r for r in parser.rows if len(r) == 2 and r[0][0])]


def _verdicts_text(text: str) -> list[tuple[str, str]]:
    return re.findall(r"^  ([A-Z_]+) +(\w+: .*)$", text, flags=re.M)


def _run(tmp_path) -> nbformat.NotebookNode:
    """Runs the example notebook plus EXTRA in a fresh kernel on this interpreter, with
    this checkout's grader first on its path and a cache of its own."""
    spec_dir = tmp_path / "jupyter" / "kernels" / "dlcore-test"
    spec_dir.mkdir(parents=True)
    (spec_dir / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "dlcore test", "language": "python",
        "env": {"PYTHONPATH": str(ROOT), "DLCORE_GRADER_CACHE": str(tmp_path / "cache")},
    }))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nb.cells += [nbformat.v4.new_code_cell(code) for code in EXTRA]
    client = NotebookClient(nb, kernel_name="dlcore-test", timeout=180,
                            resources={"metadata": {"path": str(NOTEBOOK.parent)}})
    client.execute()
    return nb


def _result(cell) -> dict:
    shown = [o for o in cell.outputs if o.output_type == "execute_result"]
    assert len(shown) == 1, cell.outputs
    return shown[0].data


@pytest.fixture(scope="module")
def notebook(tmp_path_factory, monkeypatch_module):
    tmp = tmp_path_factory.mktemp("notebook")
    monkeypatch_module.setenv("JUPYTER_PATH", str(tmp / "jupyter"))
    monkeypatch_module.setenv("JUPYTER_PLATFORM_DIRS", "1")
    return _run(tmp)


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as mp:
        yield mp


def _weights(task: str) -> float:
    return sum(c.weight for c in load_spec("q10").checks if c.task == task)


def test_the_example_grades_relu_right_and_softmax_wrong_in_html_and_text(notebook):
    data = _result(next(c for c in notebook.cells if c.source.startswith('check("q10", relu')))
    spec = load_spec("q10")
    names = {t: [c.name for c in spec.checks if c.task == t] for t in ("relu", "softmax")}

    rows = _verdicts_html(data["text/html"])
    assert {name.split(":")[0] for _, name, _ in rows} == {"relu", "softmax"}
    assert [(label, name) for label, name, _ in rows if name.startswith("relu:")] == [
        ("PASS", n) for n in names["relu"]]
    softmax = {name: (label, detail) for label, name, detail in rows
               if name.startswith("softmax:")}
    label, detail = softmax["softmax: matches jax.nn.softmax"]
    assert label in FAILING and "finite" in detail
    score = re.search(r"score ([\d.]+)/([\d.]+)", data["text/html"])
    assert float(score.group(2)) == _weights("relu") + _weights("softmax")
    assert _weights("relu") <= float(score.group(1)) < float(score.group(2))

    lines = _verdicts_text(data["text/plain"])
    assert [(lab, n) for lab, n in lines if n.startswith("relu:")] == [
        ("PASS", n) for n in names["relu"]]
    assert dict((n, lab) for lab, n in lines)["softmax: matches jax.nn.softmax"] == label
    assert "\x1b[" not in data["text/plain"]
    assert f"score {score.group(1)}/{score.group(2)}" in data["text/plain"]


def test_mistakes_show_as_failing_checks_and_a_bad_exercise_as_a_clear_error(notebook):
    mistakes, by_namespace, bad_id = notebook.cells[-3:]
    text = _result(mistakes)["text/plain"]
    assert "ERROR" in text and "'SCALE'" in text and "inside tanh" in text
    assert "sigmoid is a lambda" in text
    assert f"score 0/{_weights('tanh') + _weights('sigmoid'):g}" in text
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert not any(o.output_type == "error" for c in code for o in c.outputs)

    rows = _verdicts_html(_result(by_namespace)["text/html"])
    assert rows and all(label == "PASS" and name.startswith("relu:") for label, name, _ in rows)

    printed = "".join(o.get("text", "") for o in bad_id.outputs)
    assert printed.startswith("ValueError: unknown exercise 'q99'")
