"""Known-wrong and correct-but-different dropout code for the q16 grader."""

from tests.grading import Alternative, Mutant

_SIG = "key, x, rate, *, deterministic=False"
_MC_SIG = "key, apply_fn, params, x, *, num_samples"

MUTANTS = [
    # dropout
    Mutant("dropout_uniform_threshold", "dropout", "dropout/bitwise",
           f"""
def dropout({_SIG}):
    if deterministic or rate == 0.0:
        return x
    if rate == 1.0:
        return jnp.zeros_like(x)
    keep = jax.random.uniform(key, x.shape) >= rate  # right statistics, other random bits
    return jnp.where(keep, x / (1.0 - rate), 0.0)
"""),
    Mutant("dropout_splits_key_first", "dropout", "dropout/bitwise",
           f"""
def dropout({_SIG}):
    _, sub = jax.random.split(key)
    return _original_dropout(sub, x, rate, deterministic=deterministic)
"""),
    Mutant("dropout_ignores_deterministic", "dropout",
           "dropout/identity", f"""
def dropout({_SIG}):
    return _original_dropout(key, x, rate)
"""),
    Mutant("dropout_no_rate_one_branch", "dropout", "dropout/rate_one",
           f"""
def dropout({_SIG}):
    if deterministic or rate == 0.0:
        return x
    keep = jax.random.bernoulli(key, 1.0 - rate, x.shape)
    return jnp.where(keep, x / (1.0 - rate), 0.0)
"""),
    Mutant("dropout_no_rescaling", "dropout",
           "dropout/statistics", f"""
def dropout({_SIG}):
    # the 2014 paper's train-time form: no 1 / (1 - rate)
    if deterministic or rate == 0.0:
        return x
    return jnp.where(jax.random.bernoulli(key, 1.0 - rate, x.shape), x, 0.0)
"""),
    Mutant("dropout_rate_as_keep_prob", "dropout",
           "dropout/statistics", f"""
def dropout({_SIG}):
    if deterministic or rate == 0.0:
        return x
    if rate == 1.0:
        return jnp.zeros_like(x)
    keep = jax.random.bernoulli(key, rate, x.shape)  # rate read as the keep probability
    return jnp.where(keep, x / (1.0 - rate), 0.0)
"""),
    Mutant("dropout_rescales_by_kept_share", "dropout", "dropout/grad",
           f"""
def dropout({_SIG}):
    if deterministic or rate == 0.0:
        return x
    if rate == 1.0:
        return jnp.zeros_like(x)
    keep = jax.random.bernoulli(key, 1.0 - rate, x.shape)
    share = jnp.maximum(jnp.mean(keep), 1e-6)  # the kept share of this draw
    return jnp.where(keep, x / share, 0.0)
"""),
    Mutant("dropout_fixed_key", "dropout", "dropout/prng", f"""
def dropout({_SIG}):
    return _original_dropout(jax.random.key(0), x, rate, deterministic=deterministic)
"""),
    Mutant("dropout_numpy_mask", "dropout", "dropout/jit", f"""
import numpy as np

def dropout({_SIG}):
    if deterministic or rate == 0.0:
        return x
    if rate == 1.0:
        return jnp.zeros_like(x)
    rng = np.random.default_rng(np.asarray(jax.random.key_data(key)))
    keep = rng.random(x.shape) >= rate
    return jnp.where(keep, x / (1.0 - rate), 0.0)
""", status="error"),
    Mutant("dropout_key_as_python_int", "dropout", "dropout/vmap", f"""
def dropout({_SIG}):
    seed = int(jax.random.key_data(key)[-1])
    return _original_dropout(jax.random.key(seed), x, rate, deterministic=deterministic)
""", status="error"),
    Mutant("dropout_jit_inside", "dropout", "dropout/retrace", f"""
def dropout({_SIG}):
    if deterministic or rate == 0.0:
        return x
    if rate == 1.0:
        return jnp.zeros_like(x)

    @jax.jit
    def apply(key, x):  # a new function on every call: jit traces it again each time
        keep = jax.random.bernoulli(key, 1.0 - rate, x.shape)
        return jnp.where(keep, x / (1.0 - rate), 0.0)

    return apply(key, x)
"""),
    Mutant("dropout_flax", "dropout", "dropout/forbidden", f"""
from flax import nnx

def dropout({_SIG}):
    return nnx.Dropout(rate)(x, deterministic=deterministic, rngs=key)
""", status="forbidden"),
    # mc_dropout_predict
    Mutant("mc_ddof_one", "mc_dropout_predict", "mc_dropout_predict/matches",
           f"""
def mc_dropout_predict({_MC_SIG}):
    keys = jax.random.split(key, num_samples)
    samples = jax.vmap(lambda k: apply_fn(k, params, x))(keys)
    return samples.mean(axis=0), samples.std(axis=0, ddof=1)
"""),
    Mutant("mc_returns_variance", "mc_dropout_predict", "mc_dropout_predict/matches",
           f"""
def mc_dropout_predict({_MC_SIG}):
    keys = jax.random.split(key, num_samples)
    samples = jax.vmap(lambda k: apply_fn(k, params, x))(keys)
    return samples.mean(axis=0), samples.var(axis=0)
"""),
    Mutant("mc_passes_parent_key", "mc_dropout_predict",
           "mc_dropout_predict/fresh_keys", f"""
def mc_dropout_predict({_MC_SIG}):
    keys = jax.random.split(key, num_samples)
    samples = jax.vmap(lambda k: apply_fn(key, params, x))(keys)  # k unused
    return samples.mean(axis=0), samples.std(axis=0)
"""),
    Mutant("mc_numpy_statistics", "mc_dropout_predict",
           "mc_dropout_predict/jit", f"""
import numpy as np

def mc_dropout_predict({_MC_SIG}):
    keys = jax.random.split(key, num_samples)
    samples = np.stack([np.asarray(apply_fn(k, params, x)) for k in keys])
    return jnp.asarray(samples.mean(axis=0)), jnp.asarray(samples.std(axis=0))
""", status="error"),
    Mutant("mc_detached_samples", "mc_dropout_predict", "mc_dropout_predict/grad",
           f"""
def mc_dropout_predict({_MC_SIG}):
    keys = jax.random.split(key, num_samples)
    samples = jax.lax.stop_gradient(jax.vmap(lambda k: apply_fn(k, params, x))(keys))
    return samples.mean(axis=0), samples.std(axis=0)
"""),
]

