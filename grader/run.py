"""Grading one exercise, top to bottom.

    grade()
      1. static phase: the files exist, no symlinks in instructor mode, forbidden calls
      2. the worker starts (it imports JAX while the parent works)
      3. cases from the seed, references from dlcore (cached)      -> grader.references
      4. task by task: the worker runs the task's checks and streams one result per check;
         a task that hangs or kills the worker costs its own remaining checks and one
         deadline, and a fresh worker takes the next task               -> grader.sandbox
      5. the parent judges each result against its reference            -> grader.judge
      6. verdicts in spec order, the learner's output per task          -> grader.results
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import time
import zlib
from collections.abc import Callable

import numpy as np

from grader import confine, profile, references, verdicts
from grader.forbidden import find_violations
from grader.judge import set_backend
from grader.results import CheckResult, ExerciseResult
from grader.sandbox import Worker, WorkerGone
from grader.spec import Case, Check, Exercise, Failure

DEFAULT_DEADLINE = 15.0  # seconds a check may take beyond its task's first compile
GROUP_ALLOWANCE = 10.0  # the first result of a task also waits for its batched compile


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
    check_timeout: float | None = None  # a fixed deadline per check, instead of the default
    # self-check workers come from the learner's fork-server daemon, which outlives this
    # process (grader.sandbox): the command line's choice; never in instructor mode
    daemon: bool = False
    # called as (exercise, checks decided, checks in all) while results come in
    progress: Callable[[str, int, int], None] | None = None

    @property
    def input_seed(self) -> int:
        """Instructor mode draws inputs from the secret salt, never from --seed."""
        if self.instructor and self.salt:
            import hashlib

            return int.from_bytes(hashlib.sha256(self.salt.encode()).digest()[:4], "big")
        return self.seed


def deadline(check: Check, refs, opts: Options) -> float:
    """Seconds to wait for one check's result: follows the reference's own time (a
    multiple of it plus an allowance), or the check's own timeout (training checks)."""
    if opts.check_timeout:
        return opts.check_timeout
    if check.timeout:
        return check.timeout
    work = refs.seconds.get(check.task, 0.0) if refs is not None else 0.0
    return max(DEFAULT_DEADLINE, 5.0 + 5.0 * work)


def case_rng(seed: int, check: Check) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(check.id.encode())])


def build_cases(spec: Exercise, seed: int) -> dict[str, list[Case]]:
    return {c.id: list(c.cases(case_rng(seed, c))) for c in spec.checks}


def grade(spec: Exercise, folder: str, files: list[str], opts: Options,
          display: str) -> ExerciseResult:
    t_start = time.monotonic()
    result = ExerciseResult(exercise=spec.id, title=spec.title, path=display, checks=[])
    early = _precheck(spec, folder, files, opts, display)
    if early is not None:
        result.checks = [verdicts.make(c, *early) for c in spec.checks]
        return result
    violations, contents = _static_phase(spec, files)
    broken = _syntax_error(files, contents)
    if broken is not None:  # no worker, no references: the verdict is already known
        result.checks = [verdicts.make(c, *broken) for c in spec.checks]
        result.seconds = time.monotonic() - t_start
        return result
    session = _Session(spec, files, opts, contents, time.monotonic() + opts.exercise_timeout)
    timeline = session.timeline
    if timeline:
        timeline.t0 = t_start
        timeline.mark("static phase done")
    session.start()  # the worker imports JAX while the parent builds inputs and references
    found: dict[str, CheckResult] = {}
    try:
        cases = build_cases(spec, opts.input_seed)
        timeline and timeline.mark("cases built")
        refs = references.compute(spec, cases, opts)
        timeline and timeline.mark("references ready")
        set_backend(refs.backend)
        result.backend = refs.backend
        _grade_all(spec, session, cases, refs, violations, files, found)
    except KeyboardInterrupt:
        result.incomplete = True
    finally:
        session.stop()
    result.checks = [found.get(c.id) or verdicts.make(c, "timeout", "not graded: grading was "
                                                      "interrupted") for c in spec.checks]
    verdicts.stubs_earn_nothing(result)
    _finish(result, session, opts, t_start)
    if timeline:
        timeline.worker(session.ready, session.headers)
        timeline.mark("graded")
        timeline.print()
    return result


def _precheck(spec, folder, files, opts, display):
    """A verdict for every check when the submission cannot be graded at all, else None."""
    missing = [f for f in files if not os.path.isfile(f)]
    if missing:
        names = ", ".join(os.path.basename(f) for f in missing)
        return ("error", f"{names} not found in {display}", "keep the stub file's name")
    if opts.instructor:
        linked = [f for f in files if os.path.islink(f)] or (
            [folder] if os.path.islink(folder) else [])
        if linked:
            return ("tamper", f"{os.path.basename(linked[0])} is a symlink: in instructor mode "
                    "a submission must be the files themselves")
    return None


