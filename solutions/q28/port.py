"""q28 Porting PyTorch weights to Flax NNX: reference solution.

Generated from dlcore.port.convert, dlcore.port.digits_net, dlcore.port.state_dict by tools/gen_exercises.py; edit dlcore, then
regenerate. Graded tasks: torch_linear_to_nnx, torch_conv2d_to_nnx, nchw_to_nhwc, torch_flatten_linear_to_nnx, torch_lstm_to_nnx, torch_batchnorm_to_nnx, make_digits_net, load_state_dict.
"""

import pathlib
from collections.abc import Mapping

import jax
import jax.numpy as jnp
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


def torch_linear_to_nnx(weight: jax.typing.ArrayLike, bias: jax.typing.ArrayLike) -> dict:
    """Converts a ``torch.nn.Linear`` weight and bias to ``nnx.Linear`` params.

    PyTorch computes ``y = x W^T + b`` with ``W`` of shape ``(out, in)``; nnx computes
    ``y = x K + b`` with ``K`` of shape ``(in, out)``, so ``K = W^T``.

    Args:
      weight: ``(out, in)``, PyTorch layout.
      bias: ``(out,)``.

    Returns:
      ``{"kernel": (in, out), "bias": (out,)}``.

    Warning:
      A square layer (``in == out``) accepts the untransposed weight without any shape
      error and computes ``x W`` instead of ``x W^T``: check logits, not shapes.

    Example:
      >>> p = torch_linear_to_nnx(jnp.ones((3, 5)), jnp.zeros(3))
      >>> p["kernel"].shape, p["bias"].shape
      ((5, 3), (3,))

    References:
      ``torch.nn.Linear`` (weight ``(out_features, in_features)``); ``flax.nnx.Linear``.
    """
    return {"kernel": jnp.asarray(weight).T, "bias": jnp.asarray(bias)}


def torch_conv2d_to_nnx(weight: jax.typing.ArrayLike, bias: jax.typing.ArrayLike) -> dict:
    """Converts a ``torch.nn.Conv2d`` weight (OIHW) and bias to ``nnx.Conv`` params (HWIO).

    ``kernel[h, w, i, o] = weight[o, i, h, w]``, i.e. ``weight.transpose(2, 3, 1, 0)``. Both
    frameworks compute a cross-correlation, so no kernel flip is needed.

    Args:
      weight: ``(C_out, C_in, KH, KW)``, PyTorch OIHW layout.
      bias: ``(C_out,)``.

    Returns:
      ``{"kernel": (KH, KW, C_in, C_out), "bias": (C_out,)}``.

    Warning:
      A reshape to ``(KH, KW, C_in, C_out)`` has the right shape and scrambles the values;
      ``transpose(2, 3, 0, 1)`` (HWOI) fails only when ``C_in != C_out``.

    Example:
      >>> p = torch_conv2d_to_nnx(jnp.ones((16, 3, 5, 4)), jnp.zeros(16))
      >>> p["kernel"].shape
      (5, 4, 3, 16)

    References:
      ``torch.nn.Conv2d`` (weight ``(out_channels, in_channels, kH, kW)``);
      ``flax.nnx.Conv`` (kernel ``(*kernel_size, in_features, out_features)``).
    """
    return {"kernel": jnp.transpose(jnp.asarray(weight), (2, 3, 1, 0)), "bias": jnp.asarray(bias)}


def nchw_to_nhwc(x: jax.typing.ArrayLike) -> jax.Array:
    """Moves the channel axis of a PyTorch image batch last: ``(N, C, H, W) -> (N, H, W, C)``.

    ``y[n, h, w, c] = x[n, c, h, w]``, i.e. ``x.transpose(0, 2, 3, 1)``.

    Args:
      x: ``(N, C, H, W)``.

    Returns:
      ``(N, H, W, C)``.

    Warning:
      ``transpose(0, 3, 2, 1)`` also gives a channels-last array, with H and W swapped:
      the shape is right on square images and every image comes out transposed.

    Example:
      >>> nchw_to_nhwc(jnp.zeros((2, 3, 5, 7))).shape
      (2, 5, 7, 3)

    References:
      PyTorch's NCHW default and XLA/Flax's NHWC default (``lax.conv_dimension_numbers``).
    """
    return jnp.transpose(jnp.asarray(x), (0, 2, 3, 1))


