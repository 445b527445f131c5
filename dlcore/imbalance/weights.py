"""Balanced class weights for reweighting the loss."""

import jax
import jax.numpy as jnp


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
    labels = jnp.asarray(labels)
    counts = jnp.zeros(num_classes, jnp.float32).at[labels].add(1.0)
    n = labels.shape[0]
    present = counts > 0
    return jnp.where(present, n / (num_classes * jnp.where(present, counts, 1.0)), 0.0)
