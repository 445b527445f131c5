"""q17 Hyperparameter tuning: grid and random search, a vmapped learning-rate sweep, a GP
posterior with expected improvement, Bayesian optimization and an evolution strategy."""

from __future__ import annotations

import math

import numpy as np

from grader import checks as ck
from grader import props
from grader.judge import compare_trees
from grader.spec import Exercise, FileSpec, case

_FORRESTER_MIN = -6.02074
GRIDS = {"three_keys": {"lr": [1, 2], "b": ["x", "y", "z"], "a": [0.5]}}
SPACE = {"lr": ("log_uniform", 1e-5, 1e-1), "dropout": ("uniform", 0.0, 0.5),
         "layers": ("int", 1, 4), "act": ("choice", ["relu", "gelu", "tanh"])}


def _random_objective(p):
    return abs(math.log10(p["lr"]) + 3) + p["dropout"] + p["layers"] + (p["act"] != "gelu")


OBJECTIVES = {  # named by a static; all take a params dict (search) or an array (BO, ES)
    "lr_sum": lambda p: float(p["lr"]) + (p["b"] == "y"),
    "tie_at_lr2": lambda p: 0.0 if p["lr"] == 2 else 1.0,
    "random": _random_objective,
    "constant": lambda p: 1.0,
    "forrester": lambda x: float((6 * x[0] - 2) ** 2 * np.sin(12 * x[0] - 4)),
    "bowl": lambda x: float(np.sum((np.asarray(x, np.float64) - [2.7, -0.4]) ** 2)),
    "sphere": lambda x: (x ** 2).sum(),
}


def _grid(fns, i):
    seen, f = [], OBJECTIVES[i.static["objective"]]
    best = fns.grid_search(lambda p: seen.append(p) or f(dict(p)), GRIDS[i.static["grid"]])
    return seen, best


def _grid_case(objective):
    return lambda rng: [case(static={"grid": "three_keys", "objective": objective})]


def _parameter_grid(c):
    from sklearn.model_selection import ParameterGrid

    return [dict(p) for p in ParameterGrid(GRIDS[c.static["grid"]])]


def _copy_probe(fns, i):
    seen, best = _grid(fns, i)
    best[0]["extra"] = 1
    return {"distinct": all(best[0] is not p for p in seen),
            "untouched": all("extra" not in p for p in seen)}


def _is_copy(case, out):
    if not out["distinct"] or not out["untouched"]:
        return "the returned dict is one the objective received: return dict(best) (a copy)"
    return None


def _random(fns, i):
    seen, f = [], OBJECTIVES[i.static["objective"]]
    best = fns.random_search(i.args[0], lambda p: seen.append(dict(p)) or f(dict(p)), SPACE,
                             i.static["num_trials"])
    return {"trials": {n: [p.get(n) for p in seen] for n in SPACE}, "best": best}


def _values_in_bounds(case, out):
    t, n = out["trials"], case.static["num_trials"]
    if len(t["lr"]) != n:
        return f"the objective was called {len(t['lr'])} times, expected {n}"
    kinds = {"lr": float, "dropout": float, "layers": int, "act": str}
    for name, kind in kinds.items():
        bad = [v for v in t[name] if type(v) is not kind]
        if bad:
            return f"{name}: expected Python {kind.__name__} values, got {type(bad[0]).__name__}"
    if not all(1e-5 <= v < 1e-1 for v in t["lr"]) or not all(0 <= v < 0.5 for v in t["dropout"]):
        return "lr outside [1e-5, 1e-1) or dropout outside [0, 0.5)"
    if set(t["layers"]) != {1, 2, 3, 4} or set(t["act"]) != {"relu", "gelu", "tanh"}:
        return (f"in {n} trials the ints seen are {sorted(set(t['layers']))} (expected 1..4, "
                f"inclusive) and the choices {sorted(set(t['act']))}")
    values = [_random_objective({k: t[k][j] for k in t}) for j in range(n)]
    first = int(np.argmin(values))
    want = ({k: t[k][first] for k in t}, values[first])
    msg = compare_trees(list(out["best"]), list(want), exact=True)
    return f"not the first trial with the lowest value: {msg}" if msg else None


def _log_uniform(case, out):
    from scipy import stats

    p = stats.kstest(out["trials"]["lr"], stats.loguniform(1e-5, 1e-1).cdf).pvalue
    return None if p > 1e-6 else f"lr is not log-uniform on [1e-5, 1e-1) (KS p = {p:.2g})"


