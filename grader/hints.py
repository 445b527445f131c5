"""Turning a learner's exception into a calm, precise diagnosis.

``describe_exception`` runs in the worker and produces plain data (no objects cross the
pipe); ``hint_for`` runs in the parent and maps the exception class (then its message) to
the advice of GRADER.md's table of usual JAX mistakes.
"""

from __future__ import annotations

import os
import re
import traceback

# (exception class name, message fragment or "", hint); first match wins.
_HINTS = [
    (
        "TracerBoolConversionError",
        "",
        "Python `if`/`while` on a traced value: use jnp.where or lax.cond, or make the flag static",
    ),
    (
        "NonConcreteBooleanIndexError",
        "",
        "value-dependent shape (x[mask], jnp.nonzero): use jnp.where(mask, x, 0) or a static size=",
    ),
    (
        "TracerIntegerConversionError",
        "",
        "a traced value used as a Python int: take sizes from x.shape, or mark the argument static",
    ),
    (
        "TracerArrayConversionError",
        "",
        "NumPy, float(x) or .item() on a traced value: use jax.numpy and keep values as arrays",
    ),
    (
        "ConcretizationTypeError",
        "",
        "a traced value used where a concrete one is needed: use jnp.where / lax.cond, "
        "or static args",
    ),
    (
        "UnexpectedTracerError",
        "",
        "a tracer leaked through global state: return values instead; print with jax.debug.print",
    ),
    ("KeyReuseError", "", "a PRNG key was used twice: key, sub = jax.random.split(key)"),
    (
        "TypeError",
        "does not support item assignment",
        "JAX arrays are immutable: write x = x.at[i].set(v)",
    ),
    ("TypeError", "immutable", "JAX arrays are immutable: write x = x.at[i].set(v)"),
    (
        "TypeError",
        "Gradient only defined for scalar-output functions",
        "jax.grad needs a scalar: reduce with jnp.sum/jnp.mean, or use jax.vjp / jax.jacobian",
    ),
    (
        "TypeError",
        "unexpected keyword argument",
        "the function's signature differs from the one in the stub: keep the names and defaults",
    ),
    ("TypeError", "positional argument", "the function's signature differs from the stub's"),
    ("TypeError", "incompatible shapes", "check broadcasting: (B,) with (B, 1) is a common slip"),
    ("ValueError", "rank promotion", "explicit broadcasting: add axes with [:, None] or keepdims"),
    ("RecursionError", "", "unbounded recursion: write the loop iteratively or with lax.scan"),
    ("MemoryError", "", "an allocation far larger than the inputs: check shapes before allocating"),
    ("ZeroDivisionError", "", "a Python division by zero: guard with jnp.where or add eps"),
    (
        "",
        "RESOURCE_EXHAUSTED",
        "an allocation far larger than the inputs: check shapes before allocating",
    ),
    (
        "SystemExit",
        "",
        "graded code must return a value: do not call sys.exit() or exit() in an exercise file",
    ),
    (
        "KeyboardInterrupt",
        "",
        "graded code must return a value; do not raise KeyboardInterrupt",
    ),
    (
        "EOFError",
        "",
        "graded code gets no input: do not call input(); take values from the arguments",
    ),
    (
        "BlockingIOError",
        "",
        "the submission started too many processes or threads; graded code must not fork",
    ),
    (
        "OSError",
        "File too large",
        "a file grew past the grader's file-size limit: graded code should not write files",
    ),
    (
        "PermissionError",
        "",
        "graded code runs unprivileged: it may not signal other processes, change user or "
        "write outside its own directory",
    ),
    (
        "ValueError",
        "I/O operation on closed file",
        "do not close sys.stdout or sys.stderr in graded code",
    ),
    (
        "ImportError",
        "is not allowed in a graded submission",
        "write the function yourself: answers may not come from dlcore, solutions or grader",
    ),
]


def hint_for(mro: list[str], message: str) -> str:
    for cls, fragment, hint in _HINTS:
        if (not cls or cls in mro) and fragment.lower() in message.lower():
            return hint
    return ""


def _learner_frame(tb, learner_files):
    real = {os.path.realpath(f) for f in learner_files}
    found = None
    for frame in traceback.extract_tb(tb):
        if os.path.realpath(frame.filename) in real:
            found = frame
    return found


_GRADER_PATH = re.compile(r"\S*grader/\S*")


def _trim(message: str) -> str:
    """Drops the parts of JAX's messages that point at grader internals or at docs."""
    keep = []
    for line in message.splitlines():
        if "grader/" in line or line.startswith("See https://") or "--------" in line:
            continue
        keep.append(line)
    text = "\n".join(keep).strip()
    if not text and message.strip():  # every line named the grader: keep the first, scrubbed
        text = _GRADER_PATH.sub("(the grader's probe)", message.strip().splitlines()[0])
    return text if len(text) <= 1200 else text[:1200] + " ..."


def _safe_str(e: BaseException) -> str:
    try:
        text = str(e)
        return text if isinstance(text, str) else "(no message)"
    except Exception:  # a learner's exception whose __str__ raises
        return "(the exception's message could not be read)"


def describe_exception(e: BaseException, learner_files, during: str) -> dict:
    """Plain-data description of ``e``, pointing at the learner's innermost line."""
    mro = [str(c.__name__) for c in type(e).__mro__]
    message = _trim(_safe_str(e))
    info = {
        "status": "error",
        "exception": type(e).__name__,
        "mro": mro,
        "message": message[:2000],
        "during": during,
    }
    if isinstance(e, NotImplementedError):
        info["status"] = "not_implemented"
    elif isinstance(e, MemoryError) or "RESOURCE_EXHAUSTED" in message:
        info["status"] = "memory"
    if isinstance(e, SyntaxError):
        info.update(
            where=f"{os.path.basename(e.filename or '?')}:{e.lineno}",
            line=(e.text or "").rstrip("\n"),
            caret=e.offset or 0,
        )
        return info
    if isinstance(e, ModuleNotFoundError) and e.name:
        info["missing_module"] = e.name
    frame = _learner_frame(e.__traceback__, learner_files)
    if frame is not None:
        info.update(
            where=f"{os.path.basename(frame.filename)}:{frame.lineno}",
            line=(frame.line or "").strip(),
            function=frame.name,
        )
    return info
