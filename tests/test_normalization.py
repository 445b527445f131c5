"""batch_norm, layer_norm and rms_norm pinned to flax.nnx.BatchNorm/LayerNorm/RMSNorm."""

import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from dlcore.nn.normalization import batch_norm, layer_norm, rms_norm

# float32 normalization of O(1) data: the reference and dlcore differ only in summation order,
# a few ulps of values of order 1 (measured 2.4e-7), so 1e-5 leaves a wide margin.
ATOL = 1e-5


def _params(key, c):
    k1, k2 = jax.random.split(key)
    return {
        "scale": 1.0 + 0.3 * jax.random.normal(k1, (c,)),
        "bias": 0.3 * jax.random.normal(k2, (c,)),
    }


def _nnx_bn(params, c, momentum, **kw):
    bn = nnx.BatchNorm(c, momentum=momentum, epsilon=1e-5, rngs=nnx.Rngs(0), **kw)
    bn.scale[...] = params["scale"]
    bn.bias[...] = params["bias"]
    return bn


@pytest.mark.parametrize("shape", [(8, 5), (4, 3, 3, 6)])
@pytest.mark.parametrize("momentum", [0.9, 0.99])
def test_batch_norm_matches_nnx_train_eval_and_running_stats(shape, momentum):
    c = shape[-1]
    params = _params(jax.random.key(1), c)
    bn = _nnx_bn(params, c, momentum, use_fast_variance=False)
    stats = {"mean": jnp.zeros(c), "var": jnp.ones(c)}
    for step in range(3):
        x = 2.0 + 3.0 * jax.random.normal(jax.random.key(10 + step), shape)
        y, stats = batch_norm(x, params, stats, deterministic=False, momentum=momentum)
        y_ref = bn(x, use_running_average=False)
        np.testing.assert_allclose(y, y_ref, atol=ATOL)
        np.testing.assert_allclose(stats["mean"], bn.mean[...], atol=ATOL)
        np.testing.assert_allclose(stats["var"], bn.var[...], atol=ATOL)
    x = jax.random.normal(jax.random.key(99), shape)
    y_eval, same = batch_norm(x, params, stats, deterministic=True, momentum=momentum)
    np.testing.assert_allclose(y_eval, bn(x, use_running_average=True), atol=ATOL)
    assert same is stats


def test_batch_norm_gradient_matches_nnx():
    params = _params(jax.random.key(2), 5)
    stats = {"mean": jnp.zeros(5), "var": jnp.ones(5)}
    x = jax.random.normal(jax.random.key(3), (8, 5))
    w = jax.random.normal(jax.random.key(4), (8, 5))
    bn = _nnx_bn(params, 5, 0.99, use_fast_variance=False)

    def ours(x, p):
        return jnp.sum(w * batch_norm(x, p, stats, deterministic=False)[0])

    def ref(module, x):
        return jnp.sum(w * module(x, use_running_average=False))

    g = jax.grad(ours, argnums=(0, 1))(x, params)
    gm, gx = nnx.grad(ref, argnums=(0, 1))(bn, x)
    g_ref = (gx, {k: v for k, v in nnx.to_pure_dict(gm).items() if k in params})
    for a, b in zip(jax.tree.leaves(g), jax.tree.leaves(g_ref), strict=True):
        np.testing.assert_allclose(a, b, atol=ATOL)


def test_batch_norm_matches_nnx_fast_variance_at_moderate_scale():
    params = _params(jax.random.key(5), 6)
    stats = {"mean": jnp.zeros(6), "var": jnp.ones(6)}
    x = jax.random.normal(jax.random.key(6), (4, 3, 3, 6))
    bn = _nnx_bn(params, 6, 0.99)  # default use_fast_variance=True
    y, _ = batch_norm(x, params, stats, deterministic=False)
    np.testing.assert_allclose(y, bn(x, use_running_average=False), atol=ATOL)


