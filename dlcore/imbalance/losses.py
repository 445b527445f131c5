"""Losses for imbalanced data: class-weighted cross-entropy and sigmoid focal loss."""

import jax
import jax.numpy as jnp


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
    logp = jax.nn.log_softmax(jnp.asarray(logits), axis=-1)
    labels = jnp.asarray(labels)
    ce = -jnp.take_along_axis(logp, labels[:, None], axis=-1)[:, 0]
    w = jnp.asarray(weights)[labels]
    return jnp.sum(w * ce) / jnp.sum(w)


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
    logits = jnp.asarray(logits)
    labels = jnp.asarray(labels).astype(logits.dtype)
    log_p = jax.nn.log_sigmoid(logits)
    log_not_p = jax.nn.log_sigmoid(-logits)
    bce = -labels * log_p - (1.0 - labels) * log_not_p
    # log(1 - p_t) = log(p (1 - y) + (1 - p) y), stable for any logit
    log_one_minus_p_t = jax.scipy.special.logsumexp(
        jnp.stack([log_p, log_not_p], axis=-1),
        axis=-1,
        b=jnp.stack([1.0 - labels, labels], axis=-1),
    )
    loss = bce * jnp.exp(gamma * log_one_minus_p_t)
    if alpha is None:
        return loss
    return (alpha * labels + (1.0 - alpha) * (1.0 - labels)) * loss
