"""Known-wrong and correct-but-different optimizers for the q06 grader."""

from tests.grading import Alternative, Mutant

MUTANTS = [
    # ---- sgd ------------------------------------------------------------------------------
    Mutant("sgd_plain_ascends", "sgd", "sgd/trajectory", """
def sgd(learning_rate, momentum=0.0, nesterov=False):
    if momentum == 0:
        # scale_by_learning_rate already negates: this climbs the loss
        return scale_by_learning_rate(-learning_rate)
    return _original_sgd(learning_rate, momentum, nesterov)
"""),
    Mutant("sgd_momentum_with_dampening", "sgd", "sgd/trajectory_momentum", """
def trace(decay, *, nesterov=False, accumulator_dtype=None):
    def init_fn(params):
        return TraceState(trace=jax.tree.map(jnp.zeros_like, params))

    def update_fn(updates, state, params=None):
        new = jax.tree.map(lambda g, t: decay * t + (1 - decay) * g, updates, state.trace)
        if nesterov:
            return jax.tree.map(lambda g, t: g + decay * t, updates, new), TraceState(new)
        return new, TraceState(trace=new)

    return optax.GradientTransformation(init_fn, update_fn)
"""),
    Mutant("sgd_nesterov_uses_old_trace", "sgd", "sgd/trajectory_nesterov", """
def trace(decay, *, nesterov=False, accumulator_dtype=None):
    def init_fn(params):
        return TraceState(trace=jax.tree.map(jnp.zeros_like, params))

    def update_fn(updates, state, params=None):
        new = jax.tree.map(lambda g, t: g + decay * t, updates, state.trace)
        if nesterov:
            updates = jax.tree.map(lambda g, t: g + decay * t, updates, state.trace)
        else:
            updates = new
        return updates, TraceState(trace=new)

    return optax.GradientTransformation(init_fn, update_fn)
"""),
    Mutant("sgd_trace_starts_as_python_zeros", "sgd", "sgd/state_pytree", """
def trace(decay, *, nesterov=False, accumulator_dtype=None):
    def init_fn(params):
        return TraceState(trace=jax.tree.map(lambda p: 0.0, params))  # broadcasts later

    def update_fn(updates, state, params=None):
        new = jax.tree.map(lambda g, t: g + decay * t, updates, state.trace)
        out = jax.tree.map(lambda g, t: g + decay * t, updates, new) if nesterov else new
        return out, TraceState(trace=new)

    return optax.GradientTransformation(init_fn, update_fn)
"""),
    Mutant("sgd_velocity_in_closure", "sgd", "sgd/jit", """
def trace(decay, *, nesterov=False, accumulator_dtype=None):
    velocity = {}

    def init_fn(params):
        velocity["v"] = jax.tree.map(jnp.zeros_like, params)
        return optax.EmptyState()

    def update_fn(updates, state, params=None):
        new = jax.tree.map(lambda g, t: g + decay * t, updates, velocity["v"])
        velocity["v"] = new
        out = jax.tree.map(lambda g, t: g + decay * t, updates, new) if nesterov else new
        return out, state

    return optax.GradientTransformation(init_fn, update_fn)
""", status="error"),
    Mutant("sgd_lazy_trace", "sgd", "sgd/retrace", """
def trace(decay, *, nesterov=False, accumulator_dtype=None):
    def init_fn(params):
        return TraceState(trace=None)  # created at the first update

    def update_fn(updates, state, params=None):
        if state.trace is None:
            new = updates
        else:
            new = jax.tree.map(lambda g, t: g + decay * t, updates, state.trace)
        out = jax.tree.map(lambda g, t: g + decay * t, updates, new) if nesterov else new
        return out, TraceState(trace=new)

    return optax.GradientTransformation(init_fn, update_fn)
"""),
    Mutant("sgd_update_without_params", "sgd", "sgd/chain", """
def trace(decay, *, nesterov=False, accumulator_dtype=None):
    def init_fn(params):
        return TraceState(trace=jax.tree.map(jnp.zeros_like, params))

    def update_fn(grads, state):
        new = jax.tree.map(lambda g, t: g + decay * t, grads, state.trace)
        out = jax.tree.map(lambda g, t: g + decay * t, grads, new) if nesterov else new
        return out, TraceState(trace=new)

    return optax.GradientTransformation(init_fn, update_fn)
""", status="error"),
    Mutant("sgd_float32_trace", "sgd", "sgd/bfloat16", """
def trace(decay, *, nesterov=False, accumulator_dtype=None):
    def init_fn(params):
        return TraceState(trace=jax.tree.map(lambda p: jnp.zeros(p.shape), params))

    def update_fn(updates, state, params=None):
        new = jax.tree.map(lambda g, t: g + decay * t, updates, state.trace)
        out = jax.tree.map(lambda g, t: g + decay * t, updates, new) if nesterov else new
        return out, TraceState(trace=new)

    return optax.GradientTransformation(init_fn, update_fn)
"""),
    Mutant("sgd_float_learning_rate", "sgd", "sgd/hypergradient", """
def sgd(learning_rate, momentum=0.0, nesterov=False):
    return _original_sgd(float(learning_rate), momentum, nesterov)
""", status="error"),
    Mutant("sgd_calls_optax", "sgd", "sgd/forbidden", """
from optax import sgd as optax_sgd

def sgd(learning_rate, momentum=0.0, nesterov=False):
    return optax_sgd(learning_rate, momentum or None, nesterov)
""", status="forbidden"),
    # ---- rmsprop --------------------------------------------------------------------------
    Mutant("rmsprop_ignores_decay", "rmsprop", "rmsprop/trajectory", """
def rmsprop(learning_rate, decay=0.9, eps=1e-8):
    return optax.chain(scale_by_rms(eps=eps), scale_by_learning_rate(learning_rate))
"""),
    Mutant("rmsprop_eps_outside_root", "rmsprop", "rmsprop/tiny_gradients", """
def scale_by_rms(decay=0.9, *, eps=1e-8, initial_scale=0.0, eps_in_sqrt=True):
    def init_fn(params):
        return ScaleByRmsState(nu=jax.tree.map(jnp.zeros_like, params))

    def update_fn(updates, state, params=None):
        nu = jax.tree.map(lambda g, n: (1 - decay) * g**2 + decay * n, updates, state.nu)
        updates = jax.tree.map(lambda g, n: g / (jnp.sqrt(n) + eps), updates, nu)  # PyTorch
        return updates, ScaleByRmsState(nu=nu)

    return optax.GradientTransformation(init_fn, update_fn)
"""),
    Mutant("rmsprop_state_is_a_plain_class", "rmsprop", "rmsprop/state_pytree", """
class RmsBuffers:
    def __init__(self, nu):
        self.nu = nu


def scale_by_rms(decay=0.9, *, eps=1e-8, initial_scale=0.0, eps_in_sqrt=True):
    def init_fn(params):
        return RmsBuffers(jax.tree.map(jnp.zeros_like, params))

    def update_fn(updates, state, params=None):
        nu = jax.tree.map(lambda g, n: (1 - decay) * g**2 + decay * n, updates, state.nu)
        updates = jax.tree.map(lambda g, n: lax.rsqrt(n + eps) * g, updates, nu)
        return updates, RmsBuffers(nu)

    return optax.GradientTransformation(init_fn, update_fn)
""", status="error"),
    Mutant("rmsprop_numpy_sqrt", "rmsprop", "rmsprop/jit", """
import numpy as np

def scale_by_rms(decay=0.9, *, eps=1e-8, initial_scale=0.0, eps_in_sqrt=True):
    def init_fn(params):
        return ScaleByRmsState(nu=jax.tree.map(jnp.zeros_like, params))

    def update_fn(updates, state, params=None):
        nu = jax.tree.map(lambda g, n: (1 - decay) * g**2 + decay * n, updates, state.nu)
        updates = jax.tree.map(lambda g, n: g / np.sqrt(n + eps), updates, nu)
        return updates, ScaleByRmsState(nu=nu)

    return optax.GradientTransformation(init_fn, update_fn)
""", status="error"),
    Mutant("rmsprop_lazy_nu", "rmsprop", "rmsprop/retrace", """
def scale_by_rms(decay=0.9, *, eps=1e-8, initial_scale=0.0, eps_in_sqrt=True):
    def init_fn(params):
        return ScaleByRmsState(nu=None)  # nu_1 = (1 - decay) g**2 anyway

    def update_fn(updates, state, params=None):
        if state.nu is None:
            nu = jax.tree.map(lambda g: (1 - decay) * g**2, updates)
        else:
            nu = jax.tree.map(lambda g, n: (1 - decay) * g**2 + decay * n, updates, state.nu)
        updates = jax.tree.map(lambda g, n: lax.rsqrt(n + eps) * g, updates, nu)
        return updates, ScaleByRmsState(nu=nu)

    return optax.GradientTransformation(init_fn, update_fn)
"""),
    Mutant("rmsprop_update_without_params", "rmsprop",
           "rmsprop/chain", """
def scale_by_rms(decay=0.9, *, eps=1e-8, initial_scale=0.0, eps_in_sqrt=True):
    def init_fn(params):
        return ScaleByRmsState(nu=jax.tree.map(jnp.zeros_like, params))

    def update_fn(updates, state):
        nu = jax.tree.map(lambda g, n: (1 - decay) * g**2 + decay * n, updates, state.nu)
        updates = jax.tree.map(lambda g, n: lax.rsqrt(n + eps) * g, updates, nu)
        return updates, ScaleByRmsState(nu=nu)

    return optax.GradientTransformation(init_fn, update_fn)
""", status="error"),
    Mutant("rmsprop_float32_nu", "rmsprop", "rmsprop/bfloat16", """
def scale_by_rms(decay=0.9, *, eps=1e-8, initial_scale=0.0, eps_in_sqrt=True):
    def init_fn(params):
        return ScaleByRmsState(nu=jax.tree.map(lambda p: jnp.zeros(p.shape), params))

    def update_fn(updates, state, params=None):
        nu = jax.tree.map(lambda g, n: (1 - decay) * g**2 + decay * n, updates, state.nu)
        updates = jax.tree.map(lambda g, n: lax.rsqrt(n + eps) * g, updates, nu)
        return updates, ScaleByRmsState(nu=nu)

    return optax.GradientTransformation(init_fn, update_fn)
"""),
    Mutant("rmsprop_validates_learning_rate", "rmsprop",
           "rmsprop/hypergradient", """
def rmsprop(learning_rate, decay=0.9, eps=1e-8):
    if learning_rate <= 0:
        raise ValueError("learning_rate must be positive")
    return _original_rmsprop(learning_rate, decay, eps)
""", status="error"),
    Mutant("rmsprop_calls_optax_block", "rmsprop",
           "rmsprop/forbidden", """
def scale_by_rms(decay=0.9, *, eps=1e-8, initial_scale=0.0, eps_in_sqrt=True):
    return optax.scale_by_rms(decay=decay, eps=eps)
""", status="forbidden"),
    # ---- adagrad --------------------------------------------------------------------------
    Mutant("adagrad_accumulator_starts_at_zero", "adagrad",
           "adagrad/trajectory", """
def adagrad(learning_rate, initial_accumulator_value=0.1, eps=1e-7):
    # PyTorch's default: the accumulator starts at 0 whatever the argument says
    return optax.chain(scale_by_rss(0.0, eps=eps), scale_by_learning_rate(learning_rate))
"""),
    Mutant("adagrad_eps_outside_root", "adagrad", "adagrad/tiny_gradients", """
def scale_by_rss(initial_accumulator_value=0.1, *, eps=1e-7):
    def init_fn(params):
        return ScaleByRssState(
            jax.tree.map(lambda p: jnp.full_like(p, initial_accumulator_value), params)
        )

    def update_fn(updates, state, params=None):
        s = jax.tree.map(lambda g, a: g**2 + a, updates, state.sum_of_squares)
        updates = jax.tree.map(lambda g, a: g / (jnp.sqrt(a) + eps), updates, s)
        return updates, ScaleByRssState(s)

    return optax.GradientTransformation(init_fn, update_fn)
"""),
    Mutant("adagrad_keeps_every_squared_gradient", "adagrad",
           "adagrad/state_pytree", """
def scale_by_rss(initial_accumulator_value=0.1, *, eps=1e-7):
    def init_fn(params):
        return [jax.tree.map(lambda p: jnp.full_like(p, initial_accumulator_value), params)]

    def update_fn(updates, state, params=None):
        history = state + [jax.tree.map(jnp.square, updates)]  # the sum of all of them
        s = jax.tree.map(lambda *xs: sum(xs), *history)
        updates = jax.tree.map(lambda g, a: g * lax.rsqrt(a + eps), updates, s)
        return updates, history

    return optax.GradientTransformation(init_fn, update_fn)
"""),
    Mutant("adagrad_python_if_on_accumulator", "adagrad", "adagrad/jit", """
def scale_by_rss(initial_accumulator_value=0.1, *, eps=1e-7):
    def init_fn(params):
        return ScaleByRssState(
            jax.tree.map(lambda p: jnp.full_like(p, initial_accumulator_value), params)
        )

    def update_fn(updates, state, params=None):
        s = jax.tree.map(lambda g, a: g**2 + a, updates, state.sum_of_squares)

        def scale(g, a):
            if jnp.all(a > 0):
                return g * lax.rsqrt(a + eps)
            return jnp.zeros_like(g)

        return jax.tree.map(scale, updates, s), ScaleByRssState(s)

    return optax.GradientTransformation(init_fn, update_fn)
""", status="error"),
    Mutant("adagrad_lazy_accumulator", "adagrad", "adagrad/retrace", """
def scale_by_rss(initial_accumulator_value=0.1, *, eps=1e-7):
    def init_fn(params):
        return ScaleByRssState(sum_of_squares=None)

    def update_fn(updates, state, params=None):
        old = state.sum_of_squares
        if old is None:
            s = jax.tree.map(lambda g: g**2 + initial_accumulator_value, updates)
        else:
            s = jax.tree.map(lambda g, a: g**2 + a, updates, old)
        updates = jax.tree.map(lambda g, a: g * lax.rsqrt(a + eps), updates, s)
        return updates, ScaleByRssState(s)

    return optax.GradientTransformation(init_fn, update_fn)
"""),
    Mutant("adagrad_weakly_typed_accumulator", "adagrad", "adagrad/retrace",
           """
def scale_by_rss(initial_accumulator_value=0.1, *, eps=1e-7):
    def init_fn(params):
        # jnp.full of a Python float is weakly typed float32: bfloat16 after one update
        full = lambda p: jnp.full(p.shape, initial_accumulator_value)
        return ScaleByRssState(jax.tree.map(full, params))

    def update_fn(updates, state, params=None):
        s = jax.tree.map(lambda g, a: g**2 + a, updates, state.sum_of_squares)
        updates = jax.tree.map(lambda g, a: g * lax.rsqrt(a + eps), updates, s)
        return updates, ScaleByRssState(s)

    return optax.GradientTransformation(init_fn, update_fn)
"""),
    Mutant("adagrad_update_without_params", "adagrad",
           "adagrad/chain", """
def scale_by_rss(initial_accumulator_value=0.1, *, eps=1e-7):
    def init(params):
        return ScaleByRssState(
            jax.tree.map(lambda p: jnp.full_like(p, initial_accumulator_value), params)
        )

    def update(g, s):
        s = jax.tree.map(lambda g, a: g**2 + a, g, s.sum_of_squares)
        return jax.tree.map(lambda g, a: g * lax.rsqrt(a + eps), g, s), ScaleByRssState(s)

    return optax.GradientTransformation(init, update)
""", status="error"),
    Mutant("adagrad_float32_accumulator", "adagrad", "adagrad/bfloat16",
           """
def scale_by_rss(initial_accumulator_value=0.1, *, eps=1e-7):
    def init_fn(params):
        # "accumulate in float32 for accuracy"
        full = lambda p: jnp.full(p.shape, initial_accumulator_value, jnp.float32)
        return ScaleByRssState(jax.tree.map(full, params))

    def update_fn(updates, state, params=None):
        s = jax.tree.map(lambda g, a: g**2 + a, updates, state.sum_of_squares)
        updates = jax.tree.map(lambda g, a: g * lax.rsqrt(a + eps), updates, s)
        return updates, ScaleByRssState(s)

    return optax.GradientTransformation(init_fn, update_fn)
"""),
    Mutant("adagrad_asserts_learning_rate", "adagrad", "adagrad/hypergradient",
           """
def adagrad(learning_rate, initial_accumulator_value=0.1, eps=1e-7):
    assert learning_rate > 0, "learning_rate must be positive"
    return _original_adagrad(learning_rate, initial_accumulator_value, eps)
""", status="error"),
    Mutant("adagrad_calls_optax_via_alias", "adagrad",
           "adagrad/forbidden", """
import optax as ox

def adagrad(learning_rate, initial_accumulator_value=0.1, eps=1e-7):
    return ox.adagrad(learning_rate, initial_accumulator_value, eps)
""", status="forbidden"),
    # ---- adam -----------------------------------------------------------------------------
    Mutant("adam_corrects_only_first_moment", "adam", "adam/trajectory", """
def scale_by_adam(b1=0.9, b2=0.999, *, eps=1e-8, eps_root=0.0, mu_dtype=None,
                  nesterov=False):
    def init_fn(params):
        zeros = jax.tree.map(jnp.zeros_like, params)
        return ScaleByAdamState(count=jnp.zeros([], jnp.int32), mu=zeros, nu=zeros)

    def update_fn(updates, state, params=None):
        mu = jax.tree.map(lambda g, m: (1 - b1) * g + b1 * m, updates, state.mu)
        nu = jax.tree.map(lambda g, v: (1 - b2) * g**2 + b2 * v, updates, state.nu)
        count = optax.safe_int32_increment(state.count)
        mu_hat = jax.tree.map(lambda m: m / (1 - b1**count).astype(m.dtype), mu)
        updates = jax.tree.map(lambda m, v: m / (jnp.sqrt(v) + eps), mu_hat, nu)
        return updates, ScaleByAdamState(count=count, mu=mu, nu=nu)

    return optax.GradientTransformation(init_fn, update_fn)
"""),
    Mutant("adam_eps_inside_root", "adam", "adam/tiny_gradients", """
def scale_by_adam(b1=0.9, b2=0.999, *, eps=1e-8, eps_root=0.0, mu_dtype=None,
                  nesterov=False):
    def init_fn(params):
        zeros = jax.tree.map(jnp.zeros_like, params)
        return ScaleByAdamState(count=jnp.zeros([], jnp.int32), mu=zeros, nu=zeros)

    def update_fn(updates, state, params=None):
        mu = jax.tree.map(lambda g, m: (1 - b1) * g + b1 * m, updates, state.mu)
        nu = jax.tree.map(lambda g, v: (1 - b2) * g**2 + b2 * v, updates, state.nu)
        count = optax.safe_int32_increment(state.count)
        mu_hat = jax.tree.map(lambda m: m / (1 - b1**count).astype(m.dtype), mu)
        nu_hat = jax.tree.map(lambda v: v / (1 - b2**count).astype(v.dtype), nu)
        updates = jax.tree.map(lambda m, v: m / jnp.sqrt(v + eps), mu_hat, nu_hat)
        return updates, ScaleByAdamState(count=count, mu=mu, nu=nu)

    return optax.GradientTransformation(init_fn, update_fn)
"""),
    Mutant("adam_no_bias_correction", "adam", "adam/first_step", """
def scale_by_adam(b1=0.9, b2=0.999, *, eps=1e-8, eps_root=0.0, mu_dtype=None,
                  nesterov=False):
    def init_fn(params):
        zeros = jax.tree.map(jnp.zeros_like, params)
        return ScaleByAdamState(count=jnp.zeros([], jnp.int32), mu=zeros, nu=zeros)

    def update_fn(updates, state, params=None):
        mu = jax.tree.map(lambda g, m: (1 - b1) * g + b1 * m, updates, state.mu)
        nu = jax.tree.map(lambda g, v: (1 - b2) * g**2 + b2 * v, updates, state.nu)
        updates = jax.tree.map(lambda m, v: m / (jnp.sqrt(v) + eps), mu, nu)
        return updates, ScaleByAdamState(count=state.count + 1, mu=mu, nu=nu)

    return optax.GradientTransformation(init_fn, update_fn)
"""),
    Mutant("adam_python_int_count", "adam", "adam/state_pytree", """
def scale_by_adam(b1=0.9, b2=0.999, *, eps=1e-8, eps_root=0.0, mu_dtype=None,
                  nesterov=False):
    def init_fn(params):
        zeros = jax.tree.map(jnp.zeros_like, params)
        return ScaleByAdamState(count=0, mu=zeros, nu=zeros)

    def update_fn(updates, state, params=None):
        mu = jax.tree.map(lambda g, m: (1 - b1) * g + b1 * m, updates, state.mu)
        nu = jax.tree.map(lambda g, v: (1 - b2) * g**2 + b2 * v, updates, state.nu)
        count = state.count + 1
        mu_hat = jax.tree.map(lambda m: m / (1 - b1**count), mu)
        nu_hat = jax.tree.map(lambda v: v / (1 - b2**count), nu)
        updates = jax.tree.map(lambda m, v: m / (jnp.sqrt(v) + eps), mu_hat, nu_hat)
        return updates, ScaleByAdamState(count=count, mu=mu, nu=nu)

    return optax.GradientTransformation(init_fn, update_fn)
"""),
    Mutant("adam_int_of_count", "adam", "adam/jit", """
def scale_by_adam(b1=0.9, b2=0.999, *, eps=1e-8, eps_root=0.0, mu_dtype=None,
                  nesterov=False):
    def init_fn(params):
        zeros = jax.tree.map(jnp.zeros_like, params)
        return ScaleByAdamState(count=jnp.zeros([], jnp.int32), mu=zeros, nu=zeros)

    def update_fn(updates, state, params=None):
        mu = jax.tree.map(lambda g, m: (1 - b1) * g + b1 * m, updates, state.mu)
        nu = jax.tree.map(lambda g, v: (1 - b2) * g**2 + b2 * v, updates, state.nu)
        t = int(state.count) + 1
        mu_hat = jax.tree.map(lambda m: m / (1 - b1**t), mu)
        nu_hat = jax.tree.map(lambda v: v / (1 - b2**t), nu)
        updates = jax.tree.map(lambda m, v: m / (jnp.sqrt(v) + eps), mu_hat, nu_hat)
        return updates, ScaleByAdamState(count=state.count + 1, mu=mu, nu=nu)

    return optax.GradientTransformation(init_fn, update_fn)
""", status="error"),
    Mutant("adam_lazy_moments", "adam", "adam/retrace", """
def scale_by_adam(b1=0.9, b2=0.999, *, eps=1e-8, eps_root=0.0, mu_dtype=None,
                  nesterov=False):
    def init_fn(params):
        return ScaleByAdamState(count=jnp.zeros([], jnp.int32), mu=None, nu=None)

    def update_fn(updates, state, params=None):
        if state.mu is None:
            mu = jax.tree.map(lambda g: (1 - b1) * g, updates)
            nu = jax.tree.map(lambda g: (1 - b2) * g**2, updates)
        else:
            mu = jax.tree.map(lambda g, m: (1 - b1) * g + b1 * m, updates, state.mu)
            nu = jax.tree.map(lambda g, v: (1 - b2) * g**2 + b2 * v, updates, state.nu)
        count = optax.safe_int32_increment(state.count)
        mu_hat = jax.tree.map(lambda m: m / (1 - b1**count).astype(m.dtype), mu)
        nu_hat = jax.tree.map(lambda v: v / (1 - b2**count).astype(v.dtype), nu)
        updates = jax.tree.map(lambda m, v: m / (jnp.sqrt(v) + eps), mu_hat, nu_hat)
        return updates, ScaleByAdamState(count=count, mu=mu, nu=nu)

    return optax.GradientTransformation(init_fn, update_fn)
"""),
    Mutant("adam_update_without_params", "adam", "adam/chain",
           """
def adam(learning_rate, b1=0.9, b2=0.999, eps=1e-8):
    block = scale_by_adam(b1, b2, eps=eps)
    lr = scale_by_learning_rate(learning_rate)

    def update_fn(grads, state):
        u, s0 = block.update(grads, state[0])
        u, s1 = lr.update(u, state[1])
        return u, (s0, s1)

    return optax.GradientTransformation(lambda p: (block.init(p), lr.init(p)), update_fn)
""", status="error"),
    Mutant("adam_float32_moments", "adam", "adam/bfloat16", """
def scale_by_adam(b1=0.9, b2=0.999, *, eps=1e-8, eps_root=0.0, mu_dtype=None,
                  nesterov=False):
    def init_fn(params):
        zeros = jax.tree.map(lambda p: jnp.zeros(p.shape), params)
        return ScaleByAdamState(count=jnp.zeros([], jnp.int32), mu=zeros, nu=zeros)

    def update_fn(updates, state, params=None):
        mu = jax.tree.map(lambda g, m: (1 - b1) * g + b1 * m, updates, state.mu)
        nu = jax.tree.map(lambda g, v: (1 - b2) * g**2 + b2 * v, updates, state.nu)
        count = optax.safe_int32_increment(state.count)
        mu_hat = jax.tree.map(lambda m: m / (1 - b1**count), mu)
        nu_hat = jax.tree.map(lambda v: v / (1 - b2**count), nu)
        updates = jax.tree.map(lambda m, v: m / (jnp.sqrt(v) + eps), mu_hat, nu_hat)
        return updates, ScaleByAdamState(count=count, mu=mu, nu=nu)

    return optax.GradientTransformation(init_fn, update_fn)
"""),
    Mutant("adam_range_checks_learning_rate", "adam", "adam/hypergradient", """
def adam(learning_rate, b1=0.9, b2=0.999, eps=1e-8):
    if not 0 < learning_rate < 1:
        raise ValueError(f"learning_rate {learning_rate} is not in (0, 1)")
    return _original_adam(learning_rate, b1, b2, eps)
""", status="error"),
    Mutant("adam_calls_optax_block", "adam", "adam/forbidden", """
from optax import scale_by_adam as adam_block

def scale_by_adam(b1=0.9, b2=0.999, *, eps=1e-8, eps_root=0.0, mu_dtype=None,
                  nesterov=False):
    return adam_block(b1=b1, b2=b2, eps=eps)
""", status="forbidden"),
    # ---- minibatches ----------------------------------------------------------------------
    Mutant("minibatches_cut_column_wise", "minibatches",
           "minibatches/matches", """
def minibatches(key, num_examples, batch_size):
    num_batches = num_examples // batch_size
    perm = jax.random.permutation(key, num_examples)[: num_batches * batch_size]
    return perm.reshape(batch_size, num_batches).T.astype(jnp.int32)
"""),
    Mutant("minibatches_with_replacement", "minibatches",
           "minibatches/partition", """
def minibatches(key, num_examples, batch_size):
    num_batches = num_examples // batch_size
    return jax.random.randint(key, (num_batches, batch_size), 0, num_examples, jnp.int32)
"""),
    Mutant("minibatches_fixed_key", "minibatches", "minibatches/prng", """
def minibatches(key, num_examples, batch_size):
    num_batches = num_examples // batch_size
    perm = jax.random.permutation(jax.random.key(0), num_examples)
    return perm[: num_batches * batch_size].reshape(num_batches, batch_size).astype(jnp.int32)
"""),
    Mutant("minibatches_numpy_shuffle", "minibatches", "minibatches/jit", """
import numpy as np

def minibatches(key, num_examples, batch_size):
    num_batches = num_examples // batch_size
    seed = np.asarray(jax.random.key_data(key))
    perm = np.random.default_rng(seed).permutation(num_examples)
    return jnp.asarray(perm[: num_batches * batch_size].reshape(num_batches, batch_size),
                       jnp.int32)
""", status="error"),
]

