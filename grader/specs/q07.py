"""q07 CNN vs RNN: a dilated/causal 1-D convolution, an Elman RNN as one lax.scan, the
receptive field read off a Jacobian, parameter counts, and both models trained on digits."""

from __future__ import annotations

import itertools
import math

import numpy as np

from grader import checks as ck
from grader import recipes  # at module level: the worker refuses grader imports later
from grader.spec import Exercise, FileSpec, case
from grader.wire import leaves

_GRID = list(itertools.product((1, 2), ("VALID", "SAME", "CAUSAL"), (1, 2), (2, 3)))
_RF_STACKS = [((4, 3, 2), (3, 2, 1), (1, 1, 2)), ((3, 3), (2, 1), (1, 1)),
              ((2, 2, 2), (1, 1, 1), (1, 2, 4))]


def _conv(rng, n, w, c, k, o, cot=False, **st):
    x = ck.normal(rng, (n, w, c))
    extras = None
    if cot:
        s, span = st.get("stride", 1), (k - 1) * st.get("dilation", 1)
        out = -(-w // s) if st.get("padding", "VALID") != "VALID" else (w - span - 1) // s + 1
        extras = {"cot": ck.normal(rng, (n, out, o))}
    return case(x, ck.normal(rng, (k, c, o)), ck.normal(rng, (o,)), static=st, extras=extras)


def _grid_cases(rng):
    out = [_conv(rng, 2, 11, 3, k, 4, stride=s, padding=p, dilation=d) for s, p, d, k in _GRID]
    out.append(_conv(rng, 1, 10, 3, 3, 4, stride=2, padding="CAUSAL", dilation=2))  # 5 outputs
    return out


def _shift_cases(rng):
    return [_conv(rng, 2, 20, 3, 3, 4, stride=s, dilation=d, _shift=sh)
            for s, d, sh in [(1, 1, 2), (1, 2, 2), (2, 1, 2), (2, 2, 4)]]


def _drop_first(i):
    sh = i.static["_shift"]
    return i.replace(args=(i.args[0][:, sh:], *i.args[1:]))


def _jac64(f, x, *args, then=lambda j: j):
    """then(the Jacobian of f(x, *args)), by jax.jacfwd in float64 (exact zeros stay exact)."""
    import jax
    import jax.numpy as jnp

    with jax.enable_x64(True):
        x, args = jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), (x, args))
        return then(jax.jacfwd(lambda x: f(x, *args))(x))


def _pattern(y, zero, nonzero):
    """A prop on a (t, s) Jacobian: exactly 0 where zero(t, s), nonzero where nonzero(t, s)."""

    def prop(case, jac):
        jac = np.asarray(jac)
        t, s = np.indices(jac.shape)
        for bad, want in ((zero(t, s) & (jac != 0), "0"), (nonzero(t, s) & (jac == 0), "!= 0")):
            if bad.any():
                tt, ss = np.argwhere(bad)[0]
                return (f"d{y}_{tt}/dx_{ss} = {jac[tt, ss]:.3g}; expected {want} there "
                        f"({int(bad.sum())} entries like it)")
        return None

    return prop


def _causal_stack(fns, i):  # CAUSAL K=3 d=1, tanh, CAUSAL K=3 d=2: receptive field 7
    import jax.numpy as jnp

    def stack(x, w1, w2, zero):
        h = jnp.tanh(fns.conv1d(x, w1, zero, padding="CAUSAL", dilation=1))
        return fns.conv1d(h, w2, zero, padding="CAUSAL", dilation=2)[0, :, 0]

    return _jac64(stack, *i.args, np.zeros(1), then=lambda j: j[:, 0, :, 0])


def _rnn_case(rng, b, t, d, h, scale=1.0, **kw):
    params = {"w_xh": ck.normal(rng, (d, h), 1 / np.sqrt(d)),
              "w_hh": ck.normal(rng, (h, h), scale / np.sqrt(h)), "b_h": ck.normal(rng, (h,), 0.1)}
    return case(params, ck.normal(rng, (b, t, d)), ck.normal(rng, (b, h), 0.5), **kw)


def _walk(jaxpr, found):
    for eqn in jaxpr.eqns:
        found["eqns"] += 1
        if eqn.primitive.name == "scan":
            found["scans"].append(int(eqn.params["length"]))
        for v in eqn.params.values():
            for sub in v if isinstance(v, (tuple, list)) else (v,):
                inner = getattr(sub, "jaxpr", sub)
                if hasattr(inner, "eqns"):
                    _walk(inner, found)


