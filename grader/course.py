"""The learner's side of the grader: progress, hints in tiers, reset, the solution diff.

    python -m grader status                   # or just: python -m grader
    python -m grader hint q10 softmax [--all | --tier N]
    python -m grader reset q10 [--task softmax]

State lives under ``references.cache_root(opts) / "progress"``:

- ``results/qNN.json``: the last result of every check of the exercise. A grading is kept
  when it is a self-check (not ``--instructor``), ran to the end (not interrupted), and
  graded the learner's own copy: a folder ``qNN`` inside a folder named ``exercises``. So
  ``python -m grader solutions/q10`` or a class folder never counts as the learner's work.
  A grading of some tasks (``--task``, or one file) updates only their checks; a grading of
  a different ``exercises/qNN`` folder than the stored one starts the record afresh.
- ``hints.json``: how many hint tiers of each ``qNN/task`` were shown.

The course's order and the titles of exercises still to come are read from ``COURSE.md``
at the repository root; an exercise is available when the grader has its spec.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import importlib.util
import json
import os
import re
import sys
import time
from pathlib import Path

from grader import references
from grader.spec import available_exercises, load_spec

ROOT = Path(__file__).resolve().parent.parent
COURSE_MAP = ROOT / "COURSE.md"
DIFF_LINES = 80  # a longer diff is cut, and the report says so
_QNN = re.compile(r"^q\d\d$")
_ROW = re.compile(r"^\|\s*(q\d\d)\s*\|\s*(.*?)\s*\|\s*(.*?)\s*\|\s*(\w+)\s*\|\s*$")


class LearnerError(Exception):
    """Bad input to a learner command: reported as one ``grader: ...`` line, exit 2."""


# ---- the course map ------------------------------------------------------------------------


def course() -> list[tuple[str, str]]:
    """``[(id, title)]`` in course order: COURSE.md's table, then any exercise it lacks."""
    rows = []
    if COURSE_MAP.is_file():
        for line in COURSE_MAP.read_text(encoding="utf-8").splitlines():
            m = _ROW.match(line)
            if m:
                rows.append((m.group(1), m.group(2)))
    listed = {r[0] for r in rows}
    for ex in available_exercises():
        if ex not in listed:
            rows.append((ex, load_spec(ex).title))
    return rows


# ---- the store -----------------------------------------------------------------------------


def progress_dir(opts) -> Path:
    return references.cache_root(opts) / "progress"


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)


def is_learner_folder(folder: Path, exercise: str) -> bool:
    """True for the learner's copy of an exercise: ``.../exercises/qNN``."""
    return folder.name == exercise and folder.parent.name == "exercises"


def _folder(result) -> Path:
    return Path(os.path.abspath(result.path))


def record(results, opts) -> None:
    """Keeps each result that is the learner's own self-check (see the module docstring)."""
    if opts.instructor:
        return
    for r in results:
        folder = _folder(r)
        if r.incomplete or not _QNN.match(r.exercise) or not is_learner_folder(folder, r.exercise):
            continue
        path = progress_dir(opts) / "results" / f"{r.exercise}.json"
        old = _read_json(path)
        checks = old.get("checks", {}) if old.get("folder") == str(folder) else {}
        for c in r.checks:
            checks[c.id] = {
                "task": c.task,
                "name": c.name,
                "status": c.status,
                "score": c.score,
                "max_score": c.max_score,
            }
        spec = load_spec(r.exercise)
        try:
            _write_json(
                path,
                {
                    "exercise": r.exercise,
                    "title": r.title,
                    "folder": str(folder),
                    "when": time.time(),
                    "checks": checks,
                    "all_checks": {c.id: float(c.weight) for c in spec.checks},
                },
            )
        except OSError as e:  # a read-only cache never costs the learner the report
            print(f"grader: could not keep progress in {path.parent}: {e}", file=sys.stderr)


def stored(exercise: str, opts) -> dict:
    return _read_json(progress_dir(opts) / "results" / f"{exercise}.json")