def _static_phase(spec, files) -> tuple[dict[str, str], list[bytes]]:
    """Forbidden calls, read from the source text alone (before any code runs)."""
    violations: dict[str, str] = {}
    contents = []
    for path in files:
        fs = spec.files[os.path.basename(path)]
        with open(path, "rb") as fh:
            contents.append(fh.read())
        source = contents[-1].decode("utf-8", errors="replace")
        tasks = {r.rsplit(":", 1)[1] for r in fs.tasks}
        violations.update(find_violations(source, {t: spec.forbidden.get(t, ()) for t in tasks}))
    return violations, contents


def _syntax_error(files, contents):
    """(status, message, hint) for the first file that does not compile, else None."""
    for path, data in zip(files, contents, strict=False):
        try:
            compile(data, path, "exec", dont_inherit=True)
        except SyntaxError as e:
            info = {"exception": "SyntaxError", "message": e.msg,
                    "where": f"{os.path.basename(path)}:{e.lineno}",
                    "line": (e.text or "").rstrip("\n"), "caret": e.offset or 1}
            return verdicts.load_error_message(info)
        except (ValueError, TypeError):  # null bytes: the worker reports it as usual
            return None
    return None


def _grade_all(spec, session, cases, refs, violations, files, found) -> None:
    session.tick(found)
    try:
        ready = session.wait_ready()
    except WorkerGone as e:
        found.update({c.id: verdicts.make(c, e.status, e.message) for c in spec.checks})
        return
    for task, why in (ready.get("forbidden") or {}).items():
        if task in spec.tasks and isinstance(why, str):
            violations.setdefault(task, why[:500])
    fatal = verdicts.fatal_from_ready(ready)
    broken: dict[str, str] = {}  # task -> why its checks cannot run (it hung or crashed)
    for task in spec.tasks:
        mine = [c for c in spec.checks if c.task == task]
        runnable = []
        for check in mine:
            early = fatal or _not_runnable(check, session, violations, refs, broken, files)
            if early:
                found[check.id] = verdicts.make(check, *early)
            else:
                runnable.append(check)
        if runnable:
            fatal = _run_task(session, task, runnable, cases, refs, found, broken) or fatal
        session.tick(found)


def _not_runnable(check, session, violations, refs, broken, files):
    """(status, message[, hint]) when the check is decided without running it."""
    if check.task in violations:
        return ("forbidden", violations[check.task])
    if check.kind == "forbidden":
        return ("pass", "")
    state = session.ready["tasks"]
    for t in check.tasks_used:
        if state.get(t) != "ok":
            close = difflib.get_close_matches(t, list(_defined_names(files)), n=1)
            extra = f" (found {close[0]!r}: renamed?)" if close else ""
            what = "is missing" if state.get(t) == "missing" else "is not a function"
            return ("error", f"{t} {what} in {session.spec.task_file(t)}{extra}",
                    "keep the stub's function names and signatures")
        if t in broken:
            return broken[t]
    if check.id in refs.errors:
        return ("internal", "the grader could not compute the reference for this check "
                f"({refs.errors[check.id]}); please report it")
    if session.out_of_time():
        return ("timeout", f"the exercise ran out of time ({session.opts.exercise_timeout:g} s "
                "in all)")
    return None


def _run_task(session, task, checks, cases, refs, found, broken):
    """Sends one task's checks, judges each streamed result; returns a fatal verdict
    (tampering) or None. A worker that hangs or dies fails the check it was on and the
    task's later checks, once; the next task gets a fresh worker."""
    try:
        session.send_task(task, checks, {c.id: cases[c.id] for c in checks})
    except WorkerGone as e:
        return _worker_lost(session, task, checks, checks[0], e, found, broken)
    for n, check in enumerate(checks):
        wait = deadline(check, refs, session.opts) + (GROUP_ALLOWANCE if n == 0 else 0.0)
        t0 = time.monotonic()
        try:
            header, got = session.receive(check, wait)
        except WorkerGone as e:
            return _worker_lost(session, task, checks[n:], check, e, found, broken, wait)
        session.add_output(task, header.get("output"))
        found[check.id] = verdicts.judge(check, cases[check.id], refs.outputs.get(check.id),
                                         header, got, time.monotonic() - t0)
        session.tick(found)
        if found[check.id].status == "tamper":
            session.stop()
            why = ("tamper", "grading stopped after tampering: " + found[check.id].message)
            for rest in checks[n + 1:]:
                found[rest.id] = verdicts.make(rest, *why)
            return why
    return None


def _worker_lost(session, task, left, at, e: WorkerGone, found, broken, wait=None):
    if e.status == "tamper":
        for c in left:
            found[c.id] = verdicts.make(c, "tamper", e.message)
        return ("tamper", "grading stopped after tampering: " + e.message)
    what = verdicts.describe_loss(e, at, cases_label=None, wait=wait)
    found[at.id] = verdicts.make(at, e.status, *what)
    why = (e.status, f"not run: {task} {'hung' if e.status == 'timeout' else 'stopped the worker'}"
           f" during {at.id}, so its other checks were skipped")
    for c in left:
        if c.id not in found:
            found[c.id] = verdicts.make(c, *why)
    broken[task] = why
    try:
        session.restart()
    except WorkerGone as gone:
        return (gone.status, "a fresh worker could not start: " + gone.message)
    return verdicts.fatal_from_ready(session.ready)