def _scan_stats(fns, i):
    import jax

    params, xs, h0 = i.args
    out = {}
    for t in (8, 64):
        x_t = jax.ShapeDtypeStruct((xs.shape[0], t, xs.shape[2]), xs.dtype)
        found = {"eqns": 0, "scans": []}
        _walk(jax.make_jaxpr(fns.rnn_scan)(params, x_t, h0).jaxpr, found)
        out[f"T={t}"] = found
    return out


def _one_scan(case, out):
    for t in (8, 64):
        if out[f"T={t}"]["scans"] != [t]:
            return (f"for T = {t} the jaxpr holds scans of lengths {out[f'T={t}']['scans']}; "
                    f"expected exactly one lax.scan of length T = {t} (over time, not batch)")
    if out["T=8"]["eqns"] != out["T=64"]["eqns"]:
        return (f"the jaxpr has {out['T=8']['eqns']} equations for T = 8 and "
                f"{out['T=64']['eqns']} for T = 64: something is unrolled over time")
    return None


def _rnn_jacobian(fns, i):
    import jax.numpy as jnp

    params, xs, h0 = i.args
    return _jac64(lambda xs, p, h0: fns.rnn_scan(p, xs, h0)[1], xs, params, h0,  # (1,T,H,1,T,D)
                  then=lambda j: jnp.sqrt(jnp.sum(j[0, :, :, 0] ** 2, axis=(1, 3))))  # (t, s)


def _rf_case(rng, ks, ss, ds):
    ws = [ck.normal(rng, (k, 1, 1)) for k in ks]
    return case(ck.normal(rng, (1, 60, 1)), ws, static={"k": ks, "s": ss, "d": ds})


def _rf_probe(fns, i):
    import jax

    k, s, d = (list(i.static[n]) for n in "ksd")

    def stack(x, ws):  # the grader's own conv: only receptive_field is graded here
        for w, st, dl in zip(ws, s, d, strict=True):
            x = jax.numpy.tanh(jax.lax.conv_general_dilated(
                x, w, (st,), "VALID", rhs_dilation=(dl,), dimension_numbers=("NWC", "WIO", "NWC")))
        return x[0, :, 0]

    return {"rf": fns.receptive_field(k, s, d),
            "jac": _jac64(stack, *i.args, then=lambda j: j[:, 0, :, 0])}


def _span_equals_rf(case, out):
    if type(out["rf"]) is not int:
        return f"receptive_field returned a {type(out['rf']).__name__}; expected a Python int"
    for t, row in enumerate(np.asarray(out["jac"])):
        nz = np.nonzero(row)[0]
        if nz[-1] - nz[0] + 1 != out["rf"]:
            return (f"output {t} depends on inputs {nz[0]}..{nz[-1]}: a span of "
                    f"{nz[-1] - nz[0] + 1} ({len(nz)} of them connected), but receptive_field "
                    f"returned {out['rf']}")
    return None


def _count_call(fns, i):
    import jax

    tree = i.args[0]
    if i.static.get("_abstract"):
        tree = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype), tree)
    return fns.count_params(tree)


def _count_cases(rng):
    z = lambda *shape: np.zeros(shape, np.float32)  # noqa: E731
    conv, rnn = {"w": z(3, 5, 7), "b": z(7)}, {"w_xh": z(4, 6), "w_hh": z(6, 6), "b_h": z(6)}
    stack = [conv, {"w": z(2, 7, 9), "b": z(9)}]
    return [case(conv, label="conv K=3, C=5, O=7"), case(rnn, label="RNN D=4, H=6"),
            case(stack, label="two conv layers"),
            case(rnn, static={"_abstract": True}, label="RNN as jax.ShapeDtypeStruct leaves")]


# ---- training: digits read as 8 rows (time) of 8 pixels (features) ------------------------

_H = 64


_SHAPES = {"rnn": {"rnn": {"w_xh": (8, _H), "w_hh": (_H, _H), "b_h": _H},
                   "head": {"w": (_H, 10), "b": 10}},
           "cnn": {"c1": {"w": (3, 8, 32), "b": 32}, "c2": {"w": (3, 32, 64), "b": 64},
                   "head": {"w": (64, 10), "b": 10}}}  # weights (tuples) LeCun-normal, biases 0


