"""Fixed training recipes the grader uses on a learner's model (TRAIN checks).

Runs inside the sandboxed worker, where ``dlcore`` is blocked: this module imports only
JAX, optax, NumPy and scikit-learn. The whole optimization loop is one jitted
``lax.scan``, so a recipe compiles once and its cost is predictable.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax

# Tuned on dlcore's q11 CNN: 97.8-99.3% digits test accuracy over init seeds 0-9 (the
# grader needs 95%); about 4 s for compile + train on a 2-core CPU, ~6 s for a fresh process
# including imports and loading the data.
DEFAULT_STEPS = 600
DEFAULT_BATCH_SIZE = 64
DEFAULT_LEARNING_RATE = 3e-3
DEFAULT_TEST_SIZE = 0.25


def digits_images(
    *, test_size: float = DEFAULT_TEST_SIZE, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """scikit-learn's 8x8 digits as NHWC float32 images in [0, 1], stratified split.

    Returns:
      ``(x_train, y_train, x_test, y_test)``; images ``(N, 8, 8, 1)`` float32 (pixel / 16),
      labels ``(N,)`` int32.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)[..., None]
    labels = digits.target.astype(np.int32)
    x_train, x_test, y_train, y_test = train_test_split(
        images, labels, test_size=test_size, random_state=seed, stratify=labels
    )
    return x_train, y_train, x_test, y_test


def train_classifier(
    key: jax.Array,
    init_fn: Callable[[jax.Array], Any],
    apply_fn: Callable[[Any, jax.Array], jax.Array],
    data: tuple[Any, ...],
    *,
    steps: int = DEFAULT_STEPS,
    batch_size: int = DEFAULT_BATCH_SIZE,
    learning_rate: float = DEFAULT_LEARNING_RATE,
) -> Any:
    """Trains ``apply_fn`` with Adam on softmax cross-entropy and returns the params.

    Args:
      key: ``jax.random.key``; split into the init key and the minibatch key.
      init_fn: ``init_fn(key) -> params``; traced under ``jax.jit`` with the loop.
      apply_fn: ``apply_fn(params, x) -> logits (B, C)``.
      data: ``(x_train, y_train, ...)``, e.g. the tuple from :func:`digits_images`.
      steps: optimizer steps; each draws a batch without replacement from the train set.
      batch_size: examples per step.
      learning_rate: Adam step size.

    Returns:
      The trained params (same pytree structure as ``init_fn``'s result).
    """
    x_train = jnp.asarray(data[0], jnp.float32)
    y_train = jnp.asarray(data[1], jnp.int32)
    num_examples = x_train.shape[0]
    tx = optax.adam(learning_rate)

    def loss_fn(params, xb, yb):
        logits = apply_fn(params, xb)
        return optax.softmax_cross_entropy_with_integer_labels(logits, yb).mean()

    def step(carry, step_key):
        params, opt_state = carry
        idx = jax.random.choice(step_key, num_examples, (batch_size,), replace=False)
        grads = jax.grad(loss_fn)(params, x_train[idx], y_train[idx])
        updates, opt_state = tx.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), None

    # Init, key splitting and the scan compile together: one XLA program, no eager op
    # dispatch (each eager op would be its own small compile on a cold worker).
    @jax.jit
    def run(key):
        init_key, data_key = jax.random.split(key)
        params = init_fn(init_key)
        carry = (params, tx.init(params))
        (params, _), _ = lax.scan(step, carry, jax.random.split(data_key, steps))
        return params

    return run(key)


def accuracy(apply_fn: Callable[[Any, jax.Array], jax.Array], params: Any, x, y) -> float:
    """Fraction of ``x`` whose argmax logit equals the integer label ``y``."""
    logits = jax.jit(apply_fn)(params, jnp.asarray(x, jnp.float32))
    return float(jnp.mean(jnp.argmax(logits, axis=-1) == jnp.asarray(y)))
