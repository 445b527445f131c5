"""Known-wrong and correct-but-different PyTorch-to-NNX porting code for the q28 grader.

Check ids (the fixture is dlcore/port/fixtures/torch_digits.npz, cases "cnn", "lstm", "bn";
"NumPy torch" means the PyTorch formula transcribed in NumPy, as in tests/test_port.py):

- ``torch_linear_to_nnx/matches_torch``: random float32 ``W (5, 7)`` (out != in), ``b (5,)``,
  ``x (3, 7)``; the result has ``kernel (7, 5)``, ``bias (5,)``, and ``nnx.Linear(7, 5)``
  updated with it gives ``x @ W.T + b`` to atol 1e-5 (3 seeds).
- ``torch_conv2d_to_nnx/matches_torch``: random OIHW ``W (6, 3, 3, 2)`` (C_in != C_out,
  KH != KW), ``b (6,)``; ``kernel (3, 2, 3, 6)`` and ``nnx.Conv(3, 6, (3, 2), padding="VALID")``
  on the NHWC form of ``x (2, 3, 7, 5)`` equals NumPy torch ``conv2d`` (transposed to NHWC)
  to atol 1e-5.
- ``nchw_to_nhwc/matches_transpose``: ``x = arange(2*3*4*5).reshape(2, 3, 4, 5)`` (H != W)
  and a random square ``(2, 3, 6, 6)``; bitwise equal to ``einsum("nchw->nhwc")``.
- ``torch_flatten_linear_to_nnx/matches_torch_flatten``: random ``W (5, 24)``, ``b (5,)``,
  ``chw=(3, 4, 2)``, NCHW features ``f (6, 3, 4, 2)``; ``nhwc(f).reshape(6, -1) @ kernel +
  bias`` equals ``f.reshape(6, -1) @ W.T + b`` to atol 1e-5.
- ``torch_lstm_to_nnx/matches_torch_lstm``: random ``D = 3``, ``H = 5`` weights and biases,
  ``x (2, 7, 3)``; ``nnx.RNN(nnx.LSTMCell(3, 5))`` with the cell updated by the result equals
  NumPy torch LSTM (zero state) over the 7 steps to atol 1e-5; also the fixture "lstm"
  outputs ``(16, 8, 32)`` to atol 1e-5.
- ``torch_batchnorm_to_nnx/eval_matches_fixture``: fixture "bn": ``nnx.BatchNorm(16,
  momentum=m, epsilon=1e-5)`` updated with ``params | stats`` gives ``y_eval`` (NHWC) to atol
  1e-5 under ``nnx.view(bn, use_running_average=True)``.
- ``torch_batchnorm_to_nnx/momentum``: ``m == 0.9`` (to 1e-7) for the default, ``0.75`` for
  ``momentum=0.25``; and after one train-mode call on fixture "bn" ``x`` the running mean
  equals ``running_mean_after`` to atol 1e-6.
- ``make_digits_net/shapes``: attributes ``conv1, bn1, conv2, bn2, fc``; ``(3, 8, 8, 1) ->
  (3, 10)`` float32.
- ``make_digits_net/matches_fixture``: the learner's net, loaded by the grader's own
  NumPy conversions (``_grader_load`` in the spec), viewed with ``use_running_average=True``, gives fixture "cnn" logits on
  ``nchw_to_nhwc(x)`` to atol 1e-5.
- ``make_digits_net/bn_momentum``: the loaded net called once in train mode on the fixture
  inputs; ``bn1.mean`` equals ``0.9 * running_mean + 0.1 * batch_mean`` (batch mean of the
  reference ``conv1`` output) to atol 1e-5.
- ``load_state_dict/matches_fixture``: the learner's loader on the grader's twin (the given
  ``DigitsNet`` holding grader-built layers) with the
  fixture "cnn" state_dict (the keys containing a ".", ``num_batches_tracked`` included;
  not ``x``, ``logits``, ``test_accuracy``) gives the fixture logits to atol 1e-5, and
  returns the model. Every ``load_state_dict`` check passes only state_dict keys.
- ``load_state_dict/ignores_num_batches_tracked``: loading without the
  ``*.num_batches_tracked`` keys succeeds and gives a state bitwise equal to loading with them.
- ``load_state_dict/missing_key``: each of ``"conv1.weight"``, ``"bn2.running_var"``,
  ``"fc.bias"`` removed in turn raises ``KeyError`` whose message contains that key.
- ``load_state_dict/bad_shape``: ``"conv2.weight"`` replaced by zeros ``(32, 16, 3, 2)``, and
  ``"fc.weight"`` by ``(10, 500)``, raise ``ValueError`` whose message contains the key, the
  expected PyTorch shape and the given shape (as Python tuples).
- ``load_state_dict/unchanged_after_failure``: after each failed load above (missing
  ``"fc.bias"``, bad ``"fc.weight"``: both come after conv1 in any order), the model's whole
  ``nnx.state`` is bitwise equal to before.
- ``load_state_dict/train`` (TRAIN): the fixture loaded into the grader's twin, one epoch of
  Adam 1e-3, batch 64, BatchNorm in train mode, on recipes.digits_images(): test accuracy
  >= 0.95 (measured 0.978 for permutation seeds 0, 1, 2, the fixture's own accuracy; 0.864
  when nothing is loaded).
- ``<task>/forbidden``: no ``torch``.
"""

