"""Grading a class: who each submission belongs to, progress, and the instructor's files.

A class folder holds one folder per student, each holding that student's ``qNN`` folders
(at any depth): ``submissions/alice/q10``, ``submissions/bob/hw1/q10``. The student's name
is the first folder below the class folder. Every student is graded on every exercise
found in the class: a student whose ``q10`` folder is missing (or who has no exercise
folder at all) gets ``not found`` verdicts worth 0, so the gradebook has a row for each.
Folders whose names start with ``.`` or ``_`` (``.git``, ``__MACOSX``) are not students.

Outside a class folder (``exercises/q10``, ``solutions/``, a folder given with
``--exercise``), the student is the folder that holds the exercise folder, or the graded
folder itself when its name is not ``qNN``.

``--output-dir DIR`` writes, each file atomically (a temporary file, then a rename):
``DIR/<student>/results.json`` (Gradescope's format, one document per student),
``DIR/gradebook.csv``, ``DIR/junit.xml``, ``DIR/report.md`` and ``DIR/report.html`` (the
class report: score distribution and what to reteach), and ``DIR/scores.png`` when
matplotlib is installed.
"""

from __future__ import annotations

import csv
import dataclasses
import html
import io
import os
import re
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from grader import report
from grader.results import ExerciseResult

_QNN = re.compile(r"^q\d\d$")


@dataclasses.dataclass
class Roster:
    """What to grade, and whose each target is (``students[i]`` owns ``targets[i]``)."""

    targets: list
    students: list[str]
    notes: list[str]
    homes: dict[str, set[str]] = dataclasses.field(default_factory=dict)

    def add(self, target: tuple, student: str, home: Path) -> None:
        self.targets.append(target)
        self.students.append(student)
        self.homes.setdefault(student, set()).add(str(home))

    def check_names(self) -> None:
        """``ValueError`` when two submissions from different places have one student name
        (their files in ``--output-dir`` would overwrite each other)."""
        for student, homes in self.homes.items():
            if len(homes) > 1:
                raise ValueError(f"two submissions belong to a student named {student!r} "
                                 f"({', '.join(sorted(_shown(h) for h in homes))}): grade "
                                 "them in separate runs")


def roster(found: list[tuple[str, tuple]]) -> Roster:
    """``found`` pairs each command-line target with one ``(exercise, folder, only)`` it
    resolved to; class folders get their missing students' exercises added."""
    groups: dict[str, list] = {}
    for arg, target in found:
        groups.setdefault(arg, []).append(target)
    out = Roster([], [], [])
    for arg, targets in groups.items():
        base = Path(os.path.abspath(arg))
        rels = [Path(os.path.relpath(folder, base)) for _, folder, _ in targets]
        if base.is_dir() and all(len(r.parts) >= 2 and r.parts[0] != ".." for r in rels):
            _add_class(out, base, targets, [r.parts[0] for r in rels])
            continue
        for target in targets:
            folder = Path(target[1])
            home = folder.parent if _QNN.match(folder.name) else folder
            out.add(target, home.name, home)
    return out


def _add_class(out: Roster, base: Path, targets: list, names: list[str]) -> None:
    have: dict[tuple[str, str], tuple] = {}
    for target, name in sorted(zip(targets, names, strict=True),
                               key=lambda tn: len(Path(tn[0][1]).parts)):
        key = (name, target[0])
        if key in have:
            out.notes.append(f"{name} has more than one {target[0]} folder: graded "
                             f"{_shown(have[key][1])}, not {_shown(target[1])}")
            continue
        have[key] = target
    exercises = sorted({t[0] for t in targets})
    everyone = set(names) | {d.name for d in base.iterdir()
                             if d.is_dir() and d.name[:1] not in "._"}
    for name in sorted(everyone):
        for ex in exercises:
            out.add(have.get((name, ex)) or (ex, base / name / ex, None), name, base / name)


def _shown(folder) -> str:
    try:
        return os.path.relpath(folder)
    except ValueError:
        return str(folder)


def default_jobs(n_targets: int) -> int:
    """One at a time for a single submission; otherwise one per usable core."""
    if n_targets <= 1:
        return 1
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:
        return max(os.cpu_count() or 1, 1)


def check_output_dir(path: str, graded: list[str]) -> Path:
    """The output folder, or ``ValueError`` saying why it cannot be one: a file, or a
    folder inside what is being graded (its files would become part of a submission)."""
    out = Path(os.path.abspath(path))
    if out.exists() and not out.is_dir():
        raise ValueError(f"--output-dir {path} is a file, not a folder")
    real = os.path.realpath(out)
    for target in graded:
        top = os.path.realpath(target)
        if os.path.isdir(top) and (real == top or real.startswith(top.rstrip(os.sep) + os.sep)):
            raise ValueError(f"--output-dir {path} is inside {target}, which is being graded: "
                             "pick a folder outside it")
    parent = out
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f"--output-dir {path}: {parent} is not a writable folder")
    return out


