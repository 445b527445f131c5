"""q14 Imbalanced data: class weights, weighted CE, focal loss, SMOTE, balanced batches and
the F1-optimal threshold; two TRAIN checks on a 97/3 make_classification problem."""

from __future__ import annotations

import numpy as np

from grader import checks as ck
from grader import props
from grader.spec import Exercise, FileSpec, case

_P = 1e-6  # p-value floor of every statistical test


def _weights_cases(rng):
    out = []
    for _ in range(5):
        y = rng.choice(4, size=50, p=[0.7, 0.2, 0.07, 0.03]).astype(np.int32)
        y[:4] = np.arange(4)  # every class present
        out.append(case(y, static={"num_classes": 4}))
    return out


def _sklearn_weights(c):
    from sklearn.utils.class_weight import compute_class_weight

    y = c.args[0]
    return compute_class_weight("balanced", classes=np.arange(4), y=y).astype(np.float32)


def _ce_case(rng, n=64, c=5, **kw):
    return case(ck.normal(rng, (n, c), 3.0), rng.integers(0, c, n).astype(np.int32),
                rng.uniform(0.1, 1.1, c).astype(np.float32), **kw)


def _wce_x64(fns, i):
    import jax
    import jax.numpy as jnp

    with jax.enable_x64(True):
        return fns.weighted_cross_entropy(jnp.asarray(i.args[0], jnp.float64), i.args[1],
                                          jnp.asarray(i.args[2], jnp.float64))


def _log_probs(z):
    z = z.astype(np.float64) - z.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


def _sklearn_wce(c):
    from sklearn.metrics import log_loss

    z, y, w = c.args
    return np.asarray(log_loss(y, np.exp(_log_probs(z)), labels=range(z.shape[1]),
                               sample_weight=w.astype(np.float64)[y]), np.float64)


def _value_and_grad(fns, i):
    import jax

    f = lambda z: fns.weighted_cross_entropy(z, *i.args[1:])  # noqa: E731
    return {"value": f(i.args[0]), "grad": jax.grad(f)(i.args[0])}


def _wce_closed_form(c):
    z, y, w = c.args
    lp, wy = _log_probs(z), w.astype(np.float64)[y]
    grad = wy[:, None] * (np.exp(lp) - np.eye(z.shape[1])[y]) / wy.sum()
    return {"value": np.asarray(-(wy * lp[np.arange(len(y)), y]).sum() / wy.sum(), np.float32),
            "grad": grad.astype(np.float32)}


def _focal_cases(rng):
    x = np.linspace(-30, 30, 61).astype(np.float32)
    labels = {"hard": (np.arange(61) % 2).astype(np.float32), "soft": np.full(61, 0.3, np.float32)}
    return [case(x, y, static={"alpha": a, "gamma": g}, label=f"{name} labels")
            for name, y in labels.items() for a in (None, 0.25, 0.75) for g in (0.0, 0.5, 1, 2, 5)]


def _bce(c):
    x, y = (a.astype(np.float64) for a in c.args)
    return (np.maximum(x, 0) - x * y + np.log1p(np.exp(-np.abs(x)))).astype(np.float32)


def _focal_extremes(fns, i):
    import jax
    import jax.numpy as jnp

    f = lambda x: jnp.sum(fns.focal_loss(x, i.args[1], gamma=0.5))  # noqa: E731
    return {"loss": f(i.args[0]), "grad": jax.grad(f)(i.args[0])}


