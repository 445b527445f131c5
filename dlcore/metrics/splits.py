"""K-fold and stratified k-fold index splits (Python-level helpers, not jitted)."""

import jax
import numpy as np


def kfold_indices(n: int, k: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Unshuffled k-fold cross-validation splits of ``range(n)``; not jitted.

    The validation blocks are contiguous and ascending and cover ``0..n-1`` in order. The
    first ``n % k`` folds hold ``n // k + 1`` examples, the others ``n // k``; each train
    set is the complement, ascending. Exactly ``sklearn.model_selection.KFold(k)``.

    Args:
      n: number of examples, ``n >= k``.
      k: number of folds, ``k >= 2``.

    Returns:
      A list of ``k`` pairs ``(train_idx, val_idx)`` of int64 NumPy arrays.

    Warning:
      The order is not shuffled: if the data are sorted (by label, by time), shuffle or
      stratify first. ``np.array_split`` gives the same sizes; putting the whole remainder
      in the last fold does not.

    Example:
      >>> [val.tolist() for _, val in kfold_indices(10, 3)]
      [[0, 1, 2, 3], [4, 5, 6], [7, 8, 9]]

    References:
      ``sklearn.model_selection.KFold``.
    """
    if k < 2 or k > n:
        raise ValueError(f"need 2 <= k <= n, got n={n}, k={k}")
    sizes = [n // k + (1 if i < n % k else 0) for i in range(k)]
    folds = []
    start = 0
    for size in sizes:
        val = np.arange(start, start + size)
        train = np.concatenate([np.arange(0, start), np.arange(start + size, n)])
        folds.append((train, val))
        start += size
    return folds


def stratified_kfold(
    key: jax.Array, labels: jax.typing.ArrayLike, k: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Shuffled stratified k-fold splits: every fold keeps the class proportions; not jitted.

    For each class ``c`` (in sorted order) its ``n_c`` indices are permuted with a key of its
    own and dealt round-robin to the folds, starting where the previous class stopped. So
    class ``c`` has ``floor(n_c / k)`` or ``ceil(n_c / k)`` members in every validation fold
    (the ``StratifiedKFold`` guarantee), and the fold sizes themselves differ by at most 1.
    The validation folds partition ``range(n)``; indices are sorted within each array.

    Args:
      key: a ``jax.random.key``; split once per class.
      labels: concrete int labels ``(N,)`` (a NumPy array or a non-traced JAX array).
      k: number of folds, ``2 <= k <= N``.

    Returns:
      A list of ``k`` pairs ``(train_idx, val_idx)`` of sorted int64 NumPy arrays.

    Warning:
      Same guarantee as scikit-learn's ``StratifiedKFold(k, shuffle=True)``, not the same
      assignment. Shuffling the whole data set and cutting it into ``k`` chunks is not
      stratified: a rare class can be missing from a fold.

    Example:
      >>> folds = stratified_kfold(jax.random.key(0), jnp.array([0] * 6 + [1] * 3), 3)
      >>> [len(val) for _, val in folds]
      [3, 3, 3]

    References:
      ``sklearn.model_selection.StratifiedKFold``; Kohavi, "A Study of Cross-Validation
      and Bootstrap for Accuracy Estimation and Model Selection", IJCAI 1995.
    """
    labels = np.asarray(labels)
    n = labels.shape[0]
    if k < 2 or k > n:
        raise ValueError(f"need 2 <= k <= n, got n={n}, k={k}")
    classes = np.unique(labels)
    keys = jax.random.split(key, len(classes))
    fold_of = np.empty(n, dtype=np.int64)
    start = 0
    for c, class_key in zip(classes, keys, strict=True):
        members = np.flatnonzero(labels == c)
        members = np.asarray(jax.random.permutation(class_key, members))
        fold_of[members] = (start + np.arange(len(members))) % k
        start += len(members)
    every = np.arange(n)
    return [(every[fold_of != f], every[fold_of == f]) for f in range(k)]
