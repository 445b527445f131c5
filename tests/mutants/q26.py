"""Known-wrong and correct-but-different normalization code for the q26 grader.

nnx means flax 0.12.8 with the same params,
``nnx.BatchNorm(C, momentum, epsilon=1e-5, use_fast_variance=False)``,
``nnx.LayerNorm(C, epsilon=1e-6, use_fast_variance=False)``, ``nnx.RMSNorm(C, epsilon=1e-6)``;
scale ~ 1 + 0.3 N(0, 1), bias ~ 0.3 N(0, 1) per feature.

The spec (grader/specs/q26.py) compares with dlcore, which tests/test_normalization.py pins to
nnx; the ids and what each compares:

- ``batch_norm/matches_nnx_train``: x = 2 + 3 N(0, 1) of shapes (8, 5), (4, 3, 3, 6) and
  (6, 4), 3 successive train steps from stats {mean: 0, var: 1}, momentum 0.9, 0.99 and the
  default: y and both updated stats after each step (rtol 1e-4, atol 1e-5).
- ``batch_norm/matches_nnx_low_variance``: one train step on x = 1 + 1e-2 N(0, 1), shape
  (16, 4), and an eval step with stats var = 1e-4 (rtol 2e-4, atol 2e-5; eps outside the
  square root is off by ~1e-3 relative).
- ``batch_norm/matches_nnx_eval``: ``deterministic=True`` with random stats: y and the
  returned stats (the given ones).
- ``batch_norm/gradient_matches_nnx``: grad of ``sum(w * y)`` (w random) in train mode with
  respect to x, scale and bias.
- ``batch_norm/large_offset_stable``: x = 1e4 + N(0, 1), shape (64, 4), scale 1, bias 0:
  per-feature std of y within 1 +- 1e-2.
- ``batch_norm/degenerate_gives_bias``: a constant (16, 4) input (dyadic values, so the mean
  is exact) and a (1, 4) input give y == bias exactly and finite stats.
- ``batch_norm/finite_grad``: the x-gradient of ``sum(y**3)`` with one constant feature is
  finite.
- ``batch_norm/shift_invariant``: adding a per-feature shift ~ 10 N(0, 1) to x leaves the
  train-mode y unchanged.
- ``batch_norm/jacobian_structure``: ``jacfwd`` on (4, 3): train mode nonzero across
  examples and zero across features; eval mode zero across examples and features.
- ``batch_norm/synced_vmap``: x (4, 3, 5) whose 4 groups have means 0, 1, 2, 3;
  ``jax.vmap(..., axis_name="batch")`` equals full-batch BN on the (12, 5) reshape, y and
  stats.
- ``batch_norm/synced_shard_map``: the (12, 5) batch over ``jax.device_count()`` devices
  (4 in the worker, 1 in this test process) with ``jax.shard_map`` (mesh axis "data",
  ``in_specs=P("data")``, ``out_specs=(P("data"), P())``). With one device only the
  replication check of ``out_specs=P()`` can fail, hence the mutant that updates the
  running mean with the local batch mean (``axis_name`` ignored fails the same way on 4).
- ``batch_norm/jit``: jit with static ``deterministic`` equals eager in both modes.
- ``layer_norm/matches_nnx``: x = 1 + 2 N(0, 1) of shapes (4, 3, 6) and (5, 7).
- ``layer_norm/small_variance_eps``: rows x = 1e-3 N(0, 1), shape (4, 8), default eps
  (atol 1e-4; eps 1e-5 is off by ~0.6).
- ``layer_norm/affine_invariant``: LN(3x + 2) = LN(x).
- ``layer_norm/rows_independent``: ``jacfwd`` of LN is exactly zero across rows.
- ``rms_norm/matches_nnx``, ``rms_norm/small_scale_eps``: as for LN, params ``{"scale"}``.
- ``rms_norm/scale_invariant``: RMS(2.5 x) = RMS(x).
- ``<task>/forbidden``: no flax, jax.nn.standardize, keras or torch.
"""

