"""q14 Imbalanced data: class weights, weighted and focal losses, SMOTE, balanced batches, threshold moving.

Graded tasks: class_weights_balanced, weighted_cross_entropy, focal_loss, smote, balanced_batch_indices, best_threshold_f1.
Replace each `raise NotImplementedError(...)` with your code; read README.md first.
Check your work with: python -m grader exercises/q14
"""

import jax
import jax.numpy as jnp


# Task: graded.
def class_weights_balanced(labels: jax.typing.ArrayLike, num_classes: int) -> jax.Array:
    """Per-class weights ``w_c = N / (C * n_c)`` that make every class weigh the same.

    With these weights ``sum_c n_c * w_c = N`` (for the classes present) and each present
    class contributes ``N / C`` in total, so a weighted loss treats a 3% class like a 97%
    class. A class absent from ``labels`` gets weight 0.

    Args:
      labels: int labels ``(N,)`` in ``[0, num_classes)``.
      num_classes: ``C``; static under jit.

    Returns:
      ``(C,)`` float32 weights.

    Warning:
      scikit-learn's ``compute_class_weight("balanced", ...)`` raises ``ValueError`` when a
      class in ``classes`` does not occur in ``y``; here that class gets 0 (it has no
      examples to weigh, and 0 keeps the function jittable). Keras's ``class_weight`` takes
      a dict with the same meaning; PyTorch's ``weight=`` takes this ``(C,)`` array.

    Example:
      >>> class_weights_balanced(jnp.array([0, 0, 0, 1]), 3)
      Array([0.44444445, 1.3333334 , 0.        ], dtype=float32)

    References:
      ``sklearn.utils.class_weight.compute_class_weight("balanced")``; King & Zeng,
      "Logistic Regression in Rare Events Data", Political Analysis 9, 2001.
    """
    raise NotImplementedError('q14 class_weights_balanced: write this function (see README.md)')


# Task: graded.
def weighted_cross_entropy(
    logits: jax.typing.ArrayLike, labels: jax.typing.ArrayLike, weights: jax.typing.ArrayLike
) -> jax.Array:
    """Softmax cross-entropy with per-class weights, normalized by the total weight.

    With ``CE_i = -log_softmax(logits_i)[y_i]``:
    ``loss = sum_i w[y_i] * CE_i / sum_i w[y_i]``, a weighted mean. Scaling all weights by a
    constant does not change it, and all-ones weights give the plain mean cross-entropy.
    ``log_softmax`` keeps it finite for logits of any size (1e4 included).

    Args:
      logits: ``(N, C)`` unnormalized scores.
      labels: int labels ``(N,)`` in ``[0, C)``.
      weights: ``(C,)`` non-negative class weights, e.g. ``class_weights_balanced``.

    Returns:
      Scalar float.

    Warning:
      This is PyTorch's ``F.cross_entropy(weight=w)`` with ``reduction="mean"`` and
      scikit-learn's ``log_loss(sample_weight=w[y])``. Keras's ``class_weight`` instead
      divides by N (``mean(w[y] * CE)``), which also rescales the learning rate.

    Example:
      >>> logits = jnp.array([[2.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
      >>> weighted_cross_entropy(logits, jnp.array([0, 1, 1]), jnp.array([1.0, 3.0]))
      Array(0.71521395, dtype=float32)

    References:
      ``torch.nn.functional.cross_entropy`` (``weight``); ``sklearn.metrics.log_loss``.
    """
    raise NotImplementedError('q14 weighted_cross_entropy: write this function (see README.md)')


