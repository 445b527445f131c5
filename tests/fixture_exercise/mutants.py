"""Known-wrong versions of the test exercise's tasks, one per check at least."""

from tests.grading import Mutant

MUTANTS = [
    Mutant(
        "affine_ignores_scale",
        "affine",
        "affine/matches",
        """
def affine(params, x, *, scale=1.0):
    return {"y": x @ params["w"] + params["b"], "norm": jnp.sqrt(jnp.sum(x * x, axis=-1))}
""",
    ),
    Mutant(
        "affine_tuple_not_dict",
        "affine",
        "affine/matches",
        """
def affine(params, x, *, scale=1.0):
    out = _original_affine(params, x, scale=scale)
    return (out["norm"], out["y"])
""",
    ),
    Mutant(
        "affine_numpy_norm",
        "affine",
        "affine/jit",
        """
import numpy as np

def affine(params, x, *, scale=1.0):
    out = _original_affine(params, x, scale=scale)
    return {"y": out["y"], "norm": jnp.asarray(np.sqrt(np.sum(np.asarray(x) ** 2, axis=-1)))}
""",
        status="error",
    ),
    Mutant(
        "affine_fixed_batch_axis",
        "affine",
        "affine/vmap",
        """
def affine(params, x, *, scale=1.0):
    out = _original_affine(params, x, scale=scale)
    return {"y": out["y"], "norm": jnp.sqrt(jnp.sum(x * x, axis=1))}
""",
    ),
    Mutant(
        "affine_detached_weights",
        "affine",
        "affine/grad",
        """
def affine(params, x, *, scale=1.0):
    params = {"w": jax.lax.stop_gradient(params["w"]), "b": params["b"]}
    return _original_affine(params, x, scale=scale)
""",
    ),
    Mutant(
        "apply_linear_no_bias",
        "apply_linear",
        "apply_linear/matches",
        """
def apply_linear(model, x):
    return x @ model.kernel[...]
""",
    ),
    Mutant(
        "minimize_fixed_rate",
        "minimize",
        "minimize/matches",
        """
def minimize(objective, x0, *, steps=20, learning_rate=0.1):
    return _original_minimize(objective, x0, steps=steps, learning_rate=0.05)
""",
    ),
    Mutant(
        "describe_repr",
        "describe",
        "describe/matches",
        """
def describe(x):
    return str(x.shape)
""",
    ),
    Mutant(
        "sharded_sum_count_as_array",
        "sharded_sum",
        "sharded_sum/matches",
        """
def sharded_sum(x):
    total, n = _original_sharded_sum(x)
    return total, jnp.asarray(n)
""",
    ),
    Mutant(
        "sharded_sum_first_device_only",
        "sharded_sum",
        "sharded_sum/matches",
        """
def sharded_sum(x):
    return jnp.sum(x, axis=0), 1
""",
    ),
    Mutant(
        "word_counts_case_sensitive",
        "word_counts",
        "word_counts/matches",
        """
def word_counts(text, *, top=3):
    counts = {}
    for word in text.decode().split():
        counts[word] = counts.get(word, 0) + 1
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
""",
    ),
]
