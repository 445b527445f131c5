"""Overfit one batch: the first sanity check of any training setup."""

from collections.abc import Callable
from typing import Any

import jax
import optax


def overfit_one_batch(
    loss_fn: Callable[[Any, Any], jax.Array],
    params: Any,
    batch: Any,
    *,
    tx: optax.GradientTransformation,
    steps: int,
) -> tuple[Any, jax.Array]:
    """Train on a single batch for ``steps`` optax steps, in one jitted ``lax.scan``.

    Step ``i``: ``loss_i, g = value_and_grad(loss_fn)(params, batch)``, then
    ``updates, opt_state = tx.update(g, opt_state, params)`` and
    ``params = optax.apply_updates(params, updates)``, starting from
    ``opt_state = tx.init(params)``. A model that cannot drive the loss on one small batch
    close to zero has a bug (wrong labels, a detached layer, a bad learning rate).

    Args:
      loss_fn: ``loss_fn(params, batch) -> scalar``.
      params: initial parameters, any pytree.
      batch: one batch, any pytree; the same on every step.
      tx: an optax optimizer; static.
      steps: the number of updates; static.

    Returns:
      ``(params, losses)``: the parameters after ``steps`` updates and the ``(steps,)``
      losses, ``losses[i]`` being the loss *before* update ``i`` (so ``losses[0]`` is the
      initial loss, about ``ln C`` for ``C`` balanced classes at a sensible init).

    Example:
      >>> loss = lambda p, b: jnp.sum((p - b) ** 2)
      >>> p, losses = overfit_one_batch(loss, jnp.zeros(2), jnp.ones(2), tx=optax.sgd(0.25),
      ...                               steps=3)
      >>> losses
      Array([2.   , 0.5  , 0.125], dtype=float32)

    References:
      Karpathy, "A Recipe for Training Neural Networks", 2019,
      https://karpathy.github.io/2019/04/25/recipe/; ``optax`` training loop,
      https://optax.readthedocs.io/en/latest/getting_started.html.
    """

    def run(params, batch):
        def step(carry, _):
            params, opt_state = carry
            loss, grads = jax.value_and_grad(loss_fn)(params, batch)
            updates, opt_state = tx.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), loss

        carry, losses = jax.lax.scan(step, (params, tx.init(params)), None, length=steps)
        return carry[0], losses

    # The batch is an argument, not a closure, so it is not baked into the program.
    return jax.jit(run)(params, batch)
