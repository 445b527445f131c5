"""Hint tiers: every task of every exercise has its tiers, and none of them is the answer."""

from __future__ import annotations

import ast
import io
import re
import tokenize
from pathlib import Path

import pytest

from grader import hint_tiers
from grader.spec import available_exercises, load_spec

ROOT = Path(__file__).resolve().parents[1]
EXERCISES = available_exercises()


@pytest.fixture(scope="module")
def specs():
    return {ex: load_spec(ex) for ex in EXERCISES}


def _squeeze(text: str) -> str:
    """Code compared without whitespace or quote style, so reformatting hides nothing."""
    return re.sub(r"\s+", "", text).replace('"', "'")


def _is_asarray(node: ast.expr) -> bool:
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "asarray"
    )


def _is_guard(stmt: ast.stmt) -> bool:
    """Argument handling (``assert``, ``if ...: raise ...``, ``x = jnp.asarray(x)``): a body
    pasted without it still gives the answer away."""
    if isinstance(stmt, ast.Assert):
        return True
    if isinstance(stmt, ast.Assign):
        value = stmt.value
        values = value.elts if isinstance(value, ast.Tuple) else [value]
        return all(_is_asarray(v) for v in values)
    return (
        isinstance(stmt, ast.If)
        and not stmt.orelse
        and all(isinstance(s, ast.Raise) for s in stmt.body)
    )


def _bodies(path: Path) -> list[tuple[str, list[str]]]:
    """(name, normalised code lines) of every function body in a file.

    Lines are compared without whitespace, comments, the docstring and argument checks.
    """
    source = path.read_text(encoding="utf-8")
    lines = source.splitlines()
    comments = {
        tok.start[0]: tok.start[1]
        for tok in tokenize.generate_tokens(io.StringIO(source).readline)
        if tok.type == tokenize.COMMENT
    }
    out = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        body = node.body
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
            body = body[1:]  # the docstring
        body = [stmt for stmt in body if not _is_guard(stmt)]
        rows = [row for stmt in body for row in range(stmt.lineno, stmt.end_lineno + 1)]
        code = [_squeeze(lines[row - 1][: comments.get(row)]) for row in rows]
        out.append((node.name, [line for line in code if line]))
    return out


def _leaks(tier: str, bodies) -> list[str]:
    """Names of the functions (of three lines or more) whose whole body is in ``tier``."""
    text = _squeeze(tier)
    return [name for name, lines in bodies if len(lines) >= 3 and all(x in text for x in lines)]


def test_every_task_of_every_exercise_has_three_tiers(specs):
    missing = []
    for ex, spec in specs.items():
        tiers = hint_tiers.load(ex)
        missing += [
            f"{ex}/{task}: {len(tiers.get(task, []))} tiers"
            for task in spec.tasks
            if len(tiers.get(task, [])) < 3
        ]
    assert not missing, "tasks with fewer than 3 hint tiers:\n" + "\n".join(missing)


def test_hint_files_parse_and_name_only_real_tasks(specs):
    files = sorted(hint_tiers.hints_dir().glob("*.md"))
    assert files, "no hint files found"
    unknown = []
    for path in files:
        tiers = hint_tiers.load(path.stem)  # raises ValueError on a malformed file
        assert path.stem in specs, f"{path.name} is not the hints of an exercise with a spec"
        unknown += [f"{path.name}: {task}" for task in tiers if task not in specs[path.stem].tasks]
    assert not unknown, "hints for tasks the exercise does not have:\n" + "\n".join(unknown)


def test_no_tier_holds_a_whole_solution_body(specs):
    leaks = []
    for ex in specs:
        bodies = [
            b for path in sorted((ROOT / "solutions" / ex).glob("*.py")) for b in _bodies(path)
        ]
        assert bodies, f"no solution functions found for {ex}"
        for task, tiers in hint_tiers.load(ex).items():
            for number, tier in enumerate(tiers, start=1):
                leaks += [
                    f"{ex}/{task} tier {number} holds the body of {name}"
                    for name in _leaks(tier, bodies)
                ]
    assert not leaks, "\n".join(leaks)


def test_the_leak_check_catches_a_pasted_solution():
    path = ROOT / "solutions" / "q10" / "activations.py"
    bodies = _bodies(path)
    tree = ast.parse(path.read_text(encoding="utf-8"))
    softmax = next(n for n in tree.body if getattr(n, "name", "") == "softmax")
    source = ast.get_source_segment(path.read_text(encoding="utf-8"), softmax)
    pasted = "Try this:\n\n```python\n" + source.replace("    ", "  ") + "\n```"
    assert "softmax" in _leaks(pasted, bodies)
    assert _leaks("use jnp.max with keepdims=True", bodies) == []


# ---- the parser --------------------------------------------------------------------------

GOOD = """\
# q99 hints

## first_task
### 1
Look at the axis.

```python
# a comment, not a title
## not a task
### 7
```

### 2
The key idea.
#### a sub-heading stays text
### 3
~~~
## still code
~~~

## Second
### 1
only one tier
"""


@pytest.fixture
def hints_in(tmp_path, monkeypatch):
    monkeypatch.setenv("DLCORE_HINTS_DIR", str(tmp_path))

    def write(text: str) -> None:
        (tmp_path / "q99.md").write_text(text, encoding="utf-8")

    return write


def test_tiers_in_order_and_code_blocks_are_not_headings(hints_in):
    hints_in(GOOD)
    tiers = hint_tiers.load("q99")
    assert list(tiers) == ["first_task", "Second"]
    first = tiers["first_task"]
    assert len(first) == 3
    assert first[0].startswith("Look at the axis.\n\n```python\n# a comment")
    assert first[0].endswith("## not a task\n### 7\n```")
    assert first[1] == "The key idea.\n#### a sub-heading stays text"
    assert first[2] == "~~~\n## still code\n~~~"
    assert tiers["Second"] == ["only one tier"]


def test_no_file_gives_no_hints(hints_in):
    assert hint_tiers.load("q99") == {}


def test_an_exercise_id_is_a_plain_name(hints_in):
    with pytest.raises(ValueError, match="not an exercise name"):
        hint_tiers.load("../q99")


@pytest.mark.parametrize(
    "text, line, why",
    [
        ("# t\nsome words\n## a\n### 1\nx\n", 2, "before the first"),
        ("## a\n### 1\nx\n### 3\ny\n", 4, "expected '### 2'"),
        ("## a\n### 2\nx\n", 2, "expected '### 1'"),
        ("## a\n### one\nx\n", 2, "expected '### 1'"),
        ("## a\n### 1\nx\n### 2\n\n   \n## b\n### 1\ny\n", 4, "empty"),
        ("## a\n### 1\nx\n## a\n### 1\ny\n", 4, "twice"),
        ("## a\n### 1\nx\n## b\n", 4, "no tiers"),
        ("## a\nstray\n### 1\nx\n", 2, "before its '### 1'"),
        ("### 1\nx\n", 1, "before the first '## task'"),
        ("## a\n### 1\n```\n### 2\n", 3, "never closed"),
        ("## two words\n### 1\nx\n", 1, "identifier"),
        ("## a\n### 1\nx\n# title\n", 4, "title"),
    ],
)
def test_malformed_files_name_the_file_and_line(hints_in, text, line, why):
    hints_in(text)
    with pytest.raises(ValueError) as err:
        hint_tiers.load("q99")
    message = str(err.value)
    assert f"q99.md:{line}:" in message and why in message