class Progress:
    """``graded 12/30, ~40 s left`` on stderr: rewritten in place on a terminal, one line
    per submission otherwise (a log keeps them all). Safe to call from worker threads."""

    def __init__(self, total: int, students: list[str], stream=None):
        self.total, self.done_count = total, 0
        self.stream = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty()
        self.t0 = time.monotonic()
        self.lock = threading.Lock()
        self.names = students

    def done(self, result: ExerciseResult, index: int) -> ExerciseResult:
        with self.lock:
            self.done_count += 1
            n, elapsed = self.done_count, time.monotonic() - self.t0
            who = f"{self.names[index]} {result.exercise}" if self.names else result.exercise
            line = (f"graded {n}/{self.total} ({who}: {report._fmt_score(result.score)}/"
                    f"{report._fmt_score(result.max_score)})")
            if n < self.total:
                line += f", ~{elapsed / n * (self.total - n):.0f} s left"
            else:
                line += f", {elapsed:.0f} s in all"
            if self.tty:
                self.stream.write("\r\x1b[K" + line + ("\n" if n == self.total else ""))
            else:
                self.stream.write(line + "\n")
            self.stream.flush()
        return result

    def close(self) -> None:
        """Ends an in-place line that an interruption left open."""
        with self.lock:
            if self.tty and 0 < self.done_count < self.total:
                self.stream.write("\n")
                self.stream.flush()


# -- the instructor's files --------------------------------------------------------------


def write_outputs(out: Path, results: list[ExerciseResult], who: Roster) -> list[Path]:
    """Every file of ``--output-dir`` for the results graded (all of them, or those done
    before an interruption); returns the paths written."""
    owner = {_shown(t[1]): s for t, s in zip(who.targets, who.students, strict=True)}
    students = [owner.get(r.path, Path(r.path).parent.name) for r in results]
    by_student: dict[str, list[ExerciseResult]] = {}
    for r, s in zip(results, students, strict=True):
        by_student.setdefault(s, []).append(r)
    written = []
    for student, mine in by_student.items():
        written.append(_write(out / student / "results.json", report.as_json(mine) + "\n"))
    pairs = list(zip(students, results, strict=True))
    written.append(_write(out / "gradebook.csv", gradebook(by_student)))
    written.append(_write(out / "junit.xml", report.as_junit_students(pairs) + "\n"))
    summary = Summary.of(by_student)
    png = _plot(out / "scores.png", summary)
    summary.plot = png is not None
    written.append(_write(out / "report.md", summary.markdown()))
    written.append(_write(out / "report.html", summary.html()))
    return written + ([png] if png else [])


def _write(path: Path, text) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = text.encode("utf-8") if isinstance(text, str) else text
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path


def _columns(by_student: dict[str, list[ExerciseResult]]) -> list[tuple[str, str]]:
    """(exercise, task) in exercise order, tasks in spec order."""
    seen: dict[tuple[str, str], None] = {}
    for rs in by_student.values():
        for r in rs:
            for c in r.checks:
                seen.setdefault((r.exercise, c.task), None)
    order = sorted({ex for ex, _ in seen})
    return [k for ex in order for k in seen if k[0] == ex]


def gradebook(by_student: dict[str, list[ExerciseResult]]) -> str:
    """One row per student: total, max, the score of each exercise's task, and notes."""
    cols = _columns(by_student)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["student", "total", "max", *[f"{ex}/{task}" for ex, task in cols], "notes"])
    for student, rs in sorted(by_student.items()):
        task_score = {(r.exercise, c.task): 0.0 for r in rs for c in r.checks}
        for r in rs:
            for c in r.checks:
                task_score[(r.exercise, c.task)] += c.score
        w.writerow([student, _num(sum(r.score for r in rs)), _num(sum(r.max_score for r in rs)),
                    *[_num(task_score[k]) if k in task_score else "" for k in cols],
                    "; ".join(_notes(rs))])
    return buf.getvalue()


def _notes(rs: list[ExerciseResult]) -> list[str]:
    out = []
    for r in rs:
        if r.incomplete:
            out.append(f"{r.exercise}: grading was interrupted")
        first = r.checks[0] if r.checks else None
        if (first is not None and first.status != "pass" and len(r.checks) > 1
                and all((c.status, c.message) == (first.status, first.message) for c in r.checks)):
            line = (first.message.splitlines() or [""])[0]
            out.append(f"{r.exercise}: {first.status}: {report.clean(line)[:120]}")
    return out


def _num(x: float) -> str:
    return report._fmt_score(x)


# -- the class report ----------------------------------------------------------------------

