"""Known-wrong and correct-but-different hyperparameter-tuning code for the q17 grader.

Check ids (one property each):
- grid_search/parameter_grid_order: grid {"lr": [1, 2], "b": ["x", "y", "z"], "a": [0.5]};
  the list of dicts passed to the objective equals ``list(ParameterGrid(grid))`` (sorted
  keys, last key fastest), so exactly 6 calls in that order.
- grid_search/ties_first: objective 0.0 when lr == 2 else 1.0: the result is
  ({"a": 0.5, "b": "x", "lr": 2}, 0.0) with a Python float.
- grid_search/returns_copy: the returned dict is none of the dicts the objective received,
  and setting a key in it leaves those dicts unchanged.
- random_search/values_in_bounds: space {lr: log_uniform 1e-5..1e-1, dropout: uniform 0..0.5,
  layers: int 1..4, act: choice [relu, gelu, tanh]}, 2000 trials: lr a Python float in
  [1e-5, 1e-1), dropout a float in [0, 0.5), layers a Python int with every value 1..4 seen,
  act with every choice seen; exactly 2000 calls; best_value is the minimum and best_params
  the first trial reaching it.
- random_search/log_uniform_ks: KS test of those 2000 lr values against
  ``scipy.stats.loguniform(1e-5, 1e-1)``, p > 1e-6 (key 0).
- random_search/key_discipline: 5 trials: the same key gives the same trials, keys 1 and 2
  differ, the 5 lr values are distinct, and with a constant objective the first trial wins.
- vmapped_lr_sweep/matches_sequential: logistic regression on 500 digits,
  ``inject_hyperparams(adam)``, 30 full-batch steps, lrs [1e-3, 1e-2, 3e-2, 1e-1]; equals
  ``jax.jit(train_fn)(lr)`` per lr within atol 1e-5 (measured 1.2e-7); shape (4,).
- vmapped_lr_sweep/traced_once: the Python body of ``train_fn`` runs exactly once.
- gp_posterior/matches_sklearn: x64; D in {1, 2} (D = 1 passed as (N,) arrays), 12 training
  points in [0, 1]^D, 40 test points in [-0.2, 1.2]^D, noise in {1e-6, 1e-2}, l in
  {0.1, 0.3}; mean and std equal ``GaussianProcessRegressor(RBF(l, "fixed"), alpha=noise,
  optimizer=None).predict(return_std=True)`` within atol 1e-8 + rtol 1e-6 (extrapolating
  with l = 0.3, noise 1e-6 gives means near -170 whose last digits depend on the solver:
  over 25 input seeds dlcore and a ``jnp.linalg.solve`` version stay within 3% of that
  band).
- gp_posterior/far_and_duplicates: train x [0.1, 0.1, 0.5] (duplicated), noise 1e-2, l 0.2:
  finite outputs; at x = 50 mean 0 and std 1 (atol 1e-6).
- gp_posterior/jit: jit (length_scale, noise static) equals eager (float32, D = 2, noise
  1e-2).
- gp_posterior/grad_x_test: in x64 the gradient of sum(mean) + sum(std) w.r.t. x_test
  [[0.3, 0.3], [0.7, 0.7]] (D = 2, l 0.3, noise 1e-2) equals central differences per entry
  (h = 1e-6, rtol 1e-6).
- expected_improvement/monte_carlo: mean 0.3, std 0.2, best 0.1 (xi 0 and 0.05) equal the
  mean of ``max(best - xi - f, 0)`` over 2e6 normal draws within atol 1.5e-4.
- expected_improvement/monotone: on 21 means in [-1, 1] (std 0.3, best 0) EI >= 0 and strictly
  decreasing; on 21 stds in [0.05, 2] (mean 0.5, best 0) strictly increasing.
- expected_improvement/zero_std: means [-0.5, 0, 0.7], std 0, best 0.2 give [0.7, 0.2, 0]
  (rtol 1e-6); the gradients w.r.t. mean and std are finite.
- bayes_opt/forrester: (6x-2)^2 sin(12x-4) on [[0, 1]], 16 iterations (20 calls), keys 0..9:
  the gap to -6.02074 is < 1e-4 for at least 9 keys (measured: the reference's 10 gaps are
  all <= 1e-5; pure exploitation, argmin of the GP mean, gets 7 of 10 and is stuck at gap 5.03
  on 2 keys, so the contract's "< 1e-3 for 8 of 10" would let it pass); the median gap is
  below the median of random_search with 20 uniform trials on the same keys (measured 0.25);
  exactly 20 calls, all in [0, 1]; best_y equals the objective at best_x.
- bayes_opt/in_bounds: bounds [[2, 3], [-1, 1]], objective |x - (2.7, -0.4)|^2, 6 iterations:
  exactly 10 calls, every one inside the box, best_y is the minimum of the values seen.
- evolution_strategy/sphere: 10-D sphere from ones, keys 0..2, default settings: best < 1e-4.
- evolution_strategy/best_consistent: best_value equals objective(best_x) (rtol 1e-6) and is
  <= objective(x0); also with sigma = 100 and 3 generations (every sample is worse than x0).
- evolution_strategy/prng: the same key gives the same result, keys 0 and 1 differ (20
  generations).
- evolution_strategy/jit: under jit (objective and ints static) equals eager (20 generations).
- grid_search/forbidden: no ``sklearn`` (ParameterGrid) in grid_search; sklearn, scipy,
  optuna, evosax and jax.example_libraries are reported for every task.

The sphere check vmaps the ES over keys 0..2 (``jit(vmap(...))``, one compile); the BO
checks run the Python loop per key (the objective is a Python function that records its
calls), 10 keys in about 6 s of CPU on an idle machine (compiles included).
"""

