"""A training loop with four planted bugs, shipped for the learner to fix (exercise q23).

Every function here is deliberately wrong; the correct versions are in
``dlcore.debug.train_loop``. The exercise stub copies these functions verbatim, so the
source carries no hint; the bugs are:

1. ``buggy_train`` passes the same ``key`` to every step, so dropout drops the same units
   every time.
2. ``buggy_train_step`` takes ``log(softmax(logits))``, which is ``-inf`` (and the gradient
   NaN) once logits differ by about 100.
3. It averages over the class axis and sums over the batch, so the loss is ``B / C`` times
   the batch mean of the cross-entropy.
4. ``buggy_evaluate`` leaves dropout on, so accuracy is random.
"""

from typing import Any

import jax
import jax.numpy as jnp
import optax

from dlcore.debug.mlp import mlp_apply


def buggy_train_step(
    key: jax.Array,
    params: Any,
    opt_state: Any,
    batch: tuple[jax.Array, jax.Array],
    *,
    tx: optax.GradientTransformation,
    rate: float,
) -> tuple[Any, Any, jax.Array]:
    """One optimizer step on a batch ``(x, labels)``. Deliberately buggy: fix it as ``train_step``.

    Example:
      >>> p = {"w1": jnp.ones((4, 8)), "b1": jnp.zeros(8), "w2": jnp.ones((8, 3)),
      ...      "b2": jnp.zeros(3)}
      >>> tx = optax.sgd(0.1)
      >>> batch = (jnp.ones((2, 4)), jnp.array([0, 2]))
      >>> _, _, loss = buggy_train_step(jax.random.key(1), p, tx.init(p), batch, tx=tx, rate=0.1)
      >>> loss.shape
      ()
    """
    x, labels = batch

    def loss_fn(p):
        logits = mlp_apply(p, x, key=key, rate=rate, deterministic=False)
        log_probs = jnp.log(jax.nn.softmax(logits))
        picked = jax.nn.one_hot(labels, logits.shape[-1]) * log_probs
        return -jnp.sum(jnp.mean(picked, axis=-1))

    loss, grads = jax.value_and_grad(loss_fn)(params)
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, loss


def buggy_train(
    key: jax.Array,
    params: Any,
    batches: tuple[jax.Array, jax.Array],
    *,
    tx: optax.GradientTransformation,
    rate: float,
) -> tuple[Any, jax.Array]:
    """Scan ``buggy_train_step`` over stacked batches ``(xs, labels)``. Deliberately buggy.

    Example:
      >>> p = {"w1": jnp.ones((4, 8)), "b1": jnp.zeros(8), "w2": jnp.ones((8, 3)),
      ...      "b2": jnp.zeros(3)}
      >>> batches = (jnp.ones((5, 2, 4)), jnp.zeros((5, 2), jnp.int32))
      >>> _, losses = buggy_train(jax.random.key(1), p, batches, tx=optax.sgd(0.1), rate=0.1)
      >>> losses.shape
      (5,)
    """

    def body(carry, batch):
        params, opt_state = carry
        params, opt_state, loss = buggy_train_step(key, params, opt_state, batch, tx=tx, rate=rate)
        return (params, opt_state), loss

    (params, _), losses = jax.lax.scan(body, (params, tx.init(params)), batches)
    return params, losses


def buggy_evaluate(params: Any, batch: tuple[jax.Array, jax.Array]) -> jax.Array:
    """Accuracy on a batch ``(x, labels)``. Deliberately buggy: fix it as ``evaluate``.

    Example:
      >>> p = {"w1": jnp.ones((4, 8)), "b1": jnp.zeros(8), "w2": jnp.ones((8, 3)),
      ...      "b2": jnp.zeros(3)}
      >>> buggy_evaluate(p, (jnp.ones((2, 4)), jnp.array([0, 2]))).shape
      ()
    """
    x, labels = batch
    logits = mlp_apply(params, x, key=jax.random.key(0), rate=0.5, deterministic=False)
    return jnp.mean(jnp.argmax(logits, axis=-1) == labels)
