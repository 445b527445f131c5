"""Backpropagation through a one-hidden-layer MLP, with the chain rule written out by hand."""

import jax
import jax.numpy as jnp

from dlcore.nn.activations import relu, softmax


def mlp_forward(params: dict, x: jax.typing.ArrayLike) -> tuple[jax.Array, dict]:
    r"""Forward pass of a ReLU MLP, keeping what the backward pass needs.

    .. math:: z_1 = x W_1 + b_1, \quad h = \mathrm{relu}(z_1), \quad z_2 = h W_2 + b_2

    Args:
      params: ``{"w1": (D, H), "b1": (H,), "w2": (H, C), "b2": (C,)}``.
      x: ``(B, D)`` batch of inputs.

    Returns:
      ``(logits, cache)``: ``logits`` of shape ``(B, C)`` and ``cache``, a dict with the
      input ``"x"``, the pre-activation ``"z1"``, the hidden activation ``"h"`` and the
      ``"logits"``.

    Example:
      >>> params = {"w1": jnp.ones((3, 4)), "b1": jnp.zeros(4),
      ...           "w2": jnp.ones((4, 2)), "b2": jnp.array([0.0, 1.0])}
      >>> logits, cache = mlp_forward(params, jnp.ones((5, 3)))
      >>> logits.shape, sorted(cache)
      ((5, 2), ['h', 'logits', 'x', 'z1'])

    References:
      Rumelhart, Hinton and Williams, `Learning representations by back-propagating errors
      <https://doi.org/10.1038/323533a0>`_, 1986.
    """
    x = jnp.asarray(x)
    # Explicit [None, :] so the bias broadcast also passes jax_numpy_rank_promotion="raise".
    z1 = x @ params["w1"] + params["b1"][None, :]
    h = relu(z1)
    logits = h @ params["w2"] + params["b2"][None, :]
    return logits, {"x": x, "z1": z1, "h": h, "logits": logits}


def mlp_backward(params: dict, cache: dict, labels: jax.typing.ArrayLike) -> dict:
    r"""Gradients of the mean softmax cross-entropy of :func:`mlp_forward`, by hand.

    With :math:`P = \mathrm{softmax}(z_2)` and one-hot labels :math:`Y`:

    .. math::
       \delta_2 = (P - Y) / B, \quad
       \nabla W_2 = h^\top \delta_2, \quad \nabla b_2 = \textstyle\sum_b \delta_2, \\
       \delta_1 = (\delta_2 W_2^\top) \odot [z_1 > 0], \quad
       \nabla W_1 = x^\top \delta_1, \quad \nabla b_1 = \textstyle\sum_b \delta_1

    Args:
      params: the parameters given to :func:`mlp_forward`.
      cache: the cache :func:`mlp_forward` returned.
      labels: ``(B,)`` integer labels in ``[0, C)``.

    Returns:
      A dict with the keys and shapes of ``params``.

    Example:
      >>> params = {"w1": jnp.ones((3, 4)), "b1": jnp.zeros(4),
      ...           "w2": jnp.ones((4, 2)), "b2": jnp.array([0.0, 1.0])}
      >>> _, cache = mlp_forward(params, jnp.ones((5, 3)))
      >>> grads = mlp_backward(params, cache, jnp.zeros(5, dtype=jnp.int32))
      >>> grads["b2"]
      Array([-0.7310...,  0.7310...], dtype=float32)

    References:
      Goodfellow, Bengio and Courville, `Deep Learning, section 6.5
      <https://www.deeplearningbook.org/contents/mlp.html>`_, 2016.
    """
    x, z1, h, logits = cache["x"], cache["z1"], cache["h"], cache["logits"]
    batch_size, num_classes = logits.shape
    labels = jnp.asarray(labels)
    one_hot = (labels[:, None] == jnp.arange(num_classes)[None, :]).astype(logits.dtype)
    # d(mean CE)/d logits = (softmax - one_hot) / B: the 1/B is the mean's.
    d_logits = (softmax(logits, axis=-1) - one_hot) / batch_size
    d_h = d_logits @ params["w2"].T
    d_z1 = d_h * (z1 > 0).astype(d_h.dtype)
    return {
        "w1": x.T @ d_z1,
        "b1": jnp.sum(d_z1, axis=0),
        "w2": h.T @ d_logits,
        "b2": jnp.sum(d_logits, axis=0),
    }
