"""Known-wrong and correct-but-different backprop code for the q05 grader."""

from tests.grading import Alternative, Mutant

MUTANTS = [
    Mutant("forward_forgets_relu", "mlp_forward", "mlp_forward/matches", """
def mlp_forward(params, x):
    z1 = x @ params["w1"] + params["b1"][None, :]
    logits = z1 @ params["w2"] + params["b2"][None, :]
    return logits, {"x": x, "z1": z1, "h": z1, "logits": logits}
"""),
    Mutant("forward_detaches_w2", "mlp_forward", "mlp_forward/grad", """
def mlp_forward(params, x):
    z1 = x @ params["w1"] + params["b1"][None, :]
    h = relu(z1)
    logits = h @ jax.lax.stop_gradient(params["w2"]) + params["b2"][None, :]
    return logits, {"x": x, "z1": z1, "h": h, "logits": logits}
"""),
    Mutant("forward_python_if", "mlp_forward", "mlp_forward/jit", """
def mlp_forward(params, x):
    if float(jnp.abs(x).max()) > 1e6:
        x = x / 1e6
    return _original_mlp_forward(params, x)
""", status="error"),
    Mutant("ce_sums_instead_of_mean", "softmax_cross_entropy",
           "softmax_cross_entropy/matches", """
def softmax_cross_entropy(logits, labels):
    log_probs = log_softmax(logits, axis=-1)
    return -jnp.sum(jnp.take_along_axis(log_probs, labels[:, None], axis=-1))
"""),
    Mutant("ce_detached_normalizer", "softmax_cross_entropy",
           "softmax_cross_entropy/grad", """
def softmax_cross_entropy(logits, labels):
    m = jnp.max(logits, axis=-1, keepdims=True)
    lse = m + jnp.log(jnp.sum(jnp.exp(logits - m), axis=-1, keepdims=True))
    picked = jnp.take_along_axis(logits, labels[:, None], axis=-1)
    return -jnp.mean(picked - jax.lax.stop_gradient(lse))
"""),
    Mutant("ce_python_if", "softmax_cross_entropy", "softmax_cross_entropy/jit", """
def softmax_cross_entropy(logits, labels):
    if int(labels.max()) >= logits.shape[-1]:
        raise ValueError("label out of range")
    return _original_softmax_cross_entropy(logits, labels)
""", status="error"),
    Mutant("backward_forgets_mean", "mlp_backward", "mlp_backward/equals_grad", """
def mlp_backward(params, cache, labels):
    x, z1, h, logits = cache["x"], cache["z1"], cache["h"], cache["logits"]
    one_hot = (labels[:, None] == jnp.arange(logits.shape[1])[None, :]).astype(logits.dtype)
    d_logits = softmax(logits, axis=-1) - one_hot
    d_z1 = (d_logits @ params["w2"].T) * (z1 > 0)
    return {"w1": x.T @ d_z1, "b1": d_z1.sum(0), "w2": h.T @ d_logits, "b2": d_logits.sum(0)}
"""),
    Mutant("backward_forgets_relu_mask", "mlp_backward",
           "mlp_backward/finite_diff", """
def mlp_backward(params, cache, labels):
    x, h, logits = cache["x"], cache["h"], cache["logits"]
    one_hot = (labels[:, None] == jnp.arange(logits.shape[1])[None, :]).astype(logits.dtype)
    d_logits = (softmax(logits, axis=-1) - one_hot) / logits.shape[0]
    d_z1 = d_logits @ params["w2"].T
    return {"w1": x.T @ d_z1, "b1": d_z1.sum(0), "w2": h.T @ d_logits, "b2": d_logits.sum(0)}
"""),
    Mutant("backward_numpy_one_hot", "mlp_backward",
           "mlp_backward/vmap", """
import numpy as np

def mlp_backward(params, cache, labels):
    x, z1, h, logits = cache["x"], cache["z1"], cache["h"], cache["logits"]
    one_hot = np.eye(logits.shape[1], dtype=np.float32)[np.asarray(labels)]
    d_logits = (softmax(logits, axis=-1) - one_hot) / logits.shape[0]
    d_z1 = (d_logits @ params["w2"].T) * (z1 > 0)
    return {"w1": x.T @ d_z1, "b1": d_z1.sum(0), "w2": h.T @ d_logits, "b2": d_logits.sum(0)}
""", status="error"),
    Mutant("backward_value_dependent_classes", "mlp_backward", "mlp_backward/jit", """
def mlp_backward(params, cache, labels):
    x, z1, h, logits = cache["x"], cache["z1"], cache["h"], cache["logits"]
    num_classes = max(int(labels.max()) + 1, logits.shape[1])
    one_hot = (labels[:, None] == jnp.arange(num_classes)[None, :]).astype(logits.dtype)
    d_logits = (softmax(logits, axis=-1) - one_hot) / logits.shape[0]
    d_z1 = (d_logits @ params["w2"].T) * (z1 > 0)
    return {"w1": x.T @ d_z1, "b1": d_z1.sum(0), "w2": h.T @ d_logits, "b2": d_logits.sum(0)}
""", status="error"),
    Mutant("numgrad_forward_difference", "numerical_grad", "numerical_grad/matches",
           """
def numerical_grad(f, params, eps=1e-3):
    leaves, treedef = jax.tree.flatten(params)
    base = f(params)
    out = []
    for j, leaf in enumerate(leaves):
        flat = leaf.reshape(-1)
        g = []
        for i in range(flat.size):
            bumped = list(leaves)
            bumped[j] = flat.at[i].add(eps).reshape(leaf.shape)
            g.append((f(jax.tree.unflatten(treedef, bumped)) - base) / eps)
        out.append(jnp.stack(g).reshape(leaf.shape))
    return jax.tree.unflatten(treedef, out)
"""),
    Mutant("numgrad_divides_by_eps", "numerical_grad",
           "numerical_grad/close_to_grad", """
def numerical_grad(f, params, eps=1e-3):
    return jax.tree.map(lambda g: 2 * g, _original_numerical_grad(f, params, eps))
"""),
    Mutant("numgrad_python_floats", "numerical_grad", "numerical_grad/jit", """
def numerical_grad(f, params, eps=1e-3):
    leaves, treedef = jax.tree.flatten(params)
    out = []
    for j, leaf in enumerate(leaves):
        flat = leaf.reshape(-1)
        g = []
        for i in range(flat.size):
            plus, minus = list(leaves), list(leaves)
            plus[j] = flat.at[i].add(eps).reshape(leaf.shape)
            minus[j] = flat.at[i].add(-eps).reshape(leaf.shape)
            up = float(f(jax.tree.unflatten(treedef, plus)))
            down = float(f(jax.tree.unflatten(treedef, minus)))
            g.append((up - down) / (2 * eps))
        out.append(jnp.asarray(g, dtype=leaf.dtype).reshape(leaf.shape))
    return jax.tree.unflatten(treedef, out)
""", status="error"),
    Mutant("sgd_half_step", "sgd_step", "sgd_step/matches", """
def sgd_step(params, grads, learning_rate):
    return jax.tree.map(lambda p, g: p - 0.5 * learning_rate * g, params, grads)
"""),
    Mutant("sgd_python_if_on_lr", "sgd_step", "sgd_step/jit", """
def sgd_step(params, grads, learning_rate):
    if learning_rate <= 0:
        return params
    return jax.tree.map(lambda p, g: p - learning_rate * g, params, grads)
""", status="error"),
    Mutant("sgd_gradient_ascent", "sgd_step", "sgd_step/loss_falls", """
def sgd_step(params, grads, learning_rate):
    return jax.tree.map(lambda p, g: p + learning_rate * g, params, grads)
"""),
    Mutant("backward_uses_autodiff", "mlp_backward",
           "mlp_backward/forbidden", """
from jax import grad as g

def mlp_backward(params, cache, labels):
    def loss(p):
        logits, _ = mlp_forward(p, cache["x"])
        return softmax_cross_entropy(logits, labels)
    return g(loss)(params)
""", status="forbidden"),
    Mutant("numgrad_uses_autodiff", "numerical_grad",
           "numerical_grad/forbidden", """
def numerical_grad(f, params, eps=1e-3):
    return jax.grad(f)(params)
""", status="forbidden"),
]

