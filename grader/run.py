"""Grading one exercise: inputs, references, the worker, and the verdicts."""

from __future__ import annotations

import dataclasses
import difflib
import os
import time
import zlib

import numpy as np

from grader import references
from grader.forbidden import find_violations
from grader.hints import hint_for
from grader.judge import set_backend
from grader.results import CheckResult, ExerciseResult
from grader.sandbox import Worker, WorkerGone
from grader.spec import Case, Check, Exercise, Failure, pack_cases, pack_many, split_outputs


@dataclasses.dataclass
class Options:
    seed: int = 0
    platform: str | None = None
    cache_dir: str | None = None
    use_cache: bool = True
    import_timeout: float = 90.0
    exercise_timeout: float = 600.0
    instructor: bool = False
    salt: str | None = None
    confine: bool = True  # OS limits and, as root, an unprivileged user for the worker
    check_timeout: float | None = None  # caps every check's own deadline

    def deadline(self, check) -> float:
        return min(check.timeout, self.check_timeout or check.timeout)

    @property
    def input_seed(self) -> int:
        """Instructor mode draws inputs from the secret salt, never from --seed."""
        if self.instructor and self.salt:
            import hashlib

            return int.from_bytes(hashlib.sha256(self.salt.encode()).digest()[:4], "big")
        return self.seed


def case_rng(seed: int, check: Check) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(check.name.encode())])


def build_cases(spec: Exercise, seed: int) -> dict[str, list[Case]]:
    return {c.name: list(c.cases(case_rng(seed, c))) for c in spec.checks}


def _result(check: Check, status: str, message: str = "", hint: str = "", seconds=0.0):
    return CheckResult(
        name=check.name,
        task=check.task,
        kind=check.kind,
        description=check.description,
        status=status,
        max_score=float(check.weight),
        message=message,
        hint=hint or (check.hint if status in ("wrong", "error") else ""),
        seconds=seconds,
    )


def _error_message(check: Check, info: dict, tasks: dict) -> tuple[str, str, str]:
    """(status, message, hint) for a worker-reported exception."""
    status = info.get("status", "error")
    func = info.get("function")
    if status == "not_implemented":
        if func and func != check.task:  # another task, or a building block it calls
            return status, f"needs {func}, which is not implemented yet", ""
        return status, f"{check.task} is not implemented yet", ""
    exc = info.get("exception", "Exception")
    msg = info.get("message", "")
    where = info.get("where")
    text = f"{exc}: {msg}" if msg else exc
    if status in ("tamper", "forbidden") and msg:
        text = msg  # the worker's finding, not an exception of the learner's
    if where:
        text += f"\n  at {where}: {info.get('line', '')}"
    hint = hint_for(info.get("mro", [exc]), msg)
    return status, text, hint


def _load_error_message(info: dict) -> tuple[str, str, str]:
    exc = info.get("exception", "Exception")
    if exc == "SyntaxError" or "SyntaxError" in info.get("mro", []):
        caret = " " * max(int(info.get("caret", 1)) - 1, 0) + "^"
        return (
            "error",
            f"syntax error at {info.get('where')}: {info.get('message')}\n"
            f"    {info.get('line', '')}\n    {caret}",
            "fix the syntax and run again",
        )
    if info.get("missing_module"):
        return (
            "error",
            f"importing the file failed: no module named {info['missing_module']!r}",
            "use only jax, numpy, optax and the standard "
            "library; install nothing else for an exercise",
        )
    if info.get("status") == "forbidden":
        return "forbidden", info.get("message", ""), ""
    status, text, hint = _error_message(_DUMMY, info, {})
    return (
        "error" if status == "not_implemented" else status,
        "importing the file raised " + text,
        hint,
    )


_DUMMY = Check(
    name="", task="", kind="", probe=None, cases=lambda r: [], judge=lambda *a: None, description=""
)


