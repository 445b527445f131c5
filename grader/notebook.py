"""Grading functions written in a Jupyter notebook: ``from grader import check``.

    check("q10", softmax=softmax)          # grade the tasks given by keyword
    check("q10", namespace=globals())      # grade every task the notebook defines

The functions are graded exactly as ``python -m grader`` grades a file: each given function
is turned back into source text, written with what it needs from the notebook into a file
laid out as the exercise (``<cache>/notebook/qNN/<file>.py``), and that file goes through
:func:`grader.run.grade`, so the same forbidden-call rules, the same separate confined worker
(which imports the text and never unpickles anything) and the same checks apply. Only the
tasks given are graded, as with ``--task``.

What a function needs from the notebook travels with it (see :mod:`grader.notebook_source`):
modules, functions and classes defined in the notebook, and plain constants. Anything else,
an array say, cannot be sent; the task then fails with a message naming the variable.
"""

from __future__ import annotations

import dataclasses
import difflib
import fcntl
import html
import os

from grader import report
from grader.notebook_source import build_files, from_notebook
from grader.results import ExerciseResult


def _spec(exercise):
    from grader.spec import available_exercises, load_spec

    ex_id = os.path.basename(os.path.normpath(str(exercise)))
    known = available_exercises()
    if ex_id not in known:
        raise ValueError(f"unknown exercise {exercise!r}: the grader knows {', '.join(known)}")
    return load_spec(ex_id)


def _pick(spec, namespace, functions, task) -> tuple[dict, list[str]]:
    """({name: object} to send, the tasks to grade)."""
    names = spec.references  # what probes may call: tasks, stubbed parts and helpers
    for key in functions:
        if key not in names:
            close = difflib.get_close_matches(key, list(spec.tasks), n=1)
            extra = f" (did you mean {close[0]}?)" if close else ""
            raise ValueError(f"{spec.id} has no task {key!r}{extra}; its tasks are "
                             f"{', '.join(spec.tasks)}")
    chosen = dict(functions)
    if namespace is not None:
        if not hasattr(namespace, "get"):
            raise ValueError("namespace= takes a dict of names, such as globals()")
        for key in names:
            obj = namespace.get(key)
            if key in chosen or obj is None or not (callable(obj) or isinstance(obj, type)):
                continue
            if key in spec.tasks or from_notebook(obj):
                chosen[key] = obj
    graded = [t for t in spec.tasks if t in chosen]
    if task is not None:
        wanted = [task] if isinstance(task, str) else list(task)
        for t in wanted:
            if t not in spec.tasks:
                raise ValueError(f"{spec.id} has no task {t!r}; its tasks are "
                                 f"{', '.join(spec.tasks)}")
            if t not in chosen:
                raise ValueError(f"task {t!r} was not given: pass {t}={t} or "
                                 "namespace=globals()")
        graded = [t for t in graded if t in wanted]
    if not graded:
        raise ValueError(f"nothing to grade: pass your functions by task name, as in "
                         f"check({spec.id!r}, {next(iter(spec.tasks))}=...), or "
                         f"namespace=globals(); {spec.id}'s tasks are {', '.join(spec.tasks)}")
    return chosen, graded


@dataclasses.dataclass
class NotebookResult(ExerciseResult):
    """An :class:`~grader.results.ExerciseResult` that Jupyter shows as the grader's report:
    HTML in the notebook, the plain-text report as ``str``/``repr``."""

    verbose: bool = False

    def __str__(self) -> str:
        return report.terminal([self], color=False, verbose=self.verbose)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        return _html(self, self.verbose)


_HTML_COLOR = {"pass": "#1a7f37", "not_implemented": "#9a6700"}