def _finish(result: ExerciseResult, session, opts: Options, t_start: float) -> None:
    result.output = "".join(session.outputs)
    result.task_output = {t: text for t, text in session.task_output.items() if text}
    result.confinement = ", ".join((session.ready or {}).get("confinement") or []) or "none"
    if opts.instructor:
        result.notes.append(f"worker confinement: {result.confinement}")
    if session.left_behind:
        result.notes.append(f"killed {session.left_behind} process(es) the submission left running")
    result.seconds = time.monotonic() - t_start


def _defined_names(files):
    import ast

    for path in files:
        try:
            with open(path, encoding="utf-8", errors="replace") as fh:
                tree = ast.parse(fh.read())
        except (SyntaxError, OSError):
            continue
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                yield node.name


class _Session:
    """The current worker; a fresh one replaces it after a death."""

    OUTPUT_CAP = 64 * 1024

    def __init__(self, spec, files, opts, contents, end: float):
        self.spec, self.files, self.opts, self.end = spec, files, opts, end
        self.plan = _confinement_plan(opts)
        self.contents = contents
        self.wcache = None
        self.data = references.read_data(spec)
        self.worker = None
        self.ready = None
        self.outputs: list[str] = []
        self.task_output: dict[str, str] = {}
        self.left_behind = 0
        self.timeline = profile.Timeline(f"{spec.id} {files[0]}") if profile.ENABLED else None
        self.headers: list[dict] = []  # the worker's result headers, for the profile

    def tick(self, found: dict) -> None:
        """Tells ``opts.progress`` how many checks are decided so far."""
        if self.opts.progress is not None:
            self.opts.progress(self.spec.id, len(found), len(self.spec.checks))

    def remaining(self) -> float:
        return max(self.end - time.monotonic(), 1.0)

    def out_of_time(self) -> bool:
        return time.monotonic() > self.end

    def start(self):
        plan = confine.for_worker(self.plan) if self.plan else {}
        if self.opts.use_cache:
            folder = None if self.opts.instructor else os.path.dirname(self.files[0])
            self.wcache = references.WorkerCache(self.opts, self.spec.id, self.contents,
                                                 plan.get("run_as"), folder)
        self.timeline and self.timeline.mark("parent: worker spawned")
        self.worker = Worker(self.spec.module or self.spec.id, self.files,
                             platform=self.opts.platform,
                             cache_dir=self.wcache.path if self.wcache else None,
                             confine=plan, devices=self.spec.devices, data=self.data,
                             daemon=self._daemon())

    def _daemon(self) -> str | None:
        if not self.opts.daemon or self.opts.instructor:
            return None
        from grader.sandbox import daemon_name

        return daemon_name(str(references.cache_root(self.opts)))

    def wait_ready(self):
        try:
            header, _ = self.worker.receive(min(self.opts.import_timeout, self.remaining()),
                                            "ready")
        except WorkerGone as e:
            self.outputs.append(self.worker.output.text())
            if e.status == "timeout":
                e.message = (f"importing the file took longer than {self.opts.import_timeout:g}"
                             " s: move heavy work out of module level into functions")
            raise
        self.ready = header
        self.timeline and self.timeline.mark("parent: worker ready")
        self.add_output("(import)", header.get("output"))
        return header

    def send_task(self, task, checks, cases):
        from grader import wire

        skeleton, arrays = wire.encode(
            {cid: [(list(c.args), c.kwargs, c.static, c.extras, c.label) for c in cs]
             for cid, cs in cases.items()})
        self.worker.send({"type": "task", "task": task, "checks": [c.id for c in checks],
                          "cases": skeleton}, arrays)

    def receive(self, check, wait):
        header, arrays = self.worker.receive(min(wait, self.remaining()), "result", check.id)
        if self.timeline:
            self.headers.append(header)
            self.timeline.mark(f"parent: {check.id} received")
        return header, arrays

    def add_output(self, task, text):
        if not text or not isinstance(text, str):
            return
        used = sum(len(t) for t in self.task_output.values())
        room = max(self.OUTPUT_CAP - used, 0)
        self.task_output[task] = self.task_output.get(task, "") + text[:room]

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
        if self.wcache is not None:
            self.wcache.publish()
            self.wcache = None


def _confinement_plan(opts: Options) -> dict:
    if not opts.confine:
        return {}
    hide = [str(references.ROOT / d) for d in ("solutions", "dlcore", "exercises", "tests")]
    # the caches; the worker gets its own compilation cache entries as a private copy
    # (see references.WorkerCache)
    hide += [str(references.cache_root(opts) / d) for d in ("refs", "xla-parent", "xla-worker")]
    return confine.plan(instructor=opts.instructor, hide=hide)


__all__ = ["Options", "grade", "build_cases", "deadline", "Failure"]
