"""Known-wrong and correct-but-different gradient-health code for the q18 grader.

Check ids of grader/specs/q18.py (inputs; what is compared; tolerance). "tree" is
``{"a": (3, 4), "b": [(5,), {"c": ()}]}`` with N(0, 1) leaves.

- ``global_norm/matches_optax``: tree, 3 x tree, [tree]: equals dlcore (pinned to
  ``optax.tree.norm`` by tests/test_init_gradients.py), rtol 1e-6.
- ``layer_grad_norms/matches_formula``: ``[tree, {"w": [3, 4]}, tree2]`` and one dense layer:
  shape (L,), float32, entry l = the norm of layer l (rtol 1e-6); ``layer_grad_norms/jit``.
- ``clip_by_global_norm/matches_optax``: tree with ``max_norm`` = 0.5, 1 and 2 times its
  norm, passed as a traced float32 to ``jax.jit(clip_by_global_norm)``: equals
  ``optax.clip_by_global_norm(max_norm)`` (rtol 1e-6).
- ``clip_by_global_norm/direction_and_norm``: same inputs: cosine with the input is 1
  (1e-6) and the output norm is ``min(norm, max_norm)`` (rtol 1e-5).
- ``clip_by_global_norm/zero_gradients``: an all-zero tree with max_norm 1 gives exact zeros.
- ``init_xavier/matches_jax``, ``init_he/matches_jax``: shapes (64, 32), (3, 3, 16, 32),
  (128, 128): equal to ``glorot_uniform()`` / ``he_normal()`` for the same key (rtol 1e-6).
- ``init_he/variance``: (512, 512): ``var * 512`` within 2 +- 0.05 (measured 1.996) and
  ``max|w| <= 2 * sqrt(2/512) / 0.8796``.
- ``init_xavier/bound_and_variance``: (256, 256): ``max|w| <= a = sqrt(6/512)`` and
  ``var / (a^2/3)`` within 1 +- 0.03.
- ``init_xavier/prng``, ``init_he/prng``: same key same array, another key another;
  ``init_xavier/jit``, ``init_he/jit``: jit with a static shape equals eager.
- Depth (30 layers of 128, loss ``mean(out**2)``, biases 0, keys ``split(key(0), 31)``: 30 for
  the weights from the learner's initializer, the last for a batch of 64 N(0, 1) inputs;
  ratio ``||grad layer 1|| / ||grad layer 30||`` computed by the grader):
  ``init_xavier/sigmoid_depth_vanishes`` plain sigmoid + Xavier < 1e-6 (measured 0);
  ``init_xavier/relu_depth_shrinks`` plain ReLU + Xavier < 1e-2 (measured 3.9e-4);
  ``init_he/relu_depth_stable`` plain ReLU + He in [1e-2, 1e2] (measured 0.52);
  ``residual_mlp/sigmoid_depth_survives`` ``residual_mlp(activation=sigmoid)`` + Xavier
  > 1e-3 (measured 0.040); ``residual_mlp/tanh_depth_stable`` residual tanh + Xavier in
  [1e-2, 1e2] (measured 4.7).
- ``detect_nonfinite/exploding_net``: 100 plain ReLU layers with 2 x He weights (the
  grader's jax initializer) give non-finite gradients and the jitted ``detect_nonfinite``
  returns True; with He it returns False.
- ``detect_nonfinite/nan_inf_int``: NaN, +Inf, -Inf each give a True scalar bool
  ``jax.Array``; finite floats with an int leaf, and int leaves only, give False.
- ``residual_mlp/matches_formula``: 3 blocks of (6, 6): ``h = h + act(h @ w + b)`` for tanh
  (default), relu and sigmoid; ``residual_mlp/jit`` (static activation), ``residual_mlp/vmap``
  (over the rows of x), ``residual_mlp/grad`` (params and x).
- ``*/forbidden``: optax's norms and clips, ``jax.nn.initializers``, chex, flax.
"""

