"""Known-wrong and correct-but-different metrics code for the q15 grader.

Check ids (one property each; "sklearn" is scikit-learn 1.9.1):
- confusion_matrix/matches_sklearn: 50 random cases, N = 40, C = 5, class 4 absent from both
  vectors and class 3 never predicted; exactly equal to
  ``confusion_matrix(y_true, y_pred, labels=range(5))``; the sum is N; dtype integer.
- confusion_matrix/jit: ``jax.jit`` with ``num_classes`` static and ``vmap`` over 50 cases
  equal the eager call exactly.
- precision_recall_f1/matches_sklearn: on 10 of those cases, for average in
  {None, macro, micro, weighted} x zero_division in {0, 1}, each of (p, r, f1) equals
  ``precision_recall_fscore_support(labels=range(5), average=, zero_division=)`` within atol
  1e-6; no NaN anywhere.
- precision_recall_f1/micro_f1_equals_accuracy: micro F1 equals ``mean(y_true == y_pred)``
  (rtol 1e-6) on the 50 cases.
- precision_recall_f1/jit: jit with ``num_classes`` and ``average`` static equals eager.
- roc_auc/matches_sklearn_ties: 50 cases, N = 30, both classes present, scores
  ``round(u + 0.3 y, 1)`` with u ~ U[0, 1) (heavy ties), and the same labels with logit-like
  scores ``round(2 z + y, 1)``, z ~ N(0, 1) (ties, values outside [0, 1]); equals
  ``roc_auc_score`` within atol 1e-6.
- roc_auc/special_cases: perfect ranking 1, reversed 0, constant scores 0.5, each exactly
  (within 1e-7); the cases [0,1,0,1]/[.2,.5,.5,.9] -> 0.875 and [0,0,1]/[.3,.5,.5] -> 0.75.
- roc_auc/single_class_nan: all-ones and all-zeros labels give NaN (not inf, not a number).
- roc_auc/monotone_invariant: ``3s - 7``, ``exp(s)`` and ``sigmoid(4s)**3`` of the tie
  cases give the same AUC within 1e-6.
- roc_auc/jit: ``jit(vmap(roc_auc))`` equals the eager loop.
- average_precision/matches_sklearn_ties: the 50 tie cases and the case
  y=[1,0,1,0,0,1,0], s=[.9,.8,.8,.5,.5,.5,.1]; equals ``average_precision_score`` within 1e-6;
  no positives gives 0.
- log_loss/matches_sklearn: float32 and float64 (x64) probabilities (N = 60, C = 4, three
  one-hot rows whose true class has p = 0); equals ``log_loss(labels=range(4))``, rtol 1e-5
  (float32) and 1e-12 (float64); finite.
- log_loss/binary_1d: 1-D probs read as P(class 1), with exact 0 and 1 entries; equals
  sklearn (rtol 1e-5) and the 2-column form.
- log_loss/no_renormalization: rows that do not sum to one,
  ``y=[0,1], probs=[[.2,.2],[.3,.3]]`` give ``-mean(log([.2, .3])) = 1.40671`` (rtol 1e-6),
  as sklearn does (it only warns).
- log_loss/equals_cross_entropy: softmax probabilities of random logits (inside the clip
  range): equals ``optax.softmax_cross_entropy_with_integer_labels(log p, y).mean()``, rtol
  1e-6.
- mse/matches_sklearn: shapes (37,) and (29, 3); equals ``mean_squared_error``, rtol 1e-6.
- mae/matches_sklearn: the same inputs; equals ``mean_absolute_error``, rtol 1e-6.
- kfold_indices/matches_sklearn: n in {10, 11, 97} x k in {2, 3, 5, 10}; every (train, val)
  pair equals ``KFold(k).split(range(n))`` exactly, in order.
- stratified_kfold/partition_floor_ceil: labels with class counts 23/7/3/11 (shuffled), k = 4;
  the val folds partition range(N); each train is the complement; arrays sorted; class c has
  floor(n_c/k)..ceil(n_c/k) members in every val fold. Repeated for 5 keys.
- stratified_kfold/key_discipline: the same key gives the same folds; keys 0 and 1 differ.
- roc_auc/forbidden: no ``sklearn``, ``torchmetrics`` or ``jax.scipy.stats.rankdata`` in
  roc_auc (the same names are forbidden, and reported, for every task).

The spec runs the many same-shape cases of one check as one stacked case mapped with
``jax.lax.map`` (one trace instead of fifty).
"""