def standing(record_: dict) -> tuple[float, float, bool]:
    """(score, out of, done) of a stored record over every check of its exercise."""
    every = record_.get("all_checks") or {}
    checks = record_.get("checks") or {}
    score = sum(float(checks[i].get("score", 0.0)) for i in every if i in checks)
    done = bool(every) and all(checks.get(i, {}).get("status") == "pass" for i in every)
    return score, float(sum(every.values())), done


def _done(opts) -> set[str]:
    return {ex for ex in available_exercises() if standing(stored(ex, opts))[2]}


def next_exercise(opts, after: str | None = None) -> str | None:
    """The first available exercise not done, in course order, counting from after ``after``."""
    order = [ex for ex, _ in course() if ex in set(available_exercises())]
    if after in order:
        i = order.index(after) + 1
        order = order[i:] + order[:i]
    done = _done(opts)
    return next((ex for ex in order if ex not in done and ex != after), None)


def _shown(path: Path) -> str:
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return str(path)
    return rel if len(rel) <= len(str(path)) else str(path)


def _exercise_path(exercise: str, learner_dir: Path | None) -> str:
    for base in (learner_dir, Path("exercises"), ROOT / "exercises"):
        if base is not None and (base / exercise).is_dir():
            return _shown(Path(os.path.abspath(base / exercise)))
    return exercise


# ---- status --------------------------------------------------------------------------------


def status(opts) -> str:
    """The course with the learner's standing in each exercise, and what to do next."""
    have = set(available_exercises())
    rows, newest = [], (0.0, None)
    for ex, title in course():
        rec = stored(ex, opts) if ex in have else {}
        if rec.get("when", 0) > newest[0]:
            newest = (rec["when"], Path(rec["folder"]).parent)
        if ex not in have:
            state = "coming"
        elif not rec:
            state = "not started"
        else:
            score, out_of, done = standing(rec)
            state = f"{score:g}/{out_of:g}" + ("  done" if done else "")
        rows.append((ex, title, state))
    width = max(len(t) for _, t, _ in rows)
    done = sum(r[2].endswith("done") for r in rows)
    lines = [
        f"dlcore course: {done} of {len(have)} available exercises done "
        f"({len(rows) - len(have)} more coming; COURSE.md says what each teaches)",
        "",
    ]
    lines += [f"  {ex}  {title:<{width}}  {state}" for ex, title, state in rows]
    nxt = next_exercise(opts)
    lines.append("")
    if nxt is None:
        lines.append("every available exercise is done")
    else:
        lines.append(f"next: python -m grader {_exercise_path(nxt, newest[1])}")
    return "\n".join(lines)


# ---- after a grading: the reference solution and the next exercise -------------------------


def after_report(results, opts) -> list[list[str]]:
    """Lines to print after each result: once the learner's own exercise passes every
    check, where its reference solution is, a diff against it, and the next exercise.

    Never in instructor mode, and never for a folder that is not the learner's copy.
    """
    from grader.report import clean

    out = []
    for r in results:
        folder = _folder(r)
        if (
            opts.instructor
            or r.incomplete
            or not r.passed
            or not _QNN.match(r.exercise)
            or not is_learner_folder(folder, r.exercise)
        ):
            out.append([])
            continue
        score, out_of, done = standing(stored(r.exercise, opts))
        if not done:
            out.append(
                [
                    f"  the exercise stands at {score:g}/{out_of:g}: grade the whole folder "
                    f"(python -m grader {_shown(folder)}) once every task is written"
                ]
            )
            continue
        lines = []
        for name in load_spec(r.exercise).files:
            ref = ROOT / "solutions" / r.exercise / name
            if ref.is_file():
                lines.append(f"reference solution: {_shown(ref)}")
                lines += [clean(x) for x in solution_diff(folder / name, ref)]
        nxt = next_exercise(opts, after=r.exercise)
        lines.append(
            "next: "
            + (
                f"python -m grader {_exercise_path(nxt, folder.parent)}"
                if nxt
                else "every available exercise is done"
            )
        )
        out.append(lines)
    return out


