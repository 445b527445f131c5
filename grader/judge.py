"""Parent-side comparison of learner outputs with reference outputs (NumPy only).

Order of the verdict, as GRADER.md promises: the structure (which outputs exist), then
exact shape and dtype, then finiteness (a NaN is never equal to anything, even a NaN),
then closeness within a tolerance chosen per dtype and backend.
"""

from __future__ import annotations

import numpy as np

from grader.spec import Failure
from grader.wire import NumpyArray, Record

# (rtol, atol) per dtype; off CPU the grader pins matmul precision to "highest", and
# accelerators still differ from CPU in transcendental functions, hence the wider band.
_TOLERANCES = {
    "cpu": {
        "float64": (1e-7, 1e-9),
        "float32": (2e-5, 2e-6),
        "float16": (2e-3, 2e-3),
        "bfloat16": (2e-2, 2e-2),
    },
    "accelerator": {
        "float64": (1e-6, 1e-8),
        "float32": (2e-4, 2e-5),
        "float16": (5e-3, 5e-3),
        "bfloat16": (4e-2, 4e-2),
    },
}

BACKEND = "cpu"


def set_backend(name: str) -> None:
    global BACKEND
    BACKEND = name


def tolerance(dtype, scale: float = 1.0) -> tuple[float, float]:
    table = _TOLERANCES["cpu" if BACKEND == "cpu" else "accelerator"]
    rtol, atol = table.get(np.dtype(dtype).name, (0.0, 0.0))
    return rtol * scale, atol * scale


def _fmt(v) -> str:
    if isinstance(v, (np.floating, float)):
        return f"{float(v):.6g}"
    return str(v.item() if hasattr(v, "item") else v)


def _where(idx) -> str:
    return "[" + ", ".join(str(int(i)) for i in idx) + "]" if len(idx) else "(scalar)"


def small(a: np.ndarray, limit: int = 12) -> str:
    """The values themselves when they fit on a line, for failure messages."""
    if a.size > limit:
        return f"array of shape {a.shape}"
    return np.array2string(
        np.asarray(a, dtype=np.float64) if a.dtype.kind == "V" else a,
        precision=5,
        separator=", ",
        threshold=limit,
    )


def _shape_hint(got: np.ndarray, ref: np.ndarray) -> str:
    """Names the likely layout mistake when two shapes hold the same number of elements."""
    if got.ndim == ref.ndim and sorted(got.shape) == sorted(ref.shape):
        axes = [i for i in range(ref.ndim) if got.shape[i] != ref.shape[i]]
        if len(axes) == 2:
            a, b = axes
            swapped = np.swapaxes(got, a, b)
            same = swapped.shape == ref.shape and ref.dtype.kind in "fc" and np.allclose(
                swapped.astype(np.float64), ref.astype(np.float64), rtol=1e-3, atol=1e-4)
            tail = " (and with them swapped the values match)" if same else ""
            return f" (axes {a} and {b} look swapped{tail})"
        return " (the same axes in another order: a transpose or a wrong layout)"
    return " (same number of elements: a missing or extra axis, e.g. (B, 1) vs (B,))"


def compare_arrays(
    name: str,
    got: np.ndarray,
    ref: np.ndarray,
    *,
    tol_scale: float = 1.0,
    rtol: float | None = None,
    atol: float | None = None,
    exact: bool = False,
) -> str | None:
    """Returns None when ``got`` matches ``ref``, else a one-paragraph explanation."""
    label = f"output {name}" if name else "output"
    if got.shape != ref.shape:
        msg = f"{label}: expected shape {ref.shape}, got {got.shape}"
        if got.size == ref.size:
            msg += _shape_hint(got, ref)
        return msg
    if got.dtype != ref.dtype:
        return f"{label}: expected dtype {ref.dtype}, got {got.dtype}"
    if ref.dtype.kind in "biu" or exact:
        bad = got != ref
        if not bad.any():
            return None
        idx = np.unravel_index(np.argmax(bad), bad.shape)
        return (
            f"{label}: {int(bad.sum())} of {bad.size} entries differ (exact match required); "
            f"first at {_where(idx)}: expected {_fmt(ref[idx])}, got {_fmt(got[idx])}"
        )
    g = got.astype(np.float64)
    r = ref.astype(np.float64)
    gnan = ~np.isfinite(g)
    rnan = ~np.isfinite(r)
    # A non-finite reference entry (rare: only in tests of non-finite inputs) must be
    # matched exactly (same inf sign); NaN never matches.
    if (gnan & ~rnan).any():
        idx = np.unravel_index(np.argmax(gnan & ~rnan), g.shape)
        return (
            f"{label}: expected finite values, got {_fmt(got[idx])} at {_where(idx)} "
            f"({int((gnan & ~rnan).sum())} non-finite entries); expected {_fmt(ref[idx])} there"
        )
    if rnan.any():
        mismatch = rnan & ~((g == r) & ~np.isnan(r))
        if mismatch.any():
            idx = np.unravel_index(np.argmax(mismatch), g.shape)
            msg = f"{label}: expected {_fmt(ref[idx])} at {_where(idx)}, got {_fmt(got[idx])}"
            if np.isnan(r[idx]) and np.isnan(g[idx]):
                msg += " (NaN never counts as equal, not even to NaN: compute finite values)"
            return msg
    d_rtol, d_atol = tolerance(ref.dtype, tol_scale)
    rtol = d_rtol if rtol is None else rtol
    atol = d_atol if atol is None else atol
    fin = ~rnan
    err = np.where(fin, np.abs(g - r), 0.0)
    allowed = atol + rtol * np.abs(np.where(fin, r, 0.0))
    if (err <= allowed).all():
        return None
    over = err - allowed
    idx = np.unravel_index(np.argmax(over), g.shape)
    rel = err[idx] / max(abs(r[idx]), 1e-30)
    n_bad = int((err > allowed).sum())
    return (
        f"{label}: {n_bad} of {err.size} entries outside tolerance; worst at {_where(idx)}: "
        f"expected {_fmt(r[idx])}, got {_fmt(g[idx])} (abs error {err[idx]:.3g}, "
        f"rel error {rel:.3g}; tolerance atol={atol:.1g} + rtol={rtol:.1g}*|expected|)"
    )


