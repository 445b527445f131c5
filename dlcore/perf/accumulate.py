"""Gradient accumulation: a big batch's gradient from microbatches, in one ``lax.scan``."""

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp


def accumulate_grads(
    loss_fn: Callable[[Any, Any], jax.Array], params: Any, batch: Any, num_micro: int
) -> tuple[jax.Array, Any]:
    r"""Mean loss and gradient over ``num_micro`` equal microbatches, one at a time.

    The batch (every leaf's leading axis, size ``B``) is cut into ``n = num_micro``
    consecutive chunks of ``B / n`` examples; a ``lax.scan`` runs
    ``value_and_grad(loss_fn)`` on one chunk per iteration and adds the results into
    float32 accumulators, and the result is

    .. math:: L = \frac{1}{n} \sum_k L_k, \qquad g = \frac{1}{n} \sum_k \nabla L_k .

    For a ``loss_fn`` that averages over its examples this equals ``value_and_grad`` on the
    whole batch, while only one microbatch's activations are alive at a time: the peak
    memory is that of a batch of ``B / n``.

    Args:
      loss_fn: ``loss_fn(params, microbatch) -> scalar``, a mean over the microbatch.
      params: a pytree of floating arrays.
      batch: a pytree whose leaves share the leading dimension ``B``.
      num_micro: ``n``, a Python int dividing ``B``; static under jit.

    Returns:
      ``(loss, grads)``: the float32 mean loss, and the mean gradients with the structure
      and dtypes of ``params`` (summed in float32, or float64 for float64 params).

    Raises:
      ValueError: if ``B % num_micro != 0``.

    Warning:
      Equal to the big batch only when examples do not interact: BatchNorm statistics are
      computed per microbatch, so a BatchNorm model sees ``n`` small batches. Summing
      instead of averaging multiplies the effective learning rate by ``n``. This is what
      ``optax.MultiSteps(tx, every_k_schedule=n)`` feeds ``tx``; MultiSteps spreads the
      microbatches over ``n`` calls instead of one scan.

    Example:
      >>> loss = lambda w, b: jnp.mean((b[:, 0] * w - b[:, 1]) ** 2)
      >>> data = jnp.stack([jnp.arange(4.0), 2 * jnp.arange(4.0)], axis=1)
      >>> l_full, g_full = jax.value_and_grad(loss)(1.0, data)
      >>> l, g = accumulate_grads(loss, 1.0, data, 2)
      >>> bool(jnp.allclose(l, l_full)), bool(jnp.allclose(g, g_full))
      (True, True)

    References:
      ``optax.MultiSteps``,
      https://optax.readthedocs.io/en/latest/api/optimizer_wrappers.html#optax.MultiSteps;
      ``jax.lax.scan``.
    """
    leaves = jax.tree.leaves(batch)
    size = leaves[0].shape[0]
    if size % num_micro != 0:
        raise ValueError(f"batch size {size} is not divisible by num_micro={num_micro}")
    # (B, ...) -> (n, B / n, ...): chunk k holds examples k B/n .. (k+1) B/n - 1, features intact.
    micro = jax.tree.map(lambda x: x.reshape(num_micro, size // num_micro, *x.shape[1:]), batch)

    def step(carry, mb):
        loss_sum, grad_sum = carry
        loss, grads = jax.value_and_grad(loss_fn)(params, mb)
        grad_sum = jax.tree.map(lambda s, g: s + g.astype(s.dtype), grad_sum, grads)
        return (loss_sum + loss.astype(jnp.float32), grad_sum), None

    # Accumulate in float32 at least: bfloat16 sums of many microbatches lose digits.
    zeros = jax.tree.map(
        lambda p: jnp.zeros(jnp.shape(p), jnp.promote_types(jnp.result_type(p), jnp.float32)),
        params,
    )
    (loss_sum, grad_sum), _ = jax.lax.scan(step, (jnp.zeros((), jnp.float32), zeros), micro)
    grads = jax.tree.map(lambda s, p: (s / num_micro).astype(jnp.result_type(p)), grad_sum, params)
    return loss_sum / num_micro, grads