class _Session:
    """The current worker; a fresh one replaces it after a death."""

    def __init__(self, spec, files, opts, remaining, cache_dir=None, plan=None):
        self.spec, self.files, self.opts, self.remaining = spec, files, opts, remaining
        self.cache_dir = cache_dir
        self.worker = None
        self.ready = None
        self.outputs: list[str] = []
        self.left_behind = 0
        self.plan = _confinement_plan(opts) if plan is None else plan

    def start(self):
        self.worker = Worker(
            self.spec.id,
            self.files,
            platform=self.opts.platform,
            cache_dir=self.cache_dir,
            confine=self.plan,
        )

    def wait_ready(self):
        try:
            header, _ = self.worker.receive(
                min(self.opts.import_timeout, self.remaining()), "ready"
            )
        except WorkerGone as e:
            self.outputs.append(self.worker.output.text())
            if e.status == "timeout":
                e.message = (
                    f"importing the file took longer than "
                    f"{self.opts.import_timeout:g} s: move heavy work out of module "
                    "level into functions"
                )
            raise
        self.ready = header
        return header

    def restart(self):
        self.stop()
        self.start()
        return self.wait_ready()

    def stop(self):
        if self.worker is not None:
            self.worker.close()
            self.outputs.append(self.worker.output.text())
            self.left_behind += self.worker.left_behind
            self.worker = None


def _confinement_plan(opts: Options) -> dict:
    from grader import confine

    if not opts.confine:
        return {}
    hide = [str(references.ROOT / d) for d in ("solutions", "dlcore", "exercises", "tests")]
    # the caches; the worker gets its own compilation cache entries as a private copy
    # (see references.WorkerCache)
    hide += [str(references.cache_root(opts) / d) for d in ("refs", "xla-parent", "xla-worker")]
    return confine.plan(instructor=opts.instructor, hide=hide)


