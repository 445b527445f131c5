"""Grading trusted code in this process: the same cases, probes, wire and judges as
:func:`grader.run.grade`, without the worker.

For code that needs no confinement: the test suite's known-wrong and correct alternative
implementations (hundreds of gradings, each a fraction of a second here against a second or
more for a fresh worker), and functions a learner defined in their own notebook. Never use
it on code you did not write: nothing here limits or isolates what the code does.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
import types

from grader import references, verdicts
from grader.checks import OutputMismatch
from grader.execute import run_cases, run_group, to_wire
from grader.forbidden import identity_violations
from grader.hints import describe_exception
from grader.results import ExerciseResult
from grader.run import _static_phase, build_cases
from grader.spec import Exercise

_REFS = references.MEMO  # (exercise, seed, check id) -> reference outputs, shared with run


class _Fns:
    def __init__(self, namespace, data):
        self._namespace, self.data = namespace, data

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self._namespace[name]
        except KeyError:
            raise _Missing(name) from None


class _Missing(Exception):
    pass


def load_files(files: list[str]) -> tuple[dict, list[dict]]:
    """Executes the files as modules (siblings import each other by plain name)."""
    modules = {}
    for path in files:
        name = os.path.splitext(os.path.basename(path))[0]
        module = types.ModuleType(f"_local_{abs(hash(path))}_{name}")
        module.__file__ = path
        modules[name] = module
    saved = {n: sys.modules.get(n) for n in modules}
    namespace, errors = {}, []
    try:
        sys.modules.update(modules)
        for path in files:
            module = modules[os.path.splitext(os.path.basename(path))[0]]
            try:
                with open(path, encoding="utf-8") as fh:
                    exec(compile(fh.read(), path, "exec"), module.__dict__)
                namespace.update(vars(module))
            except Exception as e:
                errors.append(describe_exception(e, files, during="import"))
    finally:
        for n, m in saved.items():
            if m is None:
                sys.modules.pop(n, None)
            else:
                sys.modules[n] = m
    return namespace, errors


def _references(spec: Exercise, cases, seed: int) -> references.References:
    want = [c for c in spec.checks if c.reference and (spec.id, seed, c.id) not in _REFS]
    if want:
        import jax

        sub = dataclasses.replace(spec, checks=tuple(want))
        got = references.compute_here(sub, cases, references.ReferenceFns(
            spec, references.read_data(spec)), jax.default_backend())
        for cid, out in got.outputs.items():
            _REFS[(spec.id, seed, cid)] = out
        if got.errors:
            raise RuntimeError(f"reference failed: {got.errors}")
    outputs = {c.id: _REFS[(spec.id, seed, c.id)] for c in spec.checks if c.reference}
    return references.References(outputs, jax_backend())


def jax_backend() -> str:
    import jax

    return jax.default_backend()


def grade_local(spec: Exercise, folder, *, checks: set[str] | None = None,
                seed: int = 0) -> ExerciseResult:
    """Grades the exercise files in ``folder`` in this process (trusted code only), under
    JAX's default settings as in the worker (a test suite's stricter ones do not apply)."""
    import jax

    with jax.numpy_rank_promotion("allow"):
        return _grade_local(spec, folder, checks, seed)


def _grade_local(spec, folder, checks, seed) -> ExerciseResult:
    t0 = time.monotonic()
    if checks is not None:
        unknown = checks - {c.id for c in spec.checks}
        if unknown:
            raise KeyError(f"no check {sorted(unknown)[0]!r} in {spec.id}")
        spec = dataclasses.replace(spec, checks=tuple(c for c in spec.checks if c.id in checks))
    files = [os.path.join(str(folder), f) for f in spec.files]
    violations, _ = _static_phase(spec, files)
    namespace, errors = load_files(files)
    violations.update({t: why for t, why in identity_violations(
        namespace, {t: spec.forbidden.get(t, ()) for t in spec.tasks}).items()
        if t not in violations})
    result = ExerciseResult(exercise=spec.id, title=spec.title, path=str(folder), checks=[])
    cases = build_cases(spec, seed)
    refs = _references(spec, cases, seed)
    fatal = verdicts.fatal_from_ready({"load_errors": errors})
    fns = _Fns(namespace, references.read_data(spec))
    for task in spec.tasks:
        mine = [c for c in spec.checks if c.task == task]
        if not mine:
            continue
        todo = []
        for check in mine:
            early = fatal or _early(check, namespace, violations)
            if early:
                result.checks.append(verdicts.make(check, *early))
            else:
                todo.append(check)
        result.checks += _run(todo, fns, cases, refs, files)
    order = {c.id: n for n, c in enumerate(spec.checks)}
    result.checks.sort(key=lambda r: order[r.id])
    verdicts.stubs_earn_nothing(result)
    result.seconds = time.monotonic() - t0
    return result


def _early(check, namespace, violations):
    if check.task in violations:
        return ("forbidden", violations[check.task])
    if check.kind == "forbidden":
        return ("pass", "")
    for t in check.tasks_used:
        if not callable(namespace.get(t)):
            return ("error", f"{t} is missing", "")
    return None


def _run(todo, fns, cases, refs, files):
    try:
        grouped = run_group(todo, fns, cases)
    except Exception:
        grouped = {}
    out = []
    for check in todo:
        t0 = time.monotonic()
        header, arrays = {"status": "ok"}, None
        try:
            outputs = grouped.get(check.id)
            if outputs is None:
                outputs = run_cases(check, fns, cases[check.id])
            skeleton, arrays = to_wire(outputs)
            header["output_tree"] = skeleton
        except _Missing as e:
            header = {"status": "error", "exception": "MissingTask", "message": str(e)}
        except OutputMismatch as e:
            header = {"status": "wrong", "message": str(e)}
        except Exception as e:
            header = describe_exception(e, files, during="call")
        out.append(verdicts.judge(check, cases[check.id], refs.outputs.get(check.id), header,
                                  arrays, time.monotonic() - t0))
    return out