def _html(ex: ExerciseResult, verbose: bool) -> str:
    esc = lambda s: html.escape(report.clean(s))  # noqa: E731
    rows = []
    for task in dict.fromkeys(c.task for c in ex.checks):
        mine = [c for c in ex.checks if c.task == task]
        shown: set[tuple] = set()
        for c in mine:
            if c.status != "pass" and (c.status, c.message) in shown:
                continue
            shown.add((c.status, c.message))
            same = [x.id.split("/", 1)[1] for x in mine if x is not c and x.status == c.status
                    and x.message == c.message] if c.status != "pass" else []
            label = report._LABEL.get(c.status, c.status.upper())
            color = _HTML_COLOR.get(c.status, "#cf222e")
            detail = c.message + (f"\nhint: {c.hint}" if c.hint else "")
            if same:
                detail += f"\n(the same for {len(same)} more: {', '.join(same)})"
            if c.status == "pass":
                detail = c.description if verbose else ""
            body = f"<pre style='margin:2px 0;white-space:pre-wrap'>{esc(detail)}</pre>" \
                if detail else ""
            rows.append(f"<tr><td style='color:{color};font-weight:bold;vertical-align:top'>"
                        f"{label}</td><td style='text-align:left'>{esc(c.name)}{body}</td></tr>")
        if ex.task_output.get(task):
            rows.append(f"<tr><td></td><td style='text-align:left'>{esc(task)} printed:<pre>"
                        f"{esc(ex.task_output[task][:8000])}</pre></td></tr>")
    n_pass = sum(c.status == "pass" for c in ex.checks)
    notes = (["INCOMPLETE: grading was interrupted; checks not reached score 0"]
             if ex.incomplete else []) + list(ex.notes)
    return (f"<div class='dlcore-grader'><p><b>{esc(ex.exercise)} {esc(ex.title)}</b> "
            f"({esc(ex.path)})</p><table>{''.join(rows)}</table>"
            f"<p><b>score {ex.score:g}/{ex.max_score:g}</b>: {n_pass} of {len(ex.checks)} "
            f"checks pass ({ex.seconds:.1f} s on {esc(ex.backend)})</p>"
            + "".join(f"<p>note: {esc(n)}</p>" for n in notes) + "</div>")


def check(exercise, namespace=None, *, task=None, seed: int = 0, verbose: bool = False,
          cache_dir: str | None = None, **functions) -> NotebookResult:
    """Grades notebook functions as ``python -m grader`` grades an exercise's file.

    Args:
      exercise: the exercise id, ``"q10"`` (or its folder, ``"exercises/q10"``).
      namespace: names to look the exercise's tasks up in, usually ``globals()``.
      task: grade only this task (or these tasks) of the ones given.
      seed: the seed of the check inputs, as ``--seed``.
      verbose: describe passing checks too, as ``-v``.
      cache_dir: where the grader's caches live (default as for the command line).
      **functions: task functions by task name, ``softmax=my_softmax``; these win over
        ``namespace``.

    Returns:
      A :class:`NotebookResult` (``.score``, ``.max_score``, ``.passed``, ``.checks``) that
      a notebook shows as the HTML report. A mistake in the functions is a failing check,
      never an exception; an unknown exercise or task, or nothing to grade, raises
      ``ValueError``.
    """
    spec = _spec(exercise)
    chosen, graded = _pick(spec, namespace, functions, task)
    # what the graded checks call; a task given but not graded stays out of the file
    needed = set(spec.references) - set(spec.tasks) | set(graded)
    needed |= {t for c in spec.checks if c.task in graded for t in c.uses}
    sent = {k: v for k, v in chosen.items() if k in needed}
    texts, problems = build_files(spec, sent)
    result = _grade(spec, texts, [t for t in graded if t not in problems], seed, cache_dir)
    from grader import verdicts

    found = {c.id: c for c in result.checks}
    checks = []
    for c in spec.checks:
        if c.task not in graded:
            continue
        if c.task in problems:
            checks.append(verdicts.make(c, "error", *problems[c.task]))
        elif c.id in found:
            checks.append(_name_missing(found[c.id], spec, set(sent) - set(problems), problems))
    result.checks = checks
    result.notes += [f"{name} was not sent: {msg}" for name, (msg, _) in problems.items()
                     if name not in spec.tasks]  # a helper that probes call
    fields = {f.name: getattr(result, f.name) for f in dataclasses.fields(ExerciseResult)}
    return NotebookResult(**fields, verbose=verbose)


def _name_missing(c, spec, sent, problems):
    """A check that also calls a task that was not sent says how to send it."""
    for t in spec.tasks:
        if t not in sent and c.message.startswith(f"{t} is missing in "):
            why = f"could not be sent ({problems[t][0]})" if t in problems else "was not given"
            c.message = f"this check also calls {t}, which {why}"
            c.hint = problems[t][1] if t in problems else \
                f"pass it too: check({spec.id!r}, ..., {t}={t})"
    return c


def _grade(spec, texts, runnable, seed, cache_dir) -> ExerciseResult:
    from grader import references
    from grader.run import Options, grade

    opts = Options(seed=seed, cache_dir=cache_dir)
    if not runnable:
        return ExerciseResult(exercise=spec.id, title=spec.title, path="notebook", checks=[])
    sub = dataclasses.replace(spec, checks=tuple(c for c in spec.checks if c.task in runnable))
    # one folder per exercise, so the worker's compilation cache (keyed by the folder in
    # self-check mode) serves the next call; a lock keeps two kernels from sharing it at once
    folder = references.cache_root(opts) / "notebook" / spec.id
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder.parent / f"{spec.id}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        files = []
        for fname, text in texts.items():
            path = folder / fname
            path.write_text(text, encoding="utf-8")
            files.append(str(path))
        return grade(sub, str(folder), files, opts, "notebook")
