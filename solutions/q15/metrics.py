"""q15 Metrics: reference solution.

Generated from dlcore.metrics.classification, dlcore.metrics.probability, dlcore.metrics.ranking, dlcore.metrics.regression, dlcore.metrics.splits by tools/gen_exercises.py; edit dlcore, then
regenerate. Graded tasks: confusion_matrix, precision_recall_f1, roc_auc, average_precision, log_loss, mse, mae, kfold_indices, stratified_kfold.
"""

import jax
import jax.numpy as jnp
import numpy as np


def confusion_matrix(
    y_true: jax.typing.ArrayLike, y_pred: jax.typing.ArrayLike, num_classes: int
) -> jax.Array:
    """Counts of (true class, predicted class) pairs.

    ``cm[i, j]`` is the number of examples whose true class is ``i`` and whose predicted
    class is ``j``: rows are true classes, columns predicted classes, as in scikit-learn.
    Classes that never occur still get their (zero) row and column, and ``cm.sum()`` is N.

    Args:
      y_true: int labels, shape ``(N,)``, values in ``[0, num_classes)``.
      y_pred: int predictions, shape ``(N,)``, values in ``[0, num_classes)``.
      num_classes: ``C``; static under jit.

    Returns:
      ``(C, C)`` int32 array.

    Warning:
      TensorFlow's ``tf.math.confusion_matrix`` uses the same orientation, but some
      textbooks and plotting tools put predictions on the rows. Check before reading
      precision off a column.

    Example:
      >>> confusion_matrix(jnp.array([0, 1, 1, 2]), jnp.array([0, 2, 1, 2]), 3)
      Array([[1, 0, 0],
             [0, 1, 1],
             [0, 0, 1]], dtype=int32)

    References:
      ``sklearn.metrics.confusion_matrix`` with ``labels=range(C)``.
    """
    y_true = jnp.asarray(y_true)
    y_pred = jnp.asarray(y_pred)
    cm = jnp.zeros((num_classes, num_classes), jnp.int32)
    return cm.at[y_true, y_pred].add(1)


def _safe_divide(num: jax.Array, den: jax.Array, zero_division: float) -> jax.Array:
    """``num / den`` where ``den > 0``, ``zero_division`` elsewhere, with no NaN gradient."""
    ok = den > 0
    return jnp.where(ok, num / jnp.where(ok, den, 1), zero_division)


