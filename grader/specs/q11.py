"""q11 CNN layers: conv2d and pooling from jax.numpy, equal to lax.conv / flax pooling, and a
small CNN trained on digits with the fixed recipe of grader/recipes.py."""

from __future__ import annotations

import itertools

import numpy as np

from grader import checks as ck
from grader import props, recipes  # recipes at module level: the worker refuses it later
from grader.judge import compare_arrays
from grader.spec import Exercise, FileSpec, case
from grader.wire import NumpyArray, leaves

_CNN = ("init_cnn", "conv2d", "max_pool", "dense")  # cnn_apply is built from the learner's layers
_XWB = (0, 1, 2)  # gradients w.r.t. x, w and b
_SIZES = list(itertools.product(range(1, 10), (1, 2, 3, 4), (1, 2, 3), ("VALID", "SAME"), (1, 2)))
# Rectangular kernels on non-square images catch swapped axes; SAME then pads an odd total on
# some axis (the extra cell goes at the bottom/right).
_CONV_SHAPES = [((2, 7, 8, 3), (2, 3, 3, 4)), ((1, 8, 9, 2), (3, 2, 2, 3))]
_PAIRS = "{0}_h, {0}_w = ({0}, {0}) if isinstance({0}, int) else {0}; the same for {1}"


def _out(n, k, s, padding, d=1):
    """Output length on one axis: XLA's SAME, or VALID (0 when the kernel does not fit)."""
    return -(-n // s) if padding == "SAME" else max(0, (n - (k - 1) * d - 1) // s + 1)


def _windows(shape, k, s, padding):
    """``(i, j, rows, cols)`` of each pooling window of an NHWC shape, clipped to the image."""
    h, w = shape[1:3]
    lo = [max((_out(n, k, s, padding) - 1) * s + k - n, 0) // 2 * (padding == "SAME")
          for n in (h, w)]
    for i, j in itertools.product(range(_out(h, k, s, padding)), range(_out(w, k, s, padding))):
        yield (i, j, slice(max(i * s - lo[0], 0), min(i * s - lo[0] + k, h)),
               slice(max(j * s - lo[1], 0), min(j * s - lo[1] + k, w)))


def _conv(rng, xs, ws, label="", cot=False, wscale=0.5, **st):
    x, w, b = ck.normal(rng, xs), ck.normal(rng, ws, wscale), ck.normal(rng, ws[-1:], wscale)
    if cot:  # int stride and dilation here
        out = [_out(xs[a], ws[a - 1], st["stride"], st["padding"], st["dilation"]) for a in (1, 2)]
        cot = {"cot": ck.normal(rng, (xs[0], *out, ws[3]))}
    return case(x, w, b, static=st, label=label or f"kernel {ws[0]}x{ws[1]}", extras=cot or None)


def _shifted(a, st, s=1):  # drops the first _shift // s rows and columns
    return a[:, st["_shift"][0] // s:, st["_shift"][1] // s:]


def _pool(x, k, s, p, label="", cot=None):
    return case(x, static={"window": k, "stride": s, "padding": p}, label=label,
                extras=None if cot is None else {"cot": cot})


def _pools(rng, negative):  # all-negative inputs: a 0 pad (not -inf) would win the border
    out = [_pool(ck.normal(rng, (2, 7, 8, 3)), k, s, p)
           for k, s, p in itertools.product((2, 3), (1, 2), ("SAME", "VALID"))]
    x = (-np.abs(ck.normal(rng, (1, 7, 7, 2))) - 1.0).astype(np.float32)
    return out + [_pool(x, k, s, "SAME", "all entries negative") for k, s in [(2, 2), (3, 1)]
                  if negative]


_POOL_PAIRS = lambda rng: [
    _pool(ck.normal(rng, (2, 7, 8, 2)), (2, 3), (2, 1), "SAME", "(h, w) pairs"),
    _pool(ck.normal(rng, (1, 9, 6, 3)), (3, 2), (1, 2), "VALID", "(h, w) pairs")]


def _pool_ref(case):
    """From the windows in NumPy: with a cotangent, max_pool's gradient (each window's cotangent
    at its maximum, overlaps adding up); without, avg_pool with the padded zeros counting."""
    x, cot, st = case.args[0].astype(np.float64), case.extras.get("cot"), case.static
    k, s, p = st["window"], st["stride"], st["padding"]
    out = np.zeros(x.shape if cot is not None else (
        x.shape[0], _out(x.shape[1], k, s, p), _out(x.shape[2], k, s, p), x.shape[3]))
    n, c = np.meshgrid(np.arange(x.shape[0]), np.arange(x.shape[3]), indexing="ij")
    for i, j, rows, cols in _windows(x.shape, k, s, p):
        if cot is None:
            out[:, i, j] = x[:, rows, cols].sum(axis=(1, 2)) / (k * k)
            continue
        win, width = x[:, rows, cols].reshape(x.shape[0], -1, x.shape[3]), cols.stop - cols.start
        top = np.argmax(win, axis=1)
        np.add.at(out, (n, rows.start + top // width, cols.start + top % width, c), cot[:, i, j])
    return out.astype(np.float32)


def _like_ref(case, out):  # within 1e-5 + 1e-5 * |expected|
    return compare_arrays("", np.asarray(out), _pool_ref(case), rtol=1e-5, atol=1e-5)


def _float32_params(case, out):
    if not list(leaves(out)):
        return "init_cnn returned no arrays: return a dict of jax arrays"
    for path, a in leaves(out):
        why = (f"is a Python {type(a).__name__} ({a!r}): params hold float32 arrays only, "
               "because the optimizer updates every leaf" if not isinstance(a, np.ndarray) else
               "is a NumPy array: build params with jax.random and jax.numpy (the recipe runs "
               "init_cnn under jax.jit)" if isinstance(a, NumpyArray) else
               f"has dtype {a.dtype}; params must be float32" if a.dtype != np.float32 else
               "has non-finite entries" if not np.isfinite(a).all() else
               f"(shape {a.shape}) is all zeros: units that start equal get equal gradients "
               "and never differ" if a.ndim >= 2 and not a.any() else None)
        if why:
            return f"params{path} {why}"
    return None


def _cnn(what=None):
    """cnn_apply(init_cnn(key[, num_classes=the "_num_classes" static]), x): the logits, the
    gradient w.r.t. params (``"grad"``), or eager and jitted logits, init_cnn eager (``"jit"``)."""

    def call(fns, i):
        import jax
        import jax.numpy as jnp

        k, x = i.static.get("_num_classes", 10), i.args[1]
        p = fns.init_cnn(i.args[0]) if k == 10 else fns.init_cnn(i.args[0], num_classes=k)
        if what == "jit":
            return {"eager": fns.cnn_apply(p, x), "jit": jax.jit(fns.cnn_apply)(p, x)}
        if what == "grad":
            return jax.grad(lambda p: jnp.sum(fns.cnn_apply(p, x) * i.extras["cot"]))(p)
        return fns.cnn_apply(p, x)

    return call


def _logits_shape(case, out):
    n, k = case.args[1].shape[0], case.static["_num_classes"]
    return (f"init_cnn(key, num_classes={k}), then cnn_apply on {n} image(s), gave shape "
            f"{np.shape(out)}, not ({n}, {k})" if np.shape(out) != (n, k) else
            f"logits have dtype {out.dtype}, expected float32" if out.dtype != np.float32 else
            None if np.isfinite(out).all() else "logits have non-finite entries")


def _every_param_learns(case, out):
    if not list(leaves(out)):
        return "the gradient has no leaves: cnn_apply's params hold no arrays?"
    for path, g in leaves(out):
        if not np.isfinite(g).all():
            return f"the gradient for params{path} has non-finite entries"
        if not np.any(g):
            return (f"params{path} gets no gradient at all: cnn_apply does not use it, or cuts "
                    "it off (stop_gradient, an unused bias, a dead relu)")
    return None


def _train(fns, i):
    e = i.extras
    params = recipes.train_classifier(i.args[0], fns.init_cnn, fns.cnn_apply,
                                      (e["x_train"], e["y_train"]))
    return {"test_accuracy": recipes.accuracy(fns.cnn_apply, params, e["x_test"], e["y_test"])}


_images = lambda rng, seed, n, cot=False, **st: case(
    ck.Key(seed), ck.uniform(rng, (n, 8, 8, 1), 0.0, 1.0), static=st,
    extras={"cot": ck.normal(rng, (n, 10))} if cot else None)
_dense = lambda rng, n, d, o, cot=False: case(
    ck.normal(rng, (n, d)), ck.normal(rng, (d, o)), ck.normal(rng, (o,)),
    extras={"cot": ck.normal(rng, (n, o))} if cot else None)

CHECKS = (
    ck.equivalence(
        "conv2d", lambda rng: [_conv(rng, xs, ws, stride=s, padding=p, dilation=d) for s, p, d in
                               itertools.product((1, 2), ("SAME", "VALID"), (1, 2))
                               for xs, ws in _CONV_SHAPES],
        title="matches lax.conv_general_dilated", description="equals lax.conv_general_dilated "
        "(NHWC, HWIO) + b over stride {1, 2} x SAME/VALID x dilation {1, 2} x odd and even "
        "kernels, on non-square images", hint="cross-correlation: no kernel flip; SAME pads "
        "max((out - 1) * s + (k - 1) * d + 1 - n, 0) in all, the odd cell at the bottom/right"),
    ck.equivalence("conv2d", lambda rng: [
        _conv(rng, (2, 9, 8, 2), (3, 2, 2, 3), "(h, w) pairs", stride=(2, 1), padding="SAME",
              dilation=(1, 2)),
        _conv(rng, (1, 8, 10, 3), (2, 3, 3, 2), "(h, w) pairs", stride=(1, 2), padding="VALID",
              dilation=(2, 1))], id="pairs", title="stride and dilation as (h, w) pairs",
        hint=_PAIRS.format("stride", "dilation") + "; H values on axis 1, W values on axis 2"),
    ck.grad("conv2d", lambda rng: [
        _conv(rng, *_CONV_SHAPES[0], cot=True, stride=2, padding="SAME", dilation=1),
        _conv(rng, *_CONV_SHAPES[1], cot=True, stride=1, padding="VALID", dilation=2)], wrt=_XWB),
    ck.jit("conv2d", lambda rng: [_conv(rng, (2, 7, 6, 2), (3, 2, 2, 3), stride=2,
                                        padding="SAME", dilation=1)]),
    ck.vmap("conv2d", lambda rng: [_conv(rng, (3, 2, 6, 7, 2), (3, 3, 2, 4), wscale=1.0,
                                         padding="SAME")], in_axes=(0, None, None)),
    ck.metamorphic(  # "_shift", a probe-only static, stays out of the call
        "conv2d", lambda rng: [
            _conv(rng, xs, ws, wscale=1.0, stride=s, padding="VALID", dilation=d, _shift=sh)
            for xs, ws, s, d, sh in [((1, 11, 10, 2), (3, 2, 2, 3), 1, 1, (2, 1)),
                                     ((2, 12, 11, 3), (3, 3, 3, 2), 2, 2, (2, 4))]],
        call=lambda fns, i: fns.conv2d(*i.args, **{k: v for k, v in i.static.items()
                                                   if k[0] != "_"}),
        transform=lambda i: i.replace(args=(_shifted(i.args[0], i.static), *i.args[1:])),
        relation=lambda y, i: _shifted(y, i.static, i.static["stride"]), rtol=1e-5, atol=1e-5,
        id="translation_equivariance", title="translation equivariance",
        description="shifting the input by a multiple of the stride shifts the output (VALID)",
        hint="the same kernel at the same relative offsets everywhere; nothing may depend on "
        "the absolute position or on statistics of x"),
    ck.forbidden("conv2d"),
    ck.oracle(  # Python ints (not 0-d arrays), one eager call per argument set
        "conv_output_size", lambda rng: [case(label=f"{len(_SIZES)} argument sets")],
        lambda c: {f"conv_output_size{g}": _out(*g) for g in _SIZES}, batched=False,
        call=lambda fns, i: {f"conv_output_size{g}": fns.conv_output_size(*g[:4]) if g[4] == 1
                             else fns.conv_output_size(*g[:4], dilation=g[4]) for g in _SIZES},
        id="exact", title="exact over a grid of arguments", description="a Python int for size "
        "1..9 x kernel 1..4 x stride 1..3 x SAME/VALID x dilation 1..2; 0 if nothing fits",
        hint="k_eff = (kernel - 1) * dilation + 1; VALID: max(0, (size - k_eff) // stride + 1); "
        "SAME: -(-size // stride), whatever the kernel; plain Python ints, no jnp"),
    ck.equivalence(
        "max_pool", lambda rng: _pools(rng, True), title="matches flax.nnx.max_pool",
        description="windows {2, 3} x strides {1, 2} x SAME/VALID, and all-negative inputs",
        hint="pad SAME with -inf, never 0; the odd padded cell goes at the bottom/right"),
    ck.equivalence("max_pool", _POOL_PAIRS, id="pairs", title="window and stride as (h, w) pairs",
                   hint=_PAIRS.format("window", "stride")),
    ck.invariant(
        "max_pool", lambda rng: [_pool(rng.permutation(168).reshape(2, 6, 7, 2).astype(
            np.float32), k, s, p, "tie-free input", ck.uniform(
            rng, (2, _out(6, k, s, p), _out(7, k, s, p), 2), 0.5, 2.0))
            for k, s, p in [(2, 2, "VALID"), (3, 2, "SAME"), (3, 1, "VALID")]],
        _like_ref, call=ck.grad("max_pool", None).probe,  # grad of sum(cot * out)
        id="grad_to_max", title="gradient flows only to the max (overlapping windows add up)",
        hint="jnp.max over the window axes: its gradient goes to the argmax; no mean, no soft max"),
    ck.jit("max_pool", lambda rng: [_pool(ck.normal(rng, (2, 7, 6, 3)), 3, 2, "SAME")]),
    ck.vmap("max_pool", lambda rng: [_pool(ck.normal(rng, (3, 2, 6, 5, 2)), 2, 2, "SAME")]),
    ck.forbidden("max_pool"),
    ck.equivalence("avg_pool", lambda rng: _pools(rng, False), title="matches flax.nnx.avg_pool",
                   description="windows {2, 3} x strides {1, 2} x SAME/VALID",
                   hint="the mean over each window; with SAME the padded zeros count"),
    ck.equivalence("avg_pool", _POOL_PAIRS, id="pairs", title="window and stride as (h, w) pairs",
                   hint=_PAIRS.format("window", "stride")),
    ck.invariant(
        "avg_pool", lambda rng: [
            _pool(np.ones((1, 5, 6, 1), np.float32), 3, 1, "SAME", "x = ones"),
            _pool(np.ones((1, 7, 7, 2), np.float32), 2, 2, "SAME", "x = ones"),
            _pool(ck.uniform(rng, (2, 5, 7, 1), 0.5, 1.5), 3, 2, "SAME", "positive x")],
        _like_ref, id="same_counts_padding", title="SAME counts padded cells (as flax)",
        hint="divide by KH * KW everywhere, not by the number of real cells (TensorFlow's way)"),
    ck.grad("avg_pool", lambda rng: [
        _pool(ck.normal(rng, (2, 7, 6, 2)), 3, 2, "SAME", cot=ck.normal(rng, (2, 4, 3, 2))),
        _pool(ck.normal(rng, (1, 5, 6, 3)), 2, 1, "VALID", cot=ck.normal(rng, (1, 4, 5, 3)))]),
    ck.jit("avg_pool", lambda rng: [_pool(ck.normal(rng, (2, 7, 6, 3)), 3, 2, "SAME")]),
    ck.forbidden("avg_pool"),
    ck.equivalence(
        "global_avg_pool", lambda rng: [case(ck.normal(rng, s)) for s in
                                        [(2, 5, 4, 3), (1, 1, 1, 1), (3, 8, 8, 16)]],
        title="mean over H and W, shape (N, C)", hint="jnp.mean(x, axis=(1, 2)), no keepdims"),
    ck.grad("global_avg_pool", lambda rng: [case(ck.normal(rng, (2, 5, 4, 3)),
                                                 extras={"cot": ck.normal(rng, (2, 3))})]),
    ck.jit("global_avg_pool", lambda rng: [case(ck.normal(rng, (2, 4, 3, 5)))]),
    ck.forbidden("global_avg_pool"),
    ck.equivalence(
        "dense", lambda rng: [_dense(rng, *s) for s in [(4, 6, 3), (1, 5, 1), (16, 32, 10)]],
        title="x @ w + b", hint="w is (in, out): x @ w, not x @ w.T; add the bias to every row"),
    ck.grad("dense", lambda rng: [_dense(rng, 4, 6, 3, cot=True)], wrt=_XWB),
    ck.jit("dense", lambda rng: [_dense(rng, 4, 6, 3)]),
    ck.invariant(
        "init_cnn", lambda rng: [case(ck.Key(0)), case(ck.Key(5), static={"num_classes": 7})],
        _float32_params, id="params", title="params are a pytree of float32 arrays",
        batched=False, hint="dicts of jax.random / jnp.zeros arrays only (hard-code strides and "
        "sizes in cnn_apply); He-initialize the weights, only biases start at zero"),
    ck.prng("init_cnn", lambda rng: [case(ck.Key(1), extras={"other_key": ck.Key(2)})],
            hint="split the key you are given once per layer; no fixed key, no NumPy random"),
    ck.jit("init_cnn", lambda rng: [case(ck.Key(3), static={"num_classes": 10})],
           hint="the recipe jits init_cnn: jax.random and jnp only, shapes from Python ints"),
    ck.invariant(
        "cnn_apply", lambda rng: [_images(rng, s, n, _num_classes=k)
                                  for s, n, k in [(1, 5, 10), (2, 1, 3), (3, 4, 7)]],
        _logits_shape, call=_cnn(), uses=_CNN, id="logits_shape",
        title="float32 logits of shape (N, num_classes)",
        hint="size the dense head from num_classes; keep the batch axis (never squeeze)"),
    ck.invariant(  # kind jit; not ck.jit, which would trace init_cnn too
        "cnn_apply", lambda rng: [_images(rng, 6, 3)], props.equal_parts(
            "eager", "jit", what="jax.jit(cnn_apply) differs from eager"), call=_cnn("jit"),
        uses=_CNN, id="jit", kind="jit", title="works under jit", batched=False,
        hint="no Python if/while on array values (e.g. on x.max()); the recipe trains under jit"),
    ck.invariant(
        "cnn_apply", lambda rng: [_images(rng, 4, 6, cot=True)], _every_param_learns,
        call=_cnn("grad"), uses=_CNN, id="grad_reaches_params",
        title="gradient reaches every parameter", hint="every array in params must take part "
        "in the logits"),
    ck.training(
        "cnn_apply", lambda rng: [case(ck.Key(0), label="scikit-learn digits", extras=dict(zip(
            ("x_train", "y_train", "x_test", "y_test"), recipes.digits_images(), strict=True)))],
        _train, metric="test_accuracy", threshold=0.95, uses=_CNN,
        title="TRAIN reaches 95% test accuracy on digits",
        description=f"Adam({recipes.DEFAULT_LEARNING_RATE:g}), {recipes.DEFAULT_STEPS} steps of "
        f"{recipes.DEFAULT_BATCH_SIZE} images in [0, 1] (grader/recipes.py); 450 test images",
        hint="return logits (no softmax); He-init (never zeros); two 3x3 convs (16, 32), a 2x2 "
        "max-pool, a flatten and a dense head are plenty; images arrive in [0, 1]: no rescaling"),
    ck.forbidden("cnn_apply"),
)

_REFS = {"conv2d": "nn.conv", "conv_output_size": "nn.conv", "max_pool": "nn.pooling",
         "avg_pool": "nn.pooling", "global_avg_pool": "nn.pooling", "dense": "nn.linear",
         "init_cnn": "models.cnn", "cnn_apply": "models.cnn"}
# lax.conv* spelled out so that lax.convert_element_type stays allowed
_FORBIDDEN = ("jax.lax.conv", "jax.lax.conv_*", "jax.lax.reduce_window*", "flax",
              "jax.scipy.signal", "jax.numpy.convolve", "jax.numpy.correlate",
              "jax.example_libraries")

EXERCISE = Exercise(
    id="q11", title="CNN layers", checks=CHECKS,
    files={"cnn.py": FileSpec(
        tasks=tuple(f"dlcore.{m}:{t}" for t, m in _REFS.items()),
        helpers=("dlcore.nn.activations:relu",),
        summary="convolution, pooling and a small CNN, written with jax.numpy")},
    forbidden={t: _FORBIDDEN for t in ("conv2d", "max_pool", "avg_pool", "global_avg_pool",
                                       "cnn_apply")},
)