ALTERNATIVES = [
    Alternative("sgd_keras_velocity", "sgd", """
def sgd(learning_rate, momentum=0.0, nesterov=False):
    # TensorFlow's form, v = momentum * v - lr * g: the same steps for a constant lr
    def init_fn(params):
        return TraceState(trace=jax.tree.map(jnp.zeros_like, params))

    def update_fn(updates, state, params=None):
        v = jax.tree.map(
            lambda g, v: (momentum * v - learning_rate * g).astype(v.dtype), updates, state.trace
        )
        if nesterov:
            out = jax.tree.map(lambda g, v: momentum * v - learning_rate * g, updates, v)
        else:
            out = v
        return out, TraceState(trace=v)

    return optax.GradientTransformation(init_fn, update_fn)
"""),
    Alternative("rmsprop_one_transformation", "rmsprop", """
def rmsprop(learning_rate, decay=0.9, eps=1e-8):
    def init_fn(params):
        return {"nu": jax.tree.map(jnp.zeros_like, params)}

    def update_fn(updates, state, params=None):
        del params
        nu = jax.tree.map(
            lambda g, n: decay * n + (1 - decay) * jnp.square(g), updates, state["nu"]
        )
        step = jax.tree.map(lambda g, n: -learning_rate * g / jnp.sqrt(n + eps), updates, nu)
        return step, {"nu": nu}

    return optax.GradientTransformation(init_fn, update_fn)
"""),
    Alternative("adagrad_divides_by_sqrt", "adagrad", """
def scale_by_rss(initial_accumulator_value=0.1, *, eps=1e-7):
    def init_fn(params):
        return ScaleByRssState(
            optax.tree_utils.tree_full_like(params, initial_accumulator_value)
        )

    def update_fn(updates, state, params=None):
        s = jax.tree.map(lambda g, a: a + g * g, updates, state.sum_of_squares)
        out = jax.tree.map(
            lambda g, a: jnp.where(a > 0, g / jnp.sqrt(a + eps), 0.0).astype(g.dtype), updates, s
        )
        return out, ScaleByRssState(s)

    return optax.GradientTransformation(init_fn, update_fn)
"""),
    Alternative("adam_textbook", "adam", """
def adam(learning_rate, b1=0.9, b2=0.999, eps=1e-8):
    def init_fn(params):
        zeros = jax.tree.map(jnp.zeros_like, params)
        return (jnp.zeros([], jnp.int32), zeros, zeros)

    def update_fn(grads, state, params=None):
        t, m, v = state
        t = t + 1
        m = jax.tree.map(lambda m, g: b1 * m + (1 - b1) * g, m, grads)
        v = jax.tree.map(lambda v, g: b2 * v + (1 - b2) * g * g, v, grads)
        tf = t.astype(jnp.float32)

        def step(m, v):
            m_hat = m / (1 - b1**tf).astype(m.dtype)
            v_hat = v / (1 - b2**tf).astype(v.dtype)
            return -learning_rate * m_hat / (jnp.sqrt(v_hat) + eps)

        return jax.tree.map(step, m, v), (t, m, v)

    return optax.GradientTransformation(init_fn, update_fn)
"""),
    Alternative("adam_with_optax_tree_utils", "adam", """
def scale_by_adam(b1=0.9, b2=0.999, *, eps=1e-8, eps_root=0.0, mu_dtype=None,
                  nesterov=False):
    def init_fn(params):
        return ScaleByAdamState(
            count=jnp.zeros([], jnp.int32),
            mu=optax.tree_utils.tree_zeros_like(params),
            nu=optax.tree_utils.tree_zeros_like(params),
        )

    def update_fn(updates, state, params=None):
        mu = optax.tree_utils.tree_update_moment(updates, state.mu, b1, 1)
        nu = optax.tree_utils.tree_update_moment_per_elem_norm(updates, state.nu, b2, 2)
        count = optax.safe_int32_increment(state.count)
        mu_hat = optax.tree_utils.tree_bias_correction(mu, b1, count)
        nu_hat = optax.tree_utils.tree_bias_correction(nu, b2, count)
        out = jax.tree.map(lambda m, v: m / (jnp.sqrt(v) + eps), mu_hat, nu_hat)
        return out, ScaleByAdamState(count=count, mu=mu, nu=nu)

    return optax.GradientTransformation(init_fn, update_fn)
"""),
    Alternative("minibatches_stacked_slices", "minibatches", """
def minibatches(key, num_examples, batch_size):
    num_batches = num_examples // batch_size
    perm = jax.random.permutation(key, jnp.arange(num_examples, dtype=jnp.int32))
    rows = [perm[i * batch_size : (i + 1) * batch_size] for i in range(num_batches)]
    return jnp.stack(rows) if rows else jnp.zeros((0, batch_size), jnp.int32)
"""),
]
