"""A residual MLP: identity skip connections that keep gradients alive through depth."""

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp


def residual_mlp(
    params: list[dict[str, Any]],
    x: jax.typing.ArrayLike,
    *,
    activation: Callable[[jax.Array], jax.Array] = jnp.tanh,
) -> jax.Array:
    """A stack of residual blocks ``h <- h + activation(h @ w + b)``, starting at ``h = x``.

    The Jacobian of a block is ``I + W^T diag(activation')``: the identity term carries the
    gradient to early layers even when the activation saturates, where a plain stack
    multiplies ``diag(activation') W`` factors that shrink it geometrically. Blocks are
    unscaled, so with ReLU and He weights the activations grow with depth.

    Args:
      params: a list of ``{"w": (D, D), "b": (D,)}``, one per block.
      x: inputs, shape ``(B, D)``.
      activation: elementwise nonlinearity; static.

    Returns:
      Array of shape ``(B, D)``.

    Warning:
      The skip is added *after* the nonlinearity. ``activation(h + h @ w + b)`` puts the
      identity path back through the activation's derivative and loses the benefit.
      ResNet's original blocks apply ReLU after the addition but contain two convolutions and
      batch norm; the pre-activation form (He et al. 2016b) keeps the identity path clean.

    Example:
      >>> params = [{"w": jnp.zeros((2, 2)), "b": jnp.zeros(2)} for _ in range(3)]
      >>> residual_mlp(params, jnp.array([[1.0, -2.0]]))  # tanh(0) = 0: identity
      Array([[ 1., -2.]], dtype=float32)

    References:
      He et al., "Deep Residual Learning for Image Recognition", CVPR 2016,
      https://arxiv.org/abs/1512.03385; He et al., "Identity Mappings in Deep Residual
      Networks", ECCV 2016, https://arxiv.org/abs/1603.05027.
    """
    h = jnp.asarray(x)
    for layer in params:
        b = jnp.asarray(layer["b"])
        h = h + activation(h @ jnp.asarray(layer["w"]) + b[None, :])
    return h
