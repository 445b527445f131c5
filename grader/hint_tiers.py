"""Tiered hints: each task's hints, from a nudge to the key idea to the near-answer.

One Markdown file per exercise, ``qNN.md``, in ``$DLCORE_HINTS_DIR`` when that is set, else
in ``grader/hints/`` next to this module::

    # q10 hints

    ## softmax
    ### 1
    a nudge
    ### 2
    the key idea
    ### 3
    the near-answer

An optional ``#`` title, then one ``## task`` section per task, each holding tiers
``### 1``, ``### 2``, ... in order. Tier text is any Markdown; lines inside fenced code
blocks are never headings, so ``# a comment`` in a code block stays text. Deeper headings
(``####``) are tier text too.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

_HEADING = re.compile(r"^(#{1,3})(?:[ \t]+(.*?))?[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_NAME = re.compile(r"^[A-Za-z0-9_\-]+$")


def hints_dir() -> Path:
    """The folder holding the hint files: ``$DLCORE_HINTS_DIR``, else ``grader/hints``."""
    env = os.environ.get("DLCORE_HINTS_DIR")
    return Path(env) if env else Path(__file__).resolve().parent / "hints"


def load(exercise_id: str) -> dict[str, list[str]]:
    """Task -> its hint tiers in order (tier 1 first), from ``qNN.md``; ``{}`` with no file.

    Raises ``ValueError`` naming ``file:line`` when the file is malformed: text outside a
    tier, a second ``#`` title, a task name that is not a Python identifier, tier numbers
    not ``1..n`` in order, an empty tier, a task without tiers, a task named twice, or a
    code fence left open; and ``ValueError`` for an ``exercise_id`` that is not a plain
    name (no path separators).
    """
    if not _NAME.match(exercise_id):
        raise ValueError(f"not an exercise name: {exercise_id!r}")
    path = hints_dir() / f"{exercise_id}.md"
    if not path.is_file():
        return {}
    return parse(path.read_text(encoding="utf-8"), str(path))


def parse(text: str, where: str = "<hints>") -> dict[str, list[str]]:
    """Parse the text of one hint file; ``where`` names it in error messages."""
    tasks: dict[str, list[str]] = {}
    task = None  # (name, line) of the open task
    tier = None  # (number, line, text lines) of the open tier
    fence = None  # (marker, line) of the open code fence
    titled = False

    def fail(line: int, message: str) -> ValueError:
        return ValueError(f"{where}:{line}: {message}")

    def close_tier():
        nonlocal tier
        if tier is not None:
            number, line, body = tier
            lines = [i for i, text in enumerate(body) if text.strip()]
            if not lines:
                raise fail(line, f"tier {number} of task {task[0]!r} is empty")
            tasks[task[0]].append("\n".join(body[lines[0] : lines[-1] + 1]))
            tier = None

    def close_task():
        close_tier()
        if task is not None and not tasks[task[0]]:
            raise fail(task[1], f"task {task[0]!r} has no tiers (expected '### 1' after it)")

    for lineno, raw in enumerate(text.splitlines(), start=1):
        heading = None
        if fence is not None:
            marker = raw.strip()
            if marker.startswith(fence[0]) and not marker.strip(fence[0][0]):
                fence = None
        elif m := _FENCE.match(raw):
            fence = (m.group(1), lineno)
        elif m := _HEADING.match(raw):
            heading = len(m.group(1)), (m.group(2) or "").strip()
        if heading is None:
            if tier is not None:
                tier[2].append(raw)
            elif raw.strip():
                place = "before the first '## task'"
                if task is not None:
                    place = f"in task {task[0]!r} before its '### 1'"
                raise fail(lineno, f"text {place}")
            continue
        level, title = heading
        if level == 1:
            if titled or task is not None:
                raise fail(lineno, "a '#' title is only allowed once, before the first task")
            titled = True
        elif level == 2:
            close_task()
            if not title.isidentifier():
                raise fail(lineno, f"task name {title!r} is not a Python identifier")
            if title in tasks:
                raise fail(lineno, f"task {title!r} appears twice")
            tasks[title] = []
            task = (title, lineno)
        else:
            if task is None:
                raise fail(lineno, "a tier heading before the first '## task'")
            close_tier()
            expected = len(tasks[task[0]]) + 1
            if title != str(expected):
                raise fail(
                    lineno,
                    f"tier heading '### {title}' of task {task[0]!r}: expected '### {expected}'",
                )
            tier = (expected, lineno, [])
    if fence is not None:
        raise fail(fence[1], "code fence opened here is never closed")
    close_task()
    return tasks
