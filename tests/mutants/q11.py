"""Known-wrong and correct-but-different CNN layers for the q11 grader."""

import ast
from pathlib import Path

from tests.grading import Alternative, Mutant

_SOLUTION = (Path(__file__).resolve().parents[2] / "solutions" / "q11" / "cnn.py").read_text()


def _solution_def(name):
    node = next(n for n in ast.parse(_SOLUTION).body
                if isinstance(n, ast.FunctionDef) and n.name == name)
    return ast.get_source_segment(_SOLUTION, node)


# The solution's layers call conv_output_size; a conv_output_size mutant keeps them on the
# correct version, so that only its own check sees the mistake (mutants of other tasks are
# graded in the same run).
_LAYERS_KEEP_ORIGINAL = "\n\n\n" + "\n\n\n".join(
    _solution_def(n).replace("conv_output_size(", "_original_conv_output_size(")
    for n in ("_pad_amounts", "_extract_patches"))


def _python_if(task, signature, call):
    """Input validation with a Python `if` on array values: fine eagerly, an error under jit."""
    return Mutant(f"{task}_python_if", task, f"{task}/jit", f"""
def {task}({signature}):
    if not jnp.all(jnp.isfinite(x)):
        raise ValueError("{task}: non-finite input")
    return _original_{task}({call})
""", status="error")


def _pairs_first_only(task, signature, call, names):
    """Reads only the first entry of an (h, w) pair and uses it on both axes."""
    lines = "\n".join(f"    {n} = {n} if isinstance({n}, int) else {n}[0]" for n in names)
    return Mutant(f"{task}_pairs_first_only", task, f"{task}/pairs", f"""
def {task}({signature}):
{lines}
    return _original_{task}({call})
""")


_CONV_SIG = 'x, w, b, *, stride=1, padding="VALID", dilation=1'
_CONV_CALL = "x, w, b, stride=stride, padding=padding, dilation=dilation"
_POOL_SIG = 'x, window, stride, padding="VALID"'
_POOL_CALL = "x, window, stride, padding"