def torch_flatten_linear_to_nnx(
    weight: jax.typing.ArrayLike, bias: jax.typing.ArrayLike, *, chw: tuple[int, int, int]
) -> dict:
    """Converts the first ``Linear`` after ``torch.flatten(x, 1)`` of a (C, H, W) feature map.

    PyTorch flattens feature maps in (C, H, W) order, an NHWC model in (H, W, C) order, so
    the columns of ``weight`` are permuted before the usual transpose:
    ``kernel = weight.reshape(out, C, H, W).transpose(0, 2, 3, 1).reshape(out, -1).T``.

    Args:
      weight: ``(out, C * H * W)``, PyTorch layout, columns in (C, H, W) order.
      bias: ``(out,)``.
      chw: ``(C, H, W)`` of the feature map that was flattened (static).

    Returns:
      ``{"kernel": (H * W * C, out), "bias": (out,)}``, rows in (H, W, C) order, for an
      nnx model that flattens NHWC activations with ``x.reshape(N, -1)``.

    Warning:
      Without the permutation every shape still matches and the logits are wrong.

    Example:
      >>> w = jnp.arange(12.0).reshape(1, 12)  # one output, C=3, H=2, W=2
      >>> torch_flatten_linear_to_nnx(w, jnp.zeros(1), chw=(3, 2, 2))["kernel"][:4, 0]
      Array([0., 4., 8., 1.], dtype=float32)

    References:
      ``torch.flatten``; the ``flatten`` of NHWC activations in Flax's CNN examples.
    """
    weight = jnp.asarray(weight)
    c, h, w = chw
    out = weight.shape[0]
    kernel = weight.reshape(out, c, h, w).transpose(0, 2, 3, 1).reshape(out, c * h * w).T
    return {"kernel": kernel, "bias": jnp.asarray(bias)}


def torch_lstm_to_nnx(
    w_ih: jax.typing.ArrayLike,
    w_hh: jax.typing.ArrayLike,
    b_ih: jax.typing.ArrayLike,
    b_hh: jax.typing.ArrayLike,
) -> dict:
    """Converts one layer of ``torch.nn.LSTM`` to the params of ``nnx.LSTMCell``.

    PyTorch stacks the four gates row-wise in the order input ``i``, forget ``f``, cell
    ``g``, output ``o``: ``w_ih`` is ``(4H, D)``, ``w_hh`` is ``(4H, H)``, and both biases are
    ``(4H,)``. ``nnx.LSTMCell`` has a bias-free input projection per gate (``ii``, ``if_``,
    ``ig``, ``io``, kernels ``(D, H)``) and a hidden projection with bias (``hi``, ``hf``,
    ``hg``, ``ho``, kernels ``(H, H)``). Gate ``k`` of PyTorch rows ``[kH, (k + 1)H)`` maps to
    ``ik.kernel = w_ih[rows].T``, ``hk.kernel = w_hh[rows].T`` and
    ``hk.bias = b_ih[rows] + b_hh[rows]``.

    Args:
      w_ih: ``weight_ih_l0``, ``(4H, D)``.
      w_hh: ``weight_hh_l0``, ``(4H, H)``.
      b_ih: ``bias_ih_l0``, ``(4H,)``.
      b_hh: ``bias_hh_l0``, ``(4H,)``.

    Returns:
      ``{"ii": {"kernel"}, "if_": {"kernel"}, "ig": {"kernel"}, "io": {"kernel"},
      "hi": {"kernel", "bias"}, "hf": ..., "hg": ..., "ho": ...}``, ready for
      ``nnx.update(cell, params)``.

    Warning:
      Keras orders the gates i, f, c, o as PyTorch does, but other code (and some papers)
      use i, g, f, o or put the forget gate first. Dropping ``b_hh`` (or ``b_ih``) loses half
      the bias. A PyTorch GRU does not port to ``nnx.GRUCell`` this way: its ``b_hn`` sits
      inside the reset gate's product, and nnx's hidden ``n`` projection has no bias.

    Example:
      >>> p = torch_lstm_to_nnx(jnp.ones((8, 3)), jnp.ones((8, 2)), jnp.ones(8), jnp.ones(8))
      >>> p["if_"]["kernel"].shape, p["hf"]["kernel"].shape, p["hf"]["bias"]
      ((3, 2), (2, 2), Array([2., 2.], dtype=float32))

    References:
      ``torch.nn.LSTM`` (gate order i, f, g, o); ``flax.nnx.LSTMCell``; Hochreiter and
      Schmidhuber, "Long Short-Term Memory", Neural Computation 9(8), 1997.
    """
    w_ih, w_hh = jnp.asarray(w_ih), jnp.asarray(w_hh)
    bias = jnp.asarray(b_ih) + jnp.asarray(b_hh)
    hidden = w_hh.shape[1]
    params = {}
    for k, gate in enumerate(("i", "f", "g", "o")):
        rows = slice(k * hidden, (k + 1) * hidden)
        params["if_" if gate == "f" else f"i{gate}"] = {"kernel": w_ih[rows].T}
        params[f"h{gate}"] = {"kernel": w_hh[rows].T, "bias": bias[rows]}
    return params