from tests.grading import Alternative, Mutant

_FORBIDDEN = [  # (task, signature, call of the correct version)
    ("torch_linear_to_nnx", "(weight, bias)", "(weight, bias)"),
    ("torch_conv2d_to_nnx", "(weight, bias)", "(weight, bias)"),
    ("nchw_to_nhwc", "(x)", "(x)"),
    ("torch_flatten_linear_to_nnx", "(weight, bias, *, chw)", "(weight, bias, chw=chw)"),
    ("torch_lstm_to_nnx", "(w_ih, w_hh, b_ih, b_hh)", "(w_ih, w_hh, b_ih, b_hh)"),
    ("torch_batchnorm_to_nnx", "(weight, bias, running_mean, running_var, *, momentum=0.1)",
     "(weight, bias, running_mean, running_var, momentum=momentum)"),
    ("make_digits_net", "(*, rngs)", "(rngs=rngs)"),
    ("load_state_dict", "(model, arrays, *, flatten_chw=None)",
     "(model, arrays, flatten_chw=flatten_chw)"),
]

MUTANTS = [
    Mutant("linear_not_transposed", "torch_linear_to_nnx", "torch_linear_to_nnx/matches_torch", """
def torch_linear_to_nnx(weight, bias):
    return {"kernel": jnp.asarray(weight), "bias": jnp.asarray(bias)}
"""),
    Mutant("linear_reshaped", "torch_linear_to_nnx", "torch_linear_to_nnx/matches_torch", """
def torch_linear_to_nnx(weight, bias):
    w = jnp.asarray(weight)
    return {"kernel": w.reshape(w.shape[1], w.shape[0]), "bias": jnp.asarray(bias)}
"""),
    Mutant("conv_hwoi", "torch_conv2d_to_nnx", "torch_conv2d_to_nnx/matches_torch", """
def torch_conv2d_to_nnx(weight, bias):
    return {"kernel": jnp.transpose(jnp.asarray(weight), (2, 3, 0, 1)), "bias": jnp.asarray(bias)}
"""),
    Mutant("conv_reshaped", "torch_conv2d_to_nnx", "torch_conv2d_to_nnx/matches_torch", """
def torch_conv2d_to_nnx(weight, bias):
    o, i, h, w = jnp.shape(weight)
    return {"kernel": jnp.reshape(jnp.asarray(weight), (h, w, i, o)), "bias": jnp.asarray(bias)}
"""),
    Mutant("conv_kernel_w_h_swapped", "torch_conv2d_to_nnx", "torch_conv2d_to_nnx/matches_torch",
           """
def torch_conv2d_to_nnx(weight, bias):
    return {"kernel": jnp.transpose(jnp.asarray(weight), (3, 2, 1, 0)), "bias": jnp.asarray(bias)}
"""),
    Mutant("nhwc_h_w_swapped", "nchw_to_nhwc", "nchw_to_nhwc/matches_transpose", """
def nchw_to_nhwc(x):
    return jnp.transpose(jnp.asarray(x), (0, 3, 2, 1))
"""),
    Mutant("nhwc_reshaped", "nchw_to_nhwc", "nchw_to_nhwc/matches_transpose", """
def nchw_to_nhwc(x):
    n, c, h, w = jnp.shape(x)
    return jnp.reshape(jnp.asarray(x), (n, h, w, c))
"""),
    Mutant("flatten_not_permuted", "torch_flatten_linear_to_nnx",
           "torch_flatten_linear_to_nnx/matches_torch_flatten", """
def torch_flatten_linear_to_nnx(weight, bias, *, chw):
    return {"kernel": jnp.asarray(weight).T, "bias": jnp.asarray(bias)}
"""),
    Mutant("flatten_whc_order", "torch_flatten_linear_to_nnx",
           "torch_flatten_linear_to_nnx/matches_torch_flatten", """
def torch_flatten_linear_to_nnx(weight, bias, *, chw):
    c, h, w = chw
    weight = jnp.asarray(weight)
    out = weight.shape[0]
    kernel = weight.reshape(out, c, h, w).transpose(0, 3, 2, 1).reshape(out, -1).T
    return {"kernel": kernel, "bias": jnp.asarray(bias)}
"""),
    Mutant("lstm_gate_order_igfo", "torch_lstm_to_nnx", "torch_lstm_to_nnx/matches_torch_lstm", """
def torch_lstm_to_nnx(w_ih, w_hh, b_ih, b_hh):
    def swap(a):
        i, f, g, o = jnp.split(jnp.asarray(a), 4)
        return jnp.concatenate([i, g, f, o])
    return _original_torch_lstm_to_nnx(swap(w_ih), swap(w_hh), swap(b_ih), swap(b_hh))
"""),
    Mutant("lstm_b_ih_only", "torch_lstm_to_nnx", "torch_lstm_to_nnx/matches_torch_lstm", """
def torch_lstm_to_nnx(w_ih, w_hh, b_ih, b_hh):
    return _original_torch_lstm_to_nnx(w_ih, w_hh, b_ih, jnp.zeros_like(jnp.asarray(b_hh)))
"""),
    Mutant("lstm_not_transposed", "torch_lstm_to_nnx", "torch_lstm_to_nnx/matches_torch_lstm", """
def torch_lstm_to_nnx(w_ih, w_hh, b_ih, b_hh):
    p = _original_torch_lstm_to_nnx(w_ih, w_hh, b_ih, b_hh)
    return {k: {**v, "kernel": v["kernel"].reshape(v["kernel"].shape[::-1]).T}
            for k, v in p.items()}
"""),
    Mutant("bn_momentum_passed_through", "torch_batchnorm_to_nnx",
           "torch_batchnorm_to_nnx/momentum", """
def torch_batchnorm_to_nnx(weight, bias, running_mean, running_var, *, momentum=0.1):
    params, stats, _ = _original_torch_batchnorm_to_nnx(
        weight, bias, running_mean, running_var, momentum=momentum)
    return params, stats, momentum
"""),
    Mutant("bn_mean_var_swapped", "torch_batchnorm_to_nnx",
           "torch_batchnorm_to_nnx/eval_matches_fixture", """
def torch_batchnorm_to_nnx(weight, bias, running_mean, running_var, *, momentum=0.1):
    return _original_torch_batchnorm_to_nnx(
        weight, bias, running_var, running_mean, momentum=momentum)
"""),
    Mutant("bn_scale_bias_swapped", "torch_batchnorm_to_nnx",
           "torch_batchnorm_to_nnx/eval_matches_fixture", """
def torch_batchnorm_to_nnx(weight, bias, running_mean, running_var, *, momentum=0.1):
    return _original_torch_batchnorm_to_nnx(
        bias, weight, running_mean, running_var, momentum=momentum)
"""),
    Mutant("net_same_padding", "make_digits_net", "make_digits_net/matches_fixture", """
def make_digits_net(*, rngs):
    return DigitsNet(
        nnx.Conv(1, 16, (3, 3), padding="SAME", rngs=rngs),
        nnx.BatchNorm(16, momentum=0.9, epsilon=1e-5, rngs=rngs),
        nnx.Conv(16, 32, (3, 3), strides=2, padding="SAME", rngs=rngs),
        nnx.BatchNorm(32, momentum=0.9, epsilon=1e-5, rngs=rngs),
        nnx.Linear(32 * 4 * 4, 10, rngs=rngs),
    )
"""),
    Mutant("net_keras_epsilon", "make_digits_net", "make_digits_net/matches_fixture", """
def make_digits_net(*, rngs):
    pad = ((1, 1), (1, 1))
    return DigitsNet(
        nnx.Conv(1, 16, (3, 3), padding=pad, rngs=rngs),
        nnx.BatchNorm(16, momentum=0.9, epsilon=1e-3, rngs=rngs),
        nnx.Conv(16, 32, (3, 3), strides=2, padding=pad, rngs=rngs),
        nnx.BatchNorm(32, momentum=0.9, epsilon=1e-3, rngs=rngs),
        nnx.Linear(32 * 4 * 4, 10, rngs=rngs),
    )
"""),
    Mutant("net_torch_momentum", "make_digits_net", "make_digits_net/bn_momentum", """
def make_digits_net(*, rngs):
    pad = ((1, 1), (1, 1))
    return DigitsNet(
        nnx.Conv(1, 16, (3, 3), padding=pad, rngs=rngs),
        nnx.BatchNorm(16, momentum=0.1, epsilon=1e-5, rngs=rngs),
        nnx.Conv(16, 32, (3, 3), strides=2, padding=pad, rngs=rngs),
        nnx.BatchNorm(32, momentum=0.1, epsilon=1e-5, rngs=rngs),
        nnx.Linear(32 * 4 * 4, 10, rngs=rngs),
    )
"""),
    Mutant("load_maps_every_key", "load_state_dict", "load_state_dict/ignores_num_batches_tracked",
           """
def load_state_dict(model, arrays, *, flatten_chw=None):
    for key in arrays:  # num_batches_tracked has no nnx variable
        module, leaf = key.rsplit(".", 1)
        if leaf not in ("weight", "bias", "running_mean", "running_var"):
            raise AttributeError(f"{type(getattr(model, module)).__name__} has no {leaf}")
    return _original_load_state_dict(model, arrays, flatten_chw=flatten_chw)
"""),
    Mutant("load_requires_num_batches_tracked", "load_state_dict",
           "load_state_dict/ignores_num_batches_tracked", """
def load_state_dict(model, arrays, *, flatten_chw=None):
    for name in ("bn1", "bn2"):
        arrays[name + ".num_batches_tracked"]
    return _original_load_state_dict(model, arrays, flatten_chw=flatten_chw)
"""),
    Mutant("load_skips_missing_keys", "load_state_dict", "load_state_dict/missing_key", """
def load_state_dict(model, arrays, *, flatten_chw=None):
    # driven by the keys that are there: a missing key is never noticed
    for key, value in arrays.items():
        name, leaf = key.rsplit(".", 1)
        if leaf == "num_batches_tracked":
            continue
        layer, v = getattr(model, name), jnp.asarray(value)
        if leaf == "weight" and isinstance(layer, nnx.Conv):
            layer.kernel[...] = torch_conv2d_to_nnx(v, 0.0)["kernel"]
        elif leaf == "weight" and isinstance(layer, nnx.Linear):
            layer.kernel[...] = torch_flatten_linear_to_nnx(v, 0.0, chw=(32, 4, 4))["kernel"]
        elif leaf == "weight":
            layer.scale[...] = v
        elif leaf == "bias":
            layer.bias[...] = v
        elif leaf == "running_mean":
            layer.mean[...] = v
        elif leaf == "running_var":
            layer.var[...] = v
    return model
"""),
    Mutant("load_missing_key_unnamed", "load_state_dict", "load_state_dict/missing_key", """
def load_state_dict(model, arrays, *, flatten_chw=None):
    try:
        return _original_load_state_dict(model, arrays, flatten_chw=flatten_chw)
    except KeyError:
        raise KeyError("a key is missing") from None
"""),
    Mutant("load_no_shape_check", "load_state_dict", "load_state_dict/bad_shape", """
def load_state_dict(model, arrays, *, flatten_chw=None):
    try:
        return _original_load_state_dict(model, arrays, flatten_chw=flatten_chw)
    except ValueError as e:
        raise ValueError("shape mismatch") from e
"""),
    Mutant("load_writes_as_it_goes", "load_state_dict", "load_state_dict/unchanged_after_failure",
           """
def load_state_dict(model, arrays, *, flatten_chw=None):
    if flatten_chw is None:
        flatten_chw = getattr(model, "torch_flatten_chw", {})
    for name, layer in _torch_layers(model):
        for var, value in _plan(name, layer, arrays, flatten_chw):
            var[...] = jnp.asarray(value, dtype=var[...].dtype)
    return model
"""),
    Mutant("load_flatten_not_fixed", "load_state_dict", "load_state_dict/matches_fixture", """
def load_state_dict(model, arrays, *, flatten_chw=None):
    # fc read as a plain Linear: the (C, H, W) columns stay in PyTorch's order
    return _original_load_state_dict(model, arrays, flatten_chw={})
"""),
    Mutant("load_returns_none", "load_state_dict", "load_state_dict/matches_fixture", """
def load_state_dict(model, arrays, *, flatten_chw=None):
    _original_load_state_dict(model, arrays, flatten_chw=flatten_chw)
"""),
    Mutant("load_noop", "load_state_dict", "load_state_dict/train", """
def load_state_dict(model, arrays, *, flatten_chw=None):
    return model  # keeps the random initialization
"""),
    Mutant("net_valid_padding", "make_digits_net", "make_digits_net/shapes", """
def make_digits_net(*, rngs):
    # nnx.Conv's default padding is "SAME", PyTorch's 0; "VALID" shrinks 8x8 to 2x2
    return DigitsNet(
        nnx.Conv(1, 16, (3, 3), padding="VALID", rngs=rngs),
        nnx.BatchNorm(16, momentum=0.9, epsilon=1e-5, rngs=rngs),
        nnx.Conv(16, 32, (3, 3), strides=2, padding="VALID", rngs=rngs),
        nnx.BatchNorm(32, momentum=0.9, epsilon=1e-5, rngs=rngs),
        nnx.Linear(32 * 4 * 4, 10, rngs=rngs),
    )
"""),
    *[Mutant(f"{task}_imports_torch", task, f"{task}/forbidden", f"""
def {task}{signature}:
    import torch  # the runtime must not need PyTorch

    return _original_{task}{call}
""", status="forbidden") for task, signature, call in _FORBIDDEN],
]

