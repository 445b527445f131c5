"""q18 Vanishing and exploding gradients: norms, clipping equal to optax, Glorot/He
initializers equal to jax.nn.initializers, a residual MLP, non-finite detection, and what
initialization and skips do to the gradient of a 30-layer net."""

from __future__ import annotations

import numpy as np

from grader import checks as ck
from grader.spec import Exercise, FileSpec, case
from grader.wire import leaves

_DEPTH, _WIDTH, _BATCH = 30, 128, 64
_TRUNC = 0.87962566103423978
_GN = ("global_norm",)  # dlcore's layer_grad_norms and clip_by_global_norm call global_norm


def _tree(rng, scale=1.0):
    return {"a": ck.normal(rng, (3, 4), scale), "b": [ck.normal(rng, (5,), scale),
                                                      {"c": ck.normal(rng, (), scale)}]}


def _flat(tree):
    return np.concatenate([np.ravel(np.asarray(x, np.float64)) for _, x in leaves(tree)])


def _clip_cases(rng):
    trees = [_tree(rng) for _ in range(3)]
    return [case(t, np.float32(f * np.linalg.norm(_flat(t))), label=f"max_norm = {f:g} x norm")
            for t, f in zip(trees, (0.5, 1.0, 2.0), strict=True)]


def _clip_jitted(fns, i):  # max_norm is a traced argument
    import jax

    return jax.jit(fns.clip_by_global_norm)(*i.args)


def _direction_and_norm(case, out):
    g, y = _flat(case.args[0]), _flat(out)
    if y.shape != g.shape or not np.isfinite(y).all():
        return f"expected {g.size} finite values in the input's structure"
    cos = float(y @ g / (np.linalg.norm(y) * np.linalg.norm(g)))
    if abs(cos - 1) > 1e-6:
        return f"the clipped gradient points elsewhere (cosine {cos:.7f} with the input, not 1)"
    want, got = min(np.linalg.norm(g), float(case.args[1])), float(np.linalg.norm(y))
    if abs(got - want) > 1e-5 * want:
        return (f"the norm after clipping is {got:.6g}; expected min(norm, max_norm) = "
                f"{want:.6g}")
    return None


def _init_cases(rng):
    return [case(ck.Key(seed), static={"shape": s})
            for seed, s in enumerate([(64, 32), (3, 3, 16, 32), (128, 128)])]


def _stat_he(case, w):
    w = np.asarray(w, np.float64)
    fan_in = w.shape[-2]
    v, bound = float(w.var() * fan_in), 2 * np.sqrt(2 / fan_in) / _TRUNC
    if abs(v - 2) > 0.05:
        return f"var(w) * fan_in = {v:.4f}; expected 2 +- 0.05 (He: variance 2 / fan_in)"
    if np.abs(w).max() > bound * (1 + 1e-6):
        return f"max |w| = {np.abs(w).max():.4g} exceeds 2 std = {bound:.4g}: not truncated at 2"
    return None


def _stat_xavier(case, w):
    w = np.asarray(w, np.float64)
    a = np.sqrt(6 / (w.shape[-2] + w.shape[-1]))
    if np.abs(w).max() > a * (1 + 1e-6):
        return f"max |w| = {np.abs(w).max():.4g} exceeds the Glorot limit a = {a:.4g}"
    r = float(w.var() / (a * a / 3))
    if abs(r - 1) > 0.03:
        return f"var(w) = {r:.4f} x a^2/3; expected 1 +- 0.03 (uniform on [-a, a])"
    return None


def _activation(name):
    def act(x):
        import jax

        return {"sigmoid": jax.nn.sigmoid, "relu": jax.nn.relu, "tanh": jax.numpy.tanh}[name](x)

    return act


_ACTS = {name: _activation(name) for name in ("sigmoid", "relu", "tanh")}  # made once: static


def _plain(params, h, act):
    for layer in params:
        h = act(h @ layer["w"] + layer["b"])
    return h


