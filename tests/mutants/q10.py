"""Known-wrong and correct-but-different activation functions for the q10 grader."""

from tests.grading import Alternative, Mutant

ELEMENTWISE = ("sigmoid", "relu", "leaky_relu", "tanh", "softplus", "gelu")


def _signature(task):
    return {"leaky_relu": "x, negative_slope=0.01", "gelu": "x, approximate=True",
            "softmax": "x, axis=-1", "log_softmax": "x, axis=-1"}.get(task, "x")


def _call(task):
    return {"leaky_relu": "x, negative_slope", "gelu": "x, approximate",
            "softmax": "x, axis", "log_softmax": "x, axis"}.get(task, "x")


def _no_gradient(task, check=None):
    """Right values, but the output is cut off from the graph."""
    return Mutant(f"{task}_stop_gradient", task, check or f"{task}/grad", f"""
def {task}({_signature(task)}):
    return jax.lax.stop_gradient(_original_{task}({_call(task)}))
""")


def _python_branch(task):
    """A Python `if` on an array value: fine eagerly, a ConcretizationTypeError under jit."""
    return Mutant(f"{task}_python_if", task, f"{task}/jit", f"""
def {task}({_signature(task)}):
    if float(jnp.max(jnp.abs(x))) > 1e30:
        return x
    return _original_{task}({_call(task)})
""", status="error")


def _forbidden(task, upstream):
    return Mutant(f"{task}_calls_upstream", task, f"{task}/forbidden",
                  f"""
def {task}({_signature(task)}):
    return {upstream}({_call(task)})
""", status="forbidden")


def _gelu_backward_overflows(approximate, check):
    """Right values; the backward pass overflows for |x| > 1e3 (as naive exp formulas do)."""
    return Mutant(f"gelu_backward_overflows_{approximate}", "gelu", check, f"""
def gelu(x, approximate=True):
    if approximate != {approximate}:
        return _original_gelu(x, approximate)

    @jax.custom_jvp
    def f(x):
        return _original_gelu(x, approximate)

    @f.defjvp
    def f_jvp(primals, tangents):
        (x,), (t,) = primals, tangents
        y, dy = jax.jvp(lambda z: _original_gelu(z, approximate), (x,), (t,))
        return y, jnp.where(jnp.abs(x) > 1e3, jnp.inf * dy, dy)

    return f(x)
""")


