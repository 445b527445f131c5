"""q28 Porting PyTorch weights to Flax NNX: layout converters, the NHWC twin, a loader.

PyTorch never runs here. Its side is a NumPy transcription of its formula computed by the
parent (``_np_*``), or the committed fixture ``torch_digits.npz`` (written with torch 2.13
by ``tools/make_q28_torch_fixture.py``), read by the probes from ``fns.data["torch"]``.
Converters are judged through real nnx layers on non-square arrays (in != out, C_in !=
C_out, KH != KW, H != W), so that a wrong transpose cannot hide. ``make_digits_net`` is
filled by the grader's loader (``_grader_load``) and ``load_state_dict`` fills the grader's
twin (``_twin``): each task fails its own checks only.
"""

from __future__ import annotations

import io

import numpy as np

from grader import checks as ck
from grader import props, recipes
from grader.judge import compare_trees
from grader.spec import Exercise, FileSpec, case

CONVERTERS = ("torch_linear_to_nnx", "torch_conv2d_to_nnx", "nchw_to_nhwc",
              "torch_flatten_linear_to_nnx", "torch_lstm_to_nnx", "torch_batchnorm_to_nnx")
TASKS = (*CONVERTERS, "make_digits_net", "load_state_dict")
_ATOL = dict(rtol=0.0, atol=1e-5)
_BN_KEYS = ("weight", "bias", "running_mean", "running_var")
_MISSING = (("conv1.weight", None), ("bn2.running_var", None), ("fc.bias", None))
_BAD = (("conv2.weight", (32, 16, 3, 2)), ("fc.weight", (10, 500)))
_TORCH_SHAPES = {"conv2.weight": (32, 16, 3, 3), "fc.weight": (10, 512)}


def _fixture(fns, prefix):
    """One case of the committed PyTorch fixture, keys without the prefix (probe side)."""
    with np.load(io.BytesIO(fns.data["torch"])) as z:
        return {k.split("/", 1)[1]: z[k] for k in z.files if k.startswith(prefix + "/")}


def _state_dict(fix, drop=()):
    """The state_dict part of a fixture case: the keys containing a '.'."""
    return {k: v for k, v in fix.items() if "." in k and k not in drop}


def _nhwc(x):
    import jax.numpy as jnp

    return jnp.asarray(np.asarray(x).transpose(0, 2, 3, 1))


def _eval(model, x):
    from flax import nnx

    return nnx.view(model, use_running_average=True)(x)


def _np_conv(x, w, b):
    """torch's conv2d, stride 1, no padding: NCHW, OIHW -> NHWC, float32."""
    (_, _, h, wd), (_, _, kh, kw) = x.shape, w.shape
    out = sum(np.einsum("nchw,oc->nohw", x[:, :, p:p + h - kh + 1, q:q + wd - kw + 1],
                        w[:, :, p, q].astype(np.float64)) for p in range(kh) for q in range(kw))
    return (out + b[None, :, None, None]).transpose(0, 2, 3, 1).astype(np.float32)


def _np_lstm(x, w_ih, w_hh, b_ih, b_hh):
    """torch.nn.LSTM(batch_first=True), one layer, zero initial state: outputs (B, T, H)."""
    sig = lambda z: 1 / (1 + np.exp(-z))
    x, w_ih, w_hh, b = (np.asarray(a, np.float64) for a in (x, w_ih, w_hh, b_ih + b_hh))
    h = c = np.zeros((x.shape[0], w_hh.shape[1]))
    ys = []
    for t in range(x.shape[1]):
        i, f, g, o = np.split(x[:, t] @ w_ih.T + h @ w_hh.T + b, 4, axis=-1)
        c = sig(f) * c + sig(i) * np.tanh(g)
        h = sig(o) * np.tanh(c)
        ys.append(h)
    return np.stack(ys, 1).astype(np.float32)


def _layer(fns, i):
    """An nnx.Linear / nnx.Conv ("VALID") holding the converted weights, applied to x."""
    from flax import nnx

    w, b, x = i.args
    if w.ndim == 2:
        layer = nnx.Linear(w.shape[1], w.shape[0], rngs=nnx.Rngs(0))
        nnx.update(layer, fns.torch_linear_to_nnx(w, b))
        return layer(x)
    layer = nnx.Conv(w.shape[1], w.shape[0], w.shape[2:], padding="VALID", rngs=nnx.Rngs(0))
    nnx.update(layer, fns.torch_conv2d_to_nnx(w, b))
    return layer(x.transpose(0, 2, 3, 1))