def _depth(init):
    """30 layers of 128, batch 64, loss mean(out^2): ||grad layer 1|| / ||grad layer 30||."""

    def call(fns, i):
        import jax
        import jax.numpy as jnp

        act, residual = _ACTS[i.static["_act"]], i.static["_net"] == "residual"
        keys = jax.random.split(i.args[0], _DEPTH + 1)
        x = jax.random.normal(keys[-1], (_BATCH, _WIDTH))
        params = [{"w": getattr(fns, init)(k, (_WIDTH, _WIDTH)), "b": jnp.zeros(_WIDTH)}
                  for k in keys[:-1]]

        def loss(p):
            return jnp.mean((fns.residual_mlp(p, x, activation=act) if residual else
                             _plain(p, x, act)) ** 2)

        norms = [jnp.sqrt(sum(jnp.sum(g ** 2) for g in layer.values()))
                 for layer in jax.grad(loss)(params)]
        return norms[0] / norms[-1]

    return call


def _ratio_in(low, high, what):
    def prop(case, out):
        r = float(np.asarray(out))
        if np.isfinite(r) and low <= r <= high:
            return None
        return (f"||grad layer 1|| / ||grad layer {_DEPTH}|| = {r:.3g}; {what} expects it in "
                f"[{low:g}, {high:g}]")

    return prop


def _depth_check(task, init, act, net, low, high, id, title, measured, hint):
    return ck.invariant(
        task, lambda rng: [case(ck.Key(0), static={"_act": act, "_net": net},
                                label=f"{_DEPTH} {net} {act} layers of {_WIDTH}")],
        _ratio_in(low, high, title), call=_depth(init), id=id, title=title,
        uses=("init_xavier",) if init == "init_xavier" and task != "init_xavier" else (),
        description=f"{title}: {_DEPTH} layers x {_WIDTH}, batch {_BATCH} of N(0, 1), loss "
        f"mean(out^2), zero biases, weights from your {init}; measured on dlcore: {measured}",
        hint=hint)


def _explode(fns, i):
    """100 ReLU layers of 128 with 2 x He (overflows) and with He weights: is it non-finite?"""
    import jax
    import jax.numpy as jnp

    keys = jax.random.split(i.args[0], 101)
    x = jax.random.normal(keys[-1], (_BATCH, _WIDTH))
    he = jax.nn.initializers.he_normal()
    detect = jax.jit(fns.detect_nonfinite)
    out = {}
    for name, scale in (("2 x He", 2.0), ("He", 1.0)):
        params = [{"w": scale * he(k, (_WIDTH, _WIDTH)), "b": jnp.zeros(_WIDTH)} for k in keys[:-1]]
        grads = jax.grad(lambda p: jnp.mean(_plain(p, x, jax.nn.relu) ** 2))(params)
        out[name] = detect(grads)
    return out


def _flag_cases(rng):
    def w(bad):
        return np.array([1.0, bad], np.float32)

    n = np.arange(3, dtype=np.int32)
    flagged = lambda tree, label, bad: case(tree, label=label, static={"_bad": bad})  # noqa: E731
    return [flagged({"w": w(np.nan), "n": n}, "a NaN", True),
            flagged({"w": w(np.inf), "n": n}, "+Inf", True),
            flagged([w(-np.inf)], "-Inf", True),
            flagged({"step": n, "w": np.ones((2, 3), np.float32)}, "finite, an int leaf", False),
            flagged({"count": np.array(7, np.int32)}, "integer leaves only", False)]


def _res_case(rng, act=None, n=4, cot=False):
    params = [{"w": ck.normal(rng, (6, 6), 0.4), "b": ck.normal(rng, (6,), 0.1)} for _ in range(3)]
    return case(params, ck.normal(rng, (n, 6)), static={"_act": act} if act else None,
                extras={"cot": ck.normal(rng, (n, 6))} if cot else None)


def _res_call(fns, i):
    act = i.static.get("_act")
    if act is None:
        return fns.residual_mlp(*i.args)
    return fns.residual_mlp(*i.args, activation=_ACTS[act])


