"""q08 Transfer learning with Flax NNX: reference solution.

Generated from dlcore.transfer.data, dlcore.transfer.finetune, dlcore.transfer.model by tools/gen_exercises.py; edit dlcore, then
regenerate. Graded tasks: replace_head, freeze_labels, make_finetune_optimizer, finetune_step.
"""

import pathlib
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split


_CHECKPOINT = pathlib.Path(__file__).resolve().parent / "fixtures" / "backbone.npz"


class Backbone(nnx.Module):
    """Conv 1->16 3x3 SAME, BN, ReLU, max-pool 2; conv 16->32 3x3 SAME, BN, ReLU; GAP.

    ``(N, 8, 8, 1) -> (N, 8, 8, 16) -> (N, 4, 4, 16) -> (N, 4, 4, 32) -> (N, 32)``. The
    BatchNorm layers use Flax's ``momentum=0.9`` (PyTorch's 0.1) and ``epsilon=1e-5``.
    """

    def __init__(self, *, rngs: nnx.Rngs):
        self.conv1 = nnx.Conv(1, 16, (3, 3), padding="SAME", rngs=rngs)
        self.bn1 = nnx.BatchNorm(16, momentum=0.9, epsilon=1e-5, rngs=rngs)
        self.conv2 = nnx.Conv(16, 32, (3, 3), padding="SAME", rngs=rngs)
        self.bn2 = nnx.BatchNorm(32, momentum=0.9, epsilon=1e-5, rngs=rngs)

    def __call__(self, x: jax.typing.ArrayLike) -> jax.Array:
        x = jax.nn.relu(self.bn1(self.conv1(x)))
        x = nnx.max_pool(x, (2, 2), strides=(2, 2))
        x = jax.nn.relu(self.bn2(self.conv2(x)))
        return jnp.mean(x, axis=(1, 2))


class DigitsCNN(nnx.Module):
    """``head(backbone(x))``: logits ``(N, num_classes)`` for ``(N, 8, 8, 1)`` images.

    BatchNorm runs in train mode (batch statistics, running averages updated) unless the
    model is viewed with ``nnx.view(model, use_running_average=True)``.

    Example:
      >>> model = DigitsCNN(5, rngs=nnx.Rngs(0))
      >>> model(jnp.zeros((2, 8, 8, 1))).shape, model.head.in_features
      ((2, 5), 32)
    """

    def __init__(self, num_classes: int, *, rngs: nnx.Rngs):
        self.backbone = Backbone(rngs=rngs)
        self.head = nnx.Linear(32, num_classes, rngs=rngs)

    def __call__(self, x: jax.typing.ArrayLike) -> jax.Array:
        return self.head(self.backbone(x))


def load_pretrained(*, rngs: nnx.Rngs, source=None) -> DigitsCNN:
    """The committed pretrained ``DigitsCNN(10)`` (not jitted).

    Written by ``tools/make_q08_backbone.py``: trained on all ten classes of the *source*
    half of scikit-learn's digits (:func:`dlcore.transfer.data.digits_transfer_data`). The
    file stores every Param and BatchStat keyed by its dotted path.

    Args:
      rngs: only used to build the module before its variables are overwritten.
      source: the ``.npz`` to read, a path or a binary file object (``io.BytesIO`` of its
        bytes); ``None`` reads the checkpoint packaged next to this module. A copy of this
        function outside dlcore (an exercise stub) passes the file explicitly, e.g.
        ``source="dlcore/transfer/fixtures/backbone.npz"`` from the repository root.

    Returns:
      A ``DigitsCNN`` with ``num_classes = 10``, BatchNorm in train mode.

    Example:
      >>> model = load_pretrained(rngs=nnx.Rngs(0))
      >>> model.backbone.bn2.mean.shape
      (32,)

    References:
      ``flax.nnx.state``, ``flax.nnx.update``.
    """
    model = DigitsCNN(10, rngs=rngs)
    with np.load(_CHECKPOINT if source is None else source) as data:
        arrays = {k: data[k] for k in data.files}
    for path, var in nnx.iter_graph(model):
        if isinstance(var, (nnx.Param, nnx.BatchStat)):
            var[...] = jnp.asarray(arrays[".".join(str(p) for p in path)])
    return model


