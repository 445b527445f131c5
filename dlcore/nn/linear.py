"""Fully connected (dense) layer."""

import jax
import jax.numpy as jnp

__all__ = ["dense"]


def dense(x: jax.typing.ArrayLike, w: jax.typing.ArrayLike, b: jax.typing.ArrayLike) -> jax.Array:
    """Affine map of the last axis: ``y = x @ w + b``.

    Args:
      x: inputs, shape ``(..., D)``.
      w: weights, shape ``(D, O)``.
      b: bias, shape ``(O,)``.

    Returns:
      Array of shape ``(..., O)``.

    Warning:
      ``w`` is ``(in, out)`` as in Flax (``kernel``); PyTorch's ``nn.Linear.weight`` is
      ``(out, in)`` and computes ``x @ weight.T + bias``.

    Example:
      >>> dense(jnp.ones((2, 3)), jnp.ones((3, 4)), jnp.arange(4.0))
      Array([[3., 4., 5., 6.],
             [3., 4., 5., 6.]], dtype=float32)

    References:
      ``flax.nnx.Linear``, https://flax.readthedocs.io/en/latest/api_reference/flax.nnx/nn/linear.html
    """
    x, w, b = jnp.asarray(x), jnp.asarray(w), jnp.asarray(b)
    y = jnp.einsum("...d,do->...o", x, w)
    return y + b.reshape((1,) * (y.ndim - 1) + (-1,))
