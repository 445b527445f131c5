"""Reports: the terminal table, Gradescope-style JSON, and JUnit XML."""

from __future__ import annotations

import json
import re
from xml.sax.saxutils import escape, quoteattr

from grader.results import ExerciseResult

_LABEL = {
    "pass": "PASS",
    "wrong": "WRONG",
    "error": "ERROR",
    "not_implemented": "TODO",
    "timeout": "TIMEOUT",
    "memory": "MEMORY",
    "crash": "CRASH",
    "forbidden": "FORBIDDEN",
    "tamper": "TAMPER",
    "internal": "INTERNAL",
}
_COLOR = {"pass": "32", "not_implemented": "33", "wrong": "31", "error": "31"}
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def clean(text: str) -> str:
    """Escapes terminal control characters (ANSI escapes, ``\\r``) so none reach the report,
    and lone surrogates, which no terminal or file encoding can write."""
    text = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _fmt_score(x: float) -> str:
    return f"{x:g}"


def terminal(results: list[ExerciseResult], *, color: bool, verbose: bool = False) -> str:
    paint = (lambda s, c: f"\x1b[{c}m{s}\x1b[0m") if color else (lambda s, c: s)
    lines = []
    for ex in results:
        lines.append(paint(f"{ex.exercise} {ex.title}", "1") + f"  ({clean(ex.path)})")
        shown_todo = set()
        for c in ex.checks:
            todo = [x for x in ex.checks if x.task == c.task]
            if all(x.status == "not_implemented" for x in todo):
                if c.task not in shown_todo:
                    shown_todo.add(c.task)
                    waits = sorted(
                        {
                            x.message[len("needs ") :].split(",")[0]
                            for x in todo
                            if x.message.startswith("needs ")
                        }
                    )
                    what = f"waiting for {', '.join(waits)}" if waits else "not implemented yet"
                    waiting = f"{len(todo)} check{'s' if len(todo) != 1 else ''} waiting"
                    lines.append(f"  {paint('TODO', '33'):<9} {c.task}: {what} ({waiting})")
                continue
            label = _LABEL.get(c.status, c.status.upper())
            pad = " " * (9 - len(label))
            lines.append(f"  {paint(label, _COLOR.get(c.status, '31'))}{pad} {clean(c.name)}")
            if c.status != "pass":
                for part in clean(c.message).splitlines() or [""]:
                    lines.append(f"            {part}")
                if c.hint:
                    lines.append(f"            hint: {clean(c.hint)}")
            elif verbose:
                lines.append(f"            {clean(c.description)} ({c.seconds:.2f} s)")
        n_pass = sum(c.status == "pass" for c in ex.checks)
        tasks = sorted({c.task for c in ex.checks})
        done = [t for t in tasks if all(c.status == "pass" for c in ex.checks if c.task == t)]
        lines.append(
            f"  score {_fmt_score(ex.score)}/{_fmt_score(ex.max_score)}: "
            f"{n_pass} of {len(ex.checks)} checks, {len(done)} of {len(tasks)} tasks "
            f"pass ({ex.seconds:.1f} s on {ex.backend})"
        )
        notes = list(ex.notes)
        if verbose and not any(n.startswith("worker confinement") for n in notes):
            notes.append(f"worker confinement: {ex.confinement}")
        for note in notes:
            lines.append(f"  note: {clean(note)}")
        lines.append("")
    if len(results) > 1:
        total = sum(r.score for r in results)
        out_of = sum(r.max_score for r in results)
        ok = sum(r.passed for r in results)
        lines.append(
            f"total {_fmt_score(total)}/{_fmt_score(out_of)}: {ok} of {len(results)} exercises pass"
        )
    return "\n".join(lines)


def as_json(results: list[ExerciseResult]) -> str:
    """One Gradescope ``results.json`` document (plus ``exercise``, ``task``, ``kind``)."""
    tests = []
    for ex in results:
        for c in ex.checks:
            out = c.message + (f"\nhint: {c.hint}" if c.hint else "")
            tests.append(
                {
                    "name": f"{ex.exercise} {c.name}" if len(results) > 1 else c.name,
                    "score": c.score,
                    "max_score": c.max_score,
                    "status": "passed" if c.status == "pass" else "failed",
                    "grader_status": c.status,
                    "output": clean(out) if out else c.description,
                    "visibility": "visible",
                    "task": c.task,
                    "kind": c.kind,
                    "exercise": ex.exercise,
                    "submission": ex.path,
                }
            )
    doc = {
        "score": sum(r.score for r in results),
        "max_score": sum(r.max_score for r in results),
        "execution_time": round(sum(r.seconds for r in results), 3),
        "output": "; ".join(
            f"{r.exercise} {r.title}: {_fmt_score(r.score)}/{_fmt_score(r.max_score)}"
            for r in results
        ),
        "exercise": results[0].exercise if len(results) == 1 else [r.exercise for r in results],
        "confinement": sorted({r.confinement for r in results}),
        "submissions": [
            {
                "exercise": r.exercise,
                "path": r.path,
                "score": r.score,
                "max_score": r.max_score,
                "notes": r.notes,
            }
            for r in results
        ],
        "tests": tests,
    }
    return json.dumps(doc, indent=2, sort_keys=True)


def as_junit(results: list[ExerciseResult]) -> str:
    parts = ['<?xml version="1.0" encoding="UTF-8"?>', "<testsuites>"]
    for ex in results:
        fails = sum(c.status != "pass" for c in ex.checks)
        parts.append(
            f"  <testsuite name={quoteattr(ex.exercise + ' ' + ex.title)} "
            f'tests="{len(ex.checks)}" failures="{fails}" time="{ex.seconds:.3f}">'
        )
        for c in ex.checks:
            attrs = (
                f"classname={quoteattr(ex.exercise + '.' + c.task)} "
                f'name={quoteattr(c.name)} time="{c.seconds:.3f}"'
            )
            if c.status == "pass":
                parts.append(f"    <testcase {attrs}/>")
            else:
                body = escape(clean(c.message + (f"\nhint: {c.hint}" if c.hint else "")))
                parts.append(
                    f"    <testcase {attrs}><failure type={quoteattr(c.status)} "
                    f"message={quoteattr(c.status)}>{body}</failure></testcase>"
                )
        parts.append("  </testsuite>")
    parts.append("</testsuites>")
    return "\n".join(parts)
