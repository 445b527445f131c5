"""Tiered hints per task, read from ``qNN.md`` (a minimal reader of the agreed format).

The files live in ``$DLCORE_HINTS_DIR`` when it is set, else in ``grader/hints/``::

    # q10 hints

    ## softmax
    ### 1
    a nudge
    ### 2
    the key idea

Headings inside fenced code blocks are tier text, not structure.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

_HEADING = re.compile(r"^(#{1,3})[ \t]+(.*?)[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(```|~~~)")


def hints_dir() -> Path:
    """``$DLCORE_HINTS_DIR`` when set, else ``grader/hints`` next to this module."""
    env = os.environ.get("DLCORE_HINTS_DIR")
    return Path(env) if env else Path(__file__).resolve().parent / "hints"


def load(exercise_id: str) -> dict[str, list[str]]:
    """Task -> its tiers in order; ``{}`` when the exercise has no hint file.

    Raises ``ValueError`` naming ``file:line`` for text outside a tier, tiers not numbered
    1, 2, ... in order, or an empty tier.
    """
    path = hints_dir() / f"{exercise_id}.md"
    if not re.fullmatch(r"[A-Za-z0-9_.\-]+", exercise_id) or not path.is_file():
        return {}
    tasks: dict[str, list[str]] = {}
    task, body, start, fenced = None, None, 0, False

    def close() -> None:
        if body is not None:
            text = "\n".join(body).strip("\n")
            if not text.strip():
                raise ValueError(f"{path}:{start}: tier {len(tasks[task])} of {task} is empty")
            tasks[task][-1] = text

    for n, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if _FENCE.match(raw):
            fenced = not fenced
        m = None if fenced or _FENCE.match(raw) else _HEADING.match(raw)
        if m and len(m.group(1)) == 2:
            close()
            task, body = m.group(2), None
            tasks.setdefault(task, [])
        elif m and len(m.group(1)) == 3 and task is not None:
            close()
            if m.group(2) != str(len(tasks[task]) + 1):
                raise ValueError(f"{path}:{n}: expected tier {len(tasks[task]) + 1} of {task}")
            tasks[task].append("")
            body, start = [], n
        elif body is not None:
            body.append(raw)
        elif raw.strip() and not (m and len(m.group(1)) == 1 and task is None):
            raise ValueError(f"{path}:{n}: text outside a tier (expected '## task', '### 1')")
    close()
    return {t: tiers for t, tiers in tasks.items() if tiers}
