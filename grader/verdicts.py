"""From what the worker reported to a check's verdict: status, message and hint."""

from __future__ import annotations

import re

from grader import wire
from grader.hints import hint_for
from grader.results import CheckResult
from grader.spec import Check, Failure


def make(check: Check, status: str, message: str = "", hint: str = "",
         seconds: float = 0.0) -> CheckResult:
    return CheckResult(
        name=check.name,
        id=check.id,
        task=check.task,
        kind=check.kind,
        description=check.description,
        status=status,
        max_score=float(check.weight),
        message=message,
        hint=hint or (check.hint if status in ("wrong", "error") else ""),
        seconds=seconds,
    )


def judge(check: Check, cases, ref_outputs, header: dict, arrays, seconds: float):
    """The verdict for one streamed result frame."""
    what = cases[0].describe() if len(cases) == 1 else f"{len(cases)} inputs"
    status = header.get("status")
    if status == "wrong":  # the worker could not send the output (not an array, ...)
        return make(check, "wrong", f"on {what}: {header.get('message', 'bad output')}",
                    check.hint, seconds)
    if status != "ok":
        st, text, hint = error_message(check, header)
        return make(check, st, f"on {what}: {text}" if st == "error" else text, hint, seconds)
    try:
        outputs = wire.decode(header.get("output_tree"), arrays)
        if not isinstance(outputs, list) or len(outputs) != len(cases):
            raise wire.WireError("not one output per case")
    except wire.WireError as e:
        return make(check, "tamper", f"the worker sent a malformed result ({e})", "", seconds)
    for i, case in enumerate(cases):
        ref = ref_outputs[i] if ref_outputs is not None else None
        try:
            failure = check.judge(case, outputs[i], ref)
        except Exception as e:  # a judge that breaks on odd output must not crash grading
            failure = Failure(f"on {case.describe()}: the output could not be judged "
                              f"({type(e).__name__}: {e}); is its structure the one asked for?")
        if failure is not None:
            hint = failure.hint or symptom_hint(failure.message) or check.hint
            return make(check, failure.status, failure.message, hint, seconds)
    return make(check, "pass", seconds=seconds)


_SYMPTOMS = (
    ("look swapped", "the values are right but the axes are not in the order asked for: "
     "check the output layout in the docstring (einsum output letters, transpose, reshape)"),
    ("a transpose or a wrong layout", "the output has the right axes in the wrong order: check "
     "the layout the docstring asks for"),
    ("missing or extra axis", "an axis is missing or extra: keepdims=True, or x[:, None] / "
     "squeeze where the shapes differ"),
    ("got -inf", "a log saw 0 (or an exp overflowed): compute the log-space form directly "
     "(x - max - log(sum(exp(x - max)))) instead of log of a probability"),
    ("got inf", "a value overflowed: exp of a large argument or a division by ~0; rewrite so "
     "exp only sees non-positive arguments"),
    ("got nan", "NaN: 0/0, inf - inf, log or sqrt of a negative; in a gradient, a jnp.where "
     "whose discarded branch is inf or NaN still poisons the gradient"),
    ("expected a Python int", "return a Python int (int(...)) where the reference does, not a "
     "0-d array"),
    ("returned a NumPy array", "use jax.numpy (jnp) instead of numpy so the result is a "
     "jax.Array and works under jit and grad"),
)


def symptom_hint(message: str) -> str:
    """A hint chosen from what the failure looks like, before the check's generic one."""
    low = message.lower()
    for needle, hint in _SYMPTOMS:
        if needle.lower() in low:
            return hint
    return ""


def error_message(check: Check | None, info: dict) -> tuple[str, str, str]:
    """(status, message, hint) for an exception the worker reported."""
    status = info.get("status", "error")
    func = info.get("function")
    if status == "not_implemented":
        if check is not None and func and func != check.task:
            return status, f"needs {func}, which is not implemented yet", ""
        return status, f"{check.task if check else func} is not implemented yet", ""
    exc = info.get("exception", "Exception")
    msg = info.get("message", "")
    text = f"{exc}: {msg}" if msg else exc
    if status in ("tamper", "forbidden") and msg:
        text = msg  # the worker's finding, not an exception of the learner's
    if info.get("where"):
        text += f"\n  at {info['where']}: {info.get('line', '')}"
    return status, text, hint_for(info.get("mro", [exc]), msg)


def load_error_message(info: dict) -> tuple[str, str, str]:
    exc = info.get("exception", "Exception")
    if exc == "SyntaxError" or "SyntaxError" in info.get("mro", []):
        caret = " " * max(int(info.get("caret", 1)) - 1, 0) + "^"
        why = re.sub(r" \([^()]*, line \d+\)$", "", str(info.get("message", "")))
        return ("error", f"syntax error at {info.get('where')}: {why}\n"
                f"    {info.get('line', '')}\n    {caret}", "fix that line and grade again")
    if info.get("missing_module"):
        return ("error", f"importing the file failed: no module named "
                f"{info['missing_module']!r}", "use only jax, numpy, optax and the standard "
                "library; install nothing else for an exercise")
    if info.get("status") == "forbidden":
        return "forbidden", info.get("message", ""), ""
    status, text, hint = error_message(None, info)
    return ("error" if status == "not_implemented" else status,
            "importing the file raised " + text, hint)


def fatal_from_ready(ready: dict):
    """A verdict for every check when importing the learner's files went wrong."""
    if ready.get("tamper"):
        return ("tamper", f"importing the file tampered with grading: {ready['tamper']}")
    errors = ready.get("load_errors", [])
    # an import of dlcore/solutions/grader is what matters, even if it made the import fail
    for info in sorted(errors, key=lambda i: i.get("status") != "forbidden"):
        return load_error_message(info)
    return None


def describe_loss(e, check: Check, cases_label=None, wait=None) -> tuple[str, str]:
    """(message, hint) for the check a worker hung or died on."""
    if e.status == "timeout":
        return (f"no result within {wait:g} s (an endless loop, a long sleep, or a long "
                "Python loop unrolled under jit?)" if wait else e.message,
                "use lax.scan / lax.fori_loop / vmap instead of long Python loops; make sure "
                "every loop ends")
    return e.message, ""


def stubs_earn_nothing(result) -> None:
    """A static check of a task is not a pass when the task is still a stub, nor when none
    of the task's other checks passed: code that never returns a right answer earns nothing
    for avoiding forbidden calls. It then takes the status of the task's first failure."""
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
            c.message = (f"not awarded: no other check of {c.task} passed "
                         f"(first: {first.id}, {first.status})")