def compare_trees(got, ref, path: str = "", **kw) -> str | None:
    """Compares two decoded outputs (see :mod:`grader.wire`): the structure and the kind
    of every leaf first (tuple vs list, dict keys, Python int vs array, ``jax.Array`` vs
    NumPy), then each array with :func:`compare_arrays`, each number within tolerance."""
    where = path or "output"
    if isinstance(ref, dict):
        if not isinstance(got, dict):
            return f"{where}: expected a {_kind(ref)}, got {_kind(got)}"
        if list(got) != list(ref) and set(got) != set(ref):
            missing = [k for k in ref if k not in got]
            extra = [k for k in got if k not in ref]
            parts = []
            if missing:
                parts.append("missing key(s) " + ", ".join(repr(k) for k in missing[:6]))
            if extra:
                parts.append("unexpected key(s) " + ", ".join(repr(k) for k in extra[:6]))
            return f"{where}: structure differs from the reference: " + "; ".join(parts)
        for k in ref:
            msg = compare_trees(got[k], ref[k], f"{path}[{k!r}]", **kw)
            if msg:
                return msg
        return None
    if isinstance(ref, (list, tuple)):
        if not isinstance(got, (list, tuple)) or isinstance(got, str):
            return f"{where}: expected a {_kind(ref)} of {len(ref)}, got {_kind(got)}"
        if len(got) != len(ref):
            return f"{where}: expected a {_kind(ref)} of {len(ref)} items, got {len(got)}"
        if type(got) is not type(ref):
            return f"{where}: expected a {_kind(ref)}, got a {_kind(got)}"
        for i, (g, r) in enumerate(zip(got, ref, strict=False)):
            msg = compare_trees(g, r, f"{path}[{i}]", **kw)
            if msg:
                return msg
        return None
    return _compare_leaf(got, ref, path, **kw)


def _kind(x) -> str:
    if isinstance(x, Record):
        return x.type_name
    if isinstance(x, NumpyArray):
        return "NumPy array"
    if isinstance(x, np.ndarray):
        return "array" if x.ndim else "0-d array"
    return {type(None): "None"}.get(type(x), type(x).__name__)


def _compare_leaf(got, ref, path, **kw) -> str | None:
    where = path or "output"
    if ref is None or isinstance(ref, (str, bytes, bool)):
        if type(got) is not type(ref) or got != ref:
            if type(got) is not type(ref):
                return f"{where}: expected a {_kind(ref)}, got a {_kind(got)}"
            return f"{where}: expected {_short(ref)}, got {_short(got)}"
        return None
    if isinstance(ref, (int, float)):
        if isinstance(got, np.ndarray) or type(got) is not type(ref):
            extra = (f" (convert with {type(ref).__name__}(...))"
                     if isinstance(got, np.ndarray) and got.ndim == 0 else "")
            return f"{where}: expected a Python {type(ref).__name__}, got a {_kind(got)}{extra}"
        if isinstance(ref, int):
            return None if got == ref else f"{where}: expected {ref}, got {got}"
        return compare_arrays(path, np.float64(got), np.float64(ref), **kw)
    if isinstance(ref, np.ndarray):
        if not isinstance(got, np.ndarray):
            return f"{where}: expected an array, got a {_kind(got)}"
        if isinstance(got, NumpyArray) and not isinstance(ref, NumpyArray):
            return (
                f"{where}: returned a NumPy array; return a jax.Array (use jax.numpy, not "
                "numpy, so the function works under jit and grad)"
            )
        return compare_arrays(path, np.asarray(got), np.asarray(ref), **kw)
    return f"{where}: cannot compare a {_kind(got)} with a {_kind(ref)}"


def _short(v) -> str:
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


def match(tol_scale: float = 1.0, **kw):
    """The standard judge: the learner's probe output equals the reference's."""

    def judge(case, got, ref):
        msg = compare_trees(got, ref, tol_scale=tol_scale, **kw)
        return Failure(f"on {case.describe()}: {msg}") if msg else None

    return judge
