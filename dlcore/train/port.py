"""A JAX port of the shipped NumPy training loop (``numpy_reference.train``)."""

from typing import Any

import jax
import jax.numpy as jnp
import optax
from jax import lax


def mlp_tanh_loss(params: Any, x: jax.typing.ArrayLike, y: jax.typing.ArrayLike) -> jax.Array:
    r"""Mean softmax cross-entropy of the 2-layer tanh MLP.

    .. math:: h = \tanh(x W_1 + b_1), \quad z = h W_2 + b_2, \quad
       L = \mathrm{mean}_i\, \mathrm{CE}(z_i, y_i)

    Args:
      params: ``{"w1": (D, H), "b1": (H,), "w2": (H, C), "b2": (C,)}``.
      x: inputs ``(B, D)``.
      y: integer labels ``(B,)``.

    Returns:
      A float32 scalar.

    Example:
      >>> p = {"w1": jnp.zeros((4, 3)), "b1": jnp.zeros(3), "w2": jnp.zeros((3, 2)),
      ...      "b2": jnp.zeros(2)}
      >>> mlp_tanh_loss(p, jnp.ones((5, 4)), jnp.zeros(5, int))  # log 2
      Array(0.6931472, dtype=float32)

    References:
      ``optax.softmax_cross_entropy_with_integer_labels``.
    """
    # Explicit (1, H) biases: the batch axis is broadcast on purpose, not by rank promotion.
    h = jnp.tanh(x @ params["w1"] + params["b1"][None, :])
    logits = h @ params["w2"] + params["b2"][None, :]
    return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()


@jax.jit
def port_train(
    params: Any,
    x: jax.typing.ArrayLike,
    y: jax.typing.ArrayLike,
    batches: jax.typing.ArrayLike,
    *,
    learning_rate: jax.typing.ArrayLike,
    momentum: jax.typing.ArrayLike = 0.9,
) -> tuple[Any, jax.Array]:
    r"""``numpy_reference.train`` in JAX: one jitted ``lax.scan`` over the mini-batches.

    .. math:: L_s = L(\theta; x_{b_s}, y_{b_s}), \quad v \leftarrow \mu v + \nabla L_s,
       \quad \theta \leftarrow \theta - \eta v

    Heavy-ball momentum without dampening (``optax.sgd(lr, momentum)``), :math:`v_0 = 0`;
    gradients by ``jax.grad`` instead of the NumPy backward pass. ``learning_rate`` and
    ``momentum`` are traced, so changing them does not recompile.

    Args:
      params: ``{"w1": (D, H), "b1": (H,), "w2": (H, C), "b2": (C,)}`` float32.
      x: all inputs ``(N, D)`` float32.
      y: all labels ``(N,)`` int.
      batches: ``(S, B)`` int indices into ``x``; one step per row.
      learning_rate: :math:`\eta`.
      momentum: :math:`\mu`.

    Returns:
      ``(params, losses)``: the final params and the ``(S,)`` losses, each taken before its
      step's update.

    Warning:
      PyTorch's ``SGD(dampening=d)`` would use ``v = mu * v + (1 - d) * g``, and Keras
      folds the learning rate into the velocity; the NumPy loop does neither.

    Example:
      >>> p = {"w1": jnp.zeros((4, 3)), "b1": jnp.zeros(3), "w2": jnp.zeros((3, 2)),
      ...      "b2": jnp.zeros(2)}
      >>> x, y = jnp.ones((6, 4)), jnp.arange(6) % 2
      >>> _, losses = port_train(p, x, y, jnp.arange(6).reshape(3, 2), learning_rate=0.1)
      >>> losses.shape
      (3,)

    References:
      Polyak, "Some methods of speeding up the convergence of iteration methods", 1964;
      ``jax.lax.scan``.
    """
    x = jnp.asarray(x)
    y = jnp.asarray(y)

    def step(carry, idx):
        params, velocity = carry
        loss, grads = jax.value_and_grad(mlp_tanh_loss)(params, x[idx], y[idx])
        velocity = jax.tree.map(lambda v, g: momentum * v + g, velocity, grads)
        params = jax.tree.map(lambda p, v: p - learning_rate * v, params, velocity)
        return (params, velocity), loss

    velocity = jax.tree.map(jnp.zeros_like, params)
    (params, _), losses = lax.scan(step, (params, velocity), jnp.asarray(batches))
    return params, losses