_NUMBER = re.compile(r"(?<![A-Za-z_\d])[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_SPACE = re.compile(r"\s+")


def normalise(message: str, path: str = "") -> str:
    """A failure message with the submission's path and every number taken out, so that
    messages differing only in values, shapes or positions group together."""
    if path:
        message = message.replace(path, "<submission>")
    return _SPACE.sub(" ", _NUMBER.sub("#", message)).strip()


@dataclasses.dataclass
class Failing:
    """A check some students failed: how many, and the most common way."""

    name: str
    failed: int
    status: str
    count: int  # students who failed it the most common way
    example: str


@dataclasses.dataclass
class Summary:
    students: dict[str, tuple[float, float, int]]  # score, max, checks failed
    exercises: list[str]
    tasks: list[tuple[str, float, float, int]]  # exercise/task, mean, max, full marks
    failing: list[Failing]
    plot: bool = False

    @classmethod
    def of(cls, by_student: dict[str, list[ExerciseResult]]) -> Summary:
        students = {s: (sum(r.score for r in rs), sum(r.max_score for r in rs),
                        sum(c.status != "pass" for r in rs for c in r.checks))
                    for s, rs in sorted(by_student.items())}
        titles = {r.exercise: r.title for rs in by_student.values() for r in rs}
        tasks = []
        for ex, task in _columns(by_student):
            got = [(sum(c.score for r in rs if r.exercise == ex for c in r.checks
                        if c.task == task),
                    sum(c.max_score for r in rs if r.exercise == ex for c in r.checks
                        if c.task == task)) for rs in by_student.values()]
            top = max(m for _, m in got)
            tasks.append((f"{ex}/{task}", statistics.mean(s for s, _ in got), top,
                          sum(s == top and top > 0 for s, _ in got)))
        return cls(students, [f"{e} {titles[e]}" for e in sorted(titles)], tasks,
                   _failing(by_student))

    def _stats(self) -> list[str]:
        n = len(self.students)
        if not n:
            return ["No submission was graded."]
        scores = [s for s, _, _ in self.students.values()]
        pct = [_pct(s, m) for s, m, _ in self.students.values()]
        top = max(m for _, m, _ in self.students.values())
        full = sum(s == m and m > 0 for s, m, _ in self.students.values())
        return [f"{n} student{'s' if n != 1 else ''}, {_num(top)} points each.",
                f"Mean {statistics.mean(scores):.1f} ({statistics.mean(pct):.0f}%), median "
                f"{_num(statistics.median(scores))} ({statistics.median(pct):.0f}%), lowest "
                f"{_num(min(scores))}, highest {_num(max(scores))}; {full} with full marks."]

    def histogram(self) -> list[tuple[str, int]]:
        """Students per band of the score in percent, top band first."""
        bands = [("100%", 0)] + [(f"{lo}-{lo + 9}%", 0) for lo in range(90, -1, -10)]
        counts = dict(bands)
        for s, m, _ in self.students.values():
            p = _pct(s, m)
            key = "100%" if p >= 100 else f"{int(p // 10) * 10}-{int(p // 10) * 10 + 9}%"
            counts[key] += 1
        return list(counts.items())

    def markdown(self) -> str:
        lines = ["# Class report", "", f"Exercises: {', '.join(self.exercises) or 'none'}.", ""]
        lines += self._stats() + ["", "## Score distribution", "",
                                  "| score | students | |", "|---|---:|---|"]
        lines += [f"| {band} | {k} | {'#' * k} |" for band, k in self.histogram()]
        if self.plot:
            lines += ["", "![score distribution](scores.png)"]
        lines += ["", "## What to reteach", "",
                  "Checks that students failed, the most failed first, with the most common "
                  "failure (messages that differ only in numbers count as one).", ""]
        if self.failing:
            lines += ["| check | failed | most common failure |", "|---|---:|---|"]
            n = len(self.students)
            lines += [f"| {_md(f.name)} | {f.failed} of {n} | {f.status} ({f.count} "
                      f"student{'s' if f.count != 1 else ''}): {_md(f.example)} |"
                      for f in self.failing]
        else:
            lines.append("Every student passed every check.")
        lines += ["", "## Tasks", "", "| task | mean | max | full marks |", "|---|---:|---:|---:|"]
        lines += [f"| {t} | {mean:.2f} | {_num(top)} | {full} |" for t, mean, top, full in
                  self.tasks]
        lines += ["", "## Students", "", "| student | score | max | checks failed |",
                  "|---|---:|---:|---:|"]
        lines += [f"| {_md(s)} | {_num(score)} | {_num(top)} | {bad} |"
                  for s, (score, top, bad) in self.students.items()]
        return "\n".join(lines) + "\n"

    def html(self) -> str:
        e = html.escape
        n = len(self.students)
        bands = self.histogram()
        widest = max([k for _, k in bands] + [1])
        rows = "".join(f"<tr><td>{e(band)}</td><td class=n>{k}</td><td><span class=bar "
                       f"style='width:{round(300 * k / widest)}px'></span></td></tr>"
                       for band, k in bands)
        fails = "".join(f"<tr><td>{e(f.name)}</td><td class=n>{f.failed} of {n}</td>"
                        f"<td><b>{e(f.status)}</b> ({f.count} student"
                        f"{'s' if f.count != 1 else ''}): <code>{e(f.example)}</code></td></tr>"
                        for f in self.failing)
        tasks = "".join(f"<tr><td>{e(t)}</td><td class=n>{mean:.2f}</td><td class=n>"
                        f"{_num(top)}</td><td class=n>{full}</td></tr>"
                        for t, mean, top, full in self.tasks)
        people = "".join(f"<tr><td>{e(s)}</td><td class=n>{_num(score)}</td><td class=n>"
                         f"{_num(top)}</td><td class=n>{bad}</td></tr>"
                         for s, (score, top, bad) in self.students.items())
        plot = "<p><img src='scores.png' alt='score distribution'></p>" if self.plot else ""
        reteach = (f"<table><tr><th>check</th><th>failed</th><th>most common failure</th></tr>"
                   f"{fails}</table>" if self.failing
                   else "<p>Every student passed every check.</p>")
        return (
            "<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>Class report</title>"
            "<style>body{font-family:sans-serif;margin:2em}td,th{padding:2px 8px;"
            "text-align:left;vertical-align:top}td.n{text-align:right}"
            ".bar{display:inline-block;height:0.8em;background:#48a}</style></head><body>\n"
            f"<h1>Class report</h1><p>Exercises: {e(', '.join(self.exercises) or 'none')}.</p>"
            + "".join(f"<p>{e(line)}</p>" for line in self._stats())
            + f"<h2>Score distribution</h2><table><tr><th>score</th><th>students</th><th></th>"
            f"</tr>{rows}</table>{plot}<h2>What to reteach</h2><p>Checks that students "
            "failed, the most failed first, with the most common failure (messages that "
            f"differ only in numbers count as one).</p>{reteach}"
            f"<h2>Tasks</h2><table><tr><th>task</th><th>mean</th><th>max</th>"
            f"<th>full marks</th></tr>{tasks}</table>"
            f"<h2>Students</h2><table><tr><th>student</th><th>score</th><th>max</th>"
            f"<th>checks failed</th></tr>{people}</table>\n</body></html>\n"
        )


def _failing(by_student: dict[str, list[ExerciseResult]]) -> list[Failing]:
    """Each check some student failed: how many students, and the way most of them did."""
    order: dict[tuple[str, str], int] = {}
    names: dict[tuple[str, str], str] = {}
    # check -> (status, normalised message) -> {student: that student's message}
    ways: dict[tuple[str, str], dict[tuple[str, str], dict[str, str]]] = {}
    for student, rs in by_student.items():
        for r in rs:
            for c in r.checks:
                key = (r.exercise, c.id)
                order.setdefault(key, len(order))
                names[key] = f"{r.exercise} {c.name}"
                if c.status != "pass":
                    text = c.message.replace(r.path, "<submission>") if r.path else c.message
                    how = ways.setdefault(key, {})
                    how.setdefault((c.status, normalise(c.message, r.path)), {}).setdefault(
                        student, text)
    out = []
    for key, how in sorted(ways.items(), key=lambda kv: order[kv[0]]):
        (status, _), examples = max(how.items(), key=lambda kv: len(kv[1]))
        first = report.clean((next(iter(examples.values())).strip().splitlines() or [""])[0])
        if len(first) > 200:
            first = first[:first.rfind(" ", 0, 200) if " " in first[:200] else 200] + " ..."
        failed = len({s for students in how.values() for s in students})
        out.append(Failing(names[key], failed, status, len(examples), first))
    out.sort(key=lambda f: -f.failed)  # stable: checks failed equally often keep spec order
    return out


def _pct(score: float, top: float) -> float:
    return 100.0 * score / top if top > 0 else 0.0


def _md(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _plot(path: Path, summary: Summary) -> Path | None:
    """A bar chart of the score distribution, when matplotlib is installed."""
    try:
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator
    except ImportError:
        return None
    bands = list(reversed(summary.histogram()))
    fig = Figure(figsize=(7, 3.5))
    ax = fig.subplots()
    ax.bar([b for b, _ in bands], [k for _, k in bands], color="#48a")
    ax.set_xlabel("score")
    ax.set_ylabel("students")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(f"{len(summary.students)} students")
    ax.tick_params(axis="x", labelrotation=45)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return _write(path, buf.getvalue())
