"""The NHWC Flax NNX twin of the PyTorch ``DigitsNet`` whose weights q28 ports."""

import pathlib

import jax
import numpy as np
from flax import nnx

_FIXTURE = pathlib.Path(__file__).resolve().parent / "fixtures" / "torch_digits.npz"


class DigitsNet(nnx.Module):
    """Holds the five layers of the digits net and runs them NHWC.

    ``relu(bn1(conv1(x)))``, ``relu(bn2(conv2(.)))``, then a row-major flatten of the NHWC
    activations (so in (H, W, C) order) and ``fc``. BatchNorm layers run in train mode
    unless the model is viewed with ``nnx.view(model, use_running_average=True)``.

    ``torch_flatten_chw`` tells :func:`load_state_dict` which Linear follows a PyTorch
    (C, H, W) flatten, and the shape of that feature map.
    """

    torch_flatten_chw = {"fc": (32, 4, 4)}

    def __init__(self, conv1, bn1, conv2, bn2, fc):
        self.conv1, self.bn1, self.conv2, self.bn2, self.fc = conv1, bn1, conv2, bn2, fc

    def __call__(self, x: jax.typing.ArrayLike) -> jax.Array:
        x = jax.nn.relu(self.bn1(self.conv1(x)))
        x = jax.nn.relu(self.bn2(self.conv2(x)))
        return self.fc(x.reshape(x.shape[0], -1))


def make_digits_net(*, rngs: nnx.Rngs) -> DigitsNet:
    """Builds the NHWC twin of PyTorch's ``DigitsNet`` with matching conventions.

    PyTorch: ``Conv2d(1, 16, 3, padding=1)``, ``BatchNorm2d(16)``,
    ``Conv2d(16, 32, 3, stride=2, padding=1)``, ``BatchNorm2d(32)``, ``Linear(512, 10)``.
    The twin takes ``(N, 8, 8, 1)`` images: ``(N, 8, 8, 16) -> (N, 4, 4, 32) -> (N, 512) ->
    (N, 10)``. Padding is explicit ``((1, 1), (1, 1))`` and BatchNorm uses
    ``momentum=0.9, epsilon=1e-5``.

    Args:
      rngs: initializes the (soon overwritten) parameters.

    Returns:
      A :class:`DigitsNet` with attributes ``conv1``, ``bn1``, ``conv2``, ``bn2``, ``fc``.

    Warning:
      ``padding="SAME"`` is not PyTorch's ``padding=1`` at stride 2: on an 8x8 input XLA's
      SAME pads (0, 1), PyTorch (1, 1), so the 4x4 outputs sample shifted windows. Flax's
      BatchNorm ``momentum`` is the weight of the old statistic (0.9 here), PyTorch's the
      weight of the new one (0.1).

    Example:
      >>> net = make_digits_net(rngs=nnx.Rngs(0))
      >>> net(jnp.zeros((2, 8, 8, 1))).shape
      (2, 10)

    References:
      ``flax.nnx.Conv``, ``flax.nnx.BatchNorm``, ``torch.nn.Conv2d`` (``padding``).
    """
    pad = ((1, 1), (1, 1))
    return DigitsNet(
        nnx.Conv(1, 16, (3, 3), padding=pad, rngs=rngs),
        nnx.BatchNorm(16, momentum=0.9, epsilon=1e-5, rngs=rngs),
        nnx.Conv(16, 32, (3, 3), strides=2, padding=pad, rngs=rngs),
        nnx.BatchNorm(32, momentum=0.9, epsilon=1e-5, rngs=rngs),
        nnx.Linear(32 * 4 * 4, 10, rngs=rngs),
    )


def load_torch_fixture(prefix: str, source=None) -> dict:
    """The committed PyTorch arrays of one case, keys without the prefix (not jitted).

    ``prefix`` is ``"cnn"``, ``"lstm"`` or ``"bn"``; see ``tools/make_q28_torch_fixture.py``
    for what each case holds.

    Args:
      prefix: the case name.
      source: the ``.npz`` to read, a path or a binary file object (``io.BytesIO`` of its
        bytes); ``None`` reads the fixture packaged next to this module. A copy of this
        function outside dlcore (an exercise stub) passes the file explicitly, e.g.
        ``source="dlcore/port/fixtures/torch_digits.npz"`` from the repository root.

    Returns:
      A dict of NumPy arrays keyed like the PyTorch ``state_dict`` (plus inputs and outputs).

    Example:
      >>> load_torch_fixture("cnn")["fc.weight"].shape
      (10, 512)

    References:
      ``torch.nn.Module.state_dict``.
    """
    with np.load(_FIXTURE if source is None else source) as data:
        out = {k.split("/", 1)[1]: data[k] for k in data.files if k.startswith(prefix + "/")}
    if not out:
        raise KeyError(f"no fixture case named {prefix!r}")
    return out