def precision_recall_f1(
    y_true: jax.typing.ArrayLike,
    y_pred: jax.typing.ArrayLike,
    num_classes: int,
    *,
    average: str | None = None,
    zero_division: float = 0.0,
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Precision, recall and F1 per class or averaged, as scikit-learn computes them.

    From the confusion matrix, per class ``c``: ``tp_c`` on the diagonal, ``pred_c`` (column
    sum) and ``true_c`` (row sum, the support). Then ``P_c = tp_c / pred_c``,
    ``R_c = tp_c / true_c`` and ``F1_c = 2 tp_c / (pred_c + true_c)``; a 0/0 gives
    ``zero_division``. The averages:

    * ``None``: the three ``(C,)`` arrays.
    * ``"macro"``: the plain mean over **all** ``C`` classes, absent ones included.
    * ``"weighted"``: the mean weighted by the support ``true_c / N``.
    * ``"micro"``: the same formulas on counts summed over classes; for single-label
      problems all three equal the accuracy.

    F1 is computed per class and then averaged; it is not the harmonic mean of the averaged
    precision and recall.

    Args:
      y_true: int labels, shape ``(N,)``.
      y_pred: int predictions, shape ``(N,)``.
      num_classes: ``C``; static under jit.
      average: ``None``, ``"macro"``, ``"micro"`` or ``"weighted"``; static.
      zero_division: the value that replaces 0/0 (0 by default, 1 is the other common
        choice).

    Returns:
      ``(precision, recall, f1)``: ``(C,)`` float32 arrays each for ``average=None``,
      scalars otherwise.

    Warning:
      scikit-learn's macro average runs over the labels it finds in ``y_true`` and
      ``y_pred`` unless ``labels=`` is given; here it always runs over ``range(C)``, which is
      ``precision_recall_fscore_support(..., labels=range(C))``. scikit-learn warns on 0/0 by
      default; here ``zero_division`` is used silently.

    Example:
      >>> p, r, f = precision_recall_f1(jnp.array([0, 0, 1, 1]), jnp.array([0, 1, 1, 1]), 2)
      >>> p, r
      (Array([1.       , 0.6666667], dtype=float32), Array([0.5, 1. ], dtype=float32))
      >>> precision_recall_f1(jnp.array([0, 0, 1, 1]), jnp.array([0, 1, 1, 1]), 2,
      ...                     average="micro")[2]
      Array(0.75, dtype=float32)

    References:
      ``sklearn.metrics.precision_recall_fscore_support(labels=range(C), average=...,
      zero_division=...)``.
    """
    if average not in (None, "macro", "micro", "weighted"):
        raise ValueError(f"average must be None, 'macro', 'micro' or 'weighted', got {average!r}")
    cm = confusion_matrix(y_true, y_pred, num_classes).astype(jnp.float32)
    tp = jnp.diagonal(cm)
    pred = jnp.sum(cm, axis=0)
    true = jnp.sum(cm, axis=1)
    if average == "micro":
        tp, pred, true = jnp.sum(tp), jnp.sum(pred), jnp.sum(true)
    precision = _safe_divide(tp, pred, zero_division)
    recall = _safe_divide(tp, true, zero_division)
    f1 = _safe_divide(2.0 * tp, pred + true, zero_division)
    if average == "macro":
        return jnp.mean(precision), jnp.mean(recall), jnp.mean(f1)
    if average == "weighted":
        weights = _safe_divide(true, jnp.sum(true), 0.0)
        return jnp.sum(weights * precision), jnp.sum(weights * recall), jnp.sum(weights * f1)
    return precision, recall, f1


def roc_auc(y_true: jax.typing.ArrayLike, scores: jax.typing.ArrayLike) -> jax.Array:
    """Area under the ROC curve of a binary scorer, ties counted as one half.

    The AUC is the probability that a random positive scores higher than a random negative,
    the Mann-Whitney ``U`` statistic divided by ``n_pos * n_neg``:
    ``AUC = mean over (positive i, negative j) of [s_i > s_j] + 0.5 [s_i == s_j]``.
    This equals the trapezoid area under the exact ROC curve, which scikit-learn computes.
    Here each positive counts the negatives strictly below it and those tied with it, read
    off cumulative sums over the sorted scores; no pair matrix is built (O(N log N)).

    Args:
      y_true: binary labels ``(N,)``, 1 = positive (ints, bools or floats in {0, 1}).
      scores: real scores ``(N,)``, higher = more positive (logits or probabilities).

    Returns:
      Scalar float. NaN when ``y_true`` holds a single class (the AUC is undefined).

    Warning:
      scikit-learn 1.9 returns NaN with an ``UndefinedMetricWarning`` for a single class
      (older versions raised ``ValueError``); ``tf.keras.metrics.AUC`` approximates the
      curve on a fixed grid of 200 thresholds, so it differs when scores are close.

    Example:
      >>> float(roc_auc(jnp.array([0, 0, 1, 1]), jnp.array([0.1, 0.4, 0.35, 0.8])))
      0.75
      >>> float(roc_auc(jnp.array([0, 1]), jnp.array([0.5, 0.5])))
      0.5

    References:
      Hanley & McNeil, "The meaning and use of the area under a receiver operating
      characteristic (ROC) curve", Radiology 143, 1982; ``sklearn.metrics.roc_auc_score``.
    """
    y = jnp.asarray(y_true) > 0
    s = jnp.asarray(scores)
    order = jnp.argsort(s)
    s_sorted = s[order]
    neg_sorted = (~y[order]).astype(jnp.int32)
    # neg_below[m] = number of negatives among the m smallest scores
    neg_below = jnp.concatenate([jnp.zeros(1, jnp.int32), jnp.cumsum(neg_sorted)])
    lo = jnp.searchsorted(s_sorted, s, side="left")
    hi = jnp.searchsorted(s_sorted, s, side="right")
    # negatives strictly below s_i, plus half of those tied with it
    wins = 0.5 * (neg_below[lo] + neg_below[hi])
    n_pos = jnp.sum(y)
    n_neg = y.shape[0] - n_pos
    dtype = jnp.result_type(float)
    auc = jnp.sum(jnp.where(y, wins, 0.0).astype(dtype)) / (n_pos * n_neg).astype(dtype)
    return jnp.where((n_pos > 0) & (n_neg > 0), auc, jnp.nan)


def average_precision(y_true: jax.typing.ArrayLike, scores: jax.typing.ArrayLike) -> jax.Array:
    """Average precision: the step-wise area under the precision-recall curve.

    Over the distinct score values ``t_1 > t_2 > ...`` used as thresholds (predict positive
    iff ``score >= t``), ``AP = sum_n (R_n - R_{n-1}) P_n`` with ``R_0 = 0``: no
    interpolation and no trapezoid. Each positive adds ``1 / n_pos`` to the recall at the
    threshold equal to its own score, so ``AP = (1 / n_pos) sum_{i positive} P(s_i)``,
    where ``P(t)`` is the precision of the rule ``score >= t``. Tied scores form one step.

    Args:
      y_true: binary labels ``(N,)``, 1 = positive.
      scores: real scores ``(N,)``, higher = more positive.

    Returns:
      Scalar float in ``[0, 1]``. Its chance level is the prevalence ``n_pos / N``, not 0.5.
      0 when there is no positive (scikit-learn warns and also gives 0).

    Warning:
      This is not the interpolated 11-point AP of PASCAL VOC, and not the trapezoid
      ``sklearn.metrics.auc(recall, precision)``, which is optimistic with few points.

    Example:
      >>> float(average_precision(jnp.array([0, 0, 1, 1]), jnp.array([0.1, 0.4, 0.35, 0.8])))
      0.8333333730697632

    References:
      ``sklearn.metrics.average_precision_score``; Manning, Raghavan & Schuetze,
      "Introduction to Information Retrieval", 2008, section 8.4.
    """
    y = jnp.asarray(y_true) > 0
    s = jnp.asarray(scores)
    n = y.shape[0]
    order = jnp.argsort(s)
    s_sorted = s[order]
    pos_below = jnp.concatenate([jnp.zeros(1, jnp.int32), jnp.cumsum(y[order].astype(jnp.int32))])
    n_pos = pos_below[-1]
    lo = jnp.searchsorted(s_sorted, s, side="left")
    dtype = jnp.result_type(float)
    # the rule score >= s_i predicts the n - lo top scores; n_pos - pos_below[lo] are positive
    precision = (n_pos - pos_below[lo]).astype(dtype) / (n - lo).astype(dtype)
    total = jnp.sum(jnp.where(y, precision, 0.0))
    return jnp.where(n_pos > 0, total / jnp.maximum(n_pos, 1).astype(dtype), 0.0)


def log_loss(
    y_true: jax.typing.ArrayLike, probs: jax.typing.ArrayLike, *, eps: float | None = None
) -> jax.Array:
    """Mean negative log-probability of the true class, with the probabilities clipped.

    ``log_loss = mean_i -log(clip(probs[i, y_i], eps, 1 - eps))``. The clip keeps a
    confidently wrong prediction (``p = 0``) finite: it costs ``-log(eps)``, 15.94 in
    float32 and 36.04 in float64 with the default eps. The rows are not renormalized after
    clipping.

    Args:
      y_true: int labels ``(N,)`` in ``[0, C)``.
      probs: predicted probabilities ``(N, C)``; or ``(N,)``, read as P(class 1) of a binary
        problem.
      eps: clip level; ``None`` means ``jnp.finfo(probs.dtype).eps``.

    Returns:
      Scalar in the dtype of ``probs`` (float32 for integer ``probs``).

    Warning:
      scikit-learn 1.5+ removed the ``eps`` argument and clips at the dtype's eps; older
      versions (and many tutorials) used a fixed ``1e-15``, which in float32 rounds
      ``1 - eps`` to 1 and gives a different penalty (34.5 instead of 15.9). Keras's
      ``categorical_crossentropy`` clips at ``1e-7`` and then renormalizes each row.

    Example:
      >>> log_loss(jnp.array([0, 1]), jnp.array([[0.9, 0.1], [0.2, 0.8]]))
      Array(0.16425204, dtype=float32)
      >>> log_loss(jnp.array([0, 1]), jnp.array([0.1, 0.8]))
      Array(0.16425204, dtype=float32)

    References:
      ``sklearn.metrics.log_loss``; Bishop, "Pattern Recognition and Machine Learning",
      2006, section 4.3.4.
    """
    probs = jnp.asarray(probs)
    if not jnp.issubdtype(probs.dtype, jnp.floating):
        probs = probs.astype(jnp.float32)
    if probs.ndim == 1:
        probs = jnp.stack([1.0 - probs, probs], axis=-1)
    if eps is None:
        eps = float(jnp.finfo(probs.dtype).eps)
    y = jnp.asarray(y_true).astype(jnp.int32)
    p = jnp.take_along_axis(probs, y[:, None], axis=1)[:, 0]
    return jnp.mean(-jnp.log(jnp.clip(p, eps, 1.0 - eps)))


def mse(y_true: jax.typing.ArrayLike, y_pred: jax.typing.ArrayLike) -> jax.Array:
    """Mean squared error over every element.

    ``mean((y_true - y_pred)**2)``. For ``(N, K)`` targets this is the mean over all
    ``N * K`` entries, which equals scikit-learn's ``multioutput="uniform_average"``.

    Args:
      y_true: targets, any shape.
      y_pred: predictions, the same shape.

    Returns:
      Scalar float.

    Warning:
      Not the root (RMSE), and not half the squared error (``optax.l2_loss`` has a 1/2).

    Example:
      >>> mse(jnp.array([1.0, 2.0, 3.0]), jnp.array([1.0, 2.0, 5.0]))
      Array(1.3333334, dtype=float32)

    References:
      ``sklearn.metrics.mean_squared_error``.
    """
    diff = jnp.asarray(y_true) - jnp.asarray(y_pred)
    return jnp.mean(jnp.square(diff))


def mae(y_true: jax.typing.ArrayLike, y_pred: jax.typing.ArrayLike) -> jax.Array:
    """Mean absolute error over every element.

    ``mean(|y_true - y_pred|)``, over all ``N * K`` entries for ``(N, K)`` inputs
    (scikit-learn's ``multioutput="uniform_average"``).

    Args:
      y_true: targets, any shape.
      y_pred: predictions, the same shape.

    Returns:
      Scalar float.

    Example:
      >>> mae(jnp.array([1.0, 2.0, 3.0]), jnp.array([1.0, 2.0, 5.0]))
      Array(0.6666667, dtype=float32)

    References:
      ``sklearn.metrics.mean_absolute_error``.
    """
    diff = jnp.asarray(y_true) - jnp.asarray(y_pred)
    return jnp.mean(jnp.abs(diff))


def kfold_indices(n: int, k: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Unshuffled k-fold cross-validation splits of ``range(n)``; not jitted.

    The validation blocks are contiguous and ascending and cover ``0..n-1`` in order. The
    first ``n % k`` folds hold ``n // k + 1`` examples, the others ``n // k``; each train
    set is the complement, ascending. Exactly ``sklearn.model_selection.KFold(k)``.

    Args:
      n: number of examples, ``n >= k``.
      k: number of folds, ``k >= 2``.

    Returns:
      A list of ``k`` pairs ``(train_idx, val_idx)`` of int64 NumPy arrays.

    Warning:
      The order is not shuffled: if the data are sorted (by label, by time), shuffle or
      stratify first. ``np.array_split`` gives the same sizes; putting the whole remainder
      in the last fold does not.

    Example:
      >>> [val.tolist() for _, val in kfold_indices(10, 3)]
      [[0, 1, 2, 3], [4, 5, 6], [7, 8, 9]]

    References:
      ``sklearn.model_selection.KFold``.
    """
    if k < 2 or k > n:
        raise ValueError(f"need 2 <= k <= n, got n={n}, k={k}")
    sizes = [n // k + (1 if i < n % k else 0) for i in range(k)]
    folds = []
    start = 0
    for size in sizes:
        val = np.arange(start, start + size)
        train = np.concatenate([np.arange(0, start), np.arange(start + size, n)])
        folds.append((train, val))
        start += size
    return folds


def stratified_kfold(
    key: jax.Array, labels: jax.typing.ArrayLike, k: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Shuffled stratified k-fold splits: every fold keeps the class proportions; not jitted.

    For each class ``c`` (in sorted order) its ``n_c`` indices are permuted with a key of its
    own and dealt round-robin to the folds, starting where the previous class stopped. So
    class ``c`` has ``floor(n_c / k)`` or ``ceil(n_c / k)`` members in every validation fold
    (the ``StratifiedKFold`` guarantee), and the fold sizes themselves differ by at most 1.
    The validation folds partition ``range(n)``; indices are sorted within each array.

    Args:
      key: a ``jax.random.key``; split once per class.
      labels: concrete int labels ``(N,)`` (a NumPy array or a non-traced JAX array).
      k: number of folds, ``2 <= k <= N``.

    Returns:
      A list of ``k`` pairs ``(train_idx, val_idx)`` of sorted int64 NumPy arrays.

    Warning:
      Same guarantee as scikit-learn's ``StratifiedKFold(k, shuffle=True)``, not the same
      assignment. Shuffling the whole data set and cutting it into ``k`` chunks is not
      stratified: a rare class can be missing from a fold.

    Example:
      >>> folds = stratified_kfold(jax.random.key(0), jnp.array([0] * 6 + [1] * 3), 3)
      >>> [len(val) for _, val in folds]
      [3, 3, 3]

    References:
      ``sklearn.model_selection.StratifiedKFold``; Kohavi, "A Study of Cross-Validation
      and Bootstrap for Accuracy Estimation and Model Selection", IJCAI 1995.
    """
    labels = np.asarray(labels)
    n = labels.shape[0]
    if k < 2 or k > n:
        raise ValueError(f"need 2 <= k <= n, got n={n}, k={k}")
    classes = np.unique(labels)
    keys = jax.random.split(key, len(classes))
    fold_of = np.empty(n, dtype=np.int64)
    start = 0
    for c, class_key in zip(classes, keys, strict=True):
        members = np.flatnonzero(labels == c)
        members = np.asarray(jax.random.permutation(class_key, members))
        fold_of[members] = (start + np.arange(len(members))) % k
        start += len(members)
    every = np.arange(n)
    return [(every[fold_of != f], every[fold_of == f]) for f in range(k)]