from tests.grading import Alternative, Mutant

_CLIP = "grads, max_norm"

MUTANTS = [
    # clip_by_global_norm
    Mutant(
        "clip_always_rescales",
        "clip_by_global_norm",
        "clip_by_global_norm/matches_optax",
        f"""
def clip_by_global_norm({_CLIP}):
    norm = global_norm(grads)
    return jax.tree.map(lambda g: g / norm * max_norm, grads)
""",
    ),
    Mutant(
        "clip_amplifies_below",
        "clip_by_global_norm",
        "clip_by_global_norm/direction_and_norm",
        f"""
def clip_by_global_norm({_CLIP}):
    norm = global_norm(grads)
    scale = jnp.maximum(1.0, max_norm / norm)
    return jax.tree.map(lambda g: g * scale, grads)
""",
    ),
    Mutant(
        "clip_per_leaf",
        "clip_by_global_norm",
        "clip_by_global_norm/matches_optax",
        f"""
def clip_by_global_norm({_CLIP}):
    def clip(g):
        n = jnp.sqrt(jnp.sum(g * g))
        return jnp.where(n < max_norm, g, g / n * max_norm)

    return jax.tree.map(clip, grads)
""",
    ),
    Mutant(
        "clip_zero_over_zero",
        "clip_by_global_norm",
        "clip_by_global_norm/zero_gradients",
        f"""
def clip_by_global_norm({_CLIP}):
    norm = global_norm(grads)
    scale = jnp.minimum(norm, max_norm) / norm
    return jax.tree.map(lambda g: g * scale, grads)
""",
    ),
    # global_norm / layer_grad_norms
    Mutant(
        "global_norm_sums_leaf_norms",
        "global_norm",
        "global_norm/matches_optax",
        """
def global_norm(tree):
    return sum(jnp.sqrt(jnp.sum(jnp.square(x))) for x in jax.tree.leaves(tree))
""",
    ),
    Mutant(
        "global_norm_squared",
        "global_norm",
        "global_norm/matches_optax",
        """
def global_norm(tree):
    return sum(jnp.sum(jnp.square(x)) for x in jax.tree.leaves(tree))
""",
    ),
    Mutant(
        "layer_norms_sum_leaf_norms",
        "layer_grad_norms",
        "layer_grad_norms/matches_formula",
        """
def layer_grad_norms(grads):
    return jnp.stack([
        sum(jnp.sqrt(jnp.sum(jnp.square(x))) for x in jax.tree.leaves(layer)) for layer in grads
    ])
""",
    ),
    Mutant(
        "layer_norms_squared",
        "layer_grad_norms",
        "layer_grad_norms/matches_formula",
        """
def layer_grad_norms(grads):
    return jnp.stack([sum(jnp.sum(jnp.square(x)) for x in jax.tree.leaves(g)) for g in grads])
""",
    ),
    # initializers
    Mutant(
        "he_fan_out",
        "init_he",
        "init_he/matches_jax",
        """
import math


def init_he(key, shape):
    fan_out = shape[-1] * math.prod(shape[:-2])
    return jax.random.truncated_normal(key, -2.0, 2.0, shape) * jnp.sqrt(2.0 / fan_out) / (
        0.87962566103423978
    )
""",
    ),
    Mutant(
        "he_variance_one_over_fan_in",
        "init_he",
        "init_he/variance",
        """
import math


def init_he(key, shape):
    fan_in = shape[-2] * math.prod(shape[:-2])
    return jax.random.truncated_normal(key, -2.0, 2.0, shape) * jnp.sqrt(1.0 / fan_in) / (
        0.87962566103423978
    )
""",
    ),
    Mutant(
        "he_untruncated_normal",
        "init_he",
        "init_he/matches_jax",
        """
import math


def init_he(key, shape):
    fan_in = shape[-2] * math.prod(shape[:-2])
    return jax.random.normal(key, shape) * jnp.sqrt(2.0 / fan_in)
""",
    ),
    Mutant(
        "he_truncated_uncorrected",
        "init_he",
        "init_he/variance",
        """
import math


def init_he(key, shape):
    fan_in = shape[-2] * math.prod(shape[:-2])
    return jax.random.truncated_normal(key, -2.0, 2.0, shape) * jnp.sqrt(2.0 / fan_in)
""",
    ),
    Mutant(
        "xavier_normal",
        "init_xavier",
        "init_xavier/matches_jax",
        """
import math


def init_xavier(key, shape):
    rf = math.prod(shape[:-2])
    return jax.random.normal(key, shape) * jnp.sqrt(2.0 / ((shape[-2] + shape[-1]) * rf))
""",
    ),
    Mutant(
        "xavier_torch_conv_fans",
        "init_xavier",
        "init_xavier/matches_jax",
        """
import math


def init_xavier(key, shape):
    rf = math.prod(shape[2:])
    limit = jnp.sqrt(6.0 / ((shape[0] + shape[1]) * rf))
    return jax.random.uniform(key, shape, jnp.float32, -1.0, 1.0) * limit
""",
    ),
    # residual_mlp
    Mutant(
        "residual_inside_activation",
        "residual_mlp",
        "residual_mlp/matches_formula",
        """
def residual_mlp(params, x, *, activation=jnp.tanh):
    h = x
    for layer in params:
        h = activation(h + h @ layer["w"] + layer["b"].reshape(1, -1))
    return h
""",
    ),
    Mutant(
        "residual_inside_activation_depth",
        "residual_mlp",
        "residual_mlp/sigmoid_depth_survives",
        """
def residual_mlp(params, x, *, activation=jnp.tanh):
    h = x
    for layer in params:
        h = activation(h + h @ layer["w"] + layer["b"].reshape(1, -1))
    return h
""",
    ),
    Mutant(
        "residual_no_skip",
        "residual_mlp",
        "residual_mlp/sigmoid_depth_survives",
        """
def residual_mlp(params, x, *, activation=jnp.tanh):
    h = x
    for layer in params:
        h = activation(h @ layer["w"] + layer["b"].reshape(1, -1))
    return h
""",
    ),
    # detect_nonfinite
    Mutant(
        "detect_nan_only",
        "detect_nonfinite",
        "detect_nonfinite/nan_inf_int",
        """
def detect_nonfinite(tree):
    leaves = [x for x in jax.tree.leaves(tree) if jnp.issubdtype(x.dtype, jnp.inexact)]
    return jnp.any(jnp.stack([jnp.asarray(False)] + [jnp.any(jnp.isnan(x)) for x in leaves]))
""",
    ),
    Mutant(
        "detect_python_bool",
        "detect_nonfinite",
        "detect_nonfinite/nan_inf_int",
        """
def detect_nonfinite(tree):
    return bool(_original_detect_nonfinite(tree))
""",
    ),
    Mutant(
        "detect_python_bool_jit",
        "detect_nonfinite",
        "detect_nonfinite/exploding_net",
        """
def detect_nonfinite(tree):
    return bool(_original_detect_nonfinite(tree))
""",
    ),
    Mutant(
        "layer_norms_python_floats",
        "layer_grad_norms",
        "layer_grad_norms/jit",
        """
def layer_grad_norms(grads):
    return jnp.array([float(global_norm(layer)) for layer in grads], jnp.float32)
""",
        status="error",
    ),
    Mutant(
        "layer_norms_optax",
        "layer_grad_norms",
        "layer_grad_norms/forbidden",
        """
import optax


def layer_grad_norms(grads):
    return jnp.stack([optax.tree.norm(layer) for layer in grads])
""",
        status="forbidden",
    ),
    Mutant(
        "global_norm_optax",
        "global_norm",
        "global_norm/forbidden",
        """
import optax


def global_norm(tree):
    return optax.global_norm(tree)
""",
        status="forbidden",
    ),
    Mutant(
        "clip_optax",
        "clip_by_global_norm",
        "clip_by_global_norm/forbidden",
        f"""
import optax


def clip_by_global_norm({_CLIP}):
    return optax.clip_by_global_norm(max_norm).update(grads, optax.EmptyState())[0]
""",
        status="forbidden",
    ),
    Mutant(
        "xavier_limit_is_std",
        "init_xavier",
        "init_xavier/bound_and_variance",
        """
import math


def init_xavier(key, shape):
    rf = math.prod(shape[:-2])
    std = (2.0 / ((shape[-2] + shape[-1]) * rf)) ** 0.5  # the std used as the uniform limit
    return jax.random.uniform(key, shape, jnp.float32, -1.0, 1.0) * std
""",
    ),
    Mutant(
        "xavier_fixed_key",
        "init_xavier",
        "init_xavier/prng",
        """
def init_xavier(key, shape):
    return _original_init_xavier(jax.random.key(0), shape)
""",
    ),
    Mutant(
        "xavier_numpy_rng",
        "init_xavier",
        "init_xavier/jit",
        """
import math

import numpy as np


def init_xavier(key, shape):
    rng = np.random.default_rng(int(jax.random.key_data(key)[-1]))
    a = (6.0 / ((shape[-2] + shape[-1]) * math.prod(shape[:-2]))) ** 0.5
    return jnp.asarray(rng.uniform(-a, a, shape), jnp.float32)
""",
        status="error",
    ),
    Mutant(
        "xavier_forgets_the_limit",
        "init_xavier",
        "init_xavier/sigmoid_depth_vanishes",
        """
def init_xavier(key, shape):
    return jax.random.uniform(key, shape, jnp.float32, -1.0, 1.0)
""",
    ),
    Mutant(
        "xavier_fan_in_only",
        "init_xavier",
        "init_xavier/relu_depth_shrinks",
        """
import math


def init_xavier(key, shape):
    a = (6.0 / (shape[-2] * math.prod(shape[:-2]))) ** 0.5
    return jax.random.uniform(key, shape, jnp.float32, -1.0, 1.0) * a
""",
    ),
    Mutant(
        "xavier_jax_initializer",
        "init_xavier",
        "init_xavier/forbidden",
        """
def init_xavier(key, shape):
    return jax.nn.initializers.glorot_uniform()(key, shape)
""",
        status="forbidden",
    ),
    Mutant(
        "he_fixed_key",
        "init_he",
        "init_he/prng",
        """
def init_he(key, shape):
    return _original_init_he(jax.random.key(0), shape)
""",
    ),
    Mutant(
        "he_numpy_rng",
        "init_he",
        "init_he/jit",
        """
import numpy as np


def init_he(key, shape):
    rng = np.random.default_rng(int(jax.random.key_data(key)[-1]))
    fan_in = int(np.prod(shape[:-1]))
    return jnp.asarray(rng.normal(0.0, (2.0 / fan_in) ** 0.5, shape), jnp.float32)
""",
        status="error",
    ),
    Mutant(
        "he_variance_one_over_fan_in_depth",
        "init_he",
        "init_he/relu_depth_stable",
        """
import math


def init_he(key, shape):
    fan_in = shape[-2] * math.prod(shape[:-2])
    return jax.random.truncated_normal(key, -2.0, 2.0, shape) * jnp.sqrt(1.0 / fan_in) / (
        0.87962566103423978
    )
""",
    ),
    Mutant(
        "he_jax_initializer",
        "init_he",
        "init_he/forbidden",
        """
from jax.nn import initializers


def init_he(key, shape):
    return initializers.he_normal()(key, shape)
""",
        status="forbidden",
    ),
    Mutant(
        "residual_python_if",
        "residual_mlp",
        "residual_mlp/jit",
        """
def residual_mlp(params, x, *, activation=jnp.tanh):
    if float(jnp.max(jnp.abs(x))) > 1e6:
        raise ValueError("inputs too large")
    return _original_residual_mlp(params, x, activation=activation)
""",
        status="error",
    ),
    Mutant(
        "residual_numpy_input",
        "residual_mlp",
        "residual_mlp/vmap",
        """
import numpy as np


def residual_mlp(params, x, *, activation=jnp.tanh):
    h = jnp.asarray(np.asarray(x, np.float32))
    return _original_residual_mlp(params, h, activation=activation)
""",
        status="error",
    ),
    Mutant(
        "residual_frozen_weights",
        "residual_mlp",
        "residual_mlp/grad",
        """
def residual_mlp(params, x, *, activation=jnp.tanh):
    return _original_residual_mlp(jax.lax.stop_gradient(params), x, activation=activation)
""",
    ),
    Mutant(
        "residual_skips_from_input",
        "residual_mlp",
        "residual_mlp/tanh_depth_stable",
        """
def residual_mlp(params, x, *, activation=jnp.tanh):
    h = x
    for layer in params:
        h = x + activation(h @ layer["w"] + layer["b"][None, :])
    return h
""",
    ),
    Mutant(
        "detect_chex",
        "detect_nonfinite",
        "detect_nonfinite/forbidden",
        """
import chex


def detect_nonfinite(tree):
    try:
        chex.assert_tree_all_finite(tree)
    except AssertionError:
        return jnp.asarray(True)
    return jnp.asarray(False)
""",
        status="forbidden",
    ),
]

