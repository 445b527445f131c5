"""Named properties for :func:`grader.checks.invariant`: ``prop(case, out) -> msg | None``.

Each takes ``of``: which part of the decoded output to look at (a key, an index, or a
callable; the whole output when None). Values are judged in float64 on the parent.
"""

from __future__ import annotations

import numpy as np

from grader.judge import compare_trees


def _part(out, of):
    if of is None:
        return out
    if callable(of):
        return of(out)
    return out[of]


def _named(title):
    def wrap(fn):
        fn.title = title
        return fn

    return wrap


def _f64(x):
    return np.asarray(x, dtype=np.float64)


def _tol_for(x, f32=1e-5, low=2e-2):
    return f32 if np.asarray(x).dtype in (np.float32, np.float64) else low


def sums_to_one(*, axis=-1, of=None, tol=None, log=False):
    """Entries are >= 0 and sum to 1 along ``axis`` (an int, or the name of a static);
    with ``log``, the entries are log-probabilities and ``exp`` of them sums to 1."""

    @_named("rows sum to one")
    def prop(case, out):
        raw = _part(out, of)
        p = np.exp(_f64(raw)) if log else _f64(raw)
        ax = case.static.get(axis, -1) if isinstance(axis, str) else axis
        if p.ndim == 0 or not -p.ndim <= ax < p.ndim:
            return f"the output of shape {p.shape} has no axis {ax} to sum over"
        t = tol if tol is not None else _tol_for(raw)
        err = np.max(np.abs(p.sum(axis=ax) - 1)) if p.size else 0.0
        if not np.isfinite(err) or err > t:
            return f"values along axis {ax} sum to 1 +- {err:.3g}, not within {t:g}"
        if (p < 0).any():
            return f"there are negative entries (min {p.min():.3g})"
        return None

    return prop


def at_most(bound: float, *, of=None):
    """Every entry is finite and <= ``bound``."""

    @_named(f"every entry <= {bound:g}")
    def prop(case, out):
        y = _f64(_part(out, of))
        if not np.isfinite(y).all():
            return "there are non-finite entries"
        if (y > bound).any():
            return f"entries above {bound:g} (max {y.max():.3g})"
        return None

    return prop


def within(low: float, high: float, *, of=None):
    """Every entry lies in ``[low, high]``."""

    @_named(f"values in [{low:g}, {high:g}]")
    def prop(case, out):
        y = _f64(_part(out, of))
        bad = ~((y >= low) & (y <= high))
        if bad.any():
            return f"{int(bad.sum())} entries outside [{low:g}, {high:g}] (e.g. {y[bad][0]:.4g})"
        return None

    return prop


def finite(*, of=None):
    @_named("finite values")
    def prop(case, out):
        y = _f64(_part(out, of))
        if not np.isfinite(y).all():
            return f"{int((~np.isfinite(y)).sum())} non-finite entries"
        return None

    return prop


def zeros_where(mask, *, of=None):
    """Entries are exactly 0 where ``mask(case)`` (broadcastable) is False."""

    @_named("exactly zero where masked")
    def prop(case, out):
        y = _f64(_part(out, of))
        m = np.asarray(mask(case), bool)
        try:
            m = np.broadcast_to(m, y.shape)
        except ValueError:
            return f"expected an output of shape {m.shape} (or broadcastable), got {y.shape}"
        bad = (~m) & (y != 0)
        if bad.any():
            idx = tuple(int(i) for i in np.argwhere(bad)[0])
            return (f"{int(bad.sum())} masked entries are not exactly 0; first at {list(idx)}: "
                    f"{y[idx]:.3g}")
        return None

    return prop


def bernoulli_rate(rate, *, sigmas: float = 6.0, of=None, zero=True):
    """The fraction of exact zeros (``zero``) or non-zeros is ``rate(case)`` within
    ``sigmas`` binomial standard deviations."""

    @_named(f"fraction of zeros within {sigmas:g} sigma")
    def prop(case, out):
        y = np.asarray(_part(out, of))
        p = float(rate(case))
        n = y.size
        frac = float(np.mean(y == 0)) if zero else float(np.mean(y != 0))
        sd = np.sqrt(max(p * (1 - p), 1e-12) / n)
        if abs(frac - p) > sigmas * sd + 1e-12:
            return (f"{frac:.4f} of {n} entries are {'zero' if zero else 'kept'}; expected "
                    f"{p:.4f} +- {sigmas:g} sigma ({sigmas * sd:.4f})")
        return None

    return prop


def partition(n, *, of=None, complete: bool = False):
    """An integer array of distinct indices in ``range(n(case))``; all of them when
    ``complete``, else as many as fit in its shape."""

    @_named("indices partition the data")
    def prop(case, out):
        idx = np.asarray(_part(out, of))
        total = int(n(case))
        if idx.dtype.kind not in "iu":
            return f"expected integer indices, got dtype {idx.dtype}"
        flat = idx.reshape(-1)
        if flat.size and (flat.min() < 0 or flat.max() >= total):
            return f"indices outside 0..{total - 1} (min {flat.min()}, max {flat.max()})"
        if len(np.unique(flat)) != flat.size:
            return "some index appears twice"
        if complete and flat.size != total:
            return f"{flat.size} indices; expected all {total}"
        return None

    return prop


def unit_norm(*, axis=-1, of=None, tol=1e-5):
    @_named("unit norm")
    def prop(case, out):
        y = _f64(_part(out, of))
        err = np.max(np.abs(np.linalg.norm(y, axis=axis) - 1))
        return None if err <= tol else f"the norm differs from 1 by {err:.3g}"

    return prop


def equal_parts(a, b, *, what: str, exact: bool = False, tol_scale: float = 10.0, **tol):
    """Two parts of one output agree (e.g. ``out["x"]`` and ``out["again"]``), pytrees
    included; ``a`` is the expected one. ``tol``: ``rtol``/``atol`` overrides."""

    @_named(what)
    def prop(case, out):
        msg = compare_trees(_part(out, b), _part(out, a), exact=exact, tol_scale=tol_scale,
                            **tol)
        return f"{what}: {msg}" if msg else None

    return prop


def all_of(*props):
    """Every property holds; the first failing one speaks."""

    @_named(" and ".join(getattr(p, "title", "property") for p in props))
    def prop(case, out):
        for p in props:
            msg = p(case, out)
            if msg:
                return msg
        return None

    return prop
