"""Transfer learning in Flax NNX: a new head, frozen parts, an optimizer and a fine-tune step."""

from collections.abc import Sequence

import jax
import optax
from flax import nnx


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
