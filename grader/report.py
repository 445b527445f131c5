"""Reports: the terminal table, Gradescope-style JSON, and JUnit XML."""

from __future__ import annotations

import json
import os
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


def want_color(stream) -> bool:
    """Colours only on a terminal, and never when ``NO_COLOR`` is set (no-color.org)."""
    return stream.isatty() and not os.environ.get("NO_COLOR")


class ProgressLine:
    """``q13: 12/29 checks``, rewritten in place on a terminal while checks run."""

    def __init__(self, stream):
        self.stream = stream
        self.shown = False

    def __call__(self, exercise: str, done: int, total: int) -> None:
        self.stream.write(f"\r\x1b[2K{exercise}: {done}/{total} checks")
        self.stream.flush()
        self.shown = True

    def clear(self) -> None:
        if self.shown:
            self.stream.write("\r\x1b[2K")
            self.stream.flush()
            self.shown = False


def terminal(results: list[ExerciseResult], *, color: bool, verbose: bool = False,
             after: list[list[str]] | None = None) -> str:
    """The human report. A fully passing exercise gets one summary line instead of a line
    per check, unless ``verbose``; ``after[i]`` are lines printed below result ``i``."""
    paint = (lambda s, c: f"\x1b[{c}m{s}\x1b[0m") if color else (lambda s, c: s)
    lines = []
    for i, ex in enumerate(results):
        lines.append(paint(f"{ex.exercise} {ex.title}", "1") + f"  ({clean(ex.path)})")
        common = _shared_failure(ex)
        tasks = list(dict.fromkeys(c.task for c in ex.checks))
        if common is not None:  # one mistake (a syntax error, a bad import) fails everything
            c = common
            lines.append(f"  {paint(_LABEL.get(c.status, c.status.upper()), '31')}"
                         f"{' ' * (9 - len(_LABEL.get(c.status, c.status)))} all "
                         f"{len(ex.checks)} checks:")
            lines += _detail(c)
        elif ex.passed and not verbose and not ex.incomplete:
            what = tasks[0] if len(tasks) == 1 else f"{len(tasks)} tasks"
            lines.append(f"  {paint('PASS', '32')}      all {len(ex.checks)} checks of {what} "
                         "pass (-v lists them)")
            for task in tasks:
                if ex.task_output.get(task):
                    lines += _output_lines(task, ex.task_output[task])
        else:
            tiers = _hinted_tasks(ex.exercise)
            for task in tasks:
                lines += _task_lines(ex, task, paint, verbose)
                mine = [c for c in ex.checks if c.task == task]
                if task in tiers and any(c.status not in ("pass", "not_implemented")
                                         for c in mine):
                    lines.append(f"            more help: python -m grader hint {ex.exercise} "
                                 f"{task}")
        if ex.task_output.get("(import)"):
            lines += _output_lines("(import)", ex.task_output["(import)"])
        lines.append(_score_line(ex))
        notes = list(ex.notes)
        if ex.incomplete:
            notes.insert(0, "INCOMPLETE: grading was interrupted; checks not reached score 0")
        if verbose and not any(n.startswith("worker confinement") for n in notes):
            notes.append(f"worker confinement: {ex.confinement}")
        lines += [f"  note: {clean(n)}" for n in notes]
        if after and i < len(after):
            lines += after[i]
        lines.append("")
    if len(results) > 1:
        total = sum(r.score for r in results)
        out_of = sum(r.max_score for r in results)
        ok = sum(r.passed for r in results)
        lines.append(
            f"total {_fmt_score(total)}/{_fmt_score(out_of)}: {ok} of {len(results)} exercises pass"
        )
    return "\n".join(lines)


def _hinted_tasks(exercise: str) -> set[str]:
    """The tasks of an exercise that have hint tiers (none when its hint file is broken)."""
    from grader import hint_tiers

    try:
        return {t for t, tiers in hint_tiers.load(exercise).items() if tiers}
    except (ValueError, OSError):
        return set()


def _shared_failure(ex):
    """The one failure every check shares (same status and message), if any."""
    first = ex.checks[0] if ex.checks else None
    if first is None or first.status in ("pass", "not_implemented") or len(ex.checks) < 2:
        return None
    same = all(c.status == first.status and c.message == first.message for c in ex.checks)
    return first if same else None


def _detail(c) -> list[str]:
    out = [f"            {part}" for part in clean(c.message).splitlines() or [""]]
    if c.hint:
        out.append(f"            hint: {clean(c.hint)}")
    return out


