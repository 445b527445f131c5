"""q15 Metrics: classification, ranking, probability and regression metrics and k-fold
splits, equal to scikit-learn 1.9.1 (the oracles import sklearn in the parent only)."""

from __future__ import annotations

import warnings

import numpy as np

from grader import checks as ck
from grader.spec import Exercise, FileSpec, case

_C = 5
_AVERAGES = (None, "macro", "micro", "weighted")


def _sk(fn_name, module="sklearn.metrics"):
    """A scikit-learn function, imported in the parent when an oracle needs it."""
    import importlib

    return getattr(importlib.import_module(module), fn_name)


def _labels(rng):
    """N = 40 over C = 5: class 4 absent from both vectors, class 3 never predicted."""
    y_true = rng.integers(0, 4, 40).astype(np.int32)
    y_pred = np.where(rng.random(40) < 0.6, y_true, rng.integers(0, 3, 40)).astype(np.int32)
    return y_true, np.where(y_pred == 3, 0, y_pred).astype(np.int32)


def _stacked(pairs, **kw):
    """One case holding many same-shape inputs along a leading axis (see _mapped)."""
    return case(*[np.stack(v) for v in zip(*pairs, strict=True)], **kw)


def _mapped(fns, i):
    """The task on each row of a stacked case, by lax.map: one trace, any jittable code."""
    import jax

    task = getattr(fns, i.static["_task"])
    static = {k: v for k, v in i.static.items() if not k.startswith("_")}
    return jax.lax.map(lambda a: task(*a, **static), tuple(i.args))


def _rows(fn):
    """An oracle for a stacked case: ``fn`` on each row, stacked."""
    def expected(c):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            outs = [fn(c, *row) for row in zip(*c.args, strict=True)]
        if isinstance(outs[0], tuple):
            return tuple(np.stack(v) for v in zip(*outs, strict=True))
        return np.stack(outs)

    return expected


def _cm_cases(rng):
    return [_stacked([_labels(rng) for _ in range(50)], static={
        "num_classes": _C, "_task": "confusion_matrix"}, label="50 cases")]


def _cm_expected(c, y_true, y_pred):
    return _sk("confusion_matrix")(y_true, y_pred, labels=range(_C)).astype(np.int32)


def _cm_vmapped(fns, i):
    import jax

    return jax.vmap(lambda a, b: fns.confusion_matrix(a, b, _C))(*i.args)


def _prf_cases(rng):
    pairs = [_labels(rng) for _ in range(10)]
    return [_stacked(pairs, label="10 cases", static={
        "num_classes": _C, "average": a, "zero_division": z, "_task": "precision_recall_f1"})
        for a in _AVERAGES for z in (0.0, 1.0)]


def _prf_expected(c, y_true, y_pred):
    p, r, f, _ = _sk("precision_recall_fscore_support")(
        y_true, y_pred, labels=range(_C), average=c.static["average"],
        zero_division=c.static["zero_division"])
    return tuple(np.asarray(v, np.float32) for v in (p, r, f))


def _scalar32(fn):
    def expected(c):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return np.asarray(fn(*[np.asarray(a) for a in c.args]), np.float32)

    return expected


def _tie_rows(rng, task, logit=True, n=50):
    ys = [np.r_[0, 1, rng.integers(0, 2, 28)].astype(np.int32) for _ in range(n)]
    out = [_stacked([(y, np.round(rng.random(30) + 0.3 * y, 1).astype(np.float32))
                     for y in ys], static={"_task": task},
                    label=f"{n} cases, scores rounded to 0.1")]
    if logit:
        out.append(_stacked([(y, np.round(2 * rng.standard_normal(30) + y, 1).astype(
            np.float32)) for y in ys], static={"_task": task},
            label=f"{n} cases, logit-like scores rounded to 0.1"))
    return out


def _tie_cases(rng):
    rows = zip(*_tie_rows(rng, "", False, 3)[0].args, strict=True)
    return [case(*c, label="scores rounded to 0.1") for c in rows]


_AUC_SPECIAL = [  # (labels, scores, AUC)
    ([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9], 1.0), ([0, 0, 1, 1], [0.9, 0.8, 0.2, 0.1], 0.0),
    ([0, 1, 0, 1, 0], [0.4] * 5, 0.5), ([0, 1, 0, 1], [0.2, 0.5, 0.5, 0.9], 0.875),
    ([0, 0, 1], [0.3, 0.5, 0.5], 0.75)]


