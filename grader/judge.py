"""Parent-side comparison of learner outputs with reference outputs (NumPy only).

Order of the verdict, as GRADER.md promises: the structure (which outputs exist), then
exact shape and dtype, then finiteness (a NaN is never equal to anything, even a NaN),
then closeness within a tolerance chosen per dtype and backend.
"""

from __future__ import annotations

import numpy as np

from grader.spec import Failure

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
            msg += " (same number of elements: a missing or extra axis, e.g. (B, 1) vs (B,))"
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


def compare_trees(got: dict, ref: dict, **kw) -> str | None:
    """Compares two flattened pytrees ``{path: (array, kind)}``."""
    if set(got) != set(ref):
        missing = sorted(set(ref) - set(got))
        extra = sorted(set(got) - set(ref))
        parts = []
        if missing:
            parts.append("missing " + ", ".join(p or "(root)" for p in missing))
        if extra:
            parts.append("unexpected " + ", ".join(p or "(root)" for p in extra))
        return "output structure differs from the reference: " + "; ".join(parts)
    for path in sorted(ref):
        (g, gk), (r, rk) = got[path], ref[path]
        if rk == "jax" and gk == "numpy":
            return (
                f"output {path or ''}: returned a NumPy array; return a jax.Array "
                "(use jax.numpy, not numpy, so the function works under jit and grad)"
            )
        msg = compare_arrays(path, g, r, **kw)
        if msg:
            return msg
    return None


def arrays(tree: dict) -> dict[str, np.ndarray]:
    return {k: v[0] for k, v in tree.items()}


def match(tol_scale: float = 1.0, **kw):
    """The standard judge: the learner's probe output equals the reference's."""

    def judge(case, got, ref):
        msg = compare_trees(got, ref, tol_scale=tol_scale, **kw)
        return Failure(f"on {case.describe()}: {msg}") if msg else None

    return judge