def _init(model):
    def init(key):
        import jax
        import jax.numpy as jnp

        keys, lecun = iter(jax.random.split(key, 3)), jax.nn.initializers.lecun_normal()
        return {layer: {n: lecun(next(keys), s) if isinstance(s, tuple) else jnp.zeros(s)
                        for n, s in arrays.items()} for layer, arrays in _SHAPES[model].items()}

    return init


def _train(model, steps):
    def probe(fns, i):
        import jax
        import jax.numpy as jnp

        def apply_rnn(p, x):
            h, _ = fns.rnn_scan(p["rnn"], x, jnp.zeros((x.shape[0], _H), x.dtype))
            return h @ p["head"]["w"] + p["head"]["b"]

        def apply_cnn(p, x):
            h = jax.nn.relu(fns.conv1d(x, p["c1"]["w"], p["c1"]["b"], padding="SAME"))
            h = jax.nn.relu(fns.conv1d(h, p["c2"]["w"], p["c2"]["b"], padding="SAME"))
            return jnp.mean(h, axis=1) @ p["head"]["w"] + p["head"]["b"]

        init, apply = _init(model), apply_rnn if model == "rnn" else apply_cnn
        e = i.extras
        params = recipes.train_classifier(i.args[0], init, apply, (e["x_train"], e["y_train"]),
                                          steps=steps)
        return {"test_accuracy": recipes.accuracy(apply, params, e["x_test"], e["y_test"])}

    return probe


def _digits_rows(rng):
    x_tr, y_tr, x_te, y_te = recipes.digits_images()
    return [case(ck.Key(0), label="digits as 8 rows x 8 pixels",
                 extras={"x_train": x_tr[..., 0], "y_train": y_tr, "x_test": x_te[..., 0],
                         "y_test": y_te})]


_RECIPE = (f"LeCun-normal weights, zero biases, Adam({recipes.DEFAULT_LEARNING_RATE:g}), batches "
           f"of {recipes.DEFAULT_BATCH_SIZE} (grader/recipes.py), 1347 train / 450 test digits")

