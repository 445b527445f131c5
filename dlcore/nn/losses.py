"""Classification losses that take logits (never probabilities)."""

import jax
import jax.numpy as jnp

from dlcore.nn.activations import log_softmax


def softmax_cross_entropy(logits: jax.typing.ArrayLike, labels: jax.typing.ArrayLike) -> jax.Array:
    r"""Mean softmax cross-entropy between logits and integer class labels.

    .. math:: L = -\frac{1}{B} \sum_{b=1}^{B} \mathrm{log\_softmax}(z_b)_{y_b}

    computed from ``log_softmax`` so that logits of size 1e4 stay finite (``log(softmax(z))``
    underflows to ``log(0) = -inf``).

    Args:
      logits: ``(B, C)`` unnormalized scores (any leading batch shape ``(..., C)`` works).
      labels: ``(B,)`` integer labels in ``[0, C)`` (leading shape matching ``logits``).

    Returns:
      A scalar: the loss averaged over every leading (batch) position.

    Example:
      >>> logits = jnp.array([[2.0, 0.0], [0.0, 1e4]])
      >>> softmax_cross_entropy(logits, jnp.array([0, 1]))
      Array(0.06346..., dtype=float32)

    References:
      ``optax.softmax_cross_entropy_with_integer_labels``:
      https://optax.readthedocs.io/en/latest/api/losses.html
    """
    labels = jnp.asarray(labels)
    log_probs = log_softmax(logits, axis=-1)
    picked = jnp.take_along_axis(log_probs, labels[..., None], axis=-1)[..., 0]
    return -jnp.mean(picked)