def _inits(task, reference, stat, stat_id, stat_title, stat_shape, hint):
    return [
        ck.equivalence(task, _init_cases, id="matches_jax", rtol=1e-6, atol=1e-7,
                       title=f"matches jax.nn.initializers.{reference}() (rtol 1e-6)",
                       description=f"for the same key, {task} equals jax.nn.initializers."
                       f"{reference}() on shapes (64, 32), (3, 3, 16, 32) and (128, 128)",
                       hint=hint),
        ck.invariant(task, lambda rng: [case(ck.Key(9), static={"shape": stat_shape})], stat,
                     id=stat_id, title=stat_title),
        ck.prng(task, lambda rng: [case(ck.Key(4), static={"shape": (8, 8)},
                                        extras={"other_key": ck.Key(5)})]),
        ck.jit(task, lambda rng: [case(ck.Key(6), static={"shape": (8, 8)})],
               title="works under jit with a static shape"),
    ]


_TREES = lambda rng: [case(_tree(rng)), case(_tree(rng, 3.0)), case([_tree(rng)])]  # noqa: E731
_LAYERS = lambda rng: [case([_tree(rng), {"w": np.array([3.0, 4.0], np.float32)}, _tree(rng)]),  # noqa: E731
                       case([{"w": ck.normal(rng, (4, 4)), "b": ck.normal(rng, (4,))}])]