from tests.grading import Alternative, Mutant

_BN = "x, params, stats, *, deterministic, momentum=0.99, eps=1e-5, axis_name=None"
_BN_CALL = (
    "x, params, stats, deterministic=deterministic, momentum=momentum, eps=eps, axis_name=axis_name"
)


def _bn_train(stats_mean, stats_var, y, extra=""):
    """A train-mode batch norm whose pieces are replaced by the given expressions."""
    return (
        f"""
def batch_norm({_BN}):
    x = jnp.asarray(x)
    if deterministic:
        return _original_batch_norm({_BN_CALL})
    axes = tuple(range(x.ndim - 1))
    mu = jnp.mean(x, axis=axes)
    if axis_name is not None:
        mu = jax.lax.pmean(mu, axis_name)
    var = jnp.mean(jnp.square(x - _b(mu, x)), axis=axes)
    if axis_name is not None:
        var = jax.lax.pmean(var, axis_name)
{extra}
    new_stats = {{"mean": {stats_mean}, "var": {stats_var}}}
    return {y}, new_stats
"""
        + _HELPER
    )


_HELPER = """
def _b(v, x):
    return jnp.reshape(v, (1,) * (x.ndim - 1) + (-1,))
"""
_OLD_M = 'momentum * stats["mean"] + (1 - momentum) * mu'
_OLD_V = 'momentum * stats["var"] + (1 - momentum) * var'
_Y = '(x - _b(mu, x)) / jnp.sqrt(_b(var, x) + eps) * _b(params["scale"], x) + _b(params["bias"], x)'

