"""``python -m grader TARGET``: resolve what to grade, grade it, report, exit 0/1/2."""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import signal
import sys
from pathlib import Path

from grader.run import Options, grade
from grader.spec import available_exercises, load_spec

ROOT = Path(__file__).resolve().parent.parent
_QNN = re.compile(r"^q\d\d$")


class UsageError(Exception):
    pass


def _exercise_dir(path: Path) -> list[Path]:
    if _QNN.match(path.name):
        return [path]
    found = sorted(p for p in path.rglob("q[0-9][0-9]") if p.is_dir() and _QNN.match(p.name))
    # a folder of submissions: every qNN under it, but not qNN folders nested in a qNN
    return [p for p in found if not any(_QNN.match(a.name) for a in p.parents if a != p)]


def resolve(target: str, exercise: str | None = None) -> list[tuple[str, Path, list | None]]:
    """``[(exercise id, folder, only these files or None)]`` for one command-line target.

    ``exercise`` names the exercise of a folder whose name is not ``qNN`` (``--exercise``).
    Relative targets such as ``.`` or ``activations.py`` resolve from the current folder.
    """
    path = Path(target)
    if not path.exists() and _QNN.match(target):
        local = Path("exercises", target)
        path = local if local.is_dir() else ROOT / "exercises" / target
        if not path.is_dir():
            raise UsageError(f"unknown exercise {target!r}: no folder exercises/{target}")
    if not path.exists():
        if _QNN.match(path.name) and path.name not in available_exercises():
            raise UsageError(
                f"unknown exercise {path.name}: the grader knows {', '.join(available_exercises())}"
            )
        raise UsageError(f"no such file or folder: {target}")
    path = Path(os.path.abspath(path))  # "." and "file.py" get their real folder names
    only = None
    if path.is_file():
        only = [path.name]
        path = path.parent
    known = set(available_exercises())
    if exercise is not None:
        if exercise not in known:
            raise UsageError(f"--exercise {exercise}: the grader knows {', '.join(sorted(known))}")
        return [(exercise, path, only)]
    if only is not None and not _QNN.match(path.name):
        raise UsageError(f"{target} is not inside an exercise folder named qNN (pass "
                         "--exercise qNN to grade a folder of another name)")
    dirs = _exercise_dir(path)
    if not dirs:
        raise UsageError(f"{target} is neither an exercise folder (qNN) nor a folder holding "
                         "exercise folders (pass --exercise qNN to grade it as one)")
    out = []
    for d in dirs:
        if d.name not in known:
            if len(dirs) == 1:
                raise UsageError(
                    f"unknown exercise {d.name}: the grader knows {', '.join(sorted(known))}"
                )
            continue
        out.append((d.name, d, only))
    if not out:
        raise UsageError(f"no gradable exercise under {target}")
    return out


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m grader",
        description="Grade dlcore exercises: property checks of your functions against the "
        "reference, run in a separate worker process.",
    )
    p.add_argument(
        "targets",
        nargs="+",
        metavar="TARGET",
        help="exercises/q05, q05, solutions/q05, a file inside one, or a folder "
        "holding several qNN folders",
    )
    p.add_argument("--format", choices=("text", "json", "junit"), default="text")
    p.add_argument("--jobs", "-j", type=int, default=None, metavar="N",
                   help="grade N submissions at a time (default: one per core when there "
                   "are several, as in a class folder)")
    p.add_argument("--output-dir", metavar="DIR",
                   help="write one Gradescope results.json per student (DIR/<student>/), "
                   "gradebook.csv, junit.xml and a class report (report.md, report.html)")
    p.add_argument("--exercise", metavar="QNN",
                   help="grade TARGET as this exercise, whatever its folder is called")
    p.add_argument("--output", "-o", metavar="FILE", help="write the report to FILE too")
    p.add_argument("--seed", type=int, default=0, help="seed of the check inputs (default 0)")
    p.add_argument(
        "--device",
        metavar="PLATFORM",
        choices=("cpu", "gpu", "cuda", "tpu"),
        help="JAX platform to run the checks on (default: JAX's default)",
    )
    p.add_argument(
        "--no-cache",
        action="store_true",
        help="recompute references and recompile everything (no on-disk caches)",
    )
    p.add_argument(
        "--cache-dir",
        metavar="DIR",
        help="where caches live (default $DLCORE_GRADER_CACHE or ~/.cache/dlcore-grader)",
    )
    p.add_argument("--verbose", "-v", action="store_true", help="describe passing checks too")
    p.add_argument(
        "--task",
        action="append",
        metavar="NAME",
        help="grade only this task (repeatable), e.g. --task softmax",
    )
    p.add_argument(
        "--check-timeout",
        type=float,
        metavar="S",
        help="cap every check's wall-clock deadline at S seconds",
    )
    p.add_argument(
        "--import-timeout",
        type=float,
        default=90.0,
        metavar="S",
        help="how long importing a submission may take (default 90)",
    )
    p.add_argument(
        "--instructor",
        action="store_true",
        help="grade submissions: inputs come from --salt, references stay in memory, "
        "symlinked files are refused, and (as root) the worker cannot see "
        "dlcore/, solutions/ or the caches",
    )
    p.add_argument(
        "--salt",
        metavar="SECRET",
        default=os.environ.get("DLCORE_GRADER_SALT"),
        help="instructor mode's secret (default $DLCORE_GRADER_SALT)",
    )
    p.add_argument("--watch", action="store_true",
                   help="grade again each time a file of the exercise is saved (Ctrl-C stops)")
    return p