ALTERNATIVES = [
    Alternative(
        "global_norm_ravel",
        "global_norm",
        """
def global_norm(tree):
    return jnp.linalg.norm(jnp.concatenate([jnp.ravel(x) for x in jax.tree.leaves(tree)]))
""",
    ),
    Alternative(
        "layer_norms_vdot",
        "layer_grad_norms",
        """
def layer_grad_norms(grads):
    out = []
    for layer in grads:
        out.append(jnp.sqrt(sum(jnp.vdot(x, x) for x in jax.tree.leaves(layer))))
    return jnp.asarray(out, dtype=jnp.float32)
""",
    ),
    Alternative(
        "clip_max_form",
        "clip_by_global_norm",
        f"""
def clip_by_global_norm({_CLIP}):
    norm = global_norm(grads)
    scale = max_norm / jnp.maximum(norm, max_norm)
    return jax.tree.map(lambda g: g * scale, grads)
""",
    ),
    Alternative(
        "he_python_floats",
        "init_he",
        """
import math


def init_he(key, shape):
    fan_in = shape[-2] * math.prod(shape[:-2])
    std = (2.0 / fan_in) ** 0.5 / 0.87962566103423978
    return jax.random.truncated_normal(key, -2.0, 2.0, shape, jnp.float32) * std
""",
    ),
    Alternative(
        "xavier_minval_maxval",
        "init_xavier",
        """
import math


def init_xavier(key, shape):
    rf = math.prod(shape[:-2])
    a = (6.0 / ((shape[-2] + shape[-1]) * rf)) ** 0.5
    return jax.random.uniform(key, shape, jnp.float32, -1.0, 1.0) * a
""",
    ),
    Alternative(
        "detect_isnan_isinf",
        "detect_nonfinite",
        """
def detect_nonfinite(tree):
    bad = jnp.asarray(False)
    for x in jax.tree.leaves(tree):
        if jnp.issubdtype(jnp.result_type(x), jnp.floating):
            bad = bad | jnp.any(jnp.isnan(x)) | jnp.any(jnp.isinf(x))
    return bad
""",
    ),
    Alternative(
        "residual_reduce",
        "residual_mlp",
        """
import functools


def residual_mlp(params, x, *, activation=jnp.tanh):
    def block(h, layer):
        return h + activation(jnp.dot(h, layer["w"]) + layer["b"][None, :])

    return functools.reduce(block, params, jnp.asarray(x))
""",
    ),
]