from tests.grading import Alternative, Mutant

_ES_SIG = ("key, objective, x0, *, sigma=0.5, popsize=32, num_elite=8, num_generations=200, "
           "sigma_decay=0.97")

MUTANTS = [
    Mutant("grid_insertion_order", "grid_search", "grid_search/parameter_grid_order", """
import itertools

def grid_search(objective, grid):
    names = list(grid)
    best, best_v = None, float("inf")
    for values in itertools.product(*(grid[n] for n in names)):
        p = dict(zip(names, values))
        v = float(objective(dict(p)))
        if best is None or v < best_v:
            best, best_v = p, v
    return dict(best), best_v
"""),
    Mutant("grid_calls_twice", "grid_search", "grid_search/parameter_grid_order", """
import itertools

def grid_search(objective, grid):
    names = sorted(grid)
    points = [dict(zip(names, v)) for v in itertools.product(*(grid[n] for n in names))]
    values = [float(objective(dict(p))) for p in points]
    i = min(range(len(points)), key=lambda j: float(objective(dict(points[j]))))
    return dict(points[i]), values[i]
"""),
    Mutant("grid_ties_to_last", "grid_search", "grid_search/ties_first", """
import itertools

def grid_search(objective, grid):
    names = sorted(grid)
    best, best_v = None, float("inf")
    for values in itertools.product(*(grid[n] for n in names)):
        p = dict(zip(names, values))
        v = float(objective(dict(p)))
        if best is None or v <= best_v:
            best, best_v = p, v
    return dict(best), best_v
"""),
    Mutant("grid_returns_callers_dict", "grid_search", "grid_search/returns_copy", """
import itertools

def grid_search(objective, grid):
    names = sorted(grid)
    best, best_v = None, float("inf")
    for values in itertools.product(*(grid[n] for n in names)):
        p = dict(zip(names, values))
        v = float(objective(p))
        if best is None or v < best_v:
            best, best_v = p, v
    return best, best_v
"""),
    Mutant("random_log_uniform_linear", "random_search", "random_search/log_uniform_ks", """
def random_search(key, objective, space, num_trials):
    space = {n: (("uniform",) + tuple(s[1:]) if s[0] == "log_uniform" else s)
             for n, s in space.items()}
    return _original_random_search(key, objective, space, num_trials)
"""),
    Mutant("random_same_key_every_trial", "random_search", "random_search/key_discipline", """
def random_search(key, objective, space, num_trials):
    names = sorted(space)
    first = {}
    _original_random_search(key, lambda p: first.update(p) or 0.0, space, 1)
    best, best_v = None, float("inf")
    for _ in range(num_trials):
        v = float(objective(dict(first)))
        if best is None or v < best_v:
            best, best_v = dict(first), v
    return best, best_v
"""),
    Mutant("random_int_upper_exclusive", "random_search", "random_search/values_in_bounds", """
def random_search(key, objective, space, num_trials):
    space = {n: (("int", s[1], s[2] - 1) if s[0] == "int" else s) for n, s in space.items()}
    return _original_random_search(key, objective, space, num_trials)
"""),
    Mutant("sweep_python_loop", "vmapped_lr_sweep", "vmapped_lr_sweep/traced_once", """
def vmapped_lr_sweep(train_fn, learning_rates):
    # eager calls: the Python body runs once per learning rate
    return jnp.stack([train_fn(lr) for lr in jnp.asarray(learning_rates)])
"""),
    Mutant("sweep_jit_per_lr_unrolled", "vmapped_lr_sweep", "vmapped_lr_sweep/traced_once", """
def vmapped_lr_sweep(train_fn, learning_rates):
    # one jitted function per learning rate, each a new closure: L traces
    lrs = jnp.asarray(learning_rates)
    return jnp.stack([jax.jit(lambda i=i: train_fn(lrs[i]))() for i in range(lrs.shape[0])])
"""),
    Mutant("gp_rbf_without_half", "gp_posterior", "gp_posterior/matches_sklearn", """
def gp_posterior(x_train, y_train, x_test, *, length_scale, noise):
    return _original_gp_posterior(x_train, y_train, x_test,
                                  length_scale=length_scale / 2**0.5, noise=noise)
"""),
    Mutant("gp_std_includes_noise", "gp_posterior", "gp_posterior/matches_sklearn", """
def gp_posterior(x_train, y_train, x_test, *, length_scale, noise):
    mean, std = _original_gp_posterior(x_train, y_train, x_test,
                                       length_scale=length_scale, noise=noise)
    return mean, jnp.sqrt(std**2 + noise)
"""),
    Mutant("ei_maximization_sign", "expected_improvement", "expected_improvement/monte_carlo", """
def expected_improvement(mean, std, best, *, xi=0.0):
    d = jnp.asarray(mean) - best - xi
    s = jnp.asarray(std)
    z = d / jnp.where(s > 0, s, 1.0)
    ei = d * jax.scipy.stats.norm.cdf(z) + s * jax.scipy.stats.norm.pdf(z)
    return jnp.where(s > 0, ei, jnp.maximum(d, 0.0))
"""),
    Mutant("ei_nan_at_zero_std", "expected_improvement", "expected_improvement/zero_std", """
def expected_improvement(mean, std, best, *, xi=0.0):
    d = best - jnp.asarray(mean) - xi
    z = d / std
    return d * jax.scipy.stats.norm.cdf(z) + std * jax.scipy.stats.norm.pdf(z)
"""),
    Mutant("bo_candidates_not_rescaled", "bayes_opt", "bayes_opt/in_bounds", """
def bayes_opt(key, objective, bounds, num_iters, *, num_init=4, length_scale=0.1, noise=1e-6,
              num_candidates=2000):
    bounds = jnp.asarray(bounds, jnp.float32)
    low, high = bounds[:, 0], bounds[:, 1]
    k0, k1 = jax.random.split(key)
    xs = list(low + jax.random.uniform(k0, (num_init, bounds.shape[0])) * (high - low))
    ys = [float(objective(x)) for x in xs]
    for k in jax.random.split(k1, num_iters):
        xu = (jnp.stack(xs) - low) / (high - low)
        y = jnp.asarray(ys)
        ys_ = (y - y.mean()) / jnp.maximum(y.std(), 1e-12)
        cand = jax.random.uniform(k, (num_candidates, bounds.shape[0]))
        m, s = gp_posterior(xu, ys_, cand, length_scale=length_scale, noise=noise)
        x_next = cand[jnp.argmax(expected_improvement(m, s, ys_.min()))]  # left in unit cube
        xs.append(x_next)
        ys.append(float(objective(x_next)))
    i = min(range(len(ys)), key=ys.__getitem__)
    return xs[i], ys[i]
"""),
    Mutant("bo_pure_exploitation", "bayes_opt", "bayes_opt/forrester", """
def bayes_opt(key, objective, bounds, num_iters, *, num_init=4, length_scale=0.1, noise=1e-6,
              num_candidates=2000):
    bounds = jnp.asarray(bounds, jnp.float32)
    low, high = bounds[:, 0], bounds[:, 1]
    k0, k1 = jax.random.split(key)
    xs = list(low + jax.random.uniform(k0, (num_init, bounds.shape[0])) * (high - low))
    ys = [float(objective(x)) for x in xs]
    for k in jax.random.split(k1, num_iters):
        xu = (jnp.stack(xs) - low) / (high - low)
        y = jnp.asarray(ys)
        ys_ = (y - y.mean()) / jnp.maximum(y.std(), 1e-12)
        cand = jax.random.uniform(k, (num_candidates, bounds.shape[0]))
        m, _ = gp_posterior(xu, ys_, cand, length_scale=length_scale, noise=noise)
        x_next = low + cand[jnp.argmin(m)] * (high - low)  # the lowest mean, no exploration
        xs.append(x_next)
        ys.append(float(objective(x_next)))
    i = min(range(len(ys)), key=ys.__getitem__)
    return xs[i], ys[i]
"""),
    Mutant("grid_uses_parameter_grid", "grid_search", "grid_search/forbidden", """
from sklearn.model_selection import ParameterGrid

def grid_search(objective, grid):
    best, best_v = None, float("inf")
    for p in ParameterGrid(grid):
        v = float(objective(dict(p)))
        if best is None or v < best_v:
            best, best_v = dict(p), v
    return best, best_v
""", status="forbidden"),
    Mutant("sweep_first_lr_everywhere", "vmapped_lr_sweep", "vmapped_lr_sweep/matches_sequential",
           """
def vmapped_lr_sweep(train_fn, learning_rates):
    lrs = jnp.asarray(learning_rates)
    return jax.jit(jax.vmap(lambda _: train_fn(lrs[0])))(lrs)
"""),
    Mutant("gp_noise_forgotten", "gp_posterior", "gp_posterior/far_and_duplicates", """
def gp_posterior(x_train, y_train, x_test, *, length_scale, noise):
    return _original_gp_posterior(x_train, y_train, x_test, length_scale=length_scale,
                                  noise=0.0)
"""),
    Mutant("gp_numpy_cholesky", "gp_posterior", "gp_posterior/jit", """
import numpy as np

def gp_posterior(x_train, y_train, x_test, *, length_scale, noise):
    xa = jnp.asarray(x_train)
    xb = jnp.asarray(x_test)
    xa = xa[:, None] if xa.ndim == 1 else xa
    xb = xb[:, None] if xb.ndim == 1 else xb
    k = lambda a, b: jnp.exp(-0.5 * jnp.sum((a[:, None] - b[None]) ** 2, -1) / length_scale**2)
    chol = jnp.asarray(np.linalg.cholesky(np.asarray(k(xa, xa)) + noise * np.eye(xa.shape[0])))
    ks = k(xb, xa)
    alpha = jax.scipy.linalg.cho_solve((chol, True), jnp.asarray(y_train))
    v = jax.scipy.linalg.solve_triangular(chol, ks.T, lower=True)
    var = 1.0 - jnp.sum(v**2, axis=0)
    return ks @ alpha, jnp.sqrt(jnp.maximum(var, 0.0))
""", status="error"),
    Mutant("gp_detaches_test_points", "gp_posterior", "gp_posterior/grad_x_test", """
def gp_posterior(x_train, y_train, x_test, *, length_scale, noise):
    return _original_gp_posterior(x_train, y_train, jax.lax.stop_gradient(x_test),
                                  length_scale=length_scale, noise=noise)
"""),
    Mutant("ei_no_exploration_term", "expected_improvement", "expected_improvement/monotone", """
def expected_improvement(mean, std, best, *, xi=0.0):
    d = best - jnp.asarray(mean) - xi
    s = jnp.asarray(std)
    return d * jax.scipy.stats.norm.cdf(d / jnp.where(s > 0, s, 1.0))
"""),
    Mutant("es_python_loop", "evolution_strategy", "evolution_strategy/jit", f"""
def evolution_strategy({_ES_SIG}):
    x0 = jnp.asarray(x0, jnp.float32)
    m, s, bx, bf = x0, sigma, x0, float(objective(x0))  # Python floats: fails under jit
    for k in jax.random.split(key, num_generations):
        pop = m[None] + s * jax.random.normal(k, (popsize,) + x0.shape)
        f = jax.vmap(objective)(pop)
        i = int(jnp.argmin(f))
        if float(f[i]) < bf:
            bx, bf = pop[i], float(f[i])
        m, s = pop[jnp.argsort(f)[:num_elite]].mean(0), s * sigma_decay
    return bx, objective(bx)
""", status="error"),
    Mutant("es_no_sigma_decay", "evolution_strategy", "evolution_strategy/sphere", f"""
def evolution_strategy({_ES_SIG}):
    return _original_evolution_strategy(key, objective, x0, sigma=sigma, popsize=popsize,
                                         num_elite=num_elite, num_generations=num_generations,
                                         sigma_decay=1.0)
"""),
    Mutant("es_selects_worst", "evolution_strategy", "evolution_strategy/sphere", f"""
def evolution_strategy({_ES_SIG}):
    x0 = jnp.asarray(x0, jnp.float32)

    def gen(carry, k):
        m, s, bx, bf = carry
        pop = m[None] + s * jax.random.normal(k, (popsize,) + x0.shape)
        f = jax.vmap(objective)(pop)
        elite = jnp.argsort(-f)[:num_elite]  # the worst points
        i = jnp.argmin(f)
        bx = jnp.where(f[i] < bf, pop[i], bx)
        bf = jnp.minimum(f[i], bf)
        return (pop[elite].mean(0), s * sigma_decay, bx, bf), None

    init = (x0, jnp.asarray(sigma, jnp.float32), x0, objective(x0))
    (_, _, bx, _), _ = jax.lax.scan(gen, init, jax.random.split(key, num_generations))
    return bx, objective(bx)
"""),
    Mutant("es_returns_last_mean", "evolution_strategy", "evolution_strategy/best_consistent", f"""
def evolution_strategy({_ES_SIG}):
    x0 = jnp.asarray(x0, jnp.float32)

    def gen(carry, k):
        m, s = carry
        pop = m[None] + s * jax.random.normal(k, (popsize,) + x0.shape)
        f = jax.vmap(objective)(pop)
        return (pop[jnp.argsort(f)[:num_elite]].mean(0), s * sigma_decay), None

    init = (x0, jnp.asarray(sigma, jnp.float32))
    (m, _), _ = jax.lax.scan(gen, init, jax.random.split(key, num_generations))
    return m, objective(m)
"""),
    Mutant("es_fixed_key", "evolution_strategy", "evolution_strategy/prng", f"""
def evolution_strategy({_ES_SIG}):
    return _original_evolution_strategy(jax.random.key(0), objective, x0, sigma=sigma,
                                         popsize=popsize, num_elite=num_elite,
                                         num_generations=num_generations,
                                         sigma_decay=sigma_decay)
"""),
]

