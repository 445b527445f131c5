"""Finite-difference gradients, the yardstick for hand-written and automatic derivatives."""

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax


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