MUTANTS = [
    Mutant(
        "bn_momentum_flipped",
        "batch_norm",
        "batch_norm/matches_nnx_train",
        _bn_train(
            '(1 - momentum) * stats["mean"] + momentum * mu',
            '(1 - momentum) * stats["var"] + momentum * var',
            _Y,
        ),
    ),
    Mutant(
        "bn_unbiased_variance",
        "batch_norm",
        "batch_norm/matches_nnx_train",
        _bn_train(
            _OLD_M, _OLD_V, _Y, extra="    var = var * x[..., 0].size / (x[..., 0].size - 1)"
        ),
    ),
    Mutant(
        "bn_unbiased_running_var_only",
        "batch_norm",
        "batch_norm/matches_nnx_train",
        _bn_train(
            _OLD_M,
            'momentum * stats["var"] + (1 - momentum) * var * x[..., 0].size '
            "/ (x[..., 0].size - 1)",
            _Y,
        ),
    ),
    Mutant(
        "bn_eps_outside_sqrt",
        "batch_norm",
        "batch_norm/matches_nnx_low_variance",
        _bn_train(
            _OLD_M,
            _OLD_V,
            '(x - _b(mu, x)) / (jnp.sqrt(_b(var, x)) + eps) * _b(params["scale"], x)'
            ' + _b(params["bias"], x)',
        ),
    ),
    Mutant(
        "bn_reduces_axis0_only",
        "batch_norm",
        "batch_norm/matches_nnx_train",
        f"""
def batch_norm({_BN}):
    x = jnp.asarray(x)
    if deterministic:
        return _original_batch_norm({_BN_CALL})
    mu = jnp.mean(x, axis=0, keepdims=True)
    var = jnp.mean(jnp.square(x - mu), axis=0, keepdims=True)
    y = (x - mu) / jnp.sqrt(var + eps) * _b(params["scale"], x) + _b(params["bias"], x)
    mu, var = mu[0], var[0]
    return y, {{"mean": {_OLD_M}, "var": {_OLD_V}}}
"""
        + _HELPER,
    ),
    Mutant(
        "bn_single_pass_variance",
        "batch_norm",
        "batch_norm/large_offset_stable",
        _bn_train(
            _OLD_M,
            _OLD_V,
            _Y,
            extra="    var = jnp.maximum(jnp.mean(jnp.square(x), axis=axes) - jnp.square(mu), 0.0)",
        ),
    ),
    Mutant(
        "bn_batch_stats_in_eval",
        "batch_norm",
        "batch_norm/matches_nnx_eval",
        f"""
def batch_norm({_BN}):
    y, new = _original_batch_norm(x, params, stats, deterministic=False, momentum=momentum,
                                  eps=eps, axis_name=axis_name)
    return y, (stats if deterministic else new)
""",
    ),
    Mutant(
        "bn_updates_stats_in_eval",
        "batch_norm",
        "batch_norm/matches_nnx_eval",
        f"""
def batch_norm({_BN}):
    y, _ = _original_batch_norm({_BN_CALL})
    _, new = _original_batch_norm(x, params, stats, deterministic=False, momentum=momentum,
                                  eps=eps, axis_name=axis_name)
    return y, new
""",
    ),
    Mutant(
        "bn_stats_stop_gradient",
        "batch_norm",
        "batch_norm/gradient_matches_nnx",
        _bn_train(
            _OLD_M,
            _OLD_V,
            "(x - _b(jax.lax.stop_gradient(mu), x))"
            " / jnp.sqrt(_b(jax.lax.stop_gradient(var), x) + eps)"
            ' * _b(params["scale"], x) + _b(params["bias"], x)',
        ),
    ),
    Mutant(
        "bn_ignores_axis_name",
        "batch_norm",
        "batch_norm/synced_vmap",
        f"""
def batch_norm({_BN}):
    return _original_batch_norm(x, params, stats, deterministic=deterministic,
                                momentum=momentum, eps=eps)
""",
    ),
    Mutant(
        "bn_running_stats_from_local_batch",
        "batch_norm",
        "batch_norm/synced_shard_map",
        _bn_train(
            'momentum * stats["mean"] + (1 - momentum) * local_mu',
            _OLD_V,
            _Y,
            extra="    local_mu = jnp.mean(x, axis=axes)",
        ),
    ),
    Mutant(
        "bn_std_gradient_nan",
        "batch_norm",
        "batch_norm/finite_grad",
        _bn_train(
            _OLD_M,
            _OLD_V,
            "(x - _b(mu, x)) / jnp.sqrt(_b(jnp.square(jnp.std(x, axis=axes)), x) + eps)"
            ' * _b(params["scale"], x) + _b(params["bias"], x)',
        ),
    ),
    Mutant(
        "bn_no_eps",
        "batch_norm",
        "batch_norm/degenerate_gives_bias",
        _bn_train(
            _OLD_M,
            _OLD_V,
            '(x - _b(mu, x)) / jnp.sqrt(_b(var, x)) * _b(params["scale"], x)'
            ' + _b(params["bias"], x)',
        ),
    ),
    Mutant(
        "bn_not_centered",
        "batch_norm",
        "batch_norm/shift_invariant",
        _bn_train(
            _OLD_M,
            _OLD_V,
            'x / jnp.sqrt(_b(var, x) + eps) * _b(params["scale"], x) + _b(params["bias"], x)',
        ),
    ),
    Mutant(
        "bn_stats_stop_gradient_jacobian",
        "batch_norm",
        "batch_norm/jacobian_structure",
        _bn_train(
            _OLD_M,
            _OLD_V,
            "(x - _b(jax.lax.stop_gradient(mu), x))"
            " / jnp.sqrt(_b(jax.lax.stop_gradient(var), x) + eps)"
            ' * _b(params["scale"], x) + _b(params["bias"], x)',
        ),
    ),
    Mutant(
        "bn_batch_stats_in_eval_jacobian",
        "batch_norm",
        "batch_norm/jacobian_structure",
        f"""
def batch_norm({_BN}):
    y, new = _original_batch_norm(x, params, stats, deterministic=False, momentum=momentum,
                                  eps=eps, axis_name=axis_name)
    return y, (stats if deterministic else new)
""",
    ),
    Mutant(
        "bn_python_if_on_variance",
        "batch_norm",
        "batch_norm/jit",
        f"""
def batch_norm({_BN}):
    if bool(jnp.any(jnp.asarray(stats["var"]) < 0)):
        raise ValueError("negative variance")
    return _original_batch_norm({_BN_CALL})
""",
        status="error",
    ),
    Mutant(
        "bn_calls_standardize",
        "batch_norm",
        "batch_norm/forbidden",
        f"""
def batch_norm({_BN}):
    if deterministic:
        return _original_batch_norm({_BN_CALL})
    axes = tuple(range(x.ndim - 1))
    z = jax.nn.standardize(x, axis=axes, epsilon=eps)
    y, new = _original_batch_norm({_BN_CALL})
    return z * params["scale"] + params["bias"], new
""",
        status="forbidden",
    ),
    Mutant(
        "bn_mean_of_local_variances",
        "batch_norm",
        "batch_norm/synced_vmap",
        f"""
def batch_norm({_BN}):
    x = jnp.asarray(x)
    if deterministic or axis_name is None:
        return _original_batch_norm({_BN_CALL})
    axes = tuple(range(x.ndim - 1))
    local_mu = jnp.mean(x, axis=axes)
    var = jax.lax.pmean(jnp.mean(jnp.square(x - _b(local_mu, x)), axis=axes), axis_name)
    mu = jax.lax.pmean(local_mu, axis_name)
    y = (x - _b(mu, x)) / jnp.sqrt(_b(var, x) + eps) * _b(params["scale"], x) + _b(
        params["bias"], x
    )
    return y, {{"mean": {_OLD_M}, "var": {_OLD_V}}}
"""
        + _HELPER,
    ),
    # layer_norm
    Mutant(
        "ln_over_batch_axis",
        "layer_norm",
        "layer_norm/matches_nnx",
        """
def layer_norm(x, params, *, eps=1e-6):
    mu = jnp.mean(x, axis=0, keepdims=True)
    var = jnp.mean(jnp.square(x - mu), axis=0, keepdims=True)
    shape = (1,) * (x.ndim - 1) + (-1,)
    return (x - mu) / jnp.sqrt(var + eps) * params["scale"].reshape(shape) + params[
        "bias"
    ].reshape(shape)
""",
    ),
    Mutant(
        "ln_over_batch_axis_rows",
        "layer_norm",
        "layer_norm/rows_independent",
        """
def layer_norm(x, params, *, eps=1e-6):
    mu = jnp.mean(x, axis=0, keepdims=True)
    var = jnp.mean(jnp.square(x - mu), axis=0, keepdims=True)
    shape = (1,) * (x.ndim - 1) + (-1,)
    return (x - mu) / jnp.sqrt(var + eps) * params["scale"].reshape(shape) + params[
        "bias"
    ].reshape(shape)
""",
    ),
    Mutant(
        "ln_torch_eps",
        "layer_norm",
        "layer_norm/small_variance_eps",
        """
def layer_norm(x, params, *, eps=1e-5):
    return _original_layer_norm(x, params, eps=eps)
""",
    ),
    Mutant(
        "ln_no_centering",
        "layer_norm",
        "layer_norm/affine_invariant",
        """
def layer_norm(x, params, *, eps=1e-6):
    shape = (1,) * (x.ndim - 1) + (-1,)
    ms = jnp.mean(jnp.square(x), axis=-1, keepdims=True)
    return x / jnp.sqrt(ms + eps) * params["scale"].reshape(shape) + params["bias"].reshape(shape)
""",
    ),
    Mutant(
        "ln_calls_flax",
        "layer_norm",
        "layer_norm/forbidden",
        """
def layer_norm(x, params, *, eps=1e-6):
    from flax import nnx

    ln = nnx.LayerNorm(x.shape[-1], epsilon=eps, use_fast_variance=False, rngs=nnx.Rngs(0))
    ln.scale[...] = params["scale"]
    ln.bias[...] = params["bias"]
    return ln(x)
""",
        status="forbidden",
    ),
    # rms_norm
    Mutant(
        "rms_no_sqrt",
        "rms_norm",
        "rms_norm/scale_invariant",
        """
def rms_norm(x, params, *, eps=1e-6):
    ms = jnp.mean(jnp.square(x), axis=-1, keepdims=True)
    return x / (ms + eps) * params["scale"].reshape((1,) * (x.ndim - 1) + (-1,))
""",
    ),
    Mutant(
        "rms_calls_standardize",
        "rms_norm",
        "rms_norm/forbidden",
        """
def rms_norm(x, params, *, eps=1e-6):
    z = jax.nn.standardize(x, axis=-1, mean=0.0, epsilon=eps)
    return z * params["scale"].reshape((1,) * (x.ndim - 1) + (-1,))
""",
        status="forbidden",
    ),
    Mutant(
        "rms_subtracts_mean",
        "rms_norm",
        "rms_norm/matches_nnx",
        """
def rms_norm(x, params, *, eps=1e-6):
    x = x - jnp.mean(x, axis=-1, keepdims=True)
    scale = params["scale"].reshape((1,) * (x.ndim - 1) + (-1,))
    return x / jnp.sqrt(jnp.mean(jnp.square(x), axis=-1, keepdims=True) + eps) * scale
""",
    ),
    Mutant(
        "rms_adds_bias",
        "rms_norm",
        "rms_norm/matches_nnx",
        """
def rms_norm(x, params, *, eps=1e-6):
    return _original_rms_norm(x, params, eps=eps) + params["bias"].reshape(
        (1,) * (x.ndim - 1) + (-1,)
    )
""",
    ),
    Mutant(
        "rms_eps_outside_sqrt",
        "rms_norm",
        "rms_norm/small_scale_eps",
        """
def rms_norm(x, params, *, eps=1e-6):
    rms = jnp.sqrt(jnp.mean(jnp.square(x), axis=-1, keepdims=True))
    return x / (rms + eps) * params["scale"].reshape((1,) * (x.ndim - 1) + (-1,))
""",
    ),
]

