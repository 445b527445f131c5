"""Running one check's probe on all of its cases: one compiled call where possible.

Shared by the worker (learner functions) and the parent (reference functions), so both
sides compute in exactly the same way. Checks whose point is the eager/jit/vmap behaviour
itself (``Check.batched`` false) run case by case, eagerly. The others trace every case
into a single ``jax.jit`` call; if that raises, the cases are run again one at a time
eagerly, so that a jit-only mistake is reported by the jit check and not by every check.
"""

from __future__ import annotations

from grader.spec import Case, ProbeInputs


def _inputs(case: Case, arrays=None) -> ProbeInputs:
    pi = ProbeInputs(case)
    if arrays is not None:
        # jit hands dicts back with sorted keys; positional arguments follow case order
        pi._arrays = {k: arrays[k] for k in case.arrays}
    return pi


def run_cases(check, fns, cases: list[Case], *, strict: bool = False) -> list:
    """The probe's output pytree for each case, in order (exceptions propagate).

    ``strict`` (the parent, running dlcore) never falls back to eager: the reference must
    trace, so a failure there is a grader bug, not something to paper over.
    """
    import jax

    if not check.batched or len(cases) == 0:
        return [jax.block_until_ready(check.probe(fns, _inputs(c))) for c in cases]
    inputs = [_inputs(c) for c in cases]

    def all_cases(arrays):
        return [check.probe(fns, _inputs(c, a)) for c, a in zip(cases, arrays, strict=True)]

    try:
        return jax.block_until_ready(jax.jit(all_cases)([pi._arrays for pi in inputs]))
    except Exception:
        if strict:
            raise
        return [jax.block_until_ready(check.probe(fns, pi)) for pi in inputs]


def run_group(checks, fns, cases: dict[str, list[Case]]) -> dict[str, list] | None:
    """All batched ``checks`` (typically one task's) traced into one ``jax.jit`` call.

    Returns ``{check name: outputs per case}``, or None when the group does not trace or
    run as a whole; callers then run each check by itself, which isolates the failure.
    """
    import jax

    todo = [c for c in checks if c.batched and cases.get(c.name)]
    if not todo:
        return {}

    def everything(arrays):
        return {
            c.name: [
                c.probe(fns, _inputs(case, a))
                for case, a in zip(cases[c.name], arrays[c.name], strict=True)
            ]
            for c in todo
        }

    inputs = {c.name: [_inputs(case)._arrays for case in cases[c.name]] for c in todo}
    try:
        return jax.block_until_ready(jax.jit(everything)(inputs))
    except Exception:
        return None