MUTANTS += [
    Mutant("ce_calls_optax", "softmax_cross_entropy",
           "softmax_cross_entropy/forbidden", """
import optax

def softmax_cross_entropy(logits, labels):
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()
""", status="forbidden"),
    Mutant("ce_jax_nn_log_softmax", "softmax_cross_entropy",
           "softmax_cross_entropy/forbidden", """
def softmax_cross_entropy(logits, labels):
    logp = jax.nn.log_softmax(logits, axis=-1)
    return -jnp.mean(jnp.take_along_axis(logp, labels[:, None], axis=-1))
""", status="forbidden"),
    Mutant("sgd_step_via_optax", "sgd_step", "sgd_step/forbidden", """
from optax import sgd as _sgd

def sgd_step(params, grads, learning_rate):
    tx = _sgd(learning_rate)
    updates, _ = tx.update(grads, tx.init(params))
    return jax.tree.map(lambda p, u: p + u, params, updates)
""", status="forbidden"),
]

ALTERNATIVES = [
    Alternative("backward_einsum_and_one_hot", "mlp_backward", """
def mlp_backward(params, cache, labels):
    x, z1, logits = cache["x"], cache["z1"], cache["logits"]
    b = x.shape[0]
    probs = softmax(logits, axis=-1)
    d_logits = (probs - jax.nn.one_hot(labels, logits.shape[-1], dtype=probs.dtype)) / b
    h = jnp.maximum(z1, 0)
    d_z1 = jnp.einsum("bc,hc->bh", d_logits, params["w2"]) * (z1 > 0)
    return {"w1": jnp.einsum("bd,bh->dh", x, d_z1), "b1": d_z1.sum(axis=0),
            "w2": jnp.einsum("bh,bc->hc", h, d_logits), "b2": d_logits.sum(axis=0)}
"""),
    Alternative("ce_logsumexp_by_hand", "softmax_cross_entropy", """
def softmax_cross_entropy(logits, labels):
    m = jnp.max(logits, axis=-1, keepdims=True)
    lse = (m + jnp.log(jnp.sum(jnp.exp(logits - m), axis=-1, keepdims=True)))[:, 0]
    picked = jnp.take_along_axis(logits, labels[:, None], axis=-1)[:, 0]
    return jnp.mean(lse - picked)
"""),
    Alternative("numgrad_loop_over_elements", "numerical_grad", """
def numerical_grad(f, params, eps=1e-3):
    leaves, treedef = jax.tree.flatten(params)
    out = []
    for j, leaf in enumerate(leaves):
        flat = leaf.reshape(-1)
        g = []
        for i in range(flat.size):
            plus, minus = list(leaves), list(leaves)
            plus[j] = flat.at[i].add(eps).reshape(leaf.shape)
            minus[j] = flat.at[i].add(-eps).reshape(leaf.shape)
            diff = f(jax.tree.unflatten(treedef, plus)) - f(jax.tree.unflatten(treedef, minus))
            g.append(diff / (2 * eps))
        out.append(jnp.stack(g).reshape(leaf.shape).astype(leaf.dtype))
    return jax.tree.unflatten(treedef, out)
"""),
    Alternative("sgd_tree_util", "sgd_step", """
def sgd_step(params, grads, learning_rate):
    return jax.tree_util.tree_map(lambda p, g: p - learning_rate * g, params, grads)
"""),
]