ALTERNATIVES = [
    Alternative(
        "bn_jnp_var_flattened",
        "batch_norm",
        f"""
def batch_norm({_BN}):
    x = jnp.asarray(x)
    flat = x.reshape(-1, x.shape[-1])
    if deterministic:
        mu, var = stats["mean"], stats["var"]
    else:
        mu = flat.mean(axis=0)
        if axis_name is not None:
            mu = jax.lax.pmean(mu, axis_name)
        var = ((flat - mu[None]) ** 2).mean(axis=0)
        if axis_name is not None:
            var = jax.lax.pmean(var, axis_name)
    shape = (1,) * (x.ndim - 1) + (-1,)
    y = params["scale"].reshape(shape) * (x - mu.reshape(shape)) * jax.lax.rsqrt(
        var.reshape(shape) + eps
    ) + params["bias"].reshape(shape)
    if deterministic:
        return y, stats
    new = {{k: momentum * stats[k] + (1 - momentum) * v for k, v in (("mean", mu), ("var", var))}}
    return y, new
""",
    ),
    Alternative(
        "ln_jnp_var",
        "layer_norm",
        """
def layer_norm(x, params, *, eps=1e-6):
    mu = jnp.mean(x, axis=-1, keepdims=True)
    shape = (1,) * (x.ndim - 1) + (-1,)
    z = (x - mu) / jnp.sqrt(jnp.var(x, axis=-1, keepdims=True) + eps)
    return z * params["scale"].reshape(shape) + params["bias"].reshape(shape)
""",
    ),
    Alternative(
        "rms_sqrt_divide",
        "rms_norm",
        """
def rms_norm(x, params, *, eps=1e-6):
    scale = params["scale"].reshape((1,) * (x.ndim - 1) + (-1,))
    return scale * x / jnp.sqrt(jnp.mean(x * x, axis=-1, keepdims=True) + eps)
""",
    ),
]