def main(argv: list[str] | None = None) -> int:
    from grader import course

    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in course.COMMANDS:  # status (also with no argument), hint, reset
        return course.main(argv)
    if argv[:1] == ["autograder"]:
        from grader.autograder import main as autograder

        return autograder(argv[1:])
    args = _parser().parse_args(argv)
    from grader import classroom

    try:
        found = [(arg, t) for arg in args.targets for t in resolve(arg, args.exercise)]
        roster = classroom.roster(found)
        targets = roster.targets
        argv_seen = sys.argv[1:] if argv is None else argv
        _check_options(args, any(a.split("=")[0] == "--salt" for a in argv_seen))
        out_dir = _output_dir(args, roster)
    except UsageError as e:
        print(f"grader: {e}", file=sys.stderr)
        return 2
    for note in roster.notes:
        print(f"grader: {note}", file=sys.stderr)
    if args.jobs is None:
        args.jobs = classroom.default_jobs(len(targets))
    args.progress = classroom.Progress(len(targets), roster.students) if len(targets) > 1 \
        else None
    from grader.confine import become_subreaper

    become_subreaper()  # daemons a submission detaches come back to us, to be killed
    signal.signal(signal.SIGTERM, _interrupt)  # like Ctrl-C: stop the worker, report so far
    opts = Options(instructor=args.instructor, salt=args.salt, seed=args.seed,
                   platform=_platform(args), cache_dir=args.cache_dir,
                   use_cache=not args.no_cache, import_timeout=args.import_timeout,
                   check_timeout=args.check_timeout, progress=_progress(targets, args),
                   daemon=True)
    try:
        if args.watch:
            return _watch(targets, args, opts)
        results = _grade_all(targets, args, opts)
    except UsageError as e:
        print(f"grader: {e}", file=sys.stderr)
        return 2
    finally:
        if args.progress is not None:
            args.progress.close()
    _report(results, args, opts)
    if out_dir is not None:
        try:
            written = classroom.write_outputs(out_dir, results, roster)
        except OSError as e:
            print(f"grader: could not write to --output-dir {args.output_dir}: {e}",
                  file=sys.stderr)
            return 2
        print(f"wrote {len(written)} files to {args.output_dir}", file=sys.stderr)
    return 0 if results and all(r.passed and not r.incomplete for r in results) else 1


def _grade_all(targets, args, opts) -> list:
    """Every target, in order; with ``--jobs N``, N at a time once each exercise's
    references exist (its first submission computes them)."""
    if args.jobs <= 1 or len(targets) == 1:
        results = []
        for n in range(len(targets)):
            results.append(_graded(n, targets, args, opts))
            if results[-1].incomplete:
                break
        return results
    from concurrent.futures import ThreadPoolExecutor

    from grader import sandbox

    results: list = [None] * len(targets)
    first = {}
    for n, (ex_id, _, _) in enumerate(targets):
        first.setdefault(ex_id, n)
    try:
        for n in first.values():
            results[n] = _graded(n, targets, args, opts)
        rest = [n for n in range(len(targets)) if results[n] is None]
        with ThreadPoolExecutor(args.jobs) as pool:
            futures = {n: pool.submit(_graded, n, targets, args, opts) for n in rest}
            for n, fut in futures.items():
                results[n] = fut.result()
    except KeyboardInterrupt:
        sandbox.kill_all()
        done = [r for r in results if r is not None]
        for r in done[-1:]:
            r.incomplete = True
        return done
    return results


