"""Resampling for imbalanced data: SMOTE and class-balanced batch sampling."""

import jax
import jax.numpy as jnp


def smote(
    key: jax.Array, x_minority: jax.typing.ArrayLike, num_new: int, *, k: int = 5
) -> jax.Array:
    """SMOTE: new minority points on segments between a point and a near neighbour.

    For each of the ``n`` minority points, find its ``k`` nearest *other* minority points
    (Euclidean distance). Draw ``num_new`` pairs (point ``i``, its ``j``-th neighbour)
    uniformly among the ``n * k`` pairs, draw a gap ``u ~ U[0, 1)`` per new point, and
    return ``x_i + u * (x_nn - x_i)``. This is imbalanced-learn's ``SMOTE`` recipe (one
    uniform draw over ``n * k`` flat indices, one gap per sample).

    Args:
      key: a ``jax.random.key``; split into one key for the pairs and one for the gaps.
      x_minority: ``(n, D)`` minority-class examples; requires ``n > k``.
      num_new: number of synthetic points; static under jit.
      k: neighbours per point; static.

    Returns:
      ``(num_new, D)`` synthetic examples.

    Warning:
      Call it on the *training* split (or training fold) only: synthetic points made
      before splitting are interpolations of validation points, which leaks them. SMOTE
      interpolates raw inputs, which rarely makes sense for images or text.

    Example:
      >>> x = jnp.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
      >>> smote(jax.random.key(0), x, 6, k=2).shape
      (6, 2)

    References:
      Chawla, Bowyer, Hall & Kegelmeyer, "SMOTE: Synthetic Minority Over-sampling
      Technique", JAIR 16, 2002, https://arxiv.org/abs/1106.1813;
      ``imblearn.over_sampling.SMOTE``.
    """
    x = jnp.asarray(x_minority)
    n = x.shape[0]
    if n <= k:
        raise ValueError(f"smote needs more minority points than k, got n={n}, k={k}")
    sq_dist = jnp.sum(jnp.square(x[:, None, :] - x[None, :, :]), axis=-1)
    sq_dist = jnp.where(
        jnp.eye(n, dtype=bool), jnp.inf, sq_dist
    )  # a point is not its own neighbour
    _, neighbours = jax.lax.top_k(-sq_dist, k)  # (n, k), nearest first
    pair_key, gap_key = jax.random.split(key)
    flat = jax.random.randint(pair_key, (num_new,), 0, n * k)
    rows = flat // k
    partners = neighbours[rows, flat % k]
    gaps = jax.random.uniform(gap_key, (num_new, 1), dtype=x.dtype)
    return x[rows] + gaps * (x[partners] - x[rows])


def balanced_batch_indices(
    key: jax.Array, labels: jax.typing.ArrayLike, batch_size: int
) -> jax.Array:
    """Indices drawn i.i.d. with replacement, each with probability ``∝ 1 / count(label)``.

    Example ``i`` is drawn with probability ``(1 / n_{y_i}) / sum_j (1 / n_{y_j})``, so every
    class present has the same chance ``1 / C_present`` per draw, and examples within a
    class are equally likely. Batches are balanced in expectation, not exactly.
    ``count(label)`` is found by sorting, so ``labels`` may be traced.

    Args:
      key: a ``jax.random.key``; used once.
      labels: int labels ``(N,)``.
      batch_size: number of indices; static under jit.

    Returns:
      ``(batch_size,)`` int32 indices into ``labels``.

    Warning:
      This is PyTorch's ``WeightedRandomSampler(1 / count[y], replacement=True)``; the
      minority examples repeat many times per epoch, so overfitting them is the usual
      risk. Sampling without replacement, or forcing exactly ``batch_size / C`` per class,
      are different samplers.

    Example:
      >>> labels = jnp.array([0] * 97 + [1] * 3)
      >>> idx = balanced_batch_indices(jax.random.key(0), labels, 1000)
      >>> 0.4 < float(jnp.mean(labels[idx])) < 0.6
      True

    References:
      ``torch.utils.data.WeightedRandomSampler``.
    """
    labels = jnp.asarray(labels)
    ordered = jnp.sort(labels)
    counts = jnp.searchsorted(ordered, labels, side="right") - jnp.searchsorted(
        ordered, labels, side="left"
    )
    weights = 1.0 / counts.astype(jnp.float32)
    picks = jax.random.choice(
        key, labels.shape[0], (batch_size,), replace=True, p=weights / jnp.sum(weights)
    )
    return picks.astype(jnp.int32)
