"""The fixed training loop: fresh dropout keys, a stable loss, the batch mean, eval mode."""

from typing import Any

import jax
import jax.numpy as jnp
import optax

from dlcore.debug.mlp import mlp_apply


def train_step(
    key: jax.Array,
    params: Any,
    opt_state: Any,
    batch: tuple[jax.Array, jax.Array],
    *,
    tx: optax.GradientTransformation,
    rate: float,
) -> tuple[Any, Any, jax.Array]:
    r"""One optimizer step of the dropout MLP on a batch ``(x, labels)``.

    .. math:: L = \frac{1}{B} \sum_b -\mathrm{log\_softmax}(z_b)_{y_b},
       \quad z = \mathrm{mlp\_apply}(\theta, x; \text{key}, \text{rate})

    computed from the logits with ``optax.softmax_cross_entropy_with_integer_labels``
    (stable for logits of size 1e4), then ``tx.update`` and ``optax.apply_updates``.

    Args:
      key: a ``jax.random.key`` for this step's dropout mask; used once.
      params: MLP parameters, as ``mlp_apply`` takes them.
      opt_state: ``tx``'s state.
      batch: ``(x, labels)``, shapes ``(B, D)`` and ``(B,)`` int.
      tx: an optax optimizer; static.
      rate: dropout rate; static.

    Returns:
      ``(params, opt_state, loss)``; ``loss`` is the batch-mean loss *before* the update.

    Example:
      >>> p = {"w1": jnp.ones((4, 8)), "b1": jnp.zeros(8), "w2": jnp.ones((8, 3)),
      ...      "b2": jnp.zeros(3)}
      >>> tx = optax.sgd(0.1)
      >>> batch = (jnp.ones((2, 4)), jnp.array([0, 2]))
      >>> _, _, loss = train_step(jax.random.key(1), p, tx.init(p), batch, tx=tx, rate=0.0)
      >>> round(float(loss), 4)  # ln 3: the logits are all equal
      1.0986

    References:
      ``optax.softmax_cross_entropy_with_integer_labels``,
      https://optax.readthedocs.io/en/latest/api/losses.html.
    """
    x, labels = batch

    def loss_fn(p):
        logits = mlp_apply(p, x, key=key, rate=rate, deterministic=False)
        return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, labels))

    loss, grads = jax.value_and_grad(loss_fn)(params)
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, loss


def train(
    key: jax.Array,
    params: Any,
    batches: tuple[jax.Array, jax.Array],
    *,
    tx: optax.GradientTransformation,
    rate: float,
) -> tuple[Any, jax.Array]:
    """Run ``train_step`` over stacked batches in one ``lax.scan``, a fresh key per step.

    Step ``i`` uses ``jax.random.fold_in(key, i)``, so two runs with the same key give the
    same trajectory and no two steps share a dropout mask. The optimizer starts from
    ``tx.init(params)``.

    Args:
      key: a ``jax.random.key``; only folded, never used directly.
      params: initial MLP parameters.
      batches: ``(xs, labels)`` with a leading step axis: ``(S, B, D)`` and ``(S, B)``.
      tx: an optax optimizer; static.
      rate: dropout rate; static.

    Returns:
      ``(params, losses)``: final parameters and the ``(S,)`` per-step losses.

    Example:
      >>> p = {"w1": jnp.ones((4, 8)), "b1": jnp.zeros(8), "w2": jnp.ones((8, 3)),
      ...      "b2": jnp.zeros(3)}
      >>> batches = (jnp.ones((5, 2, 4)), jnp.zeros((5, 2), jnp.int32))
      >>> _, losses = train(jax.random.key(1), p, batches, tx=optax.sgd(0.1), rate=0.1)
      >>> bool(losses[-1] < losses[0])
      True

    References:
      ``jax.random.fold_in``,
      https://docs.jax.dev/en/latest/_autosummary/jax.random.fold_in.html.
    """
    steps = jax.tree.leaves(batches)[0].shape[0]

    def body(carry, inputs):
        params, opt_state = carry
        i, batch = inputs
        step_key = jax.random.fold_in(key, i)
        params, opt_state, loss = train_step(step_key, params, opt_state, batch, tx=tx, rate=rate)
        return (params, opt_state), loss

    init = (params, tx.init(params))
    (params, _), losses = jax.lax.scan(body, init, (jnp.arange(steps), batches))
    return params, losses


def evaluate(params: Any, batch: tuple[jax.Array, jax.Array]) -> jax.Array:
    """Accuracy on a batch ``(x, labels)`` with dropout off (``deterministic=True``).

    Args:
      params: MLP parameters.
      batch: ``(x, labels)``, shapes ``(B, D)`` and ``(B,)`` int.

    Returns:
      A float32 scalar in ``[0, 1]``; the same on every call.

    Example:
      >>> p = {"w1": jnp.ones((4, 8)), "b1": jnp.zeros(8), "w2": jnp.eye(8, 3),
      ...      "b2": jnp.zeros(3)}
      >>> evaluate(p, (jnp.ones((2, 4)), jnp.array([0, 2])))
      Array(0.5, dtype=float32)

    References:
      ``flax.nnx.Dropout`` (``deterministic=True`` at evaluation),
      https://flax.readthedocs.io/en/latest/api_reference/flax.nnx/nn/stochastic.html.
    """
    x, labels = batch
    logits = mlp_apply(params, x, key=None, rate=0.0, deterministic=True)
    return jnp.mean(jnp.argmax(logits, axis=-1) == labels)
