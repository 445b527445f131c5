"""The small digits CNN of q08, split into a backbone and a head, and its pretrained weights."""

import pathlib

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

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