def _keys_probe(fns, i):
    runs = [_random(fns, i.replace(args=(k,))) for k in (i.args[0], i.args[0], i.extras["k2"])]
    return {"runs": [r["trials"] for r in runs], "best": runs[0]["best"]}


def _key_discipline(case, out):
    a, again, other = out["runs"]
    if compare_trees(again, a, exact=True):
        return "the same key gave different trials"
    if compare_trees(other, a, exact=True) is None:
        return "another key gave the same trials"
    if len(set(a["lr"])) != len(a["lr"]):
        return f"the trials repeat values ({a['lr']}): use fresh random values for each trial"
    if list(out["best"]) != [{k: a[k][0] for k in a}, 1.0]:
        return "with a constant objective the first trial must win (a strict <)"
    return None


def _digits(rng):
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    return [case((x[:500] / 16.0).astype(np.float32), y[:500].astype(np.int32),
                 static={"lrs": (1e-3, 1e-2, 3e-2, 1e-1)}, label="500 digits")]


def _make_train_fn(x, y, traces):
    import jax
    import jax.numpy as jnp
    import optax

    def train_fn(lr):
        traces.append(1)
        tx = optax.inject_hyperparams(optax.adam)(learning_rate=lr)
        params = {"w": jnp.zeros((64, 10)), "b": jnp.zeros(10)}

        def loss(p):
            logp = jax.nn.log_softmax(x @ p["w"] + p["b"][None, :])
            return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))

        def step(carry, _):
            p, s = carry
            u, s = tx.update(jax.grad(loss)(p), s, p)
            return (optax.apply_updates(p, u), s), None

        (params, _), _ = jax.lax.scan(step, (params, tx.init(params)), None, length=30)
        return loss(params)

    return train_fn


def _sweep(fns, i, sequential=True):
    import jax
    import jax.numpy as jnp

    traces = []
    lrs = jnp.asarray(i.static["lrs"], jnp.float32)
    swept = fns.vmapped_lr_sweep(_make_train_fn(*i.args, traces), lrs)
    if not sequential:
        return len(traces)
    seq = jnp.stack([jax.jit(_make_train_fn(*i.args, []))(lr) for lr in lrs])
    return {"swept": swept, "sequential": seq}


def _gp_cases(rng):
    out = []
    for d in (1, 2):
        for noise in (1e-6, 1e-2):
            for ls in (0.1, 0.3):
                xs = [rng.uniform(0, 1, (12, d)), rng.uniform(-0.2, 1.2, (40, d))]
                xs = [x[:, 0] if d == 1 else x for x in xs]
                out.append(case(xs[0].astype(np.float32), ck.normal(rng, (12,)),
                                xs[1].astype(np.float32),
                                static={"length_scale": ls, "noise": noise}))
    return out


def _gp_x64(fns, i):
    import jax
    import jax.numpy as jnp

    with jax.enable_x64(True):
        return fns.gp_posterior(*[jnp.asarray(a, jnp.float64) for a in i.args], **i.static)


def _sklearn_gp(c):
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import RBF

    xa, y, xb = (np.asarray(a, np.float64) for a in c.args)
    gp = GaussianProcessRegressor(RBF(c.static["length_scale"], "fixed"),
                                  alpha=c.static["noise"], optimizer=None)
    mean, std = gp.fit(xa.reshape(len(xa), -1), y).predict(xb.reshape(len(xb), -1),
                                                           return_std=True)
    return mean, std


def _far(case, out):
    mean, std = (np.asarray(v, np.float64) for v in out)
    if not (np.isfinite(mean).all() and np.isfinite(std).all()):
        return "non-finite outputs with a duplicated training input"
    if abs(mean[-1]) > 1e-6 or abs(std[-1] - 1) > 1e-6:
        return f"at x = 50 expected mean 0 and std 1 (the prior), got {mean[-1]:.3g}, {std[-1]:.3g}"
    return None


def _gp_fd(fns, i):
    import jax
    import jax.numpy as jnp

    with jax.enable_x64(True):
        xa, y, xb = (jnp.asarray(a, jnp.float64) for a in i.args)
        f = lambda t: sum(jnp.sum(v) for v in fns.gp_posterior(xa, y, t, **i.static))  # noqa
        h, idx = 1e-6, [tuple(j) for j in np.ndindex(*xb.shape)]
        fd = jnp.stack([(f(xb.at[j].add(h)) - f(xb.at[j].add(-h))) / (2 * h) for j in idx])
        return {"fd": fd.reshape(xb.shape), "grad": jax.grad(f)(xb)}