ALTERNATIVES = [
    Alternative("grid_recursive", "grid_search", """
def grid_search(objective, grid):
    names = sorted(grid)

    def points(i):
        if i == len(names):
            yield {}
            return
        for v in grid[names[i]]:
            for rest in points(i + 1):
                yield {names[i]: v, **rest}

    best, best_v = None, None
    for p in points(0):
        v = float(objective(dict(p)))
        if best_v is None or v < best_v:
            best, best_v = p, v
    return dict(best), best_v
"""),
    Alternative("random_per_trial_keys", "random_search", """
import math

def random_search(key, objective, space, num_trials):
    best, best_v = None, None
    for t, tk in enumerate(jax.random.split(key, num_trials)):
        p = {}
        for j, name in enumerate(sorted(space)):
            k = jax.random.fold_in(tk, j)
            kind, *a = space[name]
            u = float(jax.random.uniform(k))
            if kind == "uniform":
                p[name] = a[0] + u * (a[1] - a[0])
            elif kind == "log_uniform":
                p[name] = math.exp(math.log(a[0]) + u * (math.log(a[1]) - math.log(a[0])))
            elif kind == "int":
                p[name] = int(jax.random.randint(k, (), a[0], a[1] + 1))
            else:
                p[name] = a[0][int(jax.random.randint(k, (), 0, len(a[0])))]
        v = float(objective(dict(p)))
        if best_v is None or v < best_v:
            best, best_v = p, v
    return best, best_v
"""),
    Alternative("sweep_lax_map", "vmapped_lr_sweep", """
def vmapped_lr_sweep(train_fn, learning_rates):
    return jax.jit(lambda lrs: jax.lax.map(train_fn, lrs))(jnp.asarray(learning_rates))
"""),
    Alternative("gp_linalg_solve", "gp_posterior", """
def gp_posterior(x_train, y_train, x_test, *, length_scale, noise):
    xa = jnp.asarray(x_train)
    xb = jnp.asarray(x_test)
    xa = xa[:, None] if xa.ndim == 1 else xa
    xb = xb[:, None] if xb.ndim == 1 else xb
    k = lambda a, b: jnp.exp(-0.5 * jnp.sum((a[:, None] - b[None]) ** 2, -1) / length_scale**2)
    kxx = k(xa, xa) + noise * jnp.eye(xa.shape[0])
    ks = k(xb, xa)
    mean = ks @ jnp.linalg.solve(kxx, jnp.asarray(y_train))
    var = 1.0 - jnp.sum(ks * jnp.linalg.solve(kxx, ks.T).T, axis=1)
    return mean, jnp.sqrt(jnp.maximum(var, 1e-300 if var.dtype == jnp.float64 else 1e-30))
"""),
    Alternative("ei_erfc", "expected_improvement", """
def expected_improvement(mean, std, best, *, xi=0.0):
    d = best - jnp.asarray(mean, float) - xi
    s = jnp.asarray(std, float)
    ok = s > 0
    z = d / jnp.where(ok, s, 1.0)
    cdf = 0.5 * jax.scipy.special.erfc(-z / jnp.sqrt(2.0))
    pdf = jnp.exp(-0.5 * z**2) / jnp.sqrt(2 * jnp.pi)
    return jnp.where(ok, d * cdf + jnp.where(ok, s, 1.0) * pdf, jnp.maximum(d, 0.0))
"""),
    Alternative("es_top_k_fold_in", "evolution_strategy", f"""
def evolution_strategy({_ES_SIG}):
    x0 = jnp.asarray(x0, jnp.float32)

    def gen(carry, g):
        m, s, bx, bf = carry
        pop = m[None] + s * jax.random.normal(jax.random.fold_in(key, g), (popsize,) + x0.shape)
        f = jax.vmap(objective)(pop)
        _, elite = jax.lax.top_k(-f, num_elite)
        i = jnp.argmin(f)
        bx = jnp.where(f[i] < bf, pop[i], bx)
        return (pop[elite].mean(0), s * sigma_decay, bx, jnp.minimum(f[i], bf)), None

    init = (x0, jnp.asarray(sigma, jnp.float32), x0, objective(x0))
    (_, _, bx, _), _ = jax.lax.scan(gen, init, jnp.arange(num_generations))
    return bx, objective(bx)
"""),
]