from tests.grading import Alternative, Mutant

MUTANTS = [
    Mutant("confusion_transposed", "confusion_matrix", "confusion_matrix/matches_sklearn", """
def confusion_matrix(y_true, y_pred, num_classes):
    return _original_confusion_matrix(y_pred, y_true, num_classes)
"""),
    Mutant("confusion_size_from_data", "confusion_matrix", "confusion_matrix/jit", """
def confusion_matrix(y_true, y_pred, num_classes):
    size = int(max(int(jnp.max(y_true)), int(jnp.max(y_pred)), num_classes - 1)) + 1
    return _original_confusion_matrix(y_true, y_pred, size)
""", status="error"),
    Mutant("prf_macro_over_present_classes", "precision_recall_f1",
           "precision_recall_f1/matches_sklearn", """
def precision_recall_f1(y_true, y_pred, num_classes, *, average=None, zero_division=0.0):
    if average != "macro":
        return _original_precision_recall_f1(y_true, y_pred, num_classes, average=average,
                                             zero_division=zero_division)
    p, r, f = _original_precision_recall_f1(y_true, y_pred, num_classes,
                                            zero_division=zero_division)
    cm = confusion_matrix(y_true, y_pred, num_classes)
    present = (cm.sum(0) + cm.sum(1)) > 0
    m = present.astype(p.dtype)
    return (p * m).sum() / m.sum(), (r * m).sum() / m.sum(), (f * m).sum() / m.sum()
"""),
    Mutant("prf_nan_for_zero_division", "precision_recall_f1",
           "precision_recall_f1/matches_sklearn", """
def precision_recall_f1(y_true, y_pred, num_classes, *, average=None, zero_division=0.0):
    cm = confusion_matrix(y_true, y_pred, num_classes).astype(jnp.float32)
    tp, pred, true = jnp.diagonal(cm), cm.sum(0), cm.sum(1)
    if average == "micro":
        tp, pred, true = tp.sum(), pred.sum(), true.sum()
    p, r, f = tp / pred, tp / true, 2 * tp / (pred + true)
    if average == "macro":
        return p.mean(), r.mean(), f.mean()
    if average == "weighted":
        w = true / true.sum()
        return (w * p).sum(), (w * r).sum(), (w * f).sum()
    return p, r, f
"""),
    Mutant("prf_f1_from_averaged_p_r", "precision_recall_f1",
           "precision_recall_f1/matches_sklearn", """
def precision_recall_f1(y_true, y_pred, num_classes, *, average=None, zero_division=0.0):
    p, r, f = _original_precision_recall_f1(y_true, y_pred, num_classes, average=average,
                                            zero_division=zero_division)
    if average in ("macro", "weighted"):
        f = jnp.where(p + r > 0, 2 * p * r / jnp.where(p + r > 0, p + r, 1.0), zero_division)
    return p, r, f
"""),
    Mutant("prf_weighted_by_predicted_counts", "precision_recall_f1",
           "precision_recall_f1/matches_sklearn", """
def precision_recall_f1(y_true, y_pred, num_classes, *, average=None, zero_division=0.0):
    if average != "weighted":
        return _original_precision_recall_f1(y_true, y_pred, num_classes, average=average,
                                             zero_division=zero_division)
    p, r, f = _original_precision_recall_f1(y_true, y_pred, num_classes,
                                            zero_division=zero_division)
    w = confusion_matrix(y_true, y_pred, num_classes).sum(0).astype(p.dtype)
    w = w / w.sum()
    return (w * p).sum(), (w * r).sum(), (w * f).sum()
"""),
    Mutant("prf_python_branch", "precision_recall_f1", "precision_recall_f1/jit", """
def precision_recall_f1(y_true, y_pred, num_classes, *, average=None, zero_division=0.0):
    if bool(jnp.all(jnp.asarray(y_true) == jnp.asarray(y_pred))):
        one = jnp.ones(num_classes) if average is None else jnp.array(1.0)
        return one, one, one
    return _original_precision_recall_f1(y_true, y_pred, num_classes, average=average,
                                         zero_division=zero_division)
""", status="error"),
    Mutant("prf_micro_is_macro", "precision_recall_f1",
           "precision_recall_f1/micro_f1_equals_accuracy", """
def precision_recall_f1(y_true, y_pred, num_classes, *, average=None, zero_division=0.0):
    if average == "micro":
        average = "macro"
    return _original_precision_recall_f1(y_true, y_pred, num_classes, average=average,
                                         zero_division=zero_division)
"""),
    Mutant("auc_ties_broken_by_sort_order", "roc_auc", "roc_auc/special_cases", """
def roc_auc(y_true, scores):
    # ranks from the sort position: tied scores get distinct ranks
    y = jnp.asarray(y_true) > 0
    ranks = jnp.argsort(jnp.argsort(jnp.asarray(scores))) + 1.0
    n_pos = y.sum()
    n_neg = y.shape[0] - n_pos
    auc = (jnp.where(y, ranks, 0.0).sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
    return jnp.where((n_pos > 0) & (n_neg > 0), auc, jnp.nan)
"""),
    Mutant("auc_grid_on_unit_interval", "roc_auc", "roc_auc/monotone_invariant", """
def roc_auc(y_true, scores):
    # a fine grid over [0, 1]: right for probabilities, wrong once scores leave [0, 1]
    y = jnp.asarray(y_true) > 0
    s = jnp.asarray(scores)
    t = jnp.linspace(0.0, 1.3, 14)[:, None] - 0.05
    pred = s[None, :] > t
    tpr = (pred & y).sum(1) / y.sum()
    fpr = (pred & ~y).sum(1) / (~y).sum()
    tpr = jnp.concatenate([jnp.ones(1), tpr, jnp.zeros(1)])
    fpr = jnp.concatenate([jnp.ones(1), fpr, jnp.zeros(1)])
    return jnp.sum((fpr[:-1] - fpr[1:]) * (tpr[:-1] + tpr[1:]) / 2)
"""),
    Mutant("auc_python_single_class_branch", "roc_auc", "roc_auc/jit", """
def roc_auc(y_true, scores):
    y = jnp.asarray(y_true) > 0
    if int(y.sum()) in (0, y.shape[0]):
        return jnp.array(jnp.nan)
    return _original_roc_auc(y_true, scores)
""", status="error"),
    Mutant("log_loss_eps_1e-3", "log_loss", "log_loss/equals_cross_entropy", """
def log_loss(y_true, probs, *, eps=None):
    return _original_log_loss(y_true, probs, eps=1e-3 if eps is None else eps)
"""),
    Mutant("auc_ties_count_zero", "roc_auc", "roc_auc/matches_sklearn_ties", """
def roc_auc(y_true, scores):
    y = jnp.asarray(y_true) > 0
    s = jnp.asarray(scores)
    wins = (s[:, None] > s[None, :]) & y[:, None] & ~y[None, :]
    n_pos = y.sum()
    return wins.sum() / (n_pos * (y.shape[0] - n_pos))
"""),
    Mutant("auc_ties_count_one", "roc_auc", "roc_auc/matches_sklearn_ties", """
def roc_auc(y_true, scores):
    y = jnp.asarray(y_true) > 0
    s = jnp.asarray(scores)
    wins = (s[:, None] >= s[None, :]) & y[:, None] & ~y[None, :]
    n_pos = y.sum()
    return wins.sum() / (n_pos * (y.shape[0] - n_pos))
"""),
    Mutant("auc_fixed_threshold_grid", "roc_auc", "roc_auc/matches_sklearn_ties", """
def roc_auc(y_true, scores):
    # Keras-style: the ROC curve sampled at 200 thresholds spread over [0, 1]
    y = jnp.asarray(y_true) > 0
    s = jnp.asarray(scores)
    t = jnp.linspace(0.0, 1.0, 200)[:, None]
    pred = s[None, :] > t
    tpr = (pred & y).sum(1) / y.sum()
    fpr = (pred & ~y).sum(1) / (~y).sum()
    tpr = jnp.concatenate([jnp.ones(1), tpr, jnp.zeros(1)])
    fpr = jnp.concatenate([jnp.ones(1), fpr, jnp.zeros(1)])
    return jnp.sum((fpr[:-1] - fpr[1:]) * (tpr[:-1] + tpr[1:]) / 2)
"""),
    Mutant("auc_single_class_inf", "roc_auc", "roc_auc/single_class_nan", """
def roc_auc(y_true, scores):
    y = jnp.asarray(y_true) > 0
    auc = _original_roc_auc(y_true, scores)
    n_pos = y.sum()
    return jnp.where((n_pos > 0) & (n_pos < y.shape[0]), auc, jnp.inf)
"""),
    Mutant("auc_uses_rankdata", "roc_auc", "roc_auc/forbidden", """
def roc_auc(y_true, scores):
    y = jnp.asarray(y_true) > 0
    ranks = jax.scipy.stats.rankdata(jnp.asarray(scores))
    n_pos = y.sum()
    n_neg = y.shape[0] - n_pos
    return (jnp.where(y, ranks, 0.0).sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
""", status="forbidden"),
    Mutant("ap_interpolated", "average_precision", "average_precision/matches_sklearn_ties", """
def average_precision(y_true, scores):
    # precision replaced by the best precision at any lower threshold (VOC-style)
    y = jnp.asarray(y_true) > 0
    s = jnp.asarray(scores)
    ge = s[None, :] >= s[:, None]
    prec = (ge & y[None, :]).sum(1) / ge.sum(1)
    rec = (ge & y[None, :]).sum(1)
    best = jnp.max(jnp.where(rec[None, :] >= rec[:, None], prec[None, :], 0.0), axis=1)
    return jnp.where(y, best, 0.0).sum() / jnp.maximum(y.sum(), 1)
"""),
    Mutant("ap_ties_split", "average_precision", "average_precision/matches_sklearn_ties", """
def average_precision(y_true, scores):
    # each example its own threshold: ties broken by sort order
    y = jnp.asarray(y_true) > 0
    order = jnp.argsort(-jnp.asarray(scores))
    ys = y[order]
    prec = jnp.cumsum(ys) / jnp.arange(1, ys.shape[0] + 1)
    return jnp.where(ys, prec, 0.0).sum() / jnp.maximum(ys.sum(), 1)
"""),
    Mutant("log_loss_no_clip", "log_loss", "log_loss/matches_sklearn", """
def log_loss(y_true, probs, *, eps=None):
    probs = jnp.asarray(probs)
    if probs.ndim == 1:
        probs = jnp.stack([1.0 - probs, probs], axis=-1)
    p = jnp.take_along_axis(probs, jnp.asarray(y_true)[:, None], axis=1)[:, 0]
    return jnp.mean(-jnp.log(p))
"""),
    Mutant("log_loss_fixed_eps_1e15", "log_loss", "log_loss/matches_sklearn", """
def log_loss(y_true, probs, *, eps=None):
    return _original_log_loss(y_true, probs, eps=1e-15 if eps is None else eps)
"""),
    Mutant("log_loss_renormalizes", "log_loss", "log_loss/no_renormalization", """
def log_loss(y_true, probs, *, eps=None):
    probs = jnp.asarray(probs)
    if probs.ndim == 1:
        probs = jnp.stack([1.0 - probs, probs], axis=-1)
    e = jnp.finfo(probs.dtype).eps if eps is None else eps
    probs = jnp.clip(probs, e, 1 - e)
    probs = probs / probs.sum(axis=1, keepdims=True)
    p = jnp.take_along_axis(probs, jnp.asarray(y_true)[:, None], axis=1)[:, 0]
    return jnp.mean(-jnp.log(p))
"""),
    Mutant("log_loss_1d_is_class0", "log_loss", "log_loss/binary_1d", """
def log_loss(y_true, probs, *, eps=None):
    probs = jnp.asarray(probs)
    if probs.ndim == 1:
        probs = jnp.stack([probs, 1.0 - probs], axis=-1)
    return _original_log_loss(y_true, probs, eps=eps)
"""),
    Mutant("mse_is_rmse", "mse", "mse/matches_sklearn", """
def mse(y_true, y_pred):
    return jnp.sqrt(_original_mse(y_true, y_pred))
"""),
    Mutant("mse_half", "mse", "mse/matches_sklearn", """
def mse(y_true, y_pred):
    return 0.5 * _original_mse(y_true, y_pred)
"""),
    Mutant("mae_sum_over_outputs", "mae", "mae/matches_sklearn", """
def mae(y_true, y_pred):
    d = jnp.abs(jnp.asarray(y_true) - jnp.asarray(y_pred))
    return jnp.mean(d.reshape(d.shape[0], -1).sum(axis=1))
"""),
    Mutant("kfold_remainder_in_last_fold", "kfold_indices", "kfold_indices/matches_sklearn", """
def kfold_indices(n, k):
    size = n // k
    folds = []
    for i in range(k):
        stop = n if i == k - 1 else (i + 1) * size
        val = np.arange(i * size, stop)
        folds.append((np.setdiff1d(np.arange(n), val), val))
    return folds
"""),
    Mutant("stratified_global_shuffle_chunks", "stratified_kfold",
           "stratified_kfold/partition_floor_ceil", """
def stratified_kfold(key, labels, k):
    n = len(labels)
    perm = np.asarray(jax.random.permutation(key, n))
    every = np.arange(n)
    return [(np.sort(np.setdiff1d(every, c)), np.sort(c)) for c in np.array_split(perm, k)]
"""),
    Mutant("stratified_ignores_key", "stratified_kfold", "stratified_kfold/key_discipline", """
def stratified_kfold(key, labels, k):
    return _original_stratified_kfold(jax.random.key(0), labels, k)
"""),
]