def grade(
    spec: Exercise, folder: str, files: list[str], opts: Options, display: str
) -> ExerciseResult:
    t_start = time.monotonic()
    deadline = t_start + opts.exercise_timeout
    remaining = lambda: max(deadline - time.monotonic(), 1.0)
    tasks = spec.tasks
    result = ExerciseResult(exercise=spec.id, title=spec.title, path=display, checks=[])

    missing_files = [f for f in files if not os.path.isfile(f)]
    if missing_files:
        names = ", ".join(os.path.basename(f) for f in missing_files)
        for check in spec.checks:
            result.checks.append(
                _result(
                    check, "error", f"{names} not found in {display}", "keep the stub file's name"
                )
            )
        return result

    if opts.instructor:
        linked = [f for f in files if os.path.islink(f)] or (
            [folder] if os.path.islink(folder) else []
        )
        if linked:
            msg = (
                f"{os.path.basename(linked[0])} is a symlink: in instructor mode a "
                "submission must be the files themselves"
            )
            result.checks = [_result(c, "tamper", msg) for c in spec.checks]
            return result

    # Static checks first: they need nothing but the source text.
    violations: dict[str, str] = {}
    contents = []
    for path in files:
        fname = os.path.basename(path)
        fs_tasks = {r.rsplit(":", 1)[1] for r in spec.files[fname].tasks}
        with open(path, "rb") as fh:
            contents.append(fh.read())
        source = contents[-1].decode("utf-8", errors="replace")
        violations.update(find_violations(source, {t: spec.forbidden.get(t, ()) for t in fs_tasks}))

    plan = _confinement_plan(opts)
    wcache = (
        references.WorkerCache(opts, spec.id, contents, plan.get("run_as"))
        if opts.use_cache
        else None
    )
    session = _Session(spec, files, opts, remaining, wcache.path if wcache else None, plan)
    session.start()  # the worker imports JAX while the parent builds inputs and references
    try:
        cases = build_cases(spec, opts.input_seed)
        refs = references.compute(spec, cases, opts)
        set_backend(refs.backend)
        result.backend = refs.backend
        try:
            ready = session.wait_ready()
        except WorkerGone as e:
            for check in spec.checks:
                result.checks.append(_result(check, e.status, e.message))
            return result
        fatal = _fatal_from_ready(ready)
        if not fatal:
            fatal = _prefetch(session, spec, cases, violations, refs)
        for check in spec.checks:
            if fatal:
                result.checks.append(_result(check, *fatal))
                continue
            if check.task in violations:
                result.checks.append(_result(check, "forbidden", violations[check.task]))
                continue
            if check.kind == "forbidden":
                result.checks.append(_result(check, "pass"))
                continue
            state = session.ready["tasks"]
            absent = [t for t in check.tasks_used if state.get(t) != "ok"]
            if absent:
                t = absent[0]
                close = difflib.get_close_matches(t, list(_defined_names(files)), n=1)
                extra = f" (found {close[0]!r}: renamed?)" if close else ""
                what = "is missing" if state.get(t) == "missing" else "is not a function"
                result.checks.append(
                    _result(
                        check,
                        "error",
                        f"{t} {what} in {spec.task_file(t)}{extra}",
                        "keep the stub's function names and signatures",
                    )
                )
                continue
            if check.name in refs.errors:
                result.checks.append(
                    _result(
                        check,
                        "internal",
                        "the grader could not compute the reference for this "
                        f"check ({refs.errors[check.name]}); please report it",
                    )
                )
                continue
            if time.monotonic() > deadline:
                result.checks.append(
                    _result(
                        check,
                        "timeout",
                        f"the exercise ran out of time ({opts.exercise_timeout:g} s in all)",
                    )
                )
                continue
            res = _run_check(session, check, cases[check.name], refs.outputs.get(check.name), tasks)
            result.checks.append(res)
            if res.status == "tamper":  # no fresh worker: the rest is not graded
                fatal = ("tamper", "grading stopped after tampering: " + res.message)
                session.stop()
            elif res.status in ("timeout", "crash", "memory"):
                try:
                    session.restart()
                    fatal = fatal or _fatal_from_ready(session.ready)
                except WorkerGone as e:
                    fatal = (e.status, "a fresh worker could not start: " + e.message)
    finally:
        session.stop()
        if wcache is not None:
            wcache.publish()
    _stubs_earn_nothing(result)
    result.output = "".join(session.outputs)
    result.confinement = ", ".join((session.ready or {}).get("confinement") or []) or "none"
    if opts.instructor:
        result.notes.append(f"worker confinement: {result.confinement}")
    if session.left_behind:
        result.notes.append(f"killed {session.left_behind} process(es) the submission left running")
    result.seconds = time.monotonic() - t_start
    return result


def _prefetch(session: _Session, spec: Exercise, cases, violations, refs):
    """Asks the worker to compute every runnable batched check up front, one compiled call
    per task. Purely a speed-up: if the worker dies or hangs doing so, a fresh one runs the
    checks one at a time, each under its own deadline. Returns a fatal verdict when the
    worker tampered with grading meanwhile, else None."""
    state = session.ready["tasks"]
    todo = [
        c
        for c in spec.checks
        if c.batched
        and c.kind != "forbidden"
        and c.task not in violations
        and c.name not in refs.errors
        and all(state.get(t) == "ok" for t in c.tasks_used)
    ]
    if not todo:
        return None
    statics, arrays = pack_many([(c.name, cases[c.name]) for c in todo])
    budget = min(sum(session.opts.deadline(c) for c in todo), session.remaining())
    try:
        session.worker.send(
            {"type": "prefetch", "statics": statics}, {k: (v, "numpy") for k, v in arrays.items()}
        )
        session.worker.receive(budget, "prefetched")
    except WorkerGone as e:
        if e.status == "tamper":  # tampering ends grading, wherever it shows
            return ("tamper", "grading stopped after tampering: " + e.message)
        try:
            session.restart()
        except WorkerGone:
            pass  # the checks below find no worker answering and report it
    return None


