"""Turning a learner's exception into a calm, precise diagnosis.

``describe_exception`` runs in the worker and produces plain data (no objects cross the
pipe); ``hint_for`` runs in the parent and maps the exception class (then its message) to
the advice of GRADER.md's table of usual JAX mistakes.
"""

from __future__ import annotations

import os
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
]


def hint_for(mro: list[str], message: str) -> str:
    for cls, fragment, hint in _HINTS:
        if cls in mro and fragment.lower() in message.lower():
            return hint
    return ""


def _learner_frame(tb, learner_files):
    real = {os.path.realpath(f) for f in learner_files}
    found = None
    for frame in traceback.extract_tb(tb):
        if os.path.realpath(frame.filename) in real:
            found = frame
    return found


def _trim(message: str) -> str:
    """Drops the parts of JAX's messages that point at grader internals or at docs."""
    keep = []
    for line in message.splitlines():
        if "grader/" in line or line.startswith("See https://") or "--------" in line:
            continue
        keep.append(line)
    text = "\n".join(keep).strip()
    return text if len(text) <= 1200 else text[:1200] + " ..."


def describe_exception(e: BaseException, learner_files, during: str) -> dict:
    """Plain-data description of ``e``, pointing at the learner's innermost line."""
    mro = [c.__name__ for c in type(e).__mro__]
    message = _trim(str(e))
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