def test_layer_and_rms_norm_match_nnx():
    x = 1.0 + 2.0 * jax.random.normal(jax.random.key(7), (4, 3, 6))
    params = _params(jax.random.key(8), 6)
    ln = nnx.LayerNorm(6, epsilon=1e-6, use_fast_variance=False, rngs=nnx.Rngs(0))
    ln.scale[...], ln.bias[...] = params["scale"], params["bias"]
    np.testing.assert_allclose(layer_norm(x, params), ln(x), atol=ATOL)
    rms = nnx.RMSNorm(6, epsilon=1e-6, rngs=nnx.Rngs(0))
    rms.scale[...] = params["scale"]
    np.testing.assert_allclose(rms_norm(x, {"scale": params["scale"]}), rms(x), atol=ATOL)


def test_layer_norm_eps_is_flax_default():
    # rows of variance 1e-6: eps 1e-6 vs 1e-5 changes the output by ~60%.
    x = 1e-3 * jax.random.normal(jax.random.key(9), (4, 8))
    params = {"scale": jnp.ones(8), "bias": jnp.zeros(8)}
    ln = nnx.LayerNorm(8, use_fast_variance=False, rngs=nnx.Rngs(0))
    np.testing.assert_allclose(layer_norm(x, params), ln(x), atol=1e-4)


def test_two_pass_variance_survives_large_offset_and_constant_feature():
    c = 4
    params = {"scale": jnp.ones(c), "bias": jnp.arange(c, dtype=jnp.float32)}
    stats = {"mean": jnp.zeros(c), "var": jnp.ones(c)}
    x = 1e4 + jax.random.normal(jax.random.key(11), (64, c))
    y, _ = batch_norm(x, params, stats, deterministic=False)
    np.testing.assert_allclose(jnp.std(y, axis=0), 1.0, atol=1e-2)
    const = jnp.full((16, c), 3.0)
    y, new = batch_norm(const, params, stats, deterministic=False)
    np.testing.assert_array_equal(y, jnp.broadcast_to(params["bias"], (16, c)))
    assert bool(jnp.all(jnp.isfinite(new["var"])))
    # a single element per feature: x - mu is exactly 0, so y is exactly the bias
    y1, _ = batch_norm(jnp.array([[5.0, -2.0, 7.0, 1e4]]), params, stats, deterministic=False)
    np.testing.assert_array_equal(y1[0], params["bias"])


def test_jacobian_structure():
    c = 3
    params = _params(jax.random.key(12), c)
    stats = {"mean": jnp.zeros(c), "var": jnp.ones(c)}
    x = jax.random.normal(jax.random.key(13), (4, c))
    eye_n = jnp.eye(4, dtype=bool)[:, None, :, None]
    eye_c = jnp.eye(c, dtype=bool)[None, :, None, :]
    j_ln = jax.jacfwd(lambda x: layer_norm(x, params))(x)  # (4, c, 4, c)
    assert bool(jnp.all(jnp.where(eye_n, 0.0, j_ln) == 0.0))
    j_tr = jax.jacfwd(lambda x: batch_norm(x, params, stats, deterministic=False)[0])(x)
    assert bool(jnp.all(jnp.where(eye_c, 0.0, j_tr) == 0.0))  # features never mix
    assert float(jnp.max(jnp.abs(jnp.where(eye_n, 0.0, j_tr)))) > 1e-3  # samples do
    j_ev = jax.jacfwd(lambda x: batch_norm(x, params, stats, deterministic=True)[0])(x)
    assert bool(jnp.all(jnp.where(eye_n, 0.0, j_ev) == 0.0))


def test_invariances():
    with jax.enable_x64(True):
        x = jax.random.normal(jax.random.key(14), (5, 7), dtype=jnp.float64)
        p = {"scale": jnp.ones(7, jnp.float64), "bias": jnp.zeros(7, jnp.float64)}
        # x64 so that only rounding at 1e-12 remains; eps = 0 because eps breaks the scale
        # invariance by a relative eps / (2 var) (1e-6 here with the default)
        ln = lambda v: layer_norm(v, p, eps=0.0)  # noqa: E731
        rms = lambda v: rms_norm(v, {"scale": p["scale"]}, eps=0.0)  # noqa: E731
        np.testing.assert_allclose(ln(3.5 * x - 2.0), ln(x), atol=1e-9)
        np.testing.assert_allclose(rms(3.5 * x), rms(x), atol=1e-9)
        stats = {"mean": jnp.zeros(7), "var": jnp.ones(7)}
        shift = jnp.arange(7.0)[None, :]
        y0 = batch_norm(x, p, stats, deterministic=False)[0]
        np.testing.assert_allclose(
            batch_norm(x + shift, p, stats, deterministic=False)[0], y0, atol=1e-9
        )
        # an LN row does not depend on the other rows
        np.testing.assert_allclose(layer_norm(x[:1], p), layer_norm(x, p)[:1], atol=1e-12)