def _stubs_earn_nothing(result: ExerciseResult) -> None:
    """A static check of a task is not a pass when the task is still a stub (nothing was
    written), nor when none of the task's other checks passed: code that never returns a
    right answer (it hangs, crashes, raises or is wrong everywhere) earns nothing for
    avoiding forbidden calls. The static check then takes the status of the task's first
    failing check."""
    stubbed = {c.task for c in result.checks if c.status == "not_implemented"}
    for c in result.checks:
        if c.task in stubbed and c.kind == "forbidden" and c.status == "pass":
            c.status, c.message = "not_implemented", f"{c.task} is not implemented yet"
    for c in result.checks:
        if c.kind != "forbidden" or c.status != "pass":
            continue
        others = [x for x in result.checks if x.task == c.task and x.kind != "forbidden"]
        if others and all(x.status != "pass" for x in others):
            first = others[0]
            c.status = first.status
            c.message = (
                f"not awarded: no other check of {c.task} passed "
                f"(first: {first.name}, {first.status})"
            )


def _fatal_from_ready(ready: dict):
    if ready.get("tamper"):
        return ("tamper", f"importing the file tampered with grading: {ready['tamper']}")
    errors = ready.get("load_errors", [])
    # an import of dlcore/solutions/grader is what matters, even if it made the import fail
    for info in sorted(errors, key=lambda i: i.get("status") != "forbidden"):
        status, text, hint = _load_error_message(info)
        return (status, text, hint)
    return None


def _defined_names(files):
    import ast

    for path in files:
        try:
            with open(path, encoding="utf-8", errors="replace") as fh:
                tree = ast.parse(fh.read())
        except (SyntaxError, OSError):
            continue
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                yield node.name


def _run_check(session: _Session, check: Check, cases, ref_outputs, tasks) -> CheckResult:
    t0 = time.monotonic()
    what = cases[0].describe() if len(cases) == 1 else f"{len(cases)} inputs"
    try:
        statics, arrays = pack_cases(cases)
        session.worker.send(
            {"type": "run", "check": check.name, "statics": statics},
            {k: (v, "numpy") for k, v in arrays.items()},
        )
        header, got = session.worker.receive(
            min(session.opts.deadline(check), session.remaining()), "result", check.name
        )
    except WorkerGone as e:
        if e.status == "timeout":
            msg = (
                f"on {what}: no result within {session.opts.deadline(check):g} s "
                "(an endless loop, or a long Python loop unrolled under jit?)"
            )
            hint = "use lax.scan / lax.fori_loop / vmap instead of long Python loops"
            return _result(check, "timeout", msg, hint, time.monotonic() - t0)
        return _result(check, e.status, e.message, "", time.monotonic() - t0)
    status = header.get("status")
    if status == "wrong":  # the worker could not send the output (not an array, ...)
        text = f"on {what}: {header.get('message', 'the output could not be sent')}"
        return _result(check, "wrong", text, check.hint, time.monotonic() - t0)
    if status != "ok":
        st, text, hint = _error_message(check, header, tasks)
        if st == "error":
            text = f"on {what}: {text}"
        return _result(check, st, text, hint, time.monotonic() - t0)
    per_case = split_outputs(got, len(cases))
    for i, case in enumerate(cases):
        ref = ref_outputs[i] if ref_outputs is not None else None
        try:
            failure = check.judge(case, per_case[i], ref)
        except Exception as e:  # a judge that breaks on odd output must not crash grading
            failure = Failure(
                f"on {case.describe()}: output could not be judged ({type(e).__name__}: {e})"
            )
        if failure is not None:
            return _result(
                check,
                failure.status,
                failure.message,
                failure.hint or check.hint,
                time.monotonic() - t0,
            )
    return _result(check, "pass", seconds=time.monotonic() - t0)
