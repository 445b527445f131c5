"""q12 LSTM and GRU: cells equal to flax.nnx.LSTMCell / GRUCell, and run_rnn as one lax.scan
with per-example lengths, equal to nnx.RNN on the valid steps.

Parameters are NumPy draws in nnx's layout (every bias nonzero); the reference is dlcore,
which tests/test_recurrent.py pins to flax 0.12.8. run_rnn is graded with the grader's own
cells (``_CELLS``), so a wrong cell never fails a run_rnn check; the training check runs the
learner's gru_cell inside the learner's run_rnn.
"""

from __future__ import annotations

import numpy as np

from grader import checks as ck
from grader import recipes
from grader.spec import Exercise, FileSpec, case

LSTM, GRU, RUN = "lstm_cell", "gru_cell", "run_rnn"
_LSTM_IN, _LSTM_HID = ("ii", "if_", "ig", "io"), ("hi", "hf", "hg", "ho")
_H = 64  # the trained GRU's width


def _lstm_params(rng, d, h, bias=0.3):
    p = {k: {"kernel": ck.normal(rng, (d, h), 1 / np.sqrt(d))} for k in _LSTM_IN}
    return p | {k: {"kernel": ck.normal(rng, (h, h), 1 / np.sqrt(h)),
                    "bias": ck.normal(rng, (h,), bias)} for k in _LSTM_HID}


def _gru_params(rng, d, h):
    return {"dense_i": {"kernel": ck.normal(rng, (d, 3 * h), 1 / np.sqrt(d)),
                        "bias": ck.normal(rng, (3 * h,), 0.3)},
            "dense_h": {"kernel": ck.normal(rng, (h, 3 * h), 1 / np.sqrt(h))}}


def _carry(rng, cell, lead, h):
    c = ck.normal(rng, (*lead, h), 0.5)
    return (c, ck.normal(rng, (*lead, h), 0.5)) if cell == "lstm" else c


def _cell_cases(cell):
    def cases(rng):
        make = _lstm_params if cell == "lstm" else _gru_params
        return [case(make(rng, 4, 5), _carry(rng, cell, lead, 5), ck.normal(rng, (*lead, 4)),
                     label=label) for lead, label in [((3,), "batch of 3"), ((), "unbatched")]]

    return cases


# ---- the grader's own cells, for run_rnn (nnx's equations, written independently) --------


def _trusted_lstm(p, carry, x):
    import jax
    import jax.numpy as jnp

    c, h = carry
    z = [x @ p[i]["kernel"] + h @ p[j]["kernel"] + p[j]["bias"]
         for i, j in zip(_LSTM_IN, _LSTM_HID, strict=True)]
    c = jax.nn.sigmoid(z[1]) * c + jax.nn.sigmoid(z[0]) * jnp.tanh(z[2])
    h = jax.nn.sigmoid(z[3]) * jnp.tanh(c)
    return (c, h), h


def _trusted_gru(p, h, x):
    import jax
    import jax.numpy as jnp

    xr, xz, xn = jnp.split(x @ p["dense_i"]["kernel"] + p["dense_i"]["bias"], 3, axis=-1)
    hr, hz, hn = jnp.split(h @ p["dense_h"]["kernel"], 3, axis=-1)
    r, z = jax.nn.sigmoid(xr + hr), jax.nn.sigmoid(xz + hz)
    h = (1 - z) * jnp.tanh(xn + r * hn) + z * h
    return h, h


_CELLS = {"lstm": _trusted_lstm, "gru": _trusted_gru}


def _run(fns, i):
    return fns.run_rnn(_CELLS[i.static["cell"]], *i.args, **i.kwargs)


def _rnn(rng, cell, lengths=None, b=3, t=6, lead=(), cot=False, label=""):
    """``case(params, xs, carry0, seq_lengths=, static={"cell": cell})``; D = 4, H = 5."""
    params = (_lstm_params if cell == "lstm" else _gru_params)(rng, 4, 5)
    kw = {} if lengths is None else {
        "seq_lengths": np.broadcast_to(np.asarray(lengths, np.int32), (*lead, b)).copy()}
    out = (_carry(rng, cell, (b,), 5), ck.normal(rng, (b, t, 5))) if cot else None
    return case(params, ck.normal(rng, (*lead, b, t, 4)), _carry(rng, cell, (*lead, b), 5),
                static={"cell": cell}, label=label or f"{cell}, lengths {lengths}",
                extras={"cot": out} if cot else None, **kw)


def _both(lengths):
    return lambda rng: [_rnn(rng, c, lengths) for c in _CELLS]