def _f32(*xs):
    return [np.asarray(x, np.float32) for x in xs]


def _ei_mc(c):
    f = np.random.default_rng(0).normal(0.3, 0.2, 2_000_000)
    return np.asarray(np.maximum(0.1 - c.static["xi"] - f, 0).mean(), np.float32)


def _ei_sweeps(rng):
    return [case(*_f32(np.linspace(-1, 1, 21), 0.3, 0.0), static={"_up": False},
                 label="21 means, std 0.3, best 0"),
            case(*_f32(0.5, np.linspace(0.05, 2, 21), 0.0), static={"_up": True},
                 label="mean 0.5, 21 stds, best 0")]


def _monotone(case, out):
    ei = np.asarray(out, np.float64)
    if ei.shape != (21,) or (ei < 0).any():
        return f"expected 21 values >= 0, got {np.round(ei, 4).tolist()}"
    step = np.diff(ei) if case.static["_up"] else -np.diff(ei)
    if not (step > 0).all():
        return (f"EI must {'grow with std' if case.static['_up'] else 'fall as mean rises'}: "
                f"{np.round(ei, 5).tolist()}")
    return None


def _ei_zero(fns, i):
    import jax

    f = lambda m, s: fns.expected_improvement(m, s, i.args[2]).sum()  # noqa: E731
    dm, ds = jax.grad(f, argnums=(0, 1))(*i.args[:2])
    return {"ei": fns.expected_improvement(*i.args), "d_mean": dm, "d_std": ds}


def _zero_std_value(case, out):
    msg = compare_trees(out["ei"], np.array([0.7, 0.2, 0.0], np.float32), rtol=1e-6)
    return f"at std = 0 EI is max(best - mean - xi, 0): {msg}" if msg else None


def _bo(fns, i):
    import jax.numpy as jnp

    f, runs = OBJECTIVES[i.static["objective"]], []
    for seed in i.static["seeds"]:
        seen = []
        def objective(z, seen=seen):
            seen.append((np.asarray(z).tolist(), f(z)))
            return seen[-1][1]

        x, y = fns.bayes_opt(_key(seed), objective, jnp.asarray(i.args[0]),
                             i.static["num_iters"])
        runs.append({"seen": seen, "best_x": np.asarray(x).tolist(), "best_y": float(y)})
    return runs


def _key(seed):
    import jax

    return jax.random.key(seed)


def _bo_common(case, runs):
    bounds, calls = case.args[0], 4 + case.static["num_iters"]
    for seed, r in zip(case.static["seeds"], runs, strict=True):
        pts = np.asarray([p for p, _ in r["seen"]], np.float64).reshape(len(r["seen"]), -1)
        values = [v for _, v in r["seen"]]
        if len(pts) != calls:
            return f"key {seed}: {len(pts)} objective calls, expected {calls}"
        if ((pts < bounds[:, 0]) | (pts > bounds[:, 1])).any():
            return f"key {seed}: a call outside the bounds {bounds.tolist()}: {pts.tolist()}"
        best = int(np.argmin(values))
        if r["best_y"] != values[best] or np.abs(pts[best] - r["best_x"]).max() > 1e-6:
            return (f"key {seed}: returned ({r['best_x']}, {r['best_y']}), not the best point "
                    f"evaluated ({pts[best].tolist()}, {values[best]})")
    return None


def _forrester(case, runs):
    msg = _bo_common(case, runs)
    if msg:
        return msg
    gaps = np.array([r["best_y"] - _FORRESTER_MIN for r in runs])
    rng = np.random.default_rng(0)  # random search with the same budget, 20 uniform points
    random_gaps = [min(OBJECTIVES["forrester"](rng.random(1)) for _ in range(20)) - _FORRESTER_MIN
                   for _ in runs]
    if (gaps < 1e-4).sum() < 9:
        return (f"the gap to the minimum is below 1e-4 for {(gaps < 1e-4).sum()} of 10 keys "
                f"(needs 9): gaps {np.round(gaps, 5).tolist()}")
    if np.median(gaps) >= np.median(random_gaps):
        return "the median gap does not beat random search with 20 evaluations"
    return None


def _es(fns, i):
    import jax
    import jax.numpy as jnp

    f = OBJECTIVES[i.static["objective"]]
    run = lambda k: fns.evolution_strategy(k, f, jnp.ones(10), **i.kwargs)  # noqa: E731
    return jax.jit(jax.vmap(run))(jax.random.split(_key(0), 3))