def save_checkpoint(model: nnx.Module, path: str | pathlib.Path) -> None:
    """Writes every Param and BatchStat of ``model`` to ``path`` as ``.npz`` (not jitted).

    Keys are dotted attribute paths (``"backbone.conv1.kernel"``); used by the maintainer
    script that writes the committed checkpoint.

    Args:
      model: the trained model.
      path: the ``.npz`` file to write.

    Example:
      >>> import tempfile, os
      >>> f = os.path.join(tempfile.mkdtemp(), "m.npz")
      >>> save_checkpoint(DigitsCNN(3, rngs=nnx.Rngs(0)), f)
      >>> sorted(np.load(f).files)[:2]
      ['backbone.bn1.bias', 'backbone.bn1.mean']

    References:
      ``numpy.savez_compressed``.
    """
    arrays = {
        ".".join(str(p) for p in path): np.asarray(var[...])
        for path, var in nnx.iter_graph(model)
        if isinstance(var, (nnx.Param, nnx.BatchStat))
    }
    np.savez_compressed(path, **arrays)


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


def replace_head(model: nnx.Module, num_classes: int, *, rngs: nnx.Rngs) -> nnx.Module:
    """A copy of ``model`` whose ``head`` is a fresh ``nnx.Linear`` with ``num_classes`` outputs.

    ``new = nnx.clone(model)``, then ``new.head = nnx.Linear(model.head.in_features,
    num_classes)``. The backbone of the copy holds equal values in new arrays, so training
    the copy never touches ``model``.

    Args:
      model: a module with a ``head`` attribute that is an ``nnx.Linear``.
      num_classes: outputs of the new head.
      rngs: initializes the new head.

    Returns:
      The new module; ``model`` is left as it was.

    Warning:
      Keras' functional models and PyTorch's ``model.fc = nn.Linear(...)`` replace the head
      in place. Reading ``in_features`` from the old head (512 for a ResNet-18's ``fc``, 32
      here) instead of hard-coding it keeps the code right for any backbone.

    Example:
      >>> old = nnx.Module()
      >>> old.head = nnx.Linear(4, 2, rngs=nnx.Rngs(0))
      >>> new = replace_head(old, 3, rngs=nnx.Rngs(1))
      >>> new.head.out_features, old.head.out_features
      (3, 2)

    References:
      ``flax.nnx.clone``; Yosinski et al., "How transferable are features in deep neural
      networks?", https://arxiv.org/abs/1411.1792, 2014.
    """
    new = nnx.clone(model)
    new.head = nnx.Linear(model.head.in_features, num_classes, rngs=rngs)
    return new


def _key_name(entry) -> object:
    """The raw key of one pytree path entry (dict key, attribute name or index)."""
    for attr in ("key", "name", "idx"):
        if hasattr(entry, attr):
            return getattr(entry, attr)
    return entry


def freeze_labels(params, trainable: Sequence[str]):
    """Labels each leaf ``"trainable"`` or ``"frozen"`` for ``optax.partition``.

    A leaf is ``"trainable"`` if some key on its path *equals* a name in ``trainable``
    (``nnx.PathContains``'s default ``exact=True`` rule), otherwise ``"frozen"``. Pair it
    with ``optax.partition({"trainable": tx, "frozen": optax.set_to_zero()}, labels)``.

    Args:
      params: an ``nnx.State`` or a nested dict of arrays.
      trainable: names of the parts to train, e.g. ``("head",)``.

    Returns:
      A pytree of the structure of ``params`` with a string at each leaf; each
      ``nnx.Variable`` of a state counts as one leaf, so the labels fit both
      ``nnx.state(model, nnx.Param)`` and the pure arrays ``nnx.Optimizer`` passes to optax.

    Warning:
      A substring test (``"head" in "headroom"``) trains parts it should not. In PyTorch
      freezing is ``requires_grad = False``, which does not stop BatchNorm's running
      statistics from updating in train mode.

    Example:
      >>> params = {"backbone": {"w": jnp.ones(2)}, "head": {"w": jnp.ones(2)},
      ...           "headroom": {"w": jnp.ones(2)}}
      >>> freeze_labels(params, ("head",))
      {'backbone': {'w': 'frozen'}, 'head': {'w': 'trainable'}, 'headroom': {'w': 'frozen'}}

    References:
      ``optax.partition`` (also ``optax.multi_transform``), ``optax.set_to_zero``,
      ``flax.nnx.PathContains``.
    """
    names = tuple(trainable)

    def label(path, _):
        return "trainable" if any(_key_name(k) in names for k in path) else "frozen"

    # A Variable (nnx.Param, ...) gets one plain string, so the labels also match the pure
    # arrays that nnx.Optimizer hands to optax.
    is_variable = lambda x: isinstance(x, nnx.Variable)
    return jax.tree_util.tree_map_with_path(label, params, is_leaf=is_variable)