def solution_diff(mine: Path, ref: Path, limit: int = DIFF_LINES) -> list[str]:
    """A unified diff of the learner's file against the reference, cut after ``limit``."""
    try:
        a = mine.read_text(encoding="utf-8", errors="replace").splitlines()
        b = ref.read_text(encoding="utf-8").splitlines()
    except OSError as e:
        return [f"  (no diff: {e})"]
    diff = list(difflib.unified_diff(a, b, f"{_shown(mine)} (yours)", _shown(ref), lineterm=""))
    if not diff:
        return [f"  your {mine.name} is the reference, line for line"]
    if len(diff) > limit:
        return diff[:limit] + [
            f"(diff cut after {limit} lines, {len(diff) - limit} more: "
            f"open {_shown(ref)} for the rest)"
        ]
    return diff


# ---- hints ---------------------------------------------------------------------------------


def _exercise_id(name: str) -> str:
    ex = Path(name.rstrip("/")).name
    if ex not in available_exercises():
        raise LearnerError(
            f"unknown exercise {name!r}: the grader knows {', '.join(available_exercises())}"
        )
    return ex


def hint(exercise: str, task: str | None, opts, *, every: bool, tier: int | None) -> int:
    from grader import hint_tiers

    ex = _exercise_id(exercise)
    tasks = list(load_spec(ex).tasks)
    try:
        tiers = hint_tiers.load(ex)
    except ValueError as e:
        raise LearnerError(f"the hint file is malformed: {e}") from None
    state_path = progress_dir(opts) / "hints.json"
    state = _read_json(state_path)
    if task is None:
        print(f"{ex} hints (python -m grader hint {ex} TASK shows the next one):")
        for t in tasks:
            n = len(tiers.get(t, []))
            seen = min(int(state.get(f"{ex}/{t}", 0)), n)
            print(f"  {t}: " + (f"{seen} of {n} shown" if n else "no hints yet"))
        return 0
    if task not in tasks:
        raise LearnerError(f"{ex} has no task {task!r} (tasks: {', '.join(tasks)})")
    mine = tiers.get(task, [])
    if not mine:
        print(
            f"grader: no hints for {ex} {task} yet; exercises/{ex}/README.md explains the task",
            file=sys.stderr,
        )
        return 1
    key, n = f"{ex}/{task}", len(mine)
    seen = min(int(state.get(key, 0)), n)
    if tier is not None and not 1 <= tier <= n:
        raise LearnerError(f"{ex} {task} has {n} hint tier{'s' * (n != 1)}: --tier takes 1 to {n}")
    if every:
        if not seen:
            print(
                f"no hints of {ex} {task} shown yet: python -m grader hint {ex} {task} "
                "shows the first"
            )
            return 0
        show = list(range(1, seen + 1))
    elif tier is not None:
        show = [tier]
    elif seen >= n:
        print(
            f"no more hints for {ex} {task}: all {n} shown. See them again with "
            f"python -m grader hint {ex} {task} --all"
        )
        return 0
    else:
        show = [seen + 1]
    for k in show:
        print(f"{ex} {task}: hint {k} of {n}\n")
        print(mine[k - 1].rstrip("\n") + "\n")
    if max(show) > seen:
        state[key] = max(show)
        try:
            _write_json(state_path, state)
        except OSError as e:
            print(f"grader: could not remember the hint in {state_path}: {e}", file=sys.stderr)
    if max(seen, *show) < n:
        print(f"(next: python -m grader hint {ex} {task})")
    elif max(show) > seen:
        print("(that was the last hint; the README and the failing check's message remain)")
    return 0


# ---- reset ---------------------------------------------------------------------------------