def _es_consistent(fns, i):
    import jax.numpy as jnp

    f, x0 = OBJECTIVES["sphere"], jnp.ones(10)
    bx, bv = fns.evolution_strategy(i.args[0], f, x0, sigma=i.static["sigma"],
                                    num_generations=i.static["num_generations"])
    return {"best_value": bv, "f_best_x": f(bx), "f_x0": f(x0)}


def _es_call(fns, i):
    return fns.evolution_strategy(i.args[0], OBJECTIVES["sphere"], i.args[1],
                                  num_generations=i.static["num_generations"])


CHECKS = (
    ck.oracle("grid_search", _grid_case("lr_sum"), _parameter_grid, batched=False,
              call=lambda fns, i: _grid(fns, i)[0], id="parameter_grid_order", exact=True,
              title="calls the objective once per point, in ParameterGrid order",
              hint="itertools.product over sorted(grid): the last key varies fastest"),
    ck.oracle("grid_search", _grid_case("tie_at_lr2"), lambda c: ({"a": 0.5, "b": "x", "lr": 2},
                                                                  0.0),
              call=lambda fns, i: tuple(_grid(fns, i)[1]), id="ties_first", batched=False,
              title="ties go to the first point; the value is a Python float",
              hint="update the best only on a strict <"),
    ck.invariant("grid_search", _grid_case("lr_sum"), _is_copy, call=_copy_probe,
                 id="returns_copy", batched=False, title="returns a copy of the best dict"),
    ck.forbidden("grid_search"),
    ck.invariant("random_search", lambda rng: [case(ck.Key(0), static={
        "objective": "random", "num_trials": 2000})], _values_in_bounds, call=_random,
        id="values_in_bounds", batched=False,
        title="2000 trials: bounds, Python types, every int and choice, the first best",
        hint="int bounds are inclusive; convert draws with .item() / int() / float()"),
    ck.invariant("random_search", lambda rng: [case(ck.Key(0), static={
        "objective": "random", "num_trials": 2000})], _log_uniform, call=_random,
        id="log_uniform_ks", batched=False, title="log_uniform passes a KS test",
        hint="exp(uniform(log lo, log hi)), not uniform(lo, hi)"),
    ck.invariant("random_search", lambda rng: [case(ck.Key(1), static={
        "objective": "constant", "num_trials": 5}, extras={"k2": ck.Key(2)})], _key_discipline,
        call=_keys_probe, id="key_discipline", batched=False,
        title="deterministic per key, fresh values per trial, the first of equals wins"),
    ck.invariant("vmapped_lr_sweep", _digits, props.equal_parts(
        "sequential", "swept", what="the sweep against one jitted run per lr", rtol=0.0,
        atol=1e-5), call=_sweep, id="matches_sequential", batched=False,
        title="equals sequential runs (digits, inject_hyperparams(adam), 4 lrs)"),
    ck.oracle("vmapped_lr_sweep", _digits, lambda c: 1, call=lambda fns, i: _sweep(fns, i, False),
        id="traced_once", batched=False, title="train_fn is traced once",
        hint="return jax.jit(jax.vmap(train_fn))(learning_rates): no loop over the rates"),
    ck.oracle("gp_posterior", _gp_cases, _sklearn_gp, call=_gp_x64, id="matches_sklearn",
              batched=False, atol=1e-8, rtol=1e-6,
              title="equals sklearn GaussianProcessRegressor in float64",
              hint="RBF exp(-|x - x'|^2 / (2 l^2)); noise on the train diagonal only; the std "
              "excludes the noise"),
    ck.invariant("gp_posterior", lambda rng: [case(
        np.array([0.1, 0.1, 0.5], np.float32), np.array([1.0, 1.2, -0.5], np.float32),
        np.array([0.1, 0.3, 50.0], np.float32), static={"length_scale": 0.2, "noise": 1e-2},
        label="duplicated train input, a test point at 50")], _far, id="far_and_duplicates",
        title="finite with duplicates; the prior far away"),
    ck.jit("gp_posterior", lambda rng: _gp_cases(rng)[7:8],
           title="works under jit, length_scale and noise static"),
    ck.invariant("gp_posterior", lambda rng: [case(*_gp_cases(rng)[6].args[:2], np.array(
        [[0.3, 0.3], [0.7, 0.7]], np.float32), static={"length_scale": 0.3, "noise": 1e-2})],
        props.equal_parts("fd", "grad", what="d(sum mean + sum std)/d x_test against central "
                          "differences", rtol=1e-6, atol=1e-9), call=_gp_fd, id="grad_x_test",
        batched=False, title="gradient in x_test equals finite differences (x64)"),
    ck.oracle("expected_improvement", lambda rng: [
        case(*_f32(0.3, 0.2, 0.1), static={"xi": xi})
        for xi in (0.0, 0.05)], _ei_mc, id="monte_carlo", atol=1.5e-4, rtol=0.0,
        title="equals a 2e6-sample Monte Carlo mean of max(best - xi - f, 0)",
        hint="minimization: d = best - mean - xi; EI = d Phi(d / std) + std phi(d / std)"),
    ck.invariant("expected_improvement", _ei_sweeps, _monotone, id="monotone",
                 title=">= 0, decreasing in mean, increasing in std"),
    ck.invariant("expected_improvement", lambda rng: [case(
        *_f32([-0.5, 0.0, 0.7], np.zeros(3), 0.2))],
        props.all_of(_zero_std_value, props.finite(of="d_mean"), props.finite(of="d_std")),
        call=_ei_zero, id="zero_std", kind="stability",
        title="at std = 0: max(d, 0) with finite gradients",
        hint="divide by jnp.where(std > 0, std, 1), then select with jnp.where"),
    ck.invariant("bayes_opt", lambda rng: [case(np.array([[0.0, 1.0]], np.float32), static={
        "objective": "forrester", "num_iters": 16, "seeds": tuple(range(10))})], _forrester,
        call=_bo, id="forrester", batched=False, timeout=90.0,
        title="Forrester, 4 + 16 calls: gap < 1e-4 on 9 of 10 keys, beats random search",
        hint="maximize EI over the candidates (exploration), not the lowest mean"),
    ck.invariant("bayes_opt", lambda rng: [case(np.array([[2.0, 3.0], [-1.0, 1.0]], np.float32),
                                                static={"objective": "bowl", "num_iters": 6,
                                                        "seeds": (0,)})],
                 _bo_common, call=_bo, id="in_bounds", batched=False, timeout=60.0,
                 title="10 calls inside the box [[2, 3], [-1, 1]]",
                 hint="evaluate low + u * (high - low) for candidates u in the unit cube"),
    ck.invariant("evolution_strategy", lambda rng: [case(static={"objective": "sphere"})],
                 lambda c, out: None if (np.asarray(out[1]) < 1e-4).all() else
                 f"best values {np.asarray(out[1]).tolist()}, expected < 1e-4 for each key",
                 call=_es, id="sphere", batched=False, timeout=60.0,
                 title="10-D sphere from ones: best < 1e-4 (3 keys)",
                 hint="shrink sigma every generation; keep the best point ever seen"),
    ck.invariant("evolution_strategy", lambda rng: [
        case(ck.Key(0), static={"sigma": 0.5, "num_generations": 50}),
        case(ck.Key(0), static={"sigma": 100.0, "num_generations": 3}, label="sigma 100")],
        props.all_of(props.equal_parts("f_best_x", "best_value", what="best_value against "
                                       "objective(best_x)", rtol=1e-6, atol=0.0),
                     lambda c, o: None if float(o["best_value"]) <= float(o["f_x0"]) else
                     "best_value is worse than objective(x0): count x0 as seen"),
        call=_es_consistent, id="best_consistent", batched=False,
        title="best_value = objective(best_x) <= objective(x0)"),
    ck.prng("evolution_strategy", lambda rng: [case(ck.Key(0), np.ones(10, np.float32), static={
        "num_generations": 20}, extras={"other_key": ck.Key(1)})], call=_es_call),
    ck.jit("evolution_strategy", lambda rng: [case(ck.Key(0), np.ones(10, np.float32), static={
        "num_generations": 20})], call=_es_call, title="jits with objective and ints static"),
)

_FORBIDDEN = ("sklearn", "scipy", "optuna", "evosax", "jax.example_libraries")
_TASKS = {"search": ("grid_search", "random_search"), "sweep": ("vmapped_lr_sweep",),
          "gp": ("gp_posterior", "expected_improvement"), "bayes": ("bayes_opt",),
          "evolution": ("evolution_strategy",)}

EXERCISE = Exercise(
    id="q17",
    title="Hyperparameter tuning",
    files={"tuning.py": FileSpec(
        tasks=tuple(f"dlcore.tuning.{m}:{t}" for m, ts in _TASKS.items() for t in ts),
        summary="grid, random and Bayesian search, a vmapped sweep, an evolution strategy")},
    checks=CHECKS,
    forbidden={t: _FORBIDDEN for ts in _TASKS.values() for t in ts},
)
