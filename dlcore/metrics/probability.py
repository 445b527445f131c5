"""Log loss (cross-entropy of predicted probabilities), clipped as scikit-learn does."""

import jax
import jax.numpy as jnp


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