def _generator():
    """tools/gen_exercises.py, which derives every stub from dlcore (tools/ is no package)."""
    if "gen_exercises" in sys.modules:
        return sys.modules["gen_exercises"]
    path = ROOT / "tools" / "gen_exercises.py"
    if not path.is_file():
        raise LearnerError(f"cannot rebuild the stub: {path} is missing from this checkout")
    spec = importlib.util.spec_from_file_location("gen_exercises", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["gen_exercises"] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def stub_texts(exercise: str) -> dict[str, str]:
    """File name -> the pristine stub text of each file of the exercise."""
    gen = _generator()
    try:
        made = gen.generate(load_spec(exercise))
    except gen.GenerationError as e:
        raise LearnerError(f"cannot rebuild the stub of {exercise}: {e}") from None
    return {p.name: text for p, text in made.items() if p.parent.parent.name == "exercises"}


def _reset_target(target: str) -> tuple[str, Path, list[str] | None]:
    path = Path(target)
    if _QNN.match(target) and not path.exists():
        path = Path("exercises", target)
        if not path.is_dir():
            path = ROOT / "exercises" / target
    if not path.exists():
        if _QNN.match(path.name) and path.name not in available_exercises():
            _exercise_id(path.name)
        raise LearnerError(f"no such file or folder: {target}")
    path = Path(os.path.abspath(path))
    only = None
    if path.is_file():
        only, path = [path.name], path.parent
    if path.parent.name == "solutions" or path.resolve().parent == (ROOT / "solutions").resolve():
        raise LearnerError(
            f"{target} is a reference solution, not your work: reset restores "
            "the stubs of exercises/qNN"
        )
    if not _QNN.match(path.name):
        raise LearnerError(f"{target} is not an exercise folder (qNN)")
    return _exercise_id(path.name), path, only


def _top_def(tree: ast.Module, name: str):
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and (
            node.name == name
        ):
            return min([node.lineno] + [d.lineno for d in node.decorator_list]), node.end_lineno
    return None


def replace_def(source: str, stub: str, name: str, filename: str) -> str:
    """``source`` with its top-level def ``name`` replaced by the stub's (added if absent)."""
    try:
        tree = ast.parse(source)
    except SyntaxError as e:
        raise LearnerError(
            f"{filename} does not parse (line {e.lineno}: {e.msg}), so {name} "
            "cannot be found in it: fix that line, or reset the whole file "
            "without --task"
        ) from None
    s_lines = stub.splitlines()
    start, end = _top_def(ast.parse(stub), name)
    new = s_lines[start - 1 : end]
    found = _top_def(tree, name)
    lines = source.splitlines(keepends=True)
    if found is None:
        return source.rstrip("\n") + "\n\n\n" + "\n".join(new) + "\n"
    nl = "\r\n" if lines[found[1] - 1].endswith("\r\n") else "\n"
    return "".join(lines[: found[0] - 1] + [x + nl for x in new] + lines[found[1] :])


def _backup(path: Path) -> Path:
    """Copies ``path`` to ``NAME.bak-YYYYMMDD-HHMMSS`` beside it; never overwrites one."""
    data = path.read_bytes()
    base = f"{path.name}.bak-{time.strftime('%Y%m%d-%H%M%S')}"
    for k in range(1, 1000):
        dest = path.with_name(base if k == 1 else f"{base}-{k}")
        try:
            with open(dest, "xb") as fh:
                fh.write(data)
            return dest
        except FileExistsError:
            continue
    raise LearnerError(f"too many backups of {path.name} this second")


def reset(target: str, tasks: list[str] | None) -> int:
    exercise, folder, only = _reset_target(target)
    spec = load_spec(exercise)
    names = [n for n in spec.files if only is None or n in only]
    if not names:
        raise LearnerError(
            f"{only[0]} is not a file of {exercise} (its files: {', '.join(spec.files)})"
        )
    stubbable = {
        r.rsplit(":", 1)[1]: f for f, fs in spec.files.items() for r in (*fs.tasks, *fs.parts)
    }
    for t in tasks or ():
        if t not in stubbable:
            raise LearnerError(f"{exercise} has no task {t!r} (tasks: {', '.join(stubbable)})")
    for name in names:  # before the (slow) stub generation: a file --task cannot edit
        path = folder / name
        if tasks and path.is_file() and any(stubbable[t] == name for t in tasks):
            try:
                ast.parse(path.read_bytes())
            except SyntaxError as e:
                raise LearnerError(
                    f"{name} does not parse (line {e.lineno}: {e.msg}), so "
                    "--task cannot find a function in it: fix that line, or "
                    "reset the whole file without --task"
                ) from None
    stubs = stub_texts(exercise)
    plan = {}  # file -> new text
    for name in names:
        path = folder / name
        mine = [t for t in tasks or () if stubbable[t] == name]
        if tasks and not mine:
            continue
        if not path.is_file():
            plan[name] = stubs[name]
            continue
        text = path.read_text(encoding="utf-8", errors="surrogateescape")
        new = text
        for t in mine:
            new = replace_def(new, stubs[name], t, name)
        plan[name] = new if tasks else stubs[name]
    for name, new in plan.items():
        path = folder / name
        what = ", ".join(t for t in tasks or () if stubbable[t] == name) or "every task"
        if not path.is_file():
            path.write_text(new, encoding="utf-8")
            print(f"{_shown(path)} was missing: wrote the stub")
            continue
        if path.read_text(encoding="utf-8", errors="surrogateescape") == new:
            print(f"{_shown(path)}: {what} already matches the stub, nothing to do")
            continue
        saved = _backup(path)
        print(f"saved your {name} as {_shown(saved)}")
        path.write_text(new, encoding="utf-8", errors="surrogateescape")
        print(f"restored the stub of {what} in {_shown(path)}")
    return 0


# ---- the command line ----------------------------------------------------------------------

COMMANDS = ("status", "hint", "reset")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m grader",
        description="The learner's commands (grading: python -m grader exercises/qNN).",
    )
    sub = p.add_subparsers(dest="command", required=True)

    def cache(q):
        q.add_argument(
            "--cache-dir",
            metavar="DIR",
            help="where the grader keeps its caches "
            "and your progress (default $DLCORE_GRADER_CACHE or "
            "~/.cache/dlcore-grader)",
        )

    cache(sub.add_parser("status", help="the course, your last scores, the next exercise"))
    h = sub.add_parser("hint", help="the next hint of a task, one tier at a time")
    h.add_argument("exercise", metavar="QNN")
    h.add_argument("task", nargs="?", metavar="TASK")
    which = h.add_mutually_exclusive_group()
    which.add_argument("--all", action="store_true", help="show again every tier seen so far")
    which.add_argument("--tier", type=int, metavar="N", help="show tier N")
    cache(h)
    r = sub.add_parser("reset", help="bring back the stub (your file is backed up first)")
    r.add_argument("target", metavar="QNN", help="q10, exercises/q10, or a file inside it")
    r.add_argument(
        "--task",
        action="append",
        metavar="NAME",
        help="reset only this function (repeatable); the rest of the file stays",
    )
    return p


def main(argv: list[str]) -> int:
    """``status`` (also with no argument), ``hint`` and ``reset``."""
    import types

    args = _parser().parse_args(argv or ["status"])
    opts = types.SimpleNamespace(cache_dir=getattr(args, "cache_dir", None), instructor=False)
    try:
        if args.command == "status":
            print(status(opts))
            return 0
        if args.command == "hint":
            if args.task is None and (args.all or args.tier is not None):
                raise LearnerError(
                    "--all and --tier need a TASK: python -m grader hint "
                    f"{args.exercise} TASK --all"
                )
            return hint(args.exercise, args.task, opts, every=args.all, tier=args.tier)
        return reset(args.target, args.task)
    except LearnerError as e:
        print(f"grader: {e}", file=sys.stderr)
        return 2