CHECKS = (
    ck.equivalence("layer_grad_norms", _LAYERS, id="matches_formula", rtol=1e-6, atol=1e-7,
                   uses=_GN,
                   title="entry l = sqrt(sum of g^2 over layer l), float32 (L,)",
                   hint="one norm per layer over all its leaves: sqrt of the sum of squares; "
                   "never the sum of per-leaf norms, never the square"),
    ck.jit("layer_grad_norms", lambda rng: _LAYERS(rng)[:1], uses=_GN),
    ck.forbidden("layer_grad_norms"),
    ck.equivalence("global_norm", _TREES, id="matches_optax", rtol=1e-6, atol=1e-7,
                   title="matches optax.tree.norm",
                   hint="sqrt(sum over every leaf of jnp.sum(g ** 2)): one square root at the end"),
    ck.forbidden("global_norm"),
    ck.equivalence("clip_by_global_norm", _clip_cases, call=_clip_jitted, id="matches_optax",
                   uses=_GN,
                   rtol=1e-6, atol=1e-7, title="matches optax.clip_by_global_norm, max_norm traced",
                   description="max_norm at 0.5, 1 and 2 times the norm, passed as a traced "
                   "float32 under jax.jit: equals optax.clip_by_global_norm(max_norm)",
                   hint="one factor for all leaves from the global norm: jnp.where(norm < "
                   "max_norm, g, g / norm * max_norm); no Python if on the norm"),
    ck.invariant("clip_by_global_norm", _clip_cases, _direction_and_norm, call=_clip_jitted,
                 uses=_GN,
                 id="direction_and_norm", title="keeps the direction; norm becomes "
                 "min(norm, max_norm)", hint="clipping only ever scales down"),
    ck.oracle("clip_by_global_norm", lambda rng: [case(
        {"a": np.zeros((3, 4), np.float32), "b": [np.zeros(5, np.float32)]}, np.float32(1.0),
        label="all-zero gradients")], lambda c: c.args[0], call=_clip_jitted, uses=_GN,
        id="zero_gradients", exact=True, title="zero gradients stay zero (no 0/0 NaN)",
        hint="select with jnp.where(norm < max_norm, ...) so the 0/0 branch is never used"),
    ck.forbidden("clip_by_global_norm"),
    *_inits("init_xavier", "glorot_uniform", _stat_xavier, "bound_and_variance",
            "within +-a with variance a^2/3 (256 x 256)", (256, 256),
            "jax.random.uniform(key, shape, jnp.float32, -1.0, 1.0) * sqrt(6 / (fan_in + "
            "fan_out)), fans from shape[-2] and shape[-1] times prod(shape[:-2])"),
    _depth_check("init_xavier", "init_xavier", "sigmoid", "plain", 0.0, 1e-6,
                 "sigmoid_depth_vanishes", "a plain sigmoid net vanishes (ratio < 1e-6)", "0.0",
                 "sigmoid' <= 1/4 and Glorot keeps the weights' gain near 1: the product "
                 "underflows"),
    _depth_check("init_xavier", "init_xavier", "relu", "plain", 0.0, 1e-2,
                 "relu_depth_shrinks", "a plain ReLU net with Xavier shrinks (ratio < 1e-2)",
                 "3.9e-4", "Glorot's variance 2 / (fan_in + fan_out) is half of what ReLU "
                 "needs"),
    ck.forbidden("init_xavier"),
    *_inits("init_he", "he_normal", _stat_he, "variance", "var * fan_in = 2, truncated at 2 "
            "std (512 x 512)", (512, 512), "jax.random.truncated_normal(key, -2.0, 2.0, shape, "
            "jnp.float32) * sqrt(2 / fan_in) / 0.87962566103423978"),
    _depth_check("init_he", "init_he", "relu", "plain", 1e-2, 1e2, "relu_depth_stable",
                 "a plain ReLU net with He is stable (ratio in [1e-2, 1e2])", "0.52",
                 "variance 2 / fan_in: ReLU zeroes half of its inputs"),
    ck.forbidden("init_he"),
    ck.equivalence("residual_mlp", lambda rng: [_res_case(rng), _res_case(rng, "relu"),
                                                _res_case(rng, "sigmoid", n=1)],
                   call=_res_call, id="matches_formula", title="h = h + activation(h @ w + b)",
                   hint="the skip is added after the activation: h + act(h @ w + b), never "
                   "act(h + h @ w + b); start from h = x"),
    ck.jit("residual_mlp", lambda rng: [_res_case(rng, "relu")], call=_res_call,
           title="works under jit (activation static)"),
    ck.vmap("residual_mlp", lambda rng: [_res_case(rng, n=5)], call=_res_call,
            in_axes=(None, 0), title="vmap over the rows of x"),
    ck.grad("residual_mlp", lambda rng: [_res_case(rng, cot=True)], call=_res_call,
            wrt=(0, 1), title="gradients in params and x match"),
    _depth_check("residual_mlp", "init_xavier", "sigmoid", "residual", 1e-3, np.inf,
                 "sigmoid_depth_survives", "residual sigmoid survives depth (ratio > 1e-3)",
                 "0.040", "the identity path h + ... carries the gradient past every "
                 "saturated sigmoid"),
    _depth_check("residual_mlp", "init_xavier", "tanh", "residual", 1e-2, 1e2,
                 "tanh_depth_stable", "residual tanh is stable (ratio in [1e-2, 1e2])", "4.7",
                 "each block adds to its own input h (not to x): h = h + act(h @ w + b)"),
    ck.oracle("detect_nonfinite", _flag_cases,
              lambda c: np.array(c.static["_bad"]),
              id="nan_inf_int", title="NaN, +Inf and -Inf detected; integer leaves ignored",
              hint="jnp.any(~jnp.isfinite(leaf)) over the floating leaves only (a Python if on "
              "the dtype); return a jax bool array, never a Python bool"),
    ck.oracle("detect_nonfinite", lambda rng: [case(ck.Key(1), label="100 ReLU layers of 128")],
              lambda c: {"2 x He": np.array(True), "He": np.array(False)}, call=_explode,
              id="exploding_net", batched=False,
              title="jitted: True for a 100-layer ReLU net with 2 x He weights, False with He",
              hint="it must work under jax.jit: jnp operations only, no bool() or float()"),
    ck.forbidden("detect_nonfinite"),
)

_NORMS = ("optax.global_norm", "optax.tree", "optax.tree_utils", "optax.clip*", "flax", "chex")
_INIT = ("jax.nn.initializers", "flax")

EXERCISE = Exercise(
    id="q18",
    title="Vanishing and exploding gradients",
    files={"gradients.py": FileSpec(
        tasks=("dlcore.nn.gradients:layer_grad_norms", "dlcore.nn.gradients:global_norm",
               "dlcore.nn.gradients:clip_by_global_norm", "dlcore.nn.init:init_xavier",
               "dlcore.nn.init:init_he", "dlcore.models.residual:residual_mlp",
               "dlcore.nn.gradients:detect_nonfinite"),
        summary="gradient norms and clipping, Glorot/He initialization, a residual MLP and "
        "non-finite detection")},
    checks=CHECKS,
    forbidden={"layer_grad_norms": _NORMS, "global_norm": _NORMS, "clip_by_global_norm": _NORMS,
               "init_xavier": _INIT, "init_he": _INIT,
               "detect_nonfinite": ("chex", "optax.apply_if_finite", "flax")},
)