def _task_lines(ex, task, paint, verbose) -> list[str]:
    mine = [c for c in ex.checks if c.task == task]
    lines = []
    if all(c.status == "not_implemented" for c in mine):
        waits = sorted({c.message[len("needs "):].split(",")[0] for c in mine
                        if c.message.startswith("needs ")})
        what = f"waiting for {', '.join(waits)}" if waits else "not implemented yet"
        lines.append(f"  {paint('TODO', '33'):<9} {task}: {what} "
                     f"({len(mine)} check{'s' if len(mine) != 1 else ''} waiting)")
    else:
        repeats: dict[tuple, list] = {}
        for c in mine:
            if c.status != "pass":
                repeats.setdefault((c.status, c.message), []).append(c)
        for c in mine:
            label = _LABEL.get(c.status, c.status.upper())
            pad = " " * (9 - len(label))
            group = repeats.get((c.status, c.message), [c])
            if c.status != "pass" and group[0] is not c:
                continue
            lines.append(f"  {paint(label, _COLOR.get(c.status, '31'))}{pad} {clean(c.name)}")
            if c.status != "pass":
                lines += _detail(c)
                if len(group) > 1:
                    others = ", ".join(x.id.split("/", 1)[1] for x in group[1:])
                    lines.append(f"            (the same for {len(group) - 1} more: {others})")
            elif verbose:
                lines.append(f"            {clean(c.description)} ({c.seconds:.2f} s)")
    if ex.task_output.get(task):
        lines += _output_lines(task, ex.task_output[task])
    return lines


def _output_lines(task: str, text: str) -> list[str]:
    shown = text.rstrip("\n").splitlines()
    head = "printed while importing" if task == "(import)" else f"{task} printed"
    out = [f"            {head}:"]
    out += [f"            | {clean(line)}" for line in shown[:40]]
    if len(shown) > 40:
        out.append(f"            | ... ({len(shown) - 40} more lines)")
    return out


def _score_line(ex) -> str:
    n_pass = sum(c.status == "pass" for c in ex.checks)
    tasks = sorted({c.task for c in ex.checks})
    done = [t for t in tasks if all(c.status == "pass" for c in ex.checks if c.task == t)]
    return (f"  score {_fmt_score(ex.score)}/{_fmt_score(ex.max_score)}: "
            f"{n_pass} of {len(ex.checks)} checks, {len(done)} of {len(tasks)} tasks "
            f"pass ({ex.seconds:.1f} s on {ex.backend})")


def _json_output(r) -> str:
    text = f"{r.exercise} {r.title}: {_fmt_score(r.score)}/{_fmt_score(r.max_score)}"
    if r.incomplete:
        text += " (INCOMPLETE: grading was interrupted)"
    for task, printed in r.task_output.items():
        text += f"\n[{task} printed]\n" + clean(printed)
    return text


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
                    "id": c.id,
                    "exercise": ex.exercise,
                    "submission": ex.path,
                }
            )
    doc = {
        "score": sum(r.score for r in results),
        "max_score": sum(r.max_score for r in results),
        "execution_time": round(sum(r.seconds for r in results), 3),
        "output": "\n".join(_json_output(r) for r in results),
        "incomplete": any(r.incomplete for r in results),
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


def as_junit_students(pairs: list[tuple[str, ExerciseResult]]) -> str:
    """JUnit XML for a class: one testsuite per student and exercise, named
    ``<student> <exercise> <title>``; test cases are classed ``<student>.<exercise>.<task>``."""
    parts = ['<?xml version="1.0" encoding="UTF-8"?>', "<testsuites>"]
    for student, ex in pairs:
        fails = sum(c.status != "pass" for c in ex.checks)
        parts.append(
            f"  <testsuite name={quoteattr(clean(f'{student} {ex.exercise} {ex.title}'))} "
            f'tests="{len(ex.checks)}" failures="{fails}" time="{ex.seconds:.3f}">'
        )
        for c in ex.checks:
            attrs = (f"classname={quoteattr(clean(f'{student}.{ex.exercise}.{c.task}'))} "
                     f'name={quoteattr(clean(c.name))} time="{c.seconds:.3f}"')
            if c.status == "pass":
                parts.append(f"    <testcase {attrs}/>")
            else:
                body = escape(clean(c.message + (f"\nhint: {c.hint}" if c.hint else "")))
                parts.append(f"    <testcase {attrs}><failure type={quoteattr(c.status)} "
                             f"message={quoteattr(c.status)}>{body}</failure></testcase>")
        parts.append("  </testsuite>")
    parts.append("</testsuites>")
    return "\n".join(parts)