CHECKS = (
    ck.equivalence(
        "conv1d", _grid_cases, id="matches_lax", title="matches lax.conv_general_dilated",
        description="stride {1, 2} x VALID/SAME/CAUSAL x dilation {1, 2} x K {2, 3}, plus CAUSAL "
        "stride 2 on W = 10 (5 outputs), equal to lax.conv_general_dilated with rhs_dilation "
        "and to nnx.Conv(padding='CAUSAL')",
        hint="cross-correlation (no kernel flip); dilation spaces the kernel taps, not the "
        "input; SAME puts the odd pad cell at the end; CAUSAL pads (K-1)*d on the left only"),
    ck.grad("conv1d", lambda rng: [_conv(rng, 2, 11, 3, 3, 4, cot=True, stride=2, padding=p,
                                         dilation=2) for p in ("SAME", "CAUSAL")],
            wrt=(0, 1, 2), id="gradients", title="gradients in x, w and b match"),
    ck.jit("conv1d", lambda rng: [_conv(rng, 2, 11, 3, 3, 4, stride=2, padding="CAUSAL",
                                        dilation=2)],
           title="works under jit (stride, padding, dilation static)"),
    ck.vmap("conv1d", lambda rng: [case(ck.normal(rng, (3, 2, 9, 3)), ck.normal(rng, (2, 3, 4)),
                                        ck.normal(rng, (4,)),
                                        static={"padding": "CAUSAL", "dilation": 2})],
            in_axes=(0, None, None), title="vmap over an extra leading axis of x"),
    ck.metamorphic(
        "conv1d", _shift_cases, transform=_drop_first,
        relation=lambda y, i: y[:, i.static["_shift"] // i.static["stride"]:],
        id="translation_equivariance", title="shifting x by a multiple of the stride shifts y",
        hint="the same kernel at every position: no position-dependent weights or edge fixes"),
    ck.invariant(
        "conv1d", lambda rng: [case(ck.normal(rng, (1, 12, 1)), ck.normal(rng, (3, 1, 1)),
                                    ck.normal(rng, (3, 1, 1)), label="CAUSAL d=1 > tanh > d=2")],
        _pattern("y", lambda t, s: (s > t) | (s < t - 6), lambda t, s: s == t),
        call=_causal_stack, id="causal_no_future", batched=False,
        title="causal: dy_t/dx_s = 0 for s > t (x64 jacfwd), within the receptive field",
        hint="CAUSAL pads (K-1)*dilation zeros on the left and none on the right; the stack's "
        "receptive field is 1 + 2 + 4 = 7, so y_t depends on x_{t-6} .. x_t only"),
    ck.training("conv1d", _digits_rows, _train("cnn", 1200), metric="test_accuracy",
                threshold=0.93, id="train_digits",
                title="TRAIN: a 1-D CNN on your conv1d reaches 93% on digits",
                description="two SAME K=3 convs (32, 64 channels), ReLU, mean over time, dense "
                f"10; 1200 steps; {_RECIPE}"),
    ck.forbidden("conv1d"),
    ck.equivalence(
        "rnn_scan", lambda rng: [_rnn_case(rng, 3, 6, 4, 5), _rnn_case(rng, 2, 9, 3, 7),
                                 _rnn_case(rng, 1, 1, 2, 3)],
        id="matches_nnx", title="matches nnx.RNN(nnx.SimpleCell, return_carry=True)",
        description="(h_T, hs) with a nonzero h0 equal nnx.RNN(SimpleCell) with dense_i.kernel "
        "= w_xh, dense_i.bias = b_h, dense_h.kernel = w_hh",
        hint="scan over time: jnp.swapaxes(xs, 0, 1) before lax.scan and on hs after; start "
        "from h0"),
    ck.invariant("rnn_scan", lambda rng: [_rnn_case(rng, 2, 8, 4, 5)], _one_scan,
                 call=_scan_stats, id="one_scan", batched=False,
                 title="one lax.scan of length T; same jaxpr size for T = 8 and T = 64",
                 hint="no Python loop over time steps: one lax.scan over the time-major inputs"),
    ck.invariant(
        "rnn_scan", lambda rng: [_rnn_case(rng, 1, 7, 2, 3, scale=0.5)],
        _pattern("h", lambda t, s: s > t, lambda t, s: s <= t),
        call=_rnn_jacobian, id="causal_unbounded", batched=False,
        title="dh_t/dx_s = 0 for s > t and != 0 for every s <= t (x64 jacfwd)",
        hint="never stop_gradient the carried state: the recurrence reaches the whole past"),
    ck.training("rnn_scan", _digits_rows, _train("rnn", 600), metric="test_accuracy",
                threshold=0.93, id="train_digits",
                title="TRAIN: an Elman RNN on your rnn_scan reaches 93% on digits",
                description=f"H = 64, h0 = 0, last state -> dense 10; 600 steps; {_RECIPE}"),
    ck.forbidden("rnn_scan"),
    ck.invariant(
        "receptive_field", lambda rng: [_rf_case(rng, *st) for st in _RF_STACKS],
        _span_equals_rf, call=_rf_probe, id="jacobian_span", batched=False,
        title="equals the span of a VALID tanh stack's Jacobian rows",
        hint="1 + sum_l (k_l - 1) * d_l * prod_{j<l} s_j: a layer's own stride does not widen "
        "its own window; return a Python int"),
    ck.oracle("count_params", _count_cases,
              lambda c: sum(math.prod(np.shape(a)) for _, a in leaves(c.args[0])),
              call=_count_call, id="formula", title="K*C*O + O and D*H + H^2 + H, a Python int",
              batched=False, hint="sum the sizes (number of elements) of jax.tree.leaves(params), "
              "read from .shape, as a Python int"),
)


_CONV_FORBIDDEN = ("jax.lax.conv", "jax.lax.conv_*", "jax.lax.reduce_window*", "flax",
                   "jax.numpy.convolve", "jax.numpy.correlate", "jax.scipy.signal")

EXERCISE = Exercise(
    id="q07",
    title="CNN vs RNN",
    files={"sequences.py": FileSpec(
        tasks=("dlcore.nn.conv1d:conv1d", "dlcore.nn.recurrent:rnn_scan",
               "dlcore.nn.receptive:receptive_field", "dlcore.nn.receptive:count_params"),
        summary="a dilated/causal 1-D convolution, an Elman RNN scan, receptive fields and "
        "parameter counts")},
    checks=CHECKS,
    forbidden={"conv1d": _CONV_FORBIDDEN, "rnn_scan": ("flax",)},
)