MUTANTS = [
    # sigmoid
    Mutant("sigmoid_sign_flip", "sigmoid", "sigmoid/matches", """
def sigmoid(x):
    return 1 / (1 + jnp.exp(x))
"""),
    _no_gradient("sigmoid"),
    Mutant("sigmoid_naive_exp", "sigmoid", "sigmoid/grad_extreme", """
def sigmoid(x):
    return 1 / (1 + jnp.exp(-x))
"""),
    _python_branch("sigmoid"),
    Mutant("sigmoid_offset", "sigmoid", "sigmoid/symmetry", """
def sigmoid(x):
    return _original_sigmoid(x) * 0.999
"""),
    # relu
    Mutant("relu_leaks", "relu", "relu/matches", """
def relu(x):
    return jnp.maximum(x, 0.01 * x)
"""),
    Mutant("relu_detached_input", "relu", "relu/grad", """
def relu(x):
    return jax.lax.stop_gradient(x) * (x > 0)
"""),
    Mutant("relu_steep_naive_sigmoid", "relu", "relu/grad_extreme", """
def relu(x):
    return x * (1 / (1 + jnp.exp(-1e6 * x)))
"""),
    _python_branch("relu"),
    # leaky_relu
    Mutant("leaky_relu_constant_branch", "leaky_relu", "leaky_relu/matches", """
def leaky_relu(x, negative_slope=0.01):
    return jnp.where(x >= 0, x, negative_slope)
"""),
    Mutant("leaky_relu_detached_negative", "leaky_relu", "leaky_relu/grad", """
def leaky_relu(x, negative_slope=0.01):
    return jnp.where(x >= 0, x, negative_slope * jax.lax.stop_gradient(x))
"""),
    Mutant("leaky_relu_steep_naive_sigmoid", "leaky_relu",
           "leaky_relu/grad_extreme", """
def leaky_relu(x, negative_slope=0.01):
    gate = 1 / (1 + jnp.exp(-1e6 * x))
    return x * (negative_slope + (1 - negative_slope) * gate)
"""),
    Mutant("leaky_relu_hardcoded_slope", "leaky_relu", "leaky_relu/negative_slope", """
def leaky_relu(x, negative_slope=0.01):
    return jnp.where(x >= 0, x, 0.01 * x)
"""),
    _python_branch("leaky_relu"),
    # tanh
    Mutant("tanh_exp_ratio", "tanh", "tanh/matches", """
def tanh(x):
    return (jnp.exp(x) - jnp.exp(-x)) / (jnp.exp(x) + jnp.exp(-x))
"""),
    _no_gradient("tanh"),
    Mutant("tanh_via_naive_sigmoid", "tanh", "tanh/grad_extreme", """
def tanh(x):
    return 2 / (1 + jnp.exp(-2 * x)) - 1
"""),
    _python_branch("tanh"),
    # softplus
    Mutant("softplus_log_one_plus_exp", "softplus", "softplus/matches", """
def softplus(x):
    return jnp.log(1 + jnp.exp(x))
"""),
    _no_gradient("softplus"),
    Mutant("softplus_where_trap", "softplus", "softplus/grad_extreme", """
def softplus(x):
    return jnp.where(x > 20, x, jnp.log1p(jnp.exp(x)))
"""),
    _python_branch("softplus"),
    # gelu
    Mutant("gelu_coefficient_typo", "gelu", "gelu/matches", """
def gelu(x, approximate=True):
    if approximate:
        return 0.5 * x * (1 + jnp.tanh(0.7978845608 * (x + 0.0447 * x**3)))
    return _original_gelu(x, approximate)
"""),
    Mutant("gelu_ignores_approximate", "gelu", "gelu/matches_exact", """
def gelu(x, approximate=True):
    return _original_gelu(x, True)
"""),
    Mutant("gelu_detached_gate", "gelu", "gelu/grad", """
def gelu(x, approximate=True):
    if approximate:
        inner = 0.7978845608028654 * (x + 0.044715 * x**3)
        return 0.5 * x * (1 + jax.lax.stop_gradient(jnp.tanh(inner)))
    return _original_gelu(x, approximate)
"""),
    Mutant("gelu_exact_detached_gate", "gelu", "gelu/grad_exact", """
def gelu(x, approximate=True):
    if not approximate:
        return x * jax.lax.stop_gradient(0.5 * jax.lax.erfc(-x / jnp.sqrt(2.0)))
    return _original_gelu(x, approximate)
"""),
    _gelu_backward_overflows(True, "gelu/grad_extreme"),
    _gelu_backward_overflows(False, "gelu/grad_extreme_exact"),
    _python_branch("gelu"),
    # softmax
    Mutant("softmax_ignores_axis", "softmax", "softmax/matches", """
def softmax(x, axis=-1):
    e = jnp.exp(x - jnp.max(x))
    return e / jnp.sum(e)
"""),
    Mutant("softmax_detached_denominator", "softmax", "softmax/grad", """
def softmax(x, axis=-1):
    e = jnp.exp(x - jax.lax.stop_gradient(jnp.max(x, axis, keepdims=True)))
    return e / jax.lax.stop_gradient(jnp.sum(e, axis, keepdims=True))
"""),
    _python_branch("softmax"),
    Mutant("softmax_numpy_max", "softmax", "softmax/vmap", """
def softmax(x, axis=-1):
    m = np.max(np.asarray(x), axis=axis, keepdims=True)
    e = jnp.exp(x - m)
    return e / jnp.sum(e, axis, keepdims=True)
""", status="error"),
    Mutant("softmax_epsilon_in_denominator", "softmax", "softmax/rows_sum_to_one",
           """
def softmax(x, axis=-1):
    e = jnp.exp(x - jnp.max(x, axis, keepdims=True))
    return e / (jnp.sum(e, axis, keepdims=True) + 1e-3)
"""),
    Mutant("softmax_no_max_shift", "softmax",
           "softmax/shift_invariant", """
def softmax(x, axis=-1):
    e = jnp.exp(x)
    return e / jnp.sum(e, axis, keepdims=True)
"""),
    # log_softmax
    Mutant("log_softmax_log_of_softmax", "log_softmax", "log_softmax/matches",
           """
def log_softmax(x, axis=-1):
    e = jnp.exp(x - jnp.max(x, axis, keepdims=True))
    return jnp.log(e / jnp.sum(e, axis, keepdims=True))
"""),
    Mutant("log_softmax_detached_normalizer", "log_softmax", "log_softmax/grad", """
def log_softmax(x, axis=-1):
    shifted = x - jax.lax.stop_gradient(jnp.max(x, axis, keepdims=True))
    return shifted - jax.lax.stop_gradient(jnp.log(jnp.sum(jnp.exp(shifted), axis,
                                                            keepdims=True)))
"""),
    _python_branch("log_softmax"),
    Mutant("log_softmax_numpy_max", "log_softmax", "log_softmax/vmap", """
def log_softmax(x, axis=-1):
    shifted = x - np.max(np.asarray(x), axis=axis, keepdims=True)
    return shifted - jnp.log(jnp.sum(jnp.exp(shifted), axis, keepdims=True))
""", status="error"),
    Mutant("log_softmax_forgets_normalizer", "log_softmax",
           "log_softmax/nonpositive", """
def log_softmax(x, axis=-1):
    return x - jnp.max(x, axis, keepdims=True)
"""),
    # forbidden shortcuts
    Mutant("softmax_rebound_to_upstream", "softmax", "softmax/forbidden", """
softmax = jax.nn.softmax
""", status="forbidden"),  # the def stays in the file; the later binding is what runs
    Mutant("gelu_bound_at_run_time", "gelu", "gelu/forbidden", """
globals()["ge" + "lu"] = getattr(jax.nn, "ge" + "lu")
""", status="forbidden"),  # no source reading sees it: the loaded object is jax.nn.gelu
    _forbidden("sigmoid", "jax.nn.sigmoid"),
    _forbidden("relu", "jax.nn.relu"),
    _forbidden("leaky_relu", "jax.nn.leaky_relu"),
    Mutant("tanh_from_scipy_alias", "tanh", "tanh/forbidden", """
import jax.scipy.special as sps

def tanh(x):
    return 2 * sps.expit(2 * x) - 1
""", status="forbidden"),
    Mutant("softplus_flax_alias", "softplus", "softplus/forbidden", """
from flax import nnx

def softplus(x):
    return nnx.softplus(x)
""", status="forbidden"),
    _forbidden("gelu", "jax.nn.gelu"),
    Mutant("softmax_via_helper", "softmax", "softmax/forbidden", """
from jax import nn as _nn

def _helper(x, axis):
    return _nn.softmax(x, axis=axis)

def softmax(x, axis=-1):
    return _helper(x, axis)
""", status="forbidden"),
    _forbidden("log_softmax", "jax.nn.log_softmax"),
]

