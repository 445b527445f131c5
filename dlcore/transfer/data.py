"""The q08 transfer pair: ten-class digits as the source, "greater than 4" as the target."""

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split


def digits_transfer_data() -> dict:
    """Source and target tasks from two disjoint halves of scikit-learn's digits (not jitted).

    The 1797 images (NHWC, pixel / 16, float32) are split in two stratified halves
    (``train_test_split(test_size=0.5, random_state=0, stratify=labels)``):

    - source: the first half with all ten digit labels (898 images), used to pretrain;
    - target: the other half (899 images) with a new labelling, ``y = digit > 4`` (2 classes).

    Returns:
      ``{"source": (x, y), "target": (x, y), "target_digits": digit labels of the target}``;
      images ``(N, 8, 8, 1)`` float32, labels ``(N,)`` int32.

    Example:
      >>> data = digits_transfer_data()
      >>> data["source"][0].shape, sorted(set(data["target"][1].tolist()))
      ((898, 8, 8, 1), [0, 1])

    References:
      ``sklearn.datasets.load_digits``; ``sklearn.model_selection.train_test_split``.
    """
    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)[..., None]
    labels = digits.target.astype(np.int32)
    x_src, x_tgt, y_src, y_tgt = train_test_split(
        images, labels, test_size=0.5, random_state=0, stratify=labels
    )
    return {
        "source": (x_src, y_src),
        "target": (x_tgt, (y_tgt > 4).astype(np.int32)),
        "target_digits": y_tgt,
    }


def few_shot_indices(seed: int, labels: np.ndarray, shots: int) -> tuple[np.ndarray, np.ndarray]:
    """``shots`` random examples per class for training, all the others for testing (not jitted).

    Args:
      seed: seeds ``numpy.random.default_rng``.
      labels: ``(N,)`` integer labels.
      shots: examples drawn per class, without replacement.

    Returns:
      ``(train_idx, test_idx)``, sorted, disjoint, covering ``range(N)``.

    Example:
      >>> tr, te = few_shot_indices(0, np.array([0, 0, 0, 1, 1, 1]), 2)
      >>> len(tr), len(te)
      (4, 2)

    References:
      The N-way K-shot protocol: Vinyals et al., "Matching Networks for One Shot Learning",
      https://arxiv.org/abs/1606.04080, 2016.
    """
    rng = np.random.default_rng(seed)
    labels = np.asarray(labels)
    train = np.concatenate(
        [rng.choice(np.flatnonzero(labels == c), shots, replace=False) for c in np.unique(labels)]
    )
    train = np.sort(train)
    return train, np.setdiff1d(np.arange(len(labels)), train)