def _isnan(case, out):
    v = np.asarray(out, np.float64)
    return None if v.shape == () and np.isnan(v) else f"expected a scalar NaN, got {v}"


_isnan.title = "NaN"


def _monotone(i):
    import jax
    import jax.numpy as jnp

    s = i.args[1]
    t = [3 * s - 7, jnp.exp(s), jax.nn.sigmoid(4 * s) ** 3][i.static["_t"]]
    return i.replace(args=(i.args[0], t))


def _ap_cases(rng):
    st = {"_task": "average_precision"}
    extra = case(np.array([[1, 0, 1, 0, 0, 1, 0]], np.int32),
                 np.array([[0.9, 0.8, 0.8, 0.5, 0.5, 0.5, 0.1]], np.float32), static=st,
                 label="tied scores")
    none = case(np.zeros((1, 6), np.int32), np.linspace(0, 1, 6)[None].astype(np.float32),
                static=st, label="no positives")
    return _tie_rows(rng, "average_precision") + [extra, none]


def _probs(rng, n, c, dtype):
    p = rng.dirichlet(np.ones(c), n).astype(np.float32).astype(dtype)
    y = rng.integers(0, c, n).astype(np.int32)
    for row in range(3):  # confidently wrong: the true class gets exactly 0
        p[row] = 0.0
        p[row, (y[row] + 1) % c] = 1.0
    p[3] = 0.0
    p[3, y[3]] = 1.0  # confidently right: exactly 1
    return y, p


def _ll_cases(rng):
    return [case(*_probs(rng, 60, 4, np.float32), label="float32"),
            case(*_probs(rng, 60, 4, np.float32), static={"_x64": True}, label="float64 (x64)")]


def _ll_call(fns, i):
    import jax
    import jax.numpy as jnp

    if not i.static.get("_x64"):
        return fns.log_loss(*i.args)
    with jax.enable_x64(True):
        return fns.log_loss(jnp.asarray(i.args[0]), jnp.asarray(i.args[1], jnp.float64))


def _ll_expected(c):
    y, p = c.args
    dtype = np.float64 if c.static.get("_x64") else np.float32
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.asarray(_sk("log_loss")(y, p.astype(dtype), labels=range(p.shape[1])), dtype)


def _binary_cases(rng):
    y = rng.integers(0, 2, 40).astype(np.int32)
    p = rng.random(40).astype(np.float32)
    p[:2], p[2:4] = 1.0 - y[:2], y[2:4]  # exact 0 and 1, wrong and right
    return [case(y, p, label="1-D P(class 1)")]


def _ce_cases(rng):
    out = []
    for n, c in [(50, 10), (30, 3)]:
        z = rng.standard_normal((n, c)) * 2
        p = np.exp(z - z.max(1, keepdims=True))
        out.append(case(rng.integers(0, c, n).astype(np.int32),
                        (p / p.sum(1, keepdims=True)).astype(np.float32)))
    return out


def _ce_expected(c):
    y, p = c.args
    return np.asarray(-np.mean(np.log(p.astype(np.float64)[np.arange(len(y)), y])), np.float32)


def _reg_cases(rng):
    return [case(ck.normal(rng, s), ck.normal(rng, s)) for s in [(37,), (29, 3)]]


def _pairs(fns, i):
    """Folds as lists of Python ints, whatever array type the function used."""
    folds = getattr(fns, i.static["_task"])(*i.args, **{k: v for k, v in i.static.items()
                                                        if not k.startswith("_")})
    return [(np.asarray(tr).tolist(), np.asarray(va).tolist()) for tr, va in folds]


def _kfold_expected(c):
    kf = _sk("KFold", "sklearn.model_selection")(c.static["k"])
    return [(tr.tolist(), va.tolist()) for tr, va in kf.split(np.arange(c.static["n"]))]


def _strat_labels(rng):
    y = np.repeat(np.arange(4), [23, 7, 3, 11]).astype(np.int32)
    return rng.permutation(y)