def _directed_pairs(x, k):
    d = ((x[:, None].astype(np.float64) - x[None]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    nb = np.argsort(d, axis=1, kind="stable")[:, :k]
    return [(i, int(j)) for i in range(len(x)) for j in nb[i]]


def _closest_segment(points, x, pairs):
    """For each point: the closest segment (index into pairs), its distance, and t."""
    a, b = x[[i for i, _ in pairs]].astype(np.float64), x[[j for _, j in pairs]].astype(np.float64)
    ab, p = b - a, points.astype(np.float64)[:, None]
    t = ((p - a[None]) * ab[None]).sum(-1) / (ab ** 2).sum(-1)[None]
    dist = np.linalg.norm(p - (a[None] + np.clip(t, 0, 1)[..., None] * ab[None]), axis=-1)
    s = dist.argmin(1)
    rows = np.arange(len(points))
    return s, dist[rows, s], t[rows, s]


def _on_segments(case, out):
    x, k, out = case.args[1], case.static["k"], np.asarray(out)
    if out.shape != (case.static["num_new"], x.shape[1]):
        return f"expected shape {(case.static['num_new'], x.shape[1])}, got {out.shape}"
    _, dist, _ = _closest_segment(out, x, _directed_pairs(x, k))
    if dist.max() > 1e-5:
        return (f"{int((dist > 1e-5).sum())} of {len(out)} points lie off every segment from a "
                f"minority point to one of its {k} nearest other minority points (worst "
                f"{dist.max():.3g} away)")
    return None


def _smote_statistics(case, out):
    from scipy import stats

    x, k, out = case.args[1], case.static["k"], np.asarray(out, np.float64)
    directed = _directed_pairs(x, k)
    undirected, mult = [], {}
    for i, j in directed:  # keep the first orientation of each segment
        key = (min(i, j), max(i, j))
        if key not in mult:
            undirected.append((i, j))
        mult[key] = mult.get(key, 0) + 1
    seg, _, t = _closest_segment(out, x, undirected)
    m = np.array([mult[(min(i, j), max(i, j))] for i, j in undirected], np.float64)
    counts = np.bincount(seg, minlength=len(undirected))
    p_pairs = stats.chisquare(counts, m / m.sum() * len(out)).pvalue
    if p_pairs < _P:
        return (f"the (point, neighbour) pairs are not uniform over the n*k pairs (chi-square "
                f"p = {p_pairs:.2g}): draw the row and the neighbour column uniformly")
    p_gap = stats.kstest(t[m[seg] == 1], "uniform").pvalue
    if p_gap < _P:
        return (f"the gaps u are not U[0, 1) (KS p = {p_gap:.2g}; mean gap "
                f"{t[m[seg] == 1].mean():.3f}): draw one uniform gap per new point")
    return None


def _smote_cases(*ks, n_new=4000):
    return lambda rng: [case(ck.Key(7), ck.normal(rng, (20, 3)), static={"num_new": n_new,
                                                                         "k": k}) for k in ks]


_IMBALANCED = np.array([0] * 97 + [1] * 3, np.int32)


def _batches(fns, i):
    import jax

    keys = jax.random.split(i.args[0], 200)
    return jax.lax.map(lambda k: fns.balanced_batch_indices(k, i.args[1], 64), keys)


def _valid_indices(case, out):
    out, n = np.asarray(out), len(case.args[1])
    if out.shape != (case.static["batch_size"],) or out.dtype.kind not in "iu":
        return f"expected ({case.static['batch_size']},) integers, got {out.shape} {out.dtype}"
    return None if ((out >= 0) & (out < n)).all() else f"indices outside 0..{n - 1}"


def _batch_statistics(case, out):
    from scipy import stats

    idx, y = np.asarray(out), case.args[1]
    minority = y[idx] == 1
    share, sigma = minority.mean(), np.sqrt(0.25 / idx.size)
    if abs(share - 0.5) > 6 * sigma:
        return f"the minority share is {share:.4f}, expected 0.5 +- {6 * sigma:.4f} (6 sigma)"
    var = minority.sum(1).var(ddof=1)
    if not 8 <= var <= 32:
        return (f"the per-batch minority count varies with variance {var:.2f}, expected about "
                "16 (Binomial(64, 1/2)): draw every index independently, with replacement")
    for c in (0, 1):
        members = np.flatnonzero(y == c)
        counts = np.array([(idx == m).sum() for m in members])
        p = stats.chisquare(counts).pvalue
        if p < _P:
            return f"picks within class {c} are not uniform (chi-square p = {p:.2g})"
    return None


def _f1_rows(rng):
    out = []
    for ties in (False, True):
        y = (rng.random((30, 50)) < 0.2).astype(np.int32)
        y[:, 0] = 1  # at least one positive per row
        s = (rng.standard_normal((30, 50)) + y).astype(np.float32)
        out.append(case(np.round(s) if ties else s, y,
                        label="30 cases, " + ("integer scores (ties)" if ties else "N(y, 1)")))
    return out


def _map_f1(fns, i):
    import jax

    return jax.lax.map(lambda a: fns.best_threshold_f1(*a), tuple(i.args))


def _exact_f1(s, y, t):
    pred = s >= t
    return 2.0 * (pred & (y == 1)).sum() / (pred.sum() + (y == 1).sum())


def _threshold_f1(case, out):
    from sklearn.metrics import precision_recall_curve

    for row, (s, y) in enumerate(zip(*case.args, strict=True)):
        t, f1 = float(np.asarray(out[0])[row]), float(np.asarray(out[1])[row])
        p, r, _ = precision_recall_curve(y, s)
        best = np.max(np.where(p + r > 0, 2 * p * r / np.where(p + r > 0, p + r, 1), 0))
        if abs(f1 - best) > 1e-6:
            return f"row {row}: F1 {f1:.6f}, expected the best F1 {best:.6f}"
        reach = {float(c) for c in np.unique(s) if _exact_f1(s, y, c) >= best - 1e-6}
        if t not in reach:
            return f"row {row}: the rule score >= {t:.6g} does not reach the best F1 {best:.6f}"
        if len(reach) == 1 and t != min(reach):
            return f"row {row}: threshold {t:.6g}, expected {min(reach):.6g}"
    return None


def _train_data():
    from sklearn.datasets import make_classification

    x, y = make_classification(6000, n_features=20, n_informative=5, weights=[0.97, 0.03],
                               flip_y=0, class_sep=0.8, random_state=0)
    x, y = x.astype(np.float32), y.astype(np.int32)
    return [case(x[:4000], y[:4000], x[4000:], y[4000:], label="make_classification 97/3")]


def _fit(loss_fn, x, y):
    """Full-batch Adam(0.05), 500 steps, a linear softmax model from zeros; the margin."""
    import jax
    import jax.numpy as jnp
    import optax

    tx, params = optax.adam(0.05), {"w": jnp.zeros((x.shape[1], 2)), "b": jnp.zeros(2)}

    def step(carry, _):
        p, s = carry
        g = jax.grad(lambda p: loss_fn(x @ p["w"] + p["b"][None, :], y))(p)
        u, s = tx.update(g, s, p)
        return (optax.apply_updates(p, u), s), None

    (p, _), _ = jax.jit(lambda c: jax.lax.scan(step, c, None, length=500))(
        (params, tx.init(params)))
    return lambda z: (z @ p["w"] + p["b"][None, :]) @ jnp.array([-1.0, 1.0])


def _train_weighted(fns, i):
    import jax.numpy as jnp

    xtr, ytr, xte, yte = i.args
    w = fns.class_weights_balanced(ytr, 2)
    pred = _fit(lambda z, y: fns.weighted_cross_entropy(z, y, w), xtr, ytr)(xte) >= 0
    recall, spec = jnp.mean(pred[yte == 1]), jnp.mean(~pred[yte == 0])
    return {"minority_recall": recall, "balanced_accuracy": (recall + spec) / 2}


def _recall_and_bacc(case, out):
    r, b = float(out["minority_recall"]), float(out["balanced_accuracy"])
    if r >= 0.5 and b >= 0.70:
        return None
    return (f"minority recall {r:.3f} (needs >= 0.5), balanced accuracy {b:.3f} (needs >= 0.70)"
            "; plain cross-entropy reaches 0.07 / 0.53")


def _train_threshold(fns, i):
    import jax
    import jax.numpy as jnp

    xtr, ytr, xte, yte = i.args
    plain = lambda z, y: -jnp.mean(jax.nn.log_softmax(z)[jnp.arange(y.shape[0]), y])  # noqa
    margin = _fit(plain, xtr, ytr)
    t, _ = fns.best_threshold_f1(margin(xtr[:1000]), ytr[:1000])
    f1 = lambda pred: 2 * jnp.sum(pred & (yte == 1)) / (jnp.sum(pred) + jnp.sum(yte))  # noqa
    return {"f1_lift": f1(margin(xte) >= t) - f1(margin(xte) >= 0)}


_TRAIN = dict(batched=False, timeout=60.0, weight=2.0)

CHECKS = (
    ck.oracle("class_weights_balanced", _weights_cases, _sklearn_weights, id="matches_sklearn",
              rtol=1e-6, title="equals sklearn compute_class_weight('balanced')",
              hint="w_c = N / (C * n_c): rare classes get large weights"),
    ck.oracle("class_weights_balanced", lambda rng: [case(np.array([0, 0, 0, 2, 2, 0], np.int32),
                                                          static={"num_classes": 3})],
              lambda c: np.array([0.5, 0.0, 1.0], np.float32), id="absent_class_zero",
              rtol=1e-6, title="an absent class gets weight 0",
              hint="jnp.where(counts > 0, N / (C * jnp.where(counts > 0, counts, 1)), 0)"),
    ck.jit("class_weights_balanced", lambda rng: _weights_cases(rng)[:2]),
    ck.oracle("weighted_cross_entropy", lambda rng: [_ce_case(rng) for _ in range(4)],
              _sklearn_wce, call=_wce_x64, id="matches_sklearn", batched=False, rtol=1e-6,
              title="equals sklearn log_loss(sample_weight=w[y]) in float64",
              hint="divide by sum_i w[y_i], not by N"),
    ck.oracle("weighted_cross_entropy", lambda rng: [
        case(*_ce_case(rng).args[:2], np.ones(5, np.float32)) for _ in range(3)],
        lambda c: np.asarray(-_log_probs(c.args[0])[np.arange(64), c.args[1]].mean(), np.float32),
        id="ones_is_plain_ce", rtol=1e-6, title="all-ones weights give the plain mean CE"),
    ck.metamorphic("weighted_cross_entropy", lambda rng: [_ce_case(rng) for _ in range(3)],
                   transform=lambda i: i.replace(args=(*i.args[:2], i.args[2] * 7.5)),
                   relation=lambda y, i: y, id="scale_invariant", rtol=1e-6, atol=0.0,
                   title="weights times 7.5 change nothing"),
    ck.oracle("weighted_cross_entropy", lambda rng: [case(
        np.where(rng.random((16, 3)) < 0.5, -1e4, 1e4).astype(np.float32),
        rng.integers(0, 3, 16).astype(np.int32), rng.uniform(0.1, 1.1, 3).astype(np.float32),
        label="logits +-1e4")], _wce_closed_form, call=_value_and_grad, atol=1e-7,
        id="stable_large_logits", kind="stability",
        title="finite at logits +-1e4, gradient w[y] (softmax - onehot) / sum w[y]",
        hint="use log_softmax (max subtracted), never log(softmax)"),
    ck.invariant("weighted_cross_entropy", lambda rng: _train_data(), _recall_and_bacc,
                 call=_train_weighted, id="train_minority_recall", kind="training",
                 uses=("class_weights_balanced",), **_TRAIN,
                 title="TRAIN: balanced weights reach minority recall 0.5, balanced acc 0.70",
                 description="linear softmax, Adam 0.05, 500 full-batch steps on 4000 examples "
                 "of make_classification (97/3, class_sep 0.8) with your weighted_cross_entropy "
                 "and class_weights_balanced; measured 0.72 / 0.78, plain CE 0.07 / 0.53"),
    ck.equivalence("focal_loss", _focal_cases, id="matches_optax", rtol=1e-5, atol=1e-12,
                   title="equals optax.sigmoid_focal_loss",
                   hint="elementwise, no reduction; alpha weighs the positives: "
                   "alpha * y + (1 - alpha) * (1 - y)"),
    ck.oracle("focal_loss", lambda rng: [case(ck.normal(rng, (4, 7), 3.0),
                                              (rng.random((4, 7)) < 0.5).astype(np.float32),
                                              static={"gamma": 0.0})], _bce,
              id="bce_at_gamma_zero", title="gamma = 0, alpha = None gives binary CE"),
    ck.invariant("focal_loss", lambda rng: [case(np.array([-100, 100, -100, 100], np.float32),
                                                 np.array([0, 1, 1, 0], np.float32))],
                 props.all_of(props.finite(of="loss"), props.finite(of="grad")),
                 call=_focal_extremes, id="finite_extremes", kind="stability",
                 title="finite loss and gradient at logits +-100, gamma 0.5",
                 hint="(1 - p_t) ** gamma has an infinite slope at 0 for gamma < 1: use "
                 "exp(gamma * log(1 - p_t)) with log(1 - p_t) from log_sigmoid and logsumexp"),
    ck.forbidden("focal_loss"),
    ck.invariant("smote", _smote_cases(1, 3), _on_segments, id="on_knn_segments",
                 title="every point on a segment to one of the k nearest neighbours"),
    ck.invariant("smote", _smote_cases(3), _smote_statistics, id="statistics",
                 title="pairs uniform (chi-square), gaps U[0, 1) (KS)",
                 hint="one flat index in [0, n k) per point, split with // and %; one gap each"),
    ck.prng("smote", lambda rng: [case(ck.Key(0), ck.normal(rng, (12, 2)), static={
        "num_new": 50, "k": 3}, extras={"other_key": ck.Key(1)})]),
    ck.jit("smote", _smote_cases(2, n_new=64), title="works under jit, num_new and k static"),
    ck.invariant("balanced_batch_indices", lambda rng: [case(ck.Key(3), _IMBALANCED, static={
        "batch_size": 64})], _valid_indices, id="valid", title="(batch_size,) valid indices"),
    ck.invariant("balanced_batch_indices", lambda rng: [case(ck.Key(4), _IMBALANCED)],
                 _batch_statistics, call=_batches, id="statistics",
                 title="200 batches of 64 on 97/3 labels: i.i.d. with P(i) ~ 1 / count",
                 hint="jax.random.choice(key, N, (batch_size,), replace=True, p=w / w.sum()) "
                 "with w = 1 / count(labels[i])"),
    ck.prng("balanced_batch_indices", lambda rng: [case(ck.Key(5), _IMBALANCED, static={
        "batch_size": 64}, extras={"other_key": ck.Key(6)})]),
    ck.jit("balanced_batch_indices", lambda rng: [case(ck.Key(8), _IMBALANCED, static={
        "batch_size": 32})], title="works under jit, labels traced, batch_size static"),
    ck.invariant("best_threshold_f1", _f1_rows, _threshold_f1, call=_map_f1,
                 id="matches_sklearn", title="the best F1 of precision_recall_curve, reached",
                 hint="candidates are the scores themselves (they may be logits); rule >="),
    ck.oracle("best_threshold_f1", lambda rng: [
        case(np.array([-3, -1, .5, 2, 4], np.float32), np.array([0, 0, 1, 1, 1], np.int32),
             static={"_want": (0.5, 1.0)}, label="separable"),
        case(np.array([1, 2, 3, 4], np.float32), np.array([1, 0, 0, 1], np.int32),
             static={"_want": (1.0, 2 / 3)}, label="F1 2/3 at t = 1 and t = 4")],
        lambda c: tuple(np.asarray(v, np.float32) for v in c.static["_want"]),
        id="separable", title="separable data: (min positive score, 1); ties: the smallest t",
        hint="predict positive iff score >= t; among equal F1 take the smallest t"),
    ck.jit("best_threshold_f1", lambda rng: _f1_rows(rng)[:1], call=_map_f1),
    ck.training("best_threshold_f1", lambda rng: _train_data(), _train_threshold,
                metric="f1_lift", threshold=0.10, id="train_lifts_f1",
                title="TRAIN: the tuned threshold lifts test F1 by 0.10",
                description="a plain-CE linear model (Adam 0.05, 500 steps) on the 97/3 data; "
                "your threshold on its margin over 1000 training examples; test F1 against "
                "the 0 margin (measured 0.11 -> 0.31)"),
)

_TASKS = ("class_weights_balanced", "weighted_cross_entropy", "focal_loss", "smote",
          "balanced_batch_indices", "best_threshold_f1")
_MODULE = {"class_weights_balanced": "weights", "weighted_cross_entropy": "losses",
           "focal_loss": "losses", "smote": "sampling", "balanced_batch_indices": "sampling",
           "best_threshold_f1": "threshold"}

EXERCISE = Exercise(
    id="q14",
    title="Imbalanced data",
    files={"imbalance.py": FileSpec(
        tasks=tuple(f"dlcore.imbalance.{_MODULE[t]}:{t}" for t in _TASKS),
        summary="class weights, weighted and focal losses, SMOTE, balanced batches, "
        "threshold moving")},
    checks=CHECKS,
    forbidden={t: ("optax.sigmoid_focal_loss", "optax.losses", "optax.softmax_cross_entropy*",
                   "optax.sigmoid_binary_cross_entropy", "sklearn", "imblearn") for t in _TASKS},
)
