"""Loading a PyTorch ``state_dict`` into a Flax NNX model, all or nothing."""

from collections.abc import Mapping

import jax.numpy as jnp
import numpy as np
from flax import nnx

from dlcore.port.convert import (
    torch_batchnorm_to_nnx,
    torch_conv2d_to_nnx,
    torch_flatten_linear_to_nnx,
    torch_linear_to_nnx,
    torch_lstm_to_nnx,
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
