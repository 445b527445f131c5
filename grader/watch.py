"""``python -m grader exercises/q10 --watch``: grade again each time a file is saved.

The exercise's files are polled (modification time and size, every half second; no
dependency). After each grading the screen is cleared (on a terminal only), the report is
printed, and then what changed since the previous verdict: the checks that newly pass and
the ones that newly fail. Ctrl-C (or SIGTERM) stops watching: any worker still grading is
killed, and the exit code is that of the last complete verdict (0 when it passed).
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

from grader.results import ExerciseResult

POLL = 0.5  # seconds between two looks at the files
CLEAR = "\x1b[H\x1b[2J"
SHOWN = 12  # names listed per kind of change; the rest are counted


def stamps(files: list[Path]) -> dict[str, tuple[int, int] | None]:
    """Each file's (mtime in ns, size), or None when it does not exist."""
    out = {}
    for f in files:
        try:
            st = os.stat(f)
            out[str(f)] = (st.st_mtime_ns, st.st_size)
        except OSError:
            out[str(f)] = None
    return out


def wait_for_change(files: list[Path], seen: dict) -> None:
    """Returns once the files differ from ``seen`` and have stopped changing (an editor may
    write a file in several steps)."""
    now = seen
    while now == seen:
        time.sleep(POLL)
        now = stamps(files)
    while True:
        time.sleep(POLL / 2)
        later = stamps(files)
        if later == now:
            return
        now = later


def changes(before: ExerciseResult | None, after: ExerciseResult, paint) -> list[str]:
    """What differs between two verdicts of the same exercise, by check name."""
    if before is None:
        return []
    old = {c.id: c.status for c in before.checks}
    gained = [
        c.name for c in after.checks if c.status == "pass" and old.get(c.id, "pass") != "pass"
    ]
    lost = [c.name for c in after.checks if c.status != "pass" and old.get(c.id) == "pass"]
    head = (
        f"since the last verdict: score {before.score:g}/{before.max_score:g} -> "
        f"{after.score:g}/{after.max_score:g}"
    )
    if not gained and not lost:
        return [head + ", no check changed"]
    lines = [head]
    for label, names, color in (("newly passing", gained, "32"), ("newly failing", lost, "31")):
        if names:
            lines.append(f"  {paint(label, color)} ({len(names)}):")
            lines += [f"    {n}" for n in names[:SHOWN]]
            if len(names) > SHOWN:
                lines.append(f"    ... and {len(names) - SHOWN} more")
    return lines


def watch(
    target,
    files: list[Path],
    grade: Callable[[tuple], ExerciseResult],
    show: Callable[[list[ExerciseResult]], None],
    color: bool,
) -> int:
    """Grades ``target`` now and after every change of ``files`` until interrupted."""
    from grader import sandbox
    from grader.report import clean

    paint = (lambda s, c: f"\x1b[{c}m{s}\x1b[0m") if color else (lambda s, c: s)
    tty = sys.stdout.isatty()
    names = ", ".join(f.name for f in files)
    last, code = None, 1
    try:
        while True:
            seen = stamps(files)
            result = grade(target)
            if result.incomplete:  # interrupted while grading: that verdict is not one
                break
            if tty:
                sys.stdout.write(CLEAR)
            show([result])
            for line in changes(last, result, paint):
                print(line)
            print(f"\nwatching {clean(names)}: save to grade again, Ctrl-C to stop", flush=True)
            last, code = result, (0 if result.passed else 1)
            wait_for_change(files, seen)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C cannot cut the cleanup
        sandbox.kill_all()
    print("grader: stopped watching", file=sys.stderr)
    return code