def torch_batchnorm_to_nnx(
    weight: jax.typing.ArrayLike,
    bias: jax.typing.ArrayLike,
    running_mean: jax.typing.ArrayLike,
    running_var: jax.typing.ArrayLike,
    *,
    momentum: float = 0.1,
) -> tuple[dict, dict, float]:
    """Converts ``torch.nn.BatchNorm2d`` to ``nnx.BatchNorm`` params, stats and momentum.

    The affine parameters and running statistics are copied as they are. The momentum
    conventions are opposite: PyTorch updates ``r = (1 - m) r + m b`` (``m = 0.1`` by
    default), Flax ``r = m' r + (1 - m') b``, so ``m' = 1 - m`` (0.9). Both use
    ``epsilon = 1e-5``.

    Args:
      weight: ``(C,)``, the scale gamma.
      bias: ``(C,)``, the shift beta.
      running_mean: ``(C,)``.
      running_var: ``(C,)``.
      momentum: PyTorch's momentum (a float; PyTorch's ``None``, a cumulative average, has
        no Flax equivalent).

    Returns:
      ``({"scale", "bias"}, {"mean", "var"}, flax_momentum)``.

    Warning:
      Eval-mode outputs then agree exactly, but after a train-mode step the running
      variances differ: PyTorch stores the unbiased batch variance (``n / (n - 1)``), Flax
      the biased one. Keras' default epsilon is 1e-3, not 1e-5.

    Example:
      >>> params, stats, m = torch_batchnorm_to_nnx(jnp.ones(4), jnp.zeros(4), jnp.zeros(4),
      ...                                           jnp.ones(4))
      >>> sorted(params), sorted(stats), round(m, 6)
      (['bias', 'scale'], ['mean', 'var'], 0.9)

    References:
      ``torch.nn.BatchNorm2d``; ``flax.nnx.BatchNorm``; Ioffe and Szegedy, "Batch
      Normalization", https://arxiv.org/abs/1502.03167, 2015.
    """
    if momentum is None or not 0.0 <= momentum <= 1.0:
        raise ValueError(f"momentum must be a float in [0, 1], got {momentum!r}")
    params = {"scale": jnp.asarray(weight), "bias": jnp.asarray(bias)}
    stats = {"mean": jnp.asarray(running_mean), "var": jnp.asarray(running_var)}
    return params, stats, 1.0 - momentum


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


def _take(arrays: Mapping, key: str, shape: tuple[int, ...]) -> np.ndarray:
    """``arrays[key]`` after checking that it exists and has the PyTorch ``shape``."""
    if key not in arrays:
        raise KeyError(f"missing key {key!r} in the state dict")
    value = np.asarray(arrays[key])
    if value.shape != tuple(shape):
        raise ValueError(
            f"{key}: expected shape {tuple(shape)} (PyTorch layout), got {value.shape}"
        )
    return value


def _plan(name: str, layer: nnx.Module, arrays: Mapping, flatten_chw: Mapping) -> list:
    """``(variable, new value)`` pairs for one layer, validated, nothing written yet."""
    key = lambda leaf: f"{name}.{leaf}" if name else leaf  # the root layer has no prefix
    if isinstance(layer, nnx.LSTMCell):
        hidden, features = layer.hidden_features, layer.in_features
        w_ih = _take(arrays, key("weight_ih_l0"), (4 * hidden, features))
        w_hh = _take(arrays, key("weight_hh_l0"), (4 * hidden, hidden))
        b_ih = _take(arrays, key("bias_ih_l0"), (4 * hidden,))
        b_hh = _take(arrays, key("bias_hh_l0"), (4 * hidden,))
        params = torch_lstm_to_nnx(w_ih, w_hh, b_ih, b_hh)
        return [
            (getattr(getattr(layer, proj), leaf), value)
            for proj, leaves in params.items()
            for leaf, value in leaves.items()
        ]
    if isinstance(layer, nnx.BatchNorm):
        c = layer.num_features
        params, stats, _ = torch_batchnorm_to_nnx(
            *(_take(arrays, key(k), (c,)) for k in ("weight", "bias")),
            *(_take(arrays, key(k), (c,)) for k in ("running_mean", "running_var")),
        )
        return [
            (layer.scale, params["scale"]),
            (layer.bias, params["bias"]),
            (layer.mean, stats["mean"]),
            (layer.var, stats["var"]),
        ]
    kernel = layer.kernel[...]
    out = kernel.shape[-1]
    if isinstance(layer, nnx.Conv):
        weight = _take(arrays, key("weight"), (out, kernel.shape[-2], *kernel.shape[:-2]))
        convert = torch_conv2d_to_nnx
    elif name in flatten_chw:
        weight = _take(arrays, key("weight"), (out, kernel.shape[0]))
        chw = tuple(flatten_chw[name])
        convert = lambda w, b: torch_flatten_linear_to_nnx(w, b, chw=chw)
    else:
        weight = _take(arrays, key("weight"), (out, kernel.shape[0]))
        convert = torch_linear_to_nnx
    has_bias = layer.bias is not None
    bias = _take(arrays, key("bias"), (out,)) if has_bias else np.zeros(out, np.float32)
    params = convert(weight, bias)
    plan = [(layer.kernel, params["kernel"])]
    return plan + ([(layer.bias, params["bias"])] if has_bias else [])