def _flatten(fns, i):
    w, b, f = i.args
    p = fns.torch_flatten_linear_to_nnx(w, b, chw=i.static["chw"])
    return f.transpose(0, 2, 3, 1).reshape(f.shape[0], -1) @ p["kernel"] + p["bias"]


def _lstm(fns, i):
    import jax.numpy as jnp
    from flax import nnx

    if i.static.get("_fixture"):
        fix = _fixture(fns, "lstm")
        args = [fix[f"lstm.{k}_l0"] for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
        x, want = fix["x"], fix["outputs"]
    else:
        args, x, want = i.args, i.extras["x"], i.extras["torch"]
    cell = nnx.LSTMCell(args[0].shape[1], args[1].shape[1], rngs=nnx.Rngs(0))
    nnx.update(cell, fns.torch_lstm_to_nnx(*args))
    return {"nnx": nnx.RNN(cell)(x), "torch": jnp.asarray(want)}


def _lstm_cases(rng):
    w = [ck.normal(rng, s, 0.5) for s in [(20, 3), (20, 5), (20,), (20,)]]
    x = ck.normal(rng, (2, 7, 3))
    return [case(*w, extras={"x": x, "torch": _np_lstm(x, *w)}, label="D=3, H=5, 7 steps"),
            case(static={"_fixture": True}, label="the fixture's LSTM(8, 32), 16 digits")]


def _bn(fns, i):
    import jax.numpy as jnp
    from flax import nnx

    fix = _fixture(fns, "bn")
    params, stats, momentum = fns.torch_batchnorm_to_nnx(*(fix[k] for k in _BN_KEYS))
    bn = nnx.BatchNorm(16, momentum=momentum, epsilon=1e-5, rngs=nnx.Rngs(0))
    nnx.update(bn, {k: jnp.asarray(v) for k, v in {**params, **stats}.items()})
    x = _nhwc(fix["x"])
    if not i.static.get("_momentum"):
        return {"nnx": _eval(bn, x), "torch": _nhwc(fix["y_eval"])}
    custom = fns.torch_batchnorm_to_nnx(*(fix[k] for k in _BN_KEYS), momentum=0.25)[2]
    bn(x)  # one train-mode call
    return {"default": float(momentum), "custom": float(custom), "mean": bn.mean[...],
            "torch_mean": jnp.asarray(fix["running_mean_after"])}


def _momentum_ok(c, out):
    for key, torch, want in (("default", 0.1, 0.9), ("custom", 0.25, 0.75)):
        if abs(out[key] - want) > 1e-7:
            return (f"for PyTorch's momentum={torch} the Flax momentum is {out[key]:.6g}; "
                    f"expected 1 - momentum = {want}")
    msg = compare_trees(out["mean"], out["torch_mean"], rtol=0.0, atol=1e-6)
    return f"after one train-mode call, the running mean is not PyTorch's: {msg}" if msg else None


def _twin(fns):
    """The grader's own NHWC twin, built from the given DigitsNet class."""
    from flax import nnx

    r, pad = nnx.Rngs(0), ((1, 1), (1, 1))
    bn = lambda n: nnx.BatchNorm(n, momentum=0.9, epsilon=1e-5, rngs=r)
    return fns.DigitsNet(nnx.Conv(1, 16, (3, 3), padding=pad, rngs=r), bn(16),
                         nnx.Conv(16, 32, (3, 3), strides=2, padding=pad, rngs=r), bn(32),
                         nnx.Linear(512, 10, rngs=r))


def _grader_load(net, sd):
    """Fills a twin from a state_dict with the grader's own conversions."""
    import jax.numpy as jnp
    from flax import nnx

    sd = {k: jnp.asarray(v) for k, v in sd.items()}
    for n in ("conv1", "conv2"):
        nnx.update(getattr(net, n), {"kernel": sd[f"{n}.weight"].transpose(2, 3, 1, 0),
                                     "bias": sd[f"{n}.bias"]})
    for n in ("bn1", "bn2"):
        nnx.update(getattr(net, n), {k: sd[f"{n}.{t}"] for k, t in zip(
            ("scale", "bias", "mean", "var"), _BN_KEYS, strict=True)})
    w = sd["fc.weight"].reshape(10, 32, 4, 4).transpose(0, 2, 3, 1).reshape(10, -1)
    nnx.update(net.fc, {"kernel": w.T, "bias": sd["fc.bias"]})
    return net


def _net_shapes(fns, i):
    from flax import nnx

    net = fns.make_digits_net(rngs=nnx.Rngs(0))
    missing = [n for n in ("conv1", "bn1", "conv2", "bn2", "fc") if not hasattr(net, n)]
    return {"missing": ", ".join(missing), "logits": net(i.args[0])}


def _shapes_ok(c, out):
    y = np.asarray(out["logits"])
    if out["missing"]:
        return f"the net has no attribute(s) {out['missing']}"
    if y.shape != (3, 10) or y.dtype != np.float32:
        return f"(3, 8, 8, 1) images gave logits {y.dtype}{list(y.shape)}; expected float32[3, 10]"
    return None


def _net_fixture(fns, i):
    import jax.numpy as jnp
    from flax import nnx

    fix = _fixture(fns, "cnn")
    net = _grader_load(fns.make_digits_net(rngs=nnx.Rngs(0)), _state_dict(fix))
    x = _nhwc(fix["x"])
    if not i.static.get("_train"):
        return {"nnx": _eval(net, x), "torch": jnp.asarray(fix["logits"])}
    want = 0.9 * net.bn1.mean[...] + 0.1 * net.conv1(x).mean(axis=(0, 1, 2))
    net(x)  # one train-mode call
    return {"nnx": net.bn1.mean[...], "torch": want}


def _loader_fixture(fns, i):
    import jax.numpy as jnp

    fix, net = _fixture(fns, "cnn"), _twin(fns)
    same = fns.load_state_dict(net, _state_dict(fix)) is net
    return {"returns_model": same, "nnx": _eval(net, _nhwc(fix["x"])),
            "torch": jnp.asarray(fix["logits"])}


def _snap(net):
    import jax.numpy as jnp
    from flax import nnx

    return {".".join(map(str, p)): jnp.array(v[...]) for p, v in nnx.iter_graph(net)
            if isinstance(v, nnx.Variable)}


def _with_and_without(fns, i):
    fix, a, b = _fixture(fns, "cnn"), _twin(fns), _twin(fns)
    fns.load_state_dict(a, _state_dict(fix))
    fns.load_state_dict(b, _state_dict(fix, drop=("bn1.num_batches_tracked",
                                                  "bn2.num_batches_tracked")))
    return {"with": _snap(a), "without": _snap(b)}


def _failures(fns, i):
    """For each broken state_dict: the exception raised (if any) and the state around it."""
    fix, out = _fixture(fns, "cnn"), {}
    for name, shape in i.static["broken"]:
        sd = _state_dict(fix, drop=(name,) if shape is None else ())
        if shape is not None:
            sd[name] = np.zeros(shape, np.float32)
        net = _twin(fns)
        before, raised, text = _snap(net), "", ""
        try:
            fns.load_state_dict(net, sd)
        except NotImplementedError:
            raise  # an untouched stub is reported as not implemented
        except Exception as e:  # noqa: BLE001 - what it raised is graded
            raised = next((t.__name__ for t in (KeyError, ValueError) if isinstance(e, t)),
                          type(e).__name__)
            text = str(e)
        out[name] = {"raised": raised, "message": text, "before": before, "after": _snap(net)}
    return out


def _failed_well(expected):
    """``expected``: the exception's type name, or None for "the state did not change"."""

    def prop(c, out):
        for name, shape in c.static["broken"]:
            got, what = out[name], f"{name} missing" if shape is None else f"{name} {shape}"
            msg = compare_trees(got["after"], got["before"], exact=True)
            need = [name] + ([str(_TORCH_SHAPES[name]), str(shape)] if shape else [])
            lost = [t for t in need if t not in got["message"]]
            if expected is None and msg:
                return f"after a failed load ({what}) the model changed: {msg}"
            if expected and got["raised"] != expected:
                return (f"with {what}, load_state_dict raised {got['raised'] or 'nothing'}; "
                        f"expected a {expected}")
            if expected and lost:
                return (f"with {what}, the {expected} message {got['message']!r} does not name "
                        + ", ".join(lost))
        return None

    return prop


def _train(fns, i):
    import jax
    import optax
    from flax import nnx

    e, net = i.extras, fns.load_state_dict(_twin(fns), _state_dict(_fixture(fns, "cnn")))
    opt = nnx.Optimizer(net, optax.adam(1e-3), wrt=nnx.Param)

    @nnx.jit
    def step(net, opt, x, y):
        loss = lambda m: optax.softmax_cross_entropy_with_integer_labels(m(x), y).mean()
        opt.update(net, nnx.grad(loss)(net))

    perm = np.random.default_rng(0).permutation(e["x_train"].shape[0])
    for s in range(0, len(perm) - 63, 64):  # one epoch, batch 64, BatchNorm in train mode
        step(net, opt, e["x_train"][perm[s:s + 64]], e["y_train"][perm[s:s + 64]])
    pred = jax.jit(lambda x: _eval(net, x))(e["x_test"]).argmax(-1)
    return {"test_accuracy": (pred == e["y_test"]).mean()}


def _one(label="", **static):
    return lambda rng: [case(label=label, static=static)]


def _pair(task, id, cases, call, what, title, **kw):
    """The probe returns {"nnx": ours, "torch": PyTorch's}; they agree to 1e-5."""
    return ck.invariant(task, cases, props.equal_parts("torch", "nnx", what=what, **_ATOL),
                        call=call, id=id, title=title, batched=False, **kw)


_CONVS = ("torch_conv2d_to_nnx", "torch_linear_to_nnx", "torch_flatten_linear_to_nnx",
          "torch_batchnorm_to_nnx")
_f32 = lambda x: np.asarray(x, np.float32)

CHECKS = (
    ck.oracle("torch_linear_to_nnx", lambda rng: [case(
        ck.normal(rng, (5, 7)), ck.normal(rng, (5,)), ck.normal(rng, (3, 7)),
        label="W (5, 7), x (3, 7)") for _ in range(3)], lambda c: _f32(
        c.args[2] @ c.args[0].T.astype(np.float64) + c.args[1]), call=_layer, **_ATOL,
        id="matches_torch", title="nnx.Linear with the port computes x @ W.T + b",
        hint="PyTorch stores (out, in); nnx's kernel is (in, out): kernel = weight.T"),
    ck.oracle("torch_conv2d_to_nnx", lambda rng: [case(
        ck.normal(rng, (6, 3, 3, 2)), ck.normal(rng, (6,)), ck.normal(rng, (2, 3, 7, 5)),
        label="OIHW W (6, 3, 3, 2), NCHW x (2, 3, 7, 5)")],
        lambda c: _np_conv(c.args[2], c.args[0], c.args[1]), call=_layer, **_ATOL,
        id="matches_torch", title="nnx.Conv with the port equals torch conv2d",
        hint="OIHW -> HWIO is weight.transpose(2, 3, 1, 0); a reshape moves no data"),
    ck.oracle("nchw_to_nhwc", lambda rng: [
        case(np.arange(120, dtype=np.float32).reshape(2, 3, 4, 5), label="arange, H != W"),
        case(ck.normal(rng, (2, 3, 6, 6)), label="square images")],
        lambda c: np.einsum("nchw->nhwc", c.args[0]), id="matches_transpose", exact=True,
        title="bitwise equal to x.transpose(0, 2, 3, 1)",
        hint="(0, 3, 2, 1) swaps H and W, which square images hide"),
    ck.oracle("torch_flatten_linear_to_nnx", lambda rng: [case(
        ck.normal(rng, (5, 24)), ck.normal(rng, (5,)), ck.normal(rng, (6, 3, 4, 2)),
        static={"chw": (3, 4, 2)}, label="C, H, W = 3, 4, 2")], lambda c: _f32(
        c.args[2].reshape(6, -1).astype(np.float64) @ c.args[0].T + c.args[1]), call=_flatten,
        id="matches_torch_flatten", **_ATOL,
        title="NHWC-flattened features times the port equal torch's (C, H, W) flatten",
        hint="weight.reshape(out, C, H, W).transpose(0, 2, 3, 1).reshape(out, -1).T"),
    _pair("torch_lstm_to_nnx", "matches_torch_lstm", _lstm_cases, _lstm,
          "nnx.RNN with the ported cell against torch.nn.LSTM",
          "nnx.RNN with the port equals torch's LSTM", hint="split the 4H rows in the order "
          "i, f, g, o; transpose each block; the hidden bias is b_ih + b_hh"),
    _pair("torch_batchnorm_to_nnx", "eval_matches_fixture", _one("the fixture's BatchNorm2d"),
          _bn, "eval-mode output against PyTorch's", "eval output equals the PyTorch fixture",
          hint="weight -> scale, bias -> bias, running_mean -> mean, running_var -> var"),
    ck.invariant("torch_batchnorm_to_nnx", _one("the fixture's BatchNorm2d", _momentum=True),
                 _momentum_ok, call=_bn, id="momentum", batched=False,
                 title="momentum 0.1 -> 0.9 and the running mean follows PyTorch's",
                 hint="Flax's momentum weighs the old running value: flax = 1 - torch"),
    ck.invariant("make_digits_net", lambda rng: [case(ck.uniform(rng, (3, 8, 8, 1), 0.0, 1.0))],
                 _shapes_ok, call=_net_shapes, id="shapes", batched=False,
                 title="conv1, bn1, conv2, bn2, fc; (3, 8, 8, 1) -> (3, 10)"),
    _pair("make_digits_net", "matches_fixture", _one("the fixture's 64 digits"), _net_fixture,
          "eval logits against the PyTorch fixture", "loaded, its logits equal the PyTorch "
          "fixture", hint="padding=((1, 1), (1, 1)) ('SAME' pads (0, 1) at stride 2); "
          "BatchNorm epsilon=1e-5"),
    _pair("make_digits_net", "bn_momentum", _one(_train=True), _net_fixture,
          "bn1.mean after one train-mode call against 0.9 * running_mean + 0.1 * batch mean",
          "one train step moves bn1.mean 10% towards the batch mean",
          hint="nnx.BatchNorm(momentum=0.9): PyTorch's 0.1 is the weight of the new batch"),
    ck.invariant("load_state_dict", _one("the fixture's state_dict"), props.all_of(
        lambda c, out: None if out["returns_model"] else "load_state_dict must return the model",
        props.equal_parts("torch", "nnx", what="eval logits against the PyTorch fixture",
                          **_ATOL)), call=_loader_fixture, id="matches_fixture", uses=_CONVS,
        title="the loaded twin's logits equal the PyTorch fixture", batched=False),
    ck.invariant("load_state_dict", _one("the fixture's state_dict"), props.equal_parts(
        "with", "without", what="the state loaded without num_batches_tracked against with it",
        exact=True), call=_with_and_without, id="ignores_num_batches_tracked", uses=_CONVS,
        title="num_batches_tracked is ignored", batched=False,
        hint="skip keys ending in .num_batches_tracked: nnx has no such variable"),
    *[ck.invariant("load_state_dict", _one(broken=broken), _failed_well(raised), id=cid,
                   call=_failures, uses=_CONVS, title=title, hint=hint, batched=False)
      for cid, broken, raised, title, hint in (
          ("missing_key", _MISSING, "KeyError", "a missing key raises a KeyError naming it",
           "walk the model's layers and look each key up; never loop over the keys given"),
          ("bad_shape", _BAD, "ValueError", "a wrong shape raises a ValueError with both "
           "shapes", "name the key, the expected PyTorch shape and the given shape"),
          ("unchanged_after_failure", (_MISSING[2], _BAD[1]), None, "a failed load changes "
           "nothing", "check every key and shape first, collecting (variable, value) pairs; "
           "write only when all are valid"))],
    ck.training("load_state_dict", lambda rng: [case(label="scikit-learn digits, 1347 train / "
                "450 test", extras=dict(zip(("x_train", "y_train", "x_test", "y_test"),
                                            recipes.digits_images(), strict=True)))],
                _train, metric="test_accuracy", threshold=0.95, uses=_CONVS, timeout=60.0,
                title="TRAIN: the loaded twin fine-tunes to 95% test accuracy",
                description="the fixture loaded into the grader's twin, then one epoch of "
                "Adam(1e-3), batch 64, BatchNorm in train mode; 450 test digits"),
    *[ck.forbidden(t) for t in TASKS],
)

EXERCISE = Exercise(
    id="q28",
    title="Porting PyTorch weights to Flax NNX",
    files={"port.py": FileSpec(
        helpers=("dlcore.port.digits_net:DigitsNet", "dlcore.port.digits_net:load_torch_fixture"),
        tasks=(*(f"dlcore.port.convert:{t}" for t in CONVERTERS),
               "dlcore.port.digits_net:make_digits_net", "dlcore.port.state_dict:load_state_dict"),
        summary="PyTorch layouts to Flax NNX, the digits net's NHWC twin, a state_dict loader")},
    checks=CHECKS,
    forbidden={t: ("torch",) for t in TASKS},
    data={"torch": "dlcore/port/fixtures/torch_digits.npz"},
)
