"""Choosing the decision threshold that maximizes F1."""

import jax
import jax.numpy as jnp


def best_threshold_f1(
    scores: jax.typing.ArrayLike, labels: jax.typing.ArrayLike
) -> tuple[jax.Array, jax.Array]:
    """The score threshold with the highest F1, and that F1.

    Candidate thresholds are the distinct score values; the rule predicts positive iff
    ``score >= t``. At ``t = s_i`` the rule predicts ``PP(t) = #{score >= t}`` positives, of
    which ``TP(t)`` are right, and ``F1(t) = 2 TP / (PP + n_pos)``. All are read off one sort
    and a cumulative sum. On ties in F1 the smallest threshold wins. This is the argmax of
    F1 over ``sklearn.metrics.precision_recall_curve`` (F1 = 0 where P + R = 0).

    Args:
      scores: real scores ``(N,)``, higher = more positive (logits or probabilities).
      labels: binary labels ``(N,)``, 1 = positive.

    Returns:
      ``(threshold, f1)``: scalars; the threshold is one of the scores. With no positives
      every F1 is 0 and the threshold is the smallest score.

    Warning:
      Choose the threshold on validation data, never on the test set. Scores can be
      logits, so a fixed grid over ``[0, 1]`` misses the best threshold; the rule is
      ``>=`` as in scikit-learn, and ``>`` shifts every candidate by one example.

    Example:
      >>> best_threshold_f1(jnp.array([0.1, 0.4, 0.35, 0.8]), jnp.array([0, 0, 1, 1]))
      (Array(0.35, dtype=float32), Array(0.8, dtype=float32))

    References:
      Lipton, Elkan & Naryanaswamy, "Thresholding Classifiers to Maximize F1 Score",
      ECML PKDD 2014, https://arxiv.org/abs/1402.1892;
      ``sklearn.metrics.precision_recall_curve``.
    """
    s = jnp.asarray(scores)
    y = jnp.asarray(labels) > 0
    n = s.shape[0]
    order = jnp.argsort(s)
    s_sorted = s[order]
    pos_below = jnp.concatenate([jnp.zeros(1, jnp.int32), jnp.cumsum(y[order].astype(jnp.int32))])
    n_pos = pos_below[-1]
    lo = jnp.searchsorted(s_sorted, s, side="left")  # examples strictly below s_i
    true_pos = n_pos - pos_below[lo]
    f1 = 2.0 * true_pos / (n - lo + n_pos)  # n - lo >= 1, so never 0/0
    best = jnp.max(f1)
    threshold = jnp.min(jnp.where(f1 == best, s, jnp.inf))
    return threshold, best