ALTERNATIVES = [
    Alternative("dropout_mask_multiply", "dropout", f"""
def dropout({_SIG}):
    if deterministic or rate == 0.0:
        return jnp.asarray(x)
    if rate == 1.0:
        return jnp.zeros_like(x)
    keep_prob = 1.0 - rate
    mask = jax.random.bernoulli(key, keep_prob, jnp.shape(x)).astype(x.dtype)
    return (x * mask) / keep_prob
"""),
    Alternative("dropout_lax_select", "dropout", f"""
def dropout({_SIG}):
    if deterministic or not rate:
        return x
    if rate >= 1.0:
        return jnp.zeros(x.shape, x.dtype)
    keep = jax.random.bernoulli(key, p=1.0 - rate, shape=x.shape)
    return jax.lax.select(keep, x / (1.0 - rate), jnp.zeros_like(x))
"""),
    Alternative("mc_python_loop", "mc_dropout_predict", f"""
def mc_dropout_predict({_MC_SIG}):
    samples = [apply_fn(k, params, x) for k in jax.random.split(key, num_samples)]
    stacked = jnp.stack(samples)
    mean = jnp.mean(stacked, axis=0)
    return mean, jnp.sqrt(jnp.mean((stacked - mean) ** 2, axis=0))
"""),
    Alternative("mc_scan_running_sums", "mc_dropout_predict", f"""
def mc_dropout_predict({_MC_SIG}):
    keys = jax.random.split(key, num_samples)
    first = apply_fn(keys[0], params, x)

    def step(total, k):
        return total + apply_fn(k, params, x), None

    total, _ = jax.lax.scan(step, first, keys[1:])
    mean = total / num_samples

    def spread(acc, k):
        return acc + (apply_fn(k, params, x) - mean) ** 2, None

    sq, _ = jax.lax.scan(spread, jnp.zeros_like(mean), keys)
    return mean, jnp.sqrt(sq / num_samples)
"""),
]