MUTANTS = [
    # conv2d
    Mutant("conv2d_flips_kernel", "conv2d", "conv2d/matches", f"""
def conv2d({_CONV_SIG}):
    # a true convolution: the kernel flipped in both spatial axes
    return _original_conv2d(x, w[::-1, ::-1], b, stride=stride, padding=padding,
                            dilation=dilation)
"""),
    Mutant("conv2d_same_pads_top_left", "conv2d", "conv2d/matches",
           f"""
def _pads_top_left(size, k, s, d):
    out = -(-size // s)
    total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
    return (total - total // 2, total // 2)  # the odd cell at the top/left: not XLA's SAME

def conv2d({_CONV_SIG}):
    (sh, sw), (dh, dw) = _pair(stride), _pair(dilation)
    kh, kw = w.shape[:2]
    if padding == "SAME":
        ph = _pads_top_left(x.shape[1], kh, sh, dh)
        pw = _pads_top_left(x.shape[2], kw, sw, dw)
        x = jnp.pad(x, ((0, 0), ph, pw, (0, 0)))
    oh = (x.shape[1] - (kh - 1) * dh - 1) // sh + 1
    ow = (x.shape[2] - (kw - 1) * dw - 1) // sw + 1
    y = 0.0
    for i in range(kh):
        for j in range(kw):
            tap = x[:, i * dh: i * dh + (oh - 1) * sh + 1: sh,
                    j * dw: j * dw + (ow - 1) * sw + 1: sw, :]
            y = y + jnp.einsum("nhwc,co->nhwo", tap, w[i, j])
    return y + b
"""),
    Mutant("conv2d_ignores_dilation", "conv2d", "conv2d/matches",
           f"""
def conv2d({_CONV_SIG}):
    return _original_conv2d(x, w, b, stride=stride, padding=padding)
"""),
    _pairs_first_only("conv2d", _CONV_SIG, _CONV_CALL, ("stride", "dilation")),
    Mutant("conv2d_detached_kernel", "conv2d", "conv2d/grad", f"""
def conv2d({_CONV_SIG}):
    return _original_conv2d(x, jax.lax.stop_gradient(w), b, stride=stride, padding=padding,
                            dilation=dilation)
"""),
    _python_if("conv2d", _CONV_SIG, _CONV_CALL),
    Mutant("conv2d_numpy_input", "conv2d", "conv2d/vmap", f"""
import numpy as np

def conv2d({_CONV_SIG}):
    x = jnp.asarray(np.asarray(x, dtype=np.float32))
    return _original_conv2d({_CONV_CALL})
""", status="error"),
    Mutant("conv2d_standardizes_input", "conv2d", "conv2d/translation_equivariance", f"""
def conv2d({_CONV_SIG}):
    x = (x - jnp.mean(x)) / (jnp.std(x) + 1e-6)
    return _original_conv2d({_CONV_CALL})
"""),
    Mutant("conv2d_lax_alias", "conv2d", "conv2d/forbidden", f"""
from jax import lax as L

def conv2d({_CONV_SIG}):
    y = L.conv_general_dilated(x, w, _pair(stride), padding, rhs_dilation=_pair(dilation),
                               dimension_numbers=("NHWC", "HWIO", "NHWC"))
    return y + b
""", status="forbidden"),
    # conv_output_size
    Mutant("conv_output_size_ignores_dilation", "conv_output_size",
           "conv_output_size/exact", """
def conv_output_size(size, kernel, stride, padding, dilation=1):
    if padding == "SAME":
        return -(-size // stride)
    return max(0, (size - kernel) // stride + 1)
""" + _LAYERS_KEEP_ORIGINAL),
    Mutant("conv_output_size_same_pads_half_kernel", "conv_output_size",
           "conv_output_size/exact", """
def conv_output_size(size, kernel, stride, padding, dilation=1):
    effective = (kernel - 1) * dilation + 1
    pad = 2 * ((effective - 1) // 2) if padding == "SAME" else 0  # PyTorch-style k // 2
    return max(0, (size + pad - effective) // stride + 1)
""" + _LAYERS_KEEP_ORIGINAL),
    Mutant("conv_output_size_no_clamp", "conv_output_size",
           "conv_output_size/exact", """
def conv_output_size(size, kernel, stride, padding, dilation=1):
    if padding == "SAME":
        return -(-size // stride)
    return (size - (kernel - 1) * dilation - 1) // stride + 1
""" + _LAYERS_KEEP_ORIGINAL),
    Mutant("conv_output_size_jnp_ceil", "conv_output_size",
           "conv_output_size/exact", """
def conv_output_size(size, kernel, stride, padding, dilation=1):
    if padding == "SAME":
        return jnp.ceil(size / stride).astype(jnp.int32)
    return jnp.maximum(0, (size - (kernel - 1) * dilation - 1) // stride + 1)
""" + _LAYERS_KEEP_ORIGINAL, status="wrong"),
    Mutant("conv_output_size_true_division", "conv_output_size",
           "conv_output_size/exact", """
import math

def conv_output_size(size, kernel, stride, padding, dilation=1):
    if padding == "SAME":
        return math.ceil(size / stride) * 1.0
    return max(0, (size - (kernel - 1) * dilation - 1) / stride + 1)
""" + _LAYERS_KEEP_ORIGINAL, status="wrong"),
    # max_pool
    Mutant("max_pool_zero_padding", "max_pool", "max_pool/matches", f"""
def max_pool({_POOL_SIG}):
    patches = _extract_patches(jnp.asarray(x), _pair(window), _pair(stride), padding, (1, 1),
                               0.0)
    return jnp.max(patches, axis=(3, 4))
"""),
    _pairs_first_only("max_pool", _POOL_SIG, _POOL_CALL, ("window", "stride")),
    Mutant("max_pool_straight_through_average", "max_pool",
           "max_pool/grad_to_max", f"""
def max_pool({_POOL_SIG}):
    # the max's value, the mean's gradient
    patches = _extract_patches(jnp.asarray(x), _pair(window), _pair(stride), padding, (1, 1),
                               -jnp.inf)
    top = jnp.max(patches, axis=(3, 4))
    mean = jnp.mean(jnp.where(jnp.isfinite(patches), patches, 0.0), axis=(3, 4))
    return mean + jax.lax.stop_gradient(top - mean)
"""),
    _python_if("max_pool", _POOL_SIG, _POOL_CALL),
    Mutant("max_pool_numpy_input", "max_pool", "max_pool/vmap", f"""
import numpy as np

def max_pool({_POOL_SIG}):
    x = jnp.asarray(np.asarray(x, dtype=np.float32))
    return _original_max_pool({_POOL_CALL})
""", status="error"),
    Mutant("max_pool_reduce_window", "max_pool", "max_pool/forbidden",
           f"""
from jax import lax

def max_pool({_POOL_SIG}):
    (kh, kw), (sh, sw) = _pair(window), _pair(stride)
    return lax.reduce_window(x, -jnp.inf, lax.max, (1, kh, kw, 1), (1, sh, sw, 1), padding)
""", status="forbidden"),
    # avg_pool
    Mutant("avg_pool_stride_is_window", "avg_pool", "avg_pool/matches", f"""
def avg_pool({_POOL_SIG}):
    return _original_avg_pool(x, window, window, padding)  # PyTorch's default stride
"""),
    _pairs_first_only("avg_pool", _POOL_SIG, _POOL_CALL, ("window", "stride")),
    Mutant("avg_pool_divides_by_real_cells", "avg_pool", "avg_pool/same_counts_padding",
           f"""
def avg_pool({_POOL_SIG}):
    ones = jnp.ones_like(x[..., :1])
    return (_original_avg_pool(x, window, stride, padding)
            / _original_avg_pool(ones, window, stride, padding))
"""),
    Mutant("avg_pool_detached", "avg_pool", "avg_pool/grad", f"""
def avg_pool({_POOL_SIG}):
    return _original_avg_pool(jax.lax.stop_gradient(x), window, stride, padding)
"""),
    _python_if("avg_pool", _POOL_SIG, _POOL_CALL),
    Mutant("avg_pool_flax", "avg_pool", "avg_pool/forbidden", f"""
from flax import nnx

def avg_pool({_POOL_SIG}):
    return nnx.avg_pool(x, _pair(window), strides=_pair(stride), padding=padding)
""", status="forbidden"),
    # global_avg_pool
    Mutant("global_avg_pool_keepdims", "global_avg_pool",
           "global_avg_pool/matches", """
def global_avg_pool(x):
    return jnp.mean(x, axis=(1, 2), keepdims=True)
"""),
    Mutant("global_avg_pool_detached", "global_avg_pool", "global_avg_pool/grad",
           """
def global_avg_pool(x):
    return jnp.mean(jax.lax.stop_gradient(x), axis=(1, 2))
"""),
    _python_if("global_avg_pool", "x", "x"),
    Mutant("global_avg_pool_flax", "global_avg_pool",
           "global_avg_pool/forbidden", """
import flax.nnx as nn

def global_avg_pool(x):
    return nn.avg_pool(x, x.shape[1:3]).reshape(x.shape[0], x.shape[3])
""", status="forbidden"),
    # dense
    Mutant("dense_forgets_bias", "dense", "dense/matches", """
def dense(x, w, b):
    return x @ w
"""),
    Mutant("dense_detached_weights", "dense", "dense/grad", """
def dense(x, w, b):
    return x @ jax.lax.stop_gradient(w) + b
"""),
    _python_if("dense", "x, w, b", "x, w, b"),
    # init_cnn
    Mutant("init_cnn_stores_hyperparameters", "init_cnn",
           "init_cnn/params", """
def init_cnn(key, num_classes=10):
    params = _original_init_cnn(key, num_classes)
    params["conv1"]["stride"] = 1
    return params
"""),
    Mutant("init_cnn_zero_weights", "init_cnn", "init_cnn/params",
           """
def init_cnn(key, num_classes=10):
    return jax.tree.map(jnp.zeros_like, _original_init_cnn(key, num_classes))
"""),
    Mutant("init_cnn_float16", "init_cnn", "init_cnn/params", """
def init_cnn(key, num_classes=10):
    return jax.tree.map(lambda a: a.astype(jnp.float16), _original_init_cnn(key, num_classes))
"""),
    Mutant("init_cnn_fixed_key", "init_cnn", "init_cnn/prng", """
def init_cnn(key, num_classes=10):
    return _original_init_cnn(jax.random.key(0), num_classes)
"""),
    Mutant("init_cnn_numpy_rng", "init_cnn", "init_cnn/jit", """
import numpy as np

def init_cnn(key, num_classes=10):
    rng = np.random.default_rng(int(jax.random.key_data(key)[-1]))
    def he(shape, fan_in):
        return jnp.asarray(rng.normal(size=shape) * np.sqrt(2.0 / fan_in), jnp.float32)
    return {"conv1": {"w": he((3, 3, 1, 16), 9), "b": jnp.zeros(16)},
            "conv2": {"w": he((3, 3, 16, 32), 144), "b": jnp.zeros(32)},
            "dense": {"w": he((512, num_classes), 512) / np.sqrt(2.0),
                      "b": jnp.zeros(num_classes)}}
""", status="error"),
    # cnn_apply
    Mutant("cnn_apply_squeezes_logits", "cnn_apply", "cnn_apply/logits_shape",
           """
def cnn_apply(params, x):
    return jnp.squeeze(_original_cnn_apply(params, x))
"""),
    Mutant("cnn_apply_rescales_in_python", "cnn_apply", "cnn_apply/jit", """
def cnn_apply(params, x):
    if x.max() > 1.0:  # raw 0..16 pixels?
        x = x / 16.0
    return _original_cnn_apply(params, x)
""", status="error"),
    Mutant("cnn_apply_forgets_conv2_bias", "cnn_apply", "cnn_apply/grad_reaches_params",
           """
def cnn_apply(params, x):
    h = relu(conv2d(x, params["conv1"]["w"], params["conv1"]["b"], padding="SAME"))
    h = max_pool(h, 2, 2)
    h = relu(conv2d(h, params["conv2"]["w"], jnp.zeros(params["conv2"]["w"].shape[-1]),
                    padding="SAME"))
    return dense(h.reshape((h.shape[0], -1)), params["dense"]["w"], params["dense"]["b"])
"""),
    Mutant("cnn_apply_relu_on_logits", "cnn_apply",
           "cnn_apply/train", """
def cnn_apply(params, x):
    return relu(_original_cnn_apply(params, x))  # an activation after every layer
"""),
    Mutant("cnn_apply_lax_conv", "cnn_apply", "cnn_apply/forbidden",
           """
import jax.lax

def cnn_apply(params, x):
    dn = ("NHWC", "HWIO", "NHWC")
    h = jax.lax.conv_general_dilated(x, params["conv1"]["w"], (1, 1), "SAME",
                                     dimension_numbers=dn)
    h = max_pool(relu(h + params["conv1"]["b"]), 2, 2)
    h = jax.lax.conv_general_dilated(h, params["conv2"]["w"], (1, 1), "SAME",
                                     dimension_numbers=dn)
    h = relu(h + params["conv2"]["b"])
    return dense(h.reshape((h.shape[0], -1)), params["dense"]["w"], params["dense"]["b"])
""", status="forbidden"),
]