def _padding(case, out):
    (carry, ys), n = out, case.kwargs["seq_lengths"]
    ys = np.asarray(ys)
    bad = (np.arange(ys.shape[1])[None, :] >= n[:, None]) & np.any(ys != 0, axis=-1)
    if bad.any():
        b, t = np.argwhere(bad)[0]
        return f"ys[{b}, {t}] is not exactly 0 although seq_lengths[{b}] = {n[b]}"
    leaves = [c if isinstance(c, (tuple, list)) else [c] for c in (carry, case.args[2])]
    for got, want in zip(*leaves, strict=False):  # a wrong structure fails matches_nnx_rnn
        msg = ck.exact_equal("carry", np.asarray(got)[n == 0], want[n == 0])
        if msg:
            return f"an example of length 0 must return its carry0 unchanged: {msg}"
    return None


def _scan_census(fns, i):
    """Scans and equations in the jaxpr of run_rnn at T = 8 and at T = 64."""
    import jax
    import jax.numpy as jnp

    def census(jaxpr):
        scans, eqns = 0, 0
        for e in jaxpr.eqns:
            scans, eqns = scans + (e.primitive.name == "scan"), eqns + 1
            for v in e.params.values():
                for sub in v if isinstance(v, (tuple, list)) else [v]:
                    sub = getattr(sub, "jaxpr", sub)
                    if hasattr(sub, "eqns"):
                        s, n = census(sub)
                        scans, eqns = scans + s, eqns + n
        return scans, eqns

    params, xs, carry0 = i.args
    out = {"scans": [], "eqns": []}
    for reps in (1, 8):
        closed = jax.make_jaxpr(lambda p, x, c: _run(fns, i.replace(args=(p, x, c))))(
            params, jnp.tile(xs, (1, reps, 1)), carry0)
        s, n = census(closed.jaxpr)
        out["scans"].append(s)
        out["eqns"].append(n)
    return out


def _one_scan(case, out):
    if list(out["scans"]) != [1, 1]:
        return (f"the jaxpr of run_rnn holds {out['scans'][0]} scans at T = 8 and "
                f"{out['scans'][1]} at T = 64; expected exactly one lax.scan over time")
    if out["eqns"][0] != out["eqns"][1]:
        return (f"the jaxpr grows with T ({out['eqns'][0]} equations at T = 8, "
                f"{out['eqns'][1]} at T = 64): something loops over time in Python")
    return None


def _reach(fns, i):
    """||d h_T / d x_1|| over T = 100 steps of the learner's lstm_cell, forget bias 0 and 5."""
    import jax
    import jax.numpy as jnp

    params, xs = i.args
    h = params["hf"]["kernel"].shape[0]
    out = {}
    for bias in (0.0, 5.0):
        p = params | {"hf": {"kernel": params["hf"]["kernel"], "bias": jnp.full(h, bias)}}

        def last_h(x0, p=p):
            seq = xs.at[0].set(x0)
            step = lambda carry, x: fns.lstm_cell(p, carry, x)  # noqa: E731
            return jax.lax.scan(step, (jnp.zeros(h), jnp.zeros(h)), seq)[0][1]

        out[f"bias_{bias:g}"] = jnp.linalg.norm(jax.jacfwd(last_h)(xs[0]))
    return out


def _reach_bounds(case, out):
    closed, opened = float(out["bias_0"]), float(out["bias_5"])
    if not closed < 1e-6:
        return f"with forget bias 0, ||d h_100 / d x_1|| = {closed:.3g}; expected < 1e-6"
    if not opened > 1e-2:
        return (f"with forget bias 5, ||d h_100 / d x_1|| = {opened:.3g}; expected > 1e-2: the "
                "cell state must carry the gradient (c' = f * c + i * g, no stop_gradient)")
    return None


def _reach_case(rng):
    q = np.linalg.qr(rng.standard_normal((4, 32, 32)))[0].astype(np.float32)
    p = _lstm_params(rng, 8, 32, bias=0.0)  # flax's init: LeCun normal, orthogonal, zero bias
    for k, w in zip(_LSTM_HID, q, strict=True):
        p[k]["kernel"] = w
    return [case(p, ck.normal(rng, (100, 8)), label="T = 100, D = 8, H = 32")]


def _gru_init(key):
    import jax

    k1, k2, k3 = jax.random.split(key, 3)
    normal = lambda k, n, m: jax.random.normal(k, (n, m)) / n ** 0.5  # noqa: E731
    return {"gru": {"dense_i": {"kernel": normal(k1, 8, 3 * _H), "bias": jax.numpy.zeros(3 * _H)},
                    "dense_h": {"kernel": normal(k2, _H, 3 * _H)}},
            "head": {"kernel": normal(k3, _H, 10), "bias": jax.numpy.zeros(10)}}