def _graded(n, targets, args, opts):
    result = _grade_one(*targets[n], args, opts)
    return result if args.progress is None else args.progress.done(result, n)


def _output_dir(args, roster):
    """``--output-dir`` checked before any grading (``None`` without it)."""
    if not args.output_dir:
        return None
    from grader import classroom

    try:
        roster.check_names()
        return classroom.check_output_dir(args.output_dir, args.targets)
    except ValueError as e:
        raise UsageError(str(e)) from None


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _platform(args):
    return {"cuda": "gpu"}.get(args.device, args.device)


def _check_options(args, salt_given: bool) -> None:
    if args.instructor and not args.salt:
        raise UsageError("--instructor needs a secret --salt (or $DLCORE_GRADER_SALT)")
    if salt_given and not args.instructor:
        raise UsageError("--salt only applies with --instructor (self-check inputs come "
                         "from --seed)")
    from grader.jaxconfig import check_platform

    problem = check_platform(_platform(args))
    if problem:
        raise UsageError(problem)


def _grade_one(ex_id, folder, only, args, opts):
    spec = load_spec(ex_id)
    names = [n for n in spec.files if only is None or n in only]
    if only and not names:
        raise UsageError(f"{only[0]} is not a file of exercise {ex_id} "
                         f"(expected {', '.join(spec.files)})")
    sub = spec if only is None else _restrict(spec, names)
    if args.task:
        unknown = sorted(set(args.task) - set(sub.tasks))
        if unknown:
            raise UsageError(f"{ex_id} has no task {unknown[0]!r} (tasks: {', '.join(sub.tasks)})")
        sub = dataclasses.replace(sub, checks=tuple(c for c in sub.checks if c.task in args.task))
    # every file of the exercise is loaded (files import each other); only checks narrow
    files = [os.path.abspath(os.path.join(folder, n)) for n in spec.files]
    try:
        display = os.path.relpath(folder)
    except ValueError:
        display = str(folder)
    return grade(sub, str(folder), files, opts, display)


def _progress(targets, args):
    """A progress line of checks on stderr when it is a terminal and one submission is
    graded (a class has its own line: submissions done, time left)."""
    from grader.report import ProgressLine

    return ProgressLine(sys.stderr) if sys.stderr.isatty() and len(targets) == 1 else None


def _watch(targets, args, opts) -> int:
    from grader import report, watch

    if len(targets) != 1 or args.format != "text":
        raise UsageError("--watch follows one exercise folder and prints the text report")
    ex_id, folder, _ = targets[0]
    files = [Path(folder) / n for n in load_spec(ex_id).files]

    def grade_once(target):
        try:
            return _grade_one(*target, args, opts)
        finally:  # also when interrupted: the next line starts clean
            if opts.progress is not None:
                opts.progress.clear()

    return watch.watch(targets[0], files, grade_once, lambda results: _report(results, args, opts),
                       report.want_color(sys.stdout))


def _report(results, args, opts) -> None:
    from grader import course, report

    if opts.progress is not None:
        opts.progress.clear()
    course.record(results, opts)  # the learner's own self-checks only
    if args.format == "json":
        text = report.as_json(results)
    elif args.format == "junit":
        text = report.as_junit(results)
    else:
        text = report.terminal(results, color=report.want_color(sys.stdout),
                               verbose=args.verbose, after=course.after_report(results, opts))
    print(text)
    if args.output:
        Path(args.output).write_text(
            report.as_json(results)
            if args.output.endswith(".json") and args.format == "text"
            else text
        )


def _restrict(spec, names):
    """Only the checks of the tasks in these files (all files still load)."""
    keep = {r.rsplit(":", 1)[1] for n in names for r in spec.files[n].tasks}
    return dataclasses.replace(spec, checks=tuple(c for c in spec.checks if c.task in keep))
