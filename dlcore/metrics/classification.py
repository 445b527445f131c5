"""Confusion matrix and precision, recall and F1 with scikit-learn's averaging rules."""

import jax
import jax.numpy as jnp


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