def _train(fns, i):
    import jax.numpy as jnp

    def apply(p, x):  # x: (B, 8, 8, 1) images read as 8 rows of 8 pixels
        xs = x[..., 0]
        h, _ = fns.run_rnn(fns.gru_cell, p["gru"], xs, jnp.zeros((xs.shape[0], _H)))
        return h @ p["head"]["kernel"] + p["head"]["bias"]

    e = i.extras
    params = recipes.train_classifier(i.args[0], _gru_init, apply, (e["x_train"], e["y_train"]))
    return {"test_accuracy": recipes.accuracy(apply, params, e["x_test"], e["y_test"])}


CHECKS = (
    ck.equivalence(LSTM, _cell_cases("lstm"), id="matches_nnx", tol_scale=5,
                   title="matches nnx.LSTMCell", description="((c', h'), h') equals "
                   "nnx.LSTMCell with the same weights, batched and unbatched, nonzero carry",
                   hint="carry = (c, h), cell first; c' = f * c + i * g, h' = o * tanh(c'); "
                   "biases live on the hidden kernels hi, hf, hg, ho"),
    ck.invariant(LSTM, _reach_case, _reach_bounds, call=_reach,
                 id="forget_bias_reach", kind="gradient_flow", batched=False,
                 title="gradient reaches 100 steps back only with an open forget gate"),
    ck.forbidden(LSTM),
    ck.equivalence(GRU, _cell_cases("gru"), id="matches_nnx", tol_scale=5,
                   title="matches nnx.GRUCell",
                   hint="split x W_i + b_i and h W_h (no bias) into r, z, n in that order; "
                   "n = tanh(x_n + r * h_n) (reset after the matmul); h' = (1 - z) n + z h"),
    ck.forbidden(GRU),
    ck.equivalence(RUN, _both(None), call=_run, id="matches_nnx_rnn", tol_scale=5,
                   title="matches nnx.RNN(return_carry=True)",
                   hint="lax.scan over the time axis: xs is (B, T, D), so swap axes 0 and 1 "
                   "going in and coming out"),
    ck.equivalence(RUN, _both((6, 1, 3)), call=_run, id="matches_nnx_rnn_lengths",
                   tol_scale=5,
                   title="matches nnx.RNN with seq_lengths (valid steps, final carry)",
                   hint="feed the step index into the scan; where t >= seq_lengths[b] keep "
                   "the old carry of example b (jnp.where on every leaf)"),
    ck.invariant(RUN, lambda rng: [_rnn(rng, c, (0, 6, 2)) for c in ("lstm", "gru")], _padding,
                 call=_run, id="padding_zero_and_length_zero",
                 title="padded outputs are exactly 0; length 0 returns carry0",
                 hint="ys[b, t] = 0 for t >= seq_lengths[b]; the carry never moves past the "
                 "end, so a length of 0 leaves carry0 as it is"),
    ck.jit(RUN, lambda rng: [_rnn(rng, "lstm", (6, 2, 4))], call=_run,
           title="works under jit, cell_fn static"),
    ck.vmap(RUN, lambda rng: [_rnn(rng, "lstm", (6, 2, 4), lead=(2,))], call=_run,
            in_axes=(None, 0, 0), kw_axes={"seq_lengths": 0},
            title="vmap over an extra leading axis"),
    ck.grad(RUN, lambda rng: [_rnn(rng, "gru", (6, 2, 4), cot=True)], call=_run,
            title="gradient w.r.t. the cell's params", id="gradient_matches_reference"),
    ck.invariant(RUN, lambda rng: [_rnn(rng, "gru", (8, 3, 5), t=8)], _one_scan,
                 call=_scan_census, id="one_scan", batched=False,
                 title="one lax.scan, same program for T = 8 and T = 64",
                 hint="no Python loop over time: one lax.scan with the step function"),
    ck.training(RUN, lambda rng: [case(ck.Key(0), label="scikit-learn digits, 8 rows of 8",
                                       extras=dict(zip(("x_train", "y_train", "x_test", "y_test"),
                                                       recipes.digits_images(), strict=True)))],
                _train, metric="test_accuracy", threshold=0.93, uses=(GRU,),
                id="train_gru_digits", title="TRAIN a GRU reaches 93% on digits rows",
                description=f"a GRU (H = {_H}, zero h0, last state -> dense 10) on your gru_cell "
                "and run_rnn; Adam(3e-3), 600 steps of 64 (grader/recipes.py); 450 test images",
                hint="if the equivalence checks pass, look at dtypes and at the carry you "
                "return: it must be the state after the last valid step"),
    ck.forbidden(RUN),
)

EXERCISE = Exercise(
    id="q12",
    title="LSTM and GRU",
    files={"recurrent.py": FileSpec(
        tasks=tuple(f"dlcore.nn.recurrent:{t}" for t in (LSTM, GRU, RUN)),
        summary="LSTM and GRU cells in flax.nnx's layout, run over time with one lax.scan")},
    checks=CHECKS,
    forbidden={t: ("flax", "optax") for t in (LSTM, GRU, RUN)},
)