ALTERNATIVES = [
    Alternative("confusion_one_hot_matmul", "confusion_matrix", """
def confusion_matrix(y_true, y_pred, num_classes):
    t = jax.nn.one_hot(y_true, num_classes, dtype=jnp.int32)
    p = jax.nn.one_hot(y_pred, num_classes, dtype=jnp.int32)
    return t.T @ p
"""),
    Alternative("auc_pairwise", "roc_auc", """
def roc_auc(y_true, scores):
    y = jnp.asarray(y_true) > 0
    s = jnp.asarray(scores)
    pair = y[:, None] & ~y[None, :]
    score = jnp.where(s[:, None] > s[None, :], 1.0, jnp.where(s[:, None] == s[None, :], 0.5, 0.0))
    n = pair.sum()
    return jnp.where(n > 0, jnp.where(pair, score, 0.0).sum() / jnp.maximum(n, 1), jnp.nan)
"""),
    Alternative("ap_pairwise", "average_precision", """
def average_precision(y_true, scores):
    y = jnp.asarray(y_true) > 0
    s = jnp.asarray(scores)
    ge = s[None, :] >= s[:, None]  # row i: the examples predicted positive at t = s_i
    prec = (ge & y[None, :]).sum(1) / ge.sum(1)
    return jnp.where(y, prec, 0.0).sum() / jnp.maximum(y.sum(), 1)
"""),
    Alternative("kfold_array_split", "kfold_indices", """
def kfold_indices(n, k):
    every = np.arange(n)
    return [(np.setdiff1d(every, v), v) for v in np.array_split(every, k)]
"""),
    Alternative("stratified_restart_each_class", "stratified_kfold", """
def stratified_kfold(key, labels, k):
    labels = np.asarray(labels)
    fold = np.zeros(len(labels), dtype=int)
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        idx = np.asarray(jax.random.permutation(jax.random.fold_in(key, int(c)), idx))
        fold[idx] = np.arange(len(idx)) % k
    every = np.arange(len(labels))
    return [(every[fold != f], every[fold == f]) for f in range(k)]
"""),
    Alternative("mse_vdot", "mse", """
def mse(y_true, y_pred):
    d = (jnp.asarray(y_true) - jnp.asarray(y_pred)).ravel()
    return jnp.vdot(d, d) / d.size
"""),
]