def test_deterministic_jit_and_finite_gradients():
    params = _params(jax.random.key(15), 5)
    stats = {"mean": jnp.full(5, 0.5), "var": jnp.full(5, 2.0)}
    x = jax.random.normal(jax.random.key(16), (6, 5))
    f = jax.jit(batch_norm, static_argnames=("deterministic", "axis_name"))
    y, new = f(x, params, stats, deterministic=True)
    np.testing.assert_array_equal(new["mean"], stats["mean"])
    np.testing.assert_array_equal(new["var"], stats["var"])
    expected = (x - 0.5) / jnp.sqrt(2.0 + 1e-5) * params["scale"][None] + params["bias"][None]
    np.testing.assert_allclose(y, expected, atol=ATOL)
    y_tr, _ = f(x, params, stats, deterministic=False)
    np.testing.assert_allclose(
        y_tr, batch_norm(x, params, stats, deterministic=False)[0], atol=ATOL
    )
    g = jax.grad(lambda x: jnp.sum(batch_norm(x, params, stats, deterministic=False)[0] ** 3))(x)
    assert bool(jnp.all(jnp.isfinite(g)))


def test_synced_batch_norm_under_vmap_equals_full_batch():
    params = _params(jax.random.key(17), 5)
    stats = {"mean": jnp.zeros(5), "var": jnp.ones(5)}
    # 4 groups with different means: the mean of local variances would be wrong
    x = jax.random.normal(jax.random.key(18), (4, 3, 5)) + jnp.arange(4.0)[:, None, None]
    full_y, full_stats = batch_norm(x.reshape(12, 5), params, stats, deterministic=False)

    def local(xg, axis_name):
        return batch_norm(xg, params, stats, deterministic=False, axis_name=axis_name)

    y, st = jax.vmap(lambda xg: local(xg, "batch"), axis_name="batch")(x)
    np.testing.assert_allclose(y.reshape(12, 5), full_y, atol=ATOL)
    np.testing.assert_allclose(st["var"][0], full_stats["var"], atol=ATOL)
    y_local, _ = jax.vmap(lambda xg: local(xg, None))(x)
    assert float(jnp.max(jnp.abs(y_local.reshape(12, 5) - full_y))) > 0.1


_SHARD_MAP_SCRIPT = textwrap.dedent(
    """
    import jax, jax.numpy as jnp, numpy as np
    from jax.sharding import AxisType, PartitionSpec as P
    from dlcore.nn.normalization import batch_norm
    assert jax.device_count() == 4, jax.devices()
    mesh = jax.make_mesh((4,), ("data",), axis_types=(AxisType.Auto,))
    k1, k2 = jax.random.split(jax.random.key(0))
    params = {"scale": jax.random.normal(k1, (6,)), "bias": jax.random.normal(k2, (6,))}
    stats = {"mean": jnp.zeros(6), "var": jnp.ones(6)}
    x = jax.random.normal(jax.random.key(1), (16, 6)) + jnp.repeat(jnp.arange(4.0), 4)[:, None]

    def step(xs):
        return batch_norm(xs, params, stats, deterministic=False, axis_name="data")

    sharded = jax.jit(jax.shard_map(step, mesh=mesh, in_specs=P("data"),
                                    out_specs=(P("data"), P())))
    y, st = sharded(x)
    y_ref, st_ref = batch_norm(x, params, stats, deterministic=False)
    np.testing.assert_allclose(y, y_ref, atol=1e-5)
    np.testing.assert_allclose(st["mean"], st_ref["mean"], atol=1e-5)
    np.testing.assert_allclose(st["var"], st_ref["var"], atol=1e-5)
    print("OK")
    """
)


def test_synced_batch_norm_under_shard_map_on_four_fake_devices():
    env = dict(
        os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4", JAX_PLATFORMS="cpu"
    )
    done = subprocess.run(
        [sys.executable, "-c", _SHARD_MAP_SCRIPT],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().endswith("OK")