ALTERNATIVES = [
    Alternative("conv2d_tap_loop", "conv2d", """
def _same_pads(size, k, s, d):
    out = -(-size // s)
    total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
    return (total // 2, total - total // 2)

def conv2d(x, w, b, *, stride=1, padding="VALID", dilation=1):
    sh, sw = (stride, stride) if isinstance(stride, int) else stride
    dh, dw = (dilation, dilation) if isinstance(dilation, int) else dilation
    kh, kw = w.shape[0], w.shape[1]
    if padding == "SAME":
        x = jnp.pad(x, ((0, 0), _same_pads(x.shape[1], kh, sh, dh),
                        _same_pads(x.shape[2], kw, sw, dw), (0, 0)))
    oh = (x.shape[1] - (kh - 1) * dh - 1) // sh + 1
    ow = (x.shape[2] - (kw - 1) * dw - 1) // sw + 1
    y = jnp.zeros((x.shape[0], oh, ow, w.shape[3]), x.dtype)
    for i in range(kh):
        for j in range(kw):
            tap = jax.lax.slice(x, (0, i * dh, j * dw, 0),
                                (x.shape[0], i * dh + (oh - 1) * sh + 1,
                                 j * dw + (ow - 1) * sw + 1, x.shape[3]), (1, sh, sw, 1))
            y = y + tap @ w[i, j]
    return y + b[None, None, None, :]
"""),
    Alternative("conv2d_im2col_matmul", "conv2d", """
def conv2d(x, w, b, *, stride=1, padding="VALID", dilation=1):
    kh, kw, c, o = w.shape
    patches = _extract_patches(x, (kh, kw), _pair(stride), padding, _pair(dilation), 0.0)
    n, oh, ow = patches.shape[:3]
    cols = patches.reshape(n * oh * ow, kh * kw * c)
    return (cols @ w.reshape(kh * kw * c, o)).reshape(n, oh, ow, o) + b
"""),
    Alternative("conv_output_size_math_ceil", "conv_output_size", """
import math

def conv_output_size(size, kernel, stride, padding, dilation=1):
    if padding == "SAME":
        return math.ceil(size / stride)
    span = dilation * (kernel - 1) + 1
    return 0 if span > size else math.floor((size - span) / stride) + 1
"""),
    Alternative("max_pool_running_maximum", "max_pool", """
def max_pool(x, window, stride, padding="VALID"):
    (kh, kw), (sh, sw) = _pair(window), _pair(stride)
    n, h, w, c = x.shape
    if padding == "SAME":
        oh, ow = -(-h // sh), -(-w // sw)
        th, tw = max((oh - 1) * sh + kh - h, 0), max((ow - 1) * sw + kw - w, 0)
        x = jnp.pad(x, ((0, 0), (th // 2, th - th // 2), (tw // 2, tw - tw // 2), (0, 0)),
                    constant_values=-jnp.inf)
    else:
        oh, ow = (h - kh) // sh + 1, (w - kw) // sw + 1
    out = jnp.full((n, oh, ow, c), -jnp.inf, x.dtype)
    for i in range(kh):
        for j in range(kw):
            out = jnp.maximum(out, x[:, i:i + (oh - 1) * sh + 1:sh, j:j + (ow - 1) * sw + 1:sw])
    return out
"""),
    Alternative("avg_pool_via_own_conv2d", "avg_pool", """
def avg_pool(x, window, stride, padding="VALID"):
    kh, kw = _pair(window)
    c = x.shape[-1]
    kernel = jnp.ones((kh, kw, 1, 1)) / (kh * kw) * jnp.eye(c)[None, None]
    return conv2d(x, kernel, jnp.zeros(c), stride=stride, padding=padding)
"""),
    Alternative("global_avg_pool_sum_over_count", "global_avg_pool", """
def global_avg_pool(x):
    return x.sum(axis=2).sum(axis=1) / (x.shape[1] * x.shape[2])
"""),
    Alternative("dense_matmul", "dense", """
def dense(x, w, b):
    return jnp.matmul(x, w) + b[None, :]
"""),
    Alternative("cnn_strided_conv", "cnn_apply", """
def init_cnn(key, num_classes=10):
    k1, k2, k3 = jax.random.split(key, 3)
    he = lambda k, shape, fan_in: jax.random.normal(k, shape) * jnp.sqrt(2.0 / fan_in)
    return {"c1": {"w": he(k1, (3, 3, 1, 16), 9), "b": jnp.zeros(16)},
            "c2": {"w": he(k2, (3, 3, 16, 32), 144), "b": jnp.zeros(32)},
            "out": {"w": he(k3, (4 * 4 * 32, num_classes), 512) / jnp.sqrt(2.0),
                    "b": jnp.zeros(num_classes)}}

def cnn_apply(params, x):
    h = relu(conv2d(x, params["c1"]["w"], params["c1"]["b"], padding="SAME"))
    h = relu(conv2d(h, params["c2"]["w"], params["c2"]["b"], stride=2, padding="SAME"))
    return dense(h.reshape(h.shape[0], -1), params["out"]["w"], params["out"]["b"])
"""),
]
