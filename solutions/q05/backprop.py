"""q05 Backpropagation: reference solution.

Generated from dlcore.autodiff.backprop, dlcore.autodiff.numerical, dlcore.nn.activations, dlcore.nn.losses, dlcore.optim.sgd by tools/gen_exercises.py; edit dlcore, then
regenerate. Graded tasks: mlp_forward, softmax_cross_entropy, mlp_backward, numerical_grad, sgd_step.
"""

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax


def relu(x: jax.typing.ArrayLike) -> jax.Array:
    r"""Rectified linear unit, elementwise.

    .. math:: \mathrm{relu}(x) = \max(x, 0), \qquad \mathrm{relu}'(x) = [x > 0]

    Args:
      x: input array of any shape.

    Returns:
      An array like ``x``.

    Example:
      >>> relu(jnp.array([-2.0, 0.0, 3.0]))
      Array([0., 0., 3.], dtype=float32)

    References:
      Nair and Hinton, Rectified Linear Units Improve Restricted Boltzmann Machines, 2010.
    """
    x = jnp.asarray(x)
    # where() rather than jnp.maximum: maximum splits the gradient 1/2-1/2 at the tie x = 0,
    # jax.nn.relu and PyTorch use 0 there.
    return jnp.where(x > 0, x, 0)


def softmax(x: jax.typing.ArrayLike, axis: int | tuple[int, ...] = -1) -> jax.Array:
    r"""Softmax along ``axis``.

    .. math:: \mathrm{softmax}(x)_i = \frac{e^{x_i - m}}{\sum_j e^{x_j - m}}, \quad m = \max_j x_j

    Args:
      x: input array of any shape and floating dtype.
      axis: the axis or axes to normalize over.

    Returns:
      An array like ``x``, non-negative, summing to 1 along ``axis``; an empty array (an
      empty ``axis`` included) gives an empty array of the same shape, as ``jax.nn.softmax``.

    Example:
      >>> softmax(jnp.array([1e4, 1e4, -1e4]))
      Array([0.5, 0.5, 0. ], dtype=float32)

    References:
      Bridle, Probabilistic Interpretation of Feedforward Classification Network Outputs, 1990.
    """
    x = jnp.asarray(x)
    # Subtracting the max keeps exp() <= 1; softmax is shift-invariant, so the shift needs
    # no gradient and stop_gradient saves the backward pass from differentiating the max.
    # initial=-inf gives an empty axis a max (a reduction with no identity would raise) and
    # changes nothing elsewhere: max(x, -inf) == max(x).
    shifted = x - lax.stop_gradient(jnp.max(x, axis=axis, keepdims=True, initial=-jnp.inf))
    unnormalized = jnp.exp(shifted)
    return unnormalized / jnp.sum(unnormalized, axis=axis, keepdims=True)


def log_softmax(x: jax.typing.ArrayLike, axis: int | tuple[int, ...] = -1) -> jax.Array:
    r"""Log of the softmax along ``axis``, computed without forming the softmax.

    .. math:: \mathrm{log\_softmax}(x)_i = (x_i - m) - \log \sum_j e^{x_j - m},
       \quad m = \max_j x_j

    Args:
      x: input array of any shape and floating dtype.
      axis: the axis or axes to normalize over.

    Returns:
      An array like ``x`` with values ``<= 0``; empty for an empty ``x``, as
      ``jax.nn.log_softmax``.

    Example:
      >>> log_softmax(jnp.array([1e4, 0.0]))
      Array([     0., -10000.], dtype=float32)

    References:
      ``jax.nn.log_softmax``: https://docs.jax.dev/en/latest/jax.nn.html
    """
    x = jnp.asarray(x)
    shifted = x - lax.stop_gradient(jnp.max(x, axis=axis, keepdims=True, initial=-jnp.inf))
    return shifted - jnp.log(jnp.sum(jnp.exp(shifted), axis=axis, keepdims=True))


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


def numerical_grad(f: Callable[[Any], jax.Array], params: Any, eps: float = 1e-3) -> Any:
    r"""Central-difference gradient of a scalar function of a params pytree.

    For every element :math:`\theta_i` of every leaf:

    .. math:: \frac{\partial f}{\partial \theta_i}
       \approx \frac{f(\theta + \epsilon e_i) - f(\theta - \epsilon e_i)}{2 \epsilon}

    with error :math:`O(\epsilon^2)` in exact arithmetic, plus a rounding error of about
    :math:`\mathrm{ulp}(f) / \epsilon`: in float32, ``eps=1e-3`` gives roughly 1e-2 relative
    accuracy, enough to catch a wrong backward pass but not to test one bit-for-bit.

    The elements of a leaf are swept with ``lax.map`` (one compiled loop, not one Python call
    per element), so the function jits whenever ``f`` does.

    Args:
      f: a function of ``params`` returning a scalar.
      params: a pytree of floating arrays.
      eps: the perturbation size (static under ``jit``).

    Returns:
      A pytree with the structure, shapes and dtypes of ``params``.

    Example:
      >>> f = lambda p: jnp.sum(p["w"] ** 2) + 3.0 * p["b"]
      >>> grads = numerical_grad(f, {"w": jnp.array([1.0, -2.0]), "b": jnp.array(0.5)})
      >>> jnp.round(grads["w"], 2), jnp.round(grads["b"], 2)
      (Array([ 2., -4.], dtype=float32), Array(3., dtype=float32))

    References:
      Nocedal and Wright, `Numerical Optimization, section 8.1
      <https://doi.org/10.1007/978-0-387-40065-5>`_, 2006; ``jax.test_util.check_grads``.
    """
    leaves, treedef = jax.tree.flatten(params)
    leaves = [jnp.asarray(leaf) for leaf in leaves]

    def leaf_grad(j: int) -> jax.Array:
        flat = leaves[j].ravel()

        def f_with(leaf: jax.Array) -> jax.Array:
            new_leaves = leaves[:j] + [leaf.reshape(leaves[j].shape)] + leaves[j + 1 :]
            return f(jax.tree.unflatten(treedef, new_leaves))

        def partial(i: jax.Array) -> jax.Array:
            plus = f_with(flat.at[i].add(eps))
            minus = f_with(flat.at[i].add(-eps))
            return (plus - minus) / (2 * eps)

        grads = lax.map(partial, jnp.arange(flat.size))
        return grads.reshape(leaves[j].shape).astype(leaves[j].dtype)

    # A Python loop over leaves (a handful), never over elements.
    return jax.tree.unflatten(treedef, [leaf_grad(j) for j in range(len(leaves))])


def sgd_step(params: Any, grads: Any, learning_rate: jax.typing.ArrayLike) -> Any:
    r"""One plain gradient-descent step on a params pytree.

    .. math:: \theta \leftarrow \theta - \eta\, \nabla_\theta L

    Args:
      params: a pytree of arrays.
      grads: a pytree with the structure of ``params``.
      learning_rate: the step size :math:`\eta`.

    Returns:
      The new params, with the structure and dtypes of ``params``.

    Example:
      >>> sgd_step({"w": jnp.array([1.0, 2.0])}, {"w": jnp.array([10.0, -10.0])}, 0.1)
      {'w': Array([0., 3.], dtype=float32)}

    References:
      Robbins and Monro, `A Stochastic Approximation Method
      <https://doi.org/10.1214/aoms/1177729586>`_, 1951.
    """
    return jax.tree.map(
        lambda p, g: jnp.asarray(p - learning_rate * g, dtype=jnp.asarray(p).dtype), params, grads
    )