# Task: graded.
def focal_loss(
    logits: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    alpha: float | None = None,
    gamma: float = 2.0,
) -> jax.Array:
    """Sigmoid focal loss, elementwise: cross-entropy scaled down on easy examples.

    With ``p = sigmoid(x)`` and ``p_t = p y + (1 - p)(1 - y)`` (the probability given to
    the label): ``FL = BCE(x, y) * (1 - p_t)**gamma``, times
    ``alpha_t = alpha y + (1 - alpha)(1 - y)`` when ``alpha`` is given. ``gamma = 0`` and
    ``alpha = None`` give binary cross-entropy. The focal weight is computed in log space,
    ``exp(gamma * log(1 - p_t))`` with ``log(1 - p_t) = logsumexp([log p, log(1 - p)],
    b=[1 - y, y])``, so value and gradient stay finite for ``|x| = 100`` and ``gamma < 1``
    (where ``(1 - p_t)**gamma`` has an infinite derivative at 0).

    Args:
      logits: any shape; one independent binary problem per entry.
      labels: floats in ``[0, 1]`` of the same shape (hard or soft labels).
      alpha: optional weight of the positive term, in ``(0, 1)``.
      gamma: focusing exponent ``>= 0``.

    Returns:
      Array of the shape of ``logits``: no reduction.

    Warning:
      RetinaNet's ``alpha = 0.25`` *down*-weights the rare positives: it trades off against
      ``gamma``, which already removes most of the easy negatives. This is the sigmoid
      (multilabel) form, as in ``optax`` and ``torchvision.ops.sigmoid_focal_loss``; a
      softmax focal loss for multiclass problems is a different function.

    Example:
      >>> x = jnp.array([3.0, -3.0, 0.0])
      >>> focal_loss(x, jnp.array([1.0, 1.0, 1.0]), gamma=2.0)
      Array([1.0928333e-04, 2.7662804e+00, 1.7328680e-01], dtype=float32)

    References:
      Lin, Goyal, Girshick, He & Dollar, "Focal Loss for Dense Object Detection",
      ICCV 2017, https://arxiv.org/abs/1708.02002; ``optax.sigmoid_focal_loss``.
    """
    raise NotImplementedError('q14 focal_loss: write this function (see README.md)')


# Task: graded.
def smote(
    key: jax.Array, x_minority: jax.typing.ArrayLike, num_new: int, *, k: int = 5
) -> jax.Array:
    """SMOTE: new minority points on segments between a point and a near neighbour.

    For each of the ``n`` minority points, find its ``k`` nearest *other* minority points
    (Euclidean distance). Draw ``num_new`` pairs (point ``i``, its ``j``-th neighbour)
    uniformly among the ``n * k`` pairs, draw a gap ``u ~ U[0, 1)`` per new point, and
    return ``x_i + u * (x_nn - x_i)``. This is imbalanced-learn's ``SMOTE`` recipe (one
    uniform draw over ``n * k`` flat indices, one gap per sample).

    Args:
      key: a ``jax.random.key``; split into one key for the pairs and one for the gaps.
      x_minority: ``(n, D)`` minority-class examples; requires ``n > k``.
      num_new: number of synthetic points; static under jit.
      k: neighbours per point; static.

    Returns:
      ``(num_new, D)`` synthetic examples.

    Warning:
      Call it on the *training* split (or training fold) only: synthetic points made
      before splitting are interpolations of validation points, which leaks them. SMOTE
      interpolates raw inputs, which rarely makes sense for images or text.

    Example:
      >>> x = jnp.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
      >>> smote(jax.random.key(0), x, 6, k=2).shape
      (6, 2)

    References:
      Chawla, Bowyer, Hall & Kegelmeyer, "SMOTE: Synthetic Minority Over-sampling
      Technique", JAIR 16, 2002, https://arxiv.org/abs/1106.1813;
      ``imblearn.over_sampling.SMOTE``.
    """
    raise NotImplementedError('q14 smote: write this function (see README.md)')


# Task: graded.
def balanced_batch_indices(
    key: jax.Array, labels: jax.typing.ArrayLike, batch_size: int
) -> jax.Array:
    """Indices drawn i.i.d. with replacement, each with probability ``∝ 1 / count(label)``.

    Example ``i`` is drawn with probability ``(1 / n_{y_i}) / sum_j (1 / n_{y_j})``, so every
    class present has the same chance ``1 / C_present`` per draw, and examples within a
    class are equally likely. Batches are balanced in expectation, not exactly.
    ``count(label)`` is found by sorting, so ``labels`` may be traced.

    Args:
      key: a ``jax.random.key``; used once.
      labels: int labels ``(N,)``.
      batch_size: number of indices; static under jit.

    Returns:
      ``(batch_size,)`` int32 indices into ``labels``.

    Warning:
      This is PyTorch's ``WeightedRandomSampler(1 / count[y], replacement=True)``; the
      minority examples repeat many times per epoch, so overfitting them is the usual
      risk. Sampling without replacement, or forcing exactly ``batch_size / C`` per class,
      are different samplers.

    Example:
      >>> labels = jnp.array([0] * 97 + [1] * 3)
      >>> idx = balanced_batch_indices(jax.random.key(0), labels, 1000)
      >>> 0.4 < float(jnp.mean(labels[idx])) < 0.6
      True

    References:
      ``torch.utils.data.WeightedRandomSampler``.
    """
    raise NotImplementedError('q14 balanced_batch_indices: write this function (see README.md)')


# Task: graded.
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
    raise NotImplementedError('q14 best_threshold_f1: write this function (see README.md)')