def make_finetune_optimizer(
    model: nnx.Module,
    tx: optax.GradientTransformation,
    *,
    trainable: Sequence[str] = ("head",),
) -> nnx.Optimizer:
    """An ``nnx.Optimizer`` over the Params whose path contains a name in ``trainable``.

    ``wrt = nnx.All(nnx.Param, nnx.Any(*(nnx.PathContains(n) for n in trainable)))``, so the
    optimizer state (e.g. Adam's moments) exists only for those Params and
    ``optimizer.update`` touches nothing else. BatchStats are never in ``wrt``.

    Args:
      model: the model to fine-tune.
      tx: the optax transformation for the trainable Params.
      trainable: names matched exactly against each key of a Param's path.

    Returns:
      The optimizer; its ``wrt`` filter is what :func:`finetune_step` differentiates.

    Warning:
      ``wrt`` is required since Flax 0.11; ``wrt=nnx.Param`` trains the whole model.

    Example:
      >>> m = nnx.Module()
      >>> m.body, m.head = nnx.Linear(2, 2, rngs=nnx.Rngs(0)), nnx.Linear(2, 1, rngs=nnx.Rngs(0))
      >>> opt = make_finetune_optimizer(m, optax.sgd(0.1))
      >>> len(jax.tree.leaves(nnx.state(m, opt.wrt)))
      2

    References:
      ``flax.nnx.Optimizer``, ``flax.nnx.All``, ``flax.nnx.Any``, ``flax.nnx.PathContains``.
    """
    wrt = nnx.All(nnx.Param, nnx.Any(*(nnx.PathContains(n) for n in trainable)))
    return nnx.Optimizer(model, tx, wrt=wrt)


def finetune_step(
    model: nnx.Module, optimizer: nnx.Optimizer, x: jax.typing.ArrayLike, y: jax.typing.ArrayLike
) -> jax.Array:
    """One fine-tuning step on the mean softmax cross-entropy; returns the loss before it.

    The forward pass runs on ``nnx.view(model, use_running_average=True)``: every BatchNorm
    normalizes with its running statistics and leaves them as they are. Gradients are taken
    only w.r.t. ``optimizer.wrt`` (``nnx.DiffState(0, optimizer.wrt)``), then
    ``optimizer.update`` applies them. Wrap it in ``nnx.jit``.

    Args:
      model: updated in place.
      optimizer: from :func:`make_finetune_optimizer` (or any ``nnx.Optimizer`` of ``model``).
      x: inputs, e.g. ``(N, 8, 8, 1)``.
      y: integer labels ``(N,)``.

    Returns:
      The scalar loss before the update.

    Warning:
      Freezing through the optimizer alone is not enough: a BatchNorm left in train mode
      keeps moving its running statistics, so the "frozen" backbone changes. Keras 3 stops
      this automatically for ``trainable=False`` layers; PyTorch needs ``.eval()`` on them.

    Example:
      >>> m = nnx.Linear(3, 2, rngs=nnx.Rngs(0))
      >>> opt = make_finetune_optimizer(m, optax.sgd(0.1), trainable=("kernel",))
      >>> loss = nnx.jit(finetune_step)(m, opt, jnp.ones((4, 3)), jnp.array([0, 1, 0, 1]))
      >>> loss.shape
      ()

    References:
      ``flax.nnx.view``, ``flax.nnx.DiffState``, ``flax.nnx.value_and_grad``;
      Keras 3 ``BatchNormalization`` (``training and self.trainable``).
    """

    def loss_fn(m):
        logits = nnx.view(m, use_running_average=True, raise_if_not_found=False)(x)
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

    loss, grads = nnx.value_and_grad(loss_fn, argnums=nnx.DiffState(0, optimizer.wrt))(model)
    optimizer.update(model, grads)
    return loss
