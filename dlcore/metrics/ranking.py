"""Threshold-free ranking metrics: ROC AUC and average precision, with exact tie handling."""

import jax
import jax.numpy as jnp


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