def _stratified(case, out):
    y, k = case.args[1], case.static["k"]
    if len(out) != k:
        return f"expected {k} (train, val) pairs, got {len(out)}"
    every = np.arange(len(y))
    for f, (tr, va) in enumerate(out):
        tr, va = np.asarray(tr), np.asarray(va)
        if (np.diff(tr) <= 0).any() or (np.diff(va) <= 0).any():
            return f"fold {f}: the indices are not sorted ascending"
        if tr.tolist() != np.setdiff1d(every, va).tolist():
            return f"fold {f}: train is not the complement of val"
        for c in np.unique(y):
            n_c, got = int((y == c).sum()), int((y[va] == c).sum())
            if not n_c // k <= got <= -(-n_c // k):
                return (f"fold {f} holds {got} of the {n_c} examples of class {c}; expected "
                        f"{n_c // k} or {-(-n_c // k)}")
    vals = np.sort(np.concatenate([np.asarray(va) for _, va in out]))
    if vals.tolist() != every.tolist():
        return "the validation folds do not partition range(N) (an index is missing or repeated)"
    return None


_STRAT = dict(call=_pairs, batched=False)
_ARRAY_TASKS = ("confusion_matrix", "precision_recall_f1", "roc_auc", "average_precision",
                "log_loss", "mse", "mae")
_SPLIT_TASKS = ("kfold_indices", "stratified_kfold")

_MAP = dict(call=_mapped)
_SK_AUC = _rows(lambda c, y, s: np.asarray(_sk("roc_auc_score")(y, s), np.float32))