ALTERNATIVES = [
    Alternative("sigmoid_via_tanh", "sigmoid", """
def sigmoid(x):
    return 0.5 * (jnp.tanh(x / 2) + 1)
"""),
    Alternative("relu_maximum", "relu", """
def relu(x):
    return jnp.maximum(x, 0)
"""),
    Alternative("leaky_relu_maximum", "leaky_relu", """
def leaky_relu(x, negative_slope=0.01):
    return jnp.where(x >= 0, x, x * negative_slope)
"""),
    Alternative("tanh_builtin", "tanh", """
def tanh(x):
    return jnp.tanh(x)
"""),
    Alternative("softplus_abs_form", "softplus", """
def softplus(x):
    return jnp.maximum(x, 0) + jnp.log1p(jnp.exp(-jnp.abs(x)))
"""),
    Alternative("softmax_from_log_softmax", "softmax", """
def softmax(x, axis=-1):
    shifted = x - jax.lax.stop_gradient(jnp.max(x, axis=axis, keepdims=True))
    return jnp.exp(shifted - jnp.log(jnp.sum(jnp.exp(shifted), axis=axis, keepdims=True)))
"""),
    Alternative("log_softmax_logsumexp_by_hand", "log_softmax", """
def log_softmax(x, axis=-1):
    m = jnp.max(x, axis=axis, keepdims=True)
    return x - (m + jnp.log(jnp.sum(jnp.exp(x - m), axis=axis, keepdims=True)))
"""),
]