ALTERNATIVES = [
    Alternative("linear_swapaxes", "torch_linear_to_nnx", """
def torch_linear_to_nnx(weight, bias):
    return {"kernel": jnp.swapaxes(jnp.asarray(weight), 0, 1), "bias": jnp.asarray(bias)}
"""),
    Alternative("conv_einsum", "torch_conv2d_to_nnx", """
def torch_conv2d_to_nnx(weight, bias):
    return {"kernel": jnp.einsum("oihw->hwio", jnp.asarray(weight)), "bias": jnp.asarray(bias)}
"""),
    Alternative("nhwc_moveaxis", "nchw_to_nhwc", """
def nchw_to_nhwc(x):
    return jnp.moveaxis(jnp.asarray(x), 1, -1)
"""),
    Alternative("flatten_index_permutation", "torch_flatten_linear_to_nnx", """
def torch_flatten_linear_to_nnx(weight, bias, *, chw):
    c, h, w = chw
    # NHWC flat position p = (hh * w + ww) * c + cc reads torch column (cc * h + hh) * w + ww
    cols = np.arange(c * h * w).reshape(c, h, w).transpose(1, 2, 0).reshape(-1)
    return {"kernel": jnp.asarray(weight)[:, cols].T, "bias": jnp.asarray(bias)}
"""),
    Alternative("lstm_split", "torch_lstm_to_nnx", """
def torch_lstm_to_nnx(w_ih, w_hh, b_ih, b_hh):
    wi = jnp.split(jnp.asarray(w_ih), 4)
    wh = jnp.split(jnp.asarray(w_hh), 4)
    b = jnp.split(jnp.asarray(b_ih) + jnp.asarray(b_hh), 4)
    out = {}
    for (i_name, h_name), a, c, d in zip(
        [("ii", "hi"), ("if_", "hf"), ("ig", "hg"), ("io", "ho")], wi, wh, b
    ):
        out[i_name] = {"kernel": a.T}
        out[h_name] = {"kernel": c.T, "bias": d}
    return out
"""),
    Alternative("bn_plain", "torch_batchnorm_to_nnx", """
def torch_batchnorm_to_nnx(weight, bias, running_mean, running_var, *, momentum=0.1):
    return ({"scale": jnp.asarray(weight), "bias": jnp.asarray(bias)},
            {"mean": jnp.asarray(running_mean), "var": jnp.asarray(running_var)},
            1.0 - momentum)
"""),
    Alternative("net_list_padding_lambdas", "make_digits_net", """
def make_digits_net(*, rngs):
    conv = lambda i, o, s: nnx.Conv(i, o, (3, 3), strides=s, padding=[(1, 1), (1, 1)], rngs=rngs)
    bn = lambda c: nnx.BatchNorm(c, momentum=1 - 0.1, epsilon=1e-5, rngs=rngs)
    return DigitsNet(conv(1, 16, 1), bn(16), conv(16, 32, 2), bn(32), nnx.Linear(512, 10, rngs=rngs))
"""),
    Alternative("load_explicit_names", "load_state_dict", """
def load_state_dict(model, arrays, *, flatten_chw=None):
    def get(key, shape):
        if key not in arrays:
            raise KeyError(key)
        a = np.asarray(arrays[key])
        if a.shape != shape:
            raise ValueError(f"{key}: want {shape}, got {a.shape}")
        return a

    new = {}
    for name in ("conv1", "conv2"):
        k = getattr(model, name).kernel
        kh, kw, ci, co = k.shape
        new[name] = torch_conv2d_to_nnx(get(name + ".weight", (co, ci, kh, kw)),
                                        get(name + ".bias", (co,)))
    for name in ("bn1", "bn2"):
        c = getattr(model, name).num_features
        p, s, _ = torch_batchnorm_to_nnx(*(get(f"{name}.{k}", (c,)) for k in
                                           ("weight", "bias", "running_mean", "running_var")))
        new[name] = p | s
    new["fc"] = torch_flatten_linear_to_nnx(get("fc.weight", (10, 512)), get("fc.bias", (10,)),
                                            chw=(32, 4, 4))
    for name, values in new.items():
        nnx.update(getattr(model, name), values)
    return model
"""),
]