CHECKS = (
    ck.oracle("confusion_matrix", _cm_cases, _rows(_cm_expected), id="matches_sklearn",
              exact=True, title="equals sklearn confusion_matrix(labels=range(C))",
              hint="rows are true classes, columns predicted: cm.at[y_true, y_pred].add(1)",
              **_MAP),
    ck.jit("confusion_matrix", lambda rng: [case(*_cm_cases(rng)[0].args, label="50 cases")],
           call=_cm_vmapped, title="works under jit and vmap, num_classes static"),
    ck.oracle("precision_recall_f1", _prf_cases, _rows(_prf_expected), id="matches_sklearn",
              atol=1e-6, title="equals sklearn for every average and zero_division",
              hint="macro runs over all C classes; F1 per class, then averaged; 0/0 gives "
              "zero_division; weighted uses the true-class support", **_MAP),
    ck.oracle("precision_recall_f1", lambda rng: [_stacked(
        [_labels(rng) for _ in range(50)], label="50 cases", static={
            "num_classes": _C, "average": "micro", "_task": "precision_recall_f1"})],
        _rows(lambda c, t, p: np.asarray(np.mean(t == p), np.float32)),
        call=lambda fns, i: _mapped(fns, i)[2], id="micro_f1_equals_accuracy",
        title="micro F1 equals accuracy"),
    ck.jit("precision_recall_f1", lambda rng: [case(*_labels(rng), static={
        "num_classes": _C, "average": a}) for a in _AVERAGES],
        title="works under jit, num_classes and average static"),
    ck.oracle("roc_auc", lambda rng: _tie_rows(rng, "roc_auc"), _SK_AUC,
              id="matches_sklearn_ties", atol=1e-6, rtol=0.0,
              title="equals sklearn roc_auc_score with heavy ties",
              hint="a tie between a positive and a negative counts one half", **_MAP),
    ck.oracle("roc_auc", lambda rng: [case(np.asarray(y, np.int32), np.asarray(s, np.float32),
                                           static={"_auc": a})
                                      for y, s, a in _AUC_SPECIAL],
              lambda c: np.asarray(c.static["_auc"], np.float32),
              id="special_cases", atol=1e-7, rtol=0.0,
              title="perfect 1, reversed 0, constant 0.5, small tied cases exact"),
    ck.invariant("roc_auc", lambda rng: [case(np.ones(6, np.int32), ck.uniform(rng, (6,))),
                                         case(np.zeros(6, np.int32), ck.uniform(rng, (6,)))],
                 _isnan, id="single_class_nan", title="a single class gives NaN",
                 hint="return jnp.nan when n_pos == 0 or n_neg == 0 (jnp.where, not Python if)"),
    ck.metamorphic("roc_auc", lambda rng: [
        case(*_tie_rows(rng, "roc_auc", False, 20)[0].args, static={"_t": t, "_task": "roc_auc"},
             label="20 cases, scores rounded to 0.1") for t in range(3)],
        transform=_monotone, relation=lambda y, i: y, id="monotone_invariant",
        title="unchanged by 3s - 7, exp(s), sigmoid(4s)**3", rtol=0.0, atol=1e-6,
        hint="use only the order of the scores (ranks), never their values", **_MAP),
    ck.jit("roc_auc", _tie_cases),
    ck.forbidden("roc_auc"),
    ck.oracle("average_precision", _ap_cases, _rows(lambda c, y, s: np.asarray(
              _sk("average_precision_score")(y, s), np.float32)), **_MAP,
              id="matches_sklearn_ties", atol=1e-6, rtol=0.0,
              title="equals sklearn average_precision_score with ties; 0 without positives",
              hint="tied scores form one threshold: precision at score >= s_i for each positive"),
    ck.oracle("log_loss", _ll_cases, _ll_expected, call=_ll_call, id="matches_sklearn",
              batched=False, title="equals sklearn log_loss in float32 and float64 with exact 0/1",
              hint="clip at jnp.finfo(probs.dtype).eps, never a fixed 1e-15"),
    ck.oracle("log_loss", _binary_cases, _scalar32(lambda y, p: _sk("log_loss")(y, p)),
              id="binary_1d", title="1-D probs are P(class 1), as sklearn"),
    ck.oracle("log_loss", lambda rng: [case(np.array([0, 1], np.int32),
                                            np.array([[.2, .2], [.3, .3]], np.float32))],
              lambda c: np.asarray(-np.mean(np.log([0.2, 0.3])), np.float32),
              id="no_renormalization", rtol=1e-6,
              title="rows that do not sum to one are not renormalized"),
    ck.oracle("log_loss", _ce_cases, _ce_expected, id="equals_cross_entropy", rtol=1e-6,
              title="inside the clip range: the integer-label cross-entropy of log p"),
    ck.oracle("mse", _reg_cases, _scalar32(lambda a, b: _sk("mean_squared_error")(a, b)),
              id="matches_sklearn", rtol=1e-6, title="equals sklearn mean_squared_error"),
    ck.oracle("mae", _reg_cases, _scalar32(lambda a, b: _sk("mean_absolute_error")(a, b)),
              id="matches_sklearn", rtol=1e-6, title="equals sklearn mean_absolute_error"),
    ck.oracle("kfold_indices", lambda rng: [
        case(static={"n": n, "k": k, "_task": "kfold_indices"})
        for n in (10, 11, 97) for k in (2, 3, 5, 10)], _kfold_expected, id="matches_sklearn",
        title="equals KFold(k).split(range(n)) exactly", **_STRAT,
        hint="the first n % k folds get one extra example (np.array_split's rule)"),
    ck.invariant("stratified_kfold", lambda rng: [
        case(ck.Key(s), _strat_labels(rng), static={"k": 4, "_task": "stratified_kfold"})
        for s in range(5)], _stratified, id="partition_floor_ceil", **_STRAT,
        title="a partition with floor/ceil(n_c / k) of each class per fold",
        hint="shuffle each class with the key, then deal its indices round-robin to the folds"),
    ck.prng("stratified_kfold", lambda rng: [case(
        ck.Key(0), _strat_labels(rng), static={"k": 4, "_task": "stratified_kfold"},
        extras={"other_key": ck.Key(1)})], call=_pairs, id="key_discipline"),
)

EXERCISE = Exercise(
    id="q15",
    title="Metrics",
    files={"metrics.py": FileSpec(
        tasks=tuple(f"dlcore.metrics.{m}:{t}" for m, t in [
            ("classification", "confusion_matrix"), ("classification", "precision_recall_f1"),
            ("ranking", "roc_auc"), ("ranking", "average_precision"),
            ("probability", "log_loss"), ("regression", "mse"), ("regression", "mae"),
            ("splits", "kfold_indices"), ("splits", "stratified_kfold")]),
        summary="metrics and cross-validation splits equal to scikit-learn")},
    checks=CHECKS,
    forbidden={t: ("sklearn", "torchmetrics", "jax.scipy.stats.rankdata")
               for t in (*_ARRAY_TASKS, *_SPLIT_TASKS)},
)