def _torch_layers(model: nnx.Module) -> list:
    """``(torch name, layer)`` for each Linear, Conv, BatchNorm and LSTMCell of ``model``.

    The torch name is the attribute path joined by dots; an ``nnx.RNN``'s cell takes the
    RNN's name, as ``torch.nn.LSTM`` holds its weights itself.
    """
    modules = dict(nnx.iter_modules(model))
    layers, cells = [], []
    for path, module in sorted(modules.items(), key=lambda item: len(item[0])):
        if any(path[: len(c)] == c for c in cells):
            continue  # the Linear projections inside an LSTM cell
        if isinstance(module, nnx.LSTMCell):
            cells.append(path)
            parent = modules.get(path[:-1])
            path = path[:-1] if isinstance(parent, nnx.RNN) else path
        elif not isinstance(module, (nnx.Linear, nnx.Conv, nnx.BatchNorm)):
            continue
        layers.append((".".join(str(p) for p in path), module))
    return layers


def load_state_dict(
    model: nnx.Module, arrays: Mapping, *, flatten_chw: Mapping | None = None
) -> nnx.Module:
    """Fills every Param and BatchStat of ``model`` from a PyTorch ``state_dict`` (not jitted).

    Layers are matched by attribute name (``model.conv1`` reads ``conv1.weight`` and
    ``conv1.bias``) and converted by type: ``nnx.Conv`` (OIHW -> HWIO), ``nnx.Linear``
    (transpose; the (C, H, W) flatten permutation for names in ``flatten_chw``),
    ``nnx.BatchNorm`` (``weight, bias, running_mean, running_var``), ``nnx.LSTMCell`` or an
    ``nnx.RNN`` of one (``weight_ih_l0, weight_hh_l0, bias_ih_l0, bias_hh_l0``). Keys
    ending in ``.num_batches_tracked`` and keys of no layer are ignored. Every key is
    checked before anything is written, so a failed load leaves the model unchanged.

    Args:
      model: an nnx model whose Linear/Conv/BatchNorm/LSTM attribute names equal the
        PyTorch module names.
      arrays: maps PyTorch keys (``"conv1.weight"``) to arrays in PyTorch layout.
      flatten_chw: maps the name of each Linear that follows ``torch.flatten(x, 1)`` to the
        ``(C, H, W)`` it flattens; defaults to ``model.torch_flatten_chw`` if the model
        defines it, else none.

    Returns:
      ``model`` itself, updated in place.

    Raises:
      KeyError: naming the first missing key.
      ValueError: naming the key, the expected PyTorch shape and the shape given.
      TypeError: if some Param or BatchStat belongs to no supported layer.

    Warning:
      BatchNorm momentum and epsilon are constructor settings, not state: build the model
      with ``momentum=1 - torch_momentum`` and ``epsilon=1e-5`` (:func:`make_digits_net`).

    Example:
      >>> lin = nnx.Linear(3, 2, rngs=nnx.Rngs(0))
      >>> _ = load_state_dict(lin, {"weight": jnp.ones((2, 3)), "bias": jnp.zeros(2)})
      >>> lin.kernel.shape
      (3, 2)

    References:
      ``torch.nn.Module.load_state_dict`` (``strict=True`` for missing keys);
      ``flax.nnx.iter_modules``.
    """
    if flatten_chw is None:
        flatten_chw = getattr(model, "torch_flatten_chw", {})
    plan = []
    for name, layer in _torch_layers(model):
        plan += _plan(name, layer, arrays, flatten_chw)
    planned = {id(var) for var, _ in plan}
    for path, var in nnx.iter_graph(model):
        if isinstance(var, (nnx.Param, nnx.BatchStat)) and id(var) not in planned:
            where = ".".join(str(p) for p in path)
            raise TypeError(f"no PyTorch mapping for the {type(var).__name__} at {where}")
    for var, value in plan:
        var[...] = jnp.asarray(value, dtype=var[...].dtype)
    return model
