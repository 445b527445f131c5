"""Known-wrong and correct-but-different attention code for the q13 grader."""

from tests.grading import Alternative, Mutant

SDPA = "scaled_dot_product_attention"
MHA = "multi_head_attention"
BAH = "bahdanau_attention"
LUONG = "luong_attention"

_SDPA_SIG = "q, k, v, *, mask=None, is_causal=False"


def _sdpa_from_weights(weights_code: str) -> str:
    """An sdpa whose weights come from ``weights_code`` (given ``logits`` and ``allowed``)."""
    return f"""
def scaled_dot_product_attention({_SDPA_SIG}):
    logits = jnp.einsum("btnh,bsnh->bnts", q, k) / jnp.sqrt(q.shape[-1])
    allowed = jnp.ones(logits.shape, dtype=bool)
    if mask is not None:
        allowed = allowed & mask
    if is_causal:
        allowed = allowed & jnp.tril(jnp.ones(logits.shape[-2:], dtype=bool))
{weights_code}
    return jnp.einsum("bnts,bsnh->btnh", weights, v)
"""


MUTANTS = [
    # scaled_dot_product_attention
    Mutant("sdpa_forgets_scaling", SDPA, f"{SDPA}/matches", f"""
def scaled_dot_product_attention({_SDPA_SIG}):
    return _original_scaled_dot_product_attention(q * jnp.sqrt(q.shape[-1]), k, v, mask=mask,
                                                  is_causal=is_causal)
"""),
    Mutant("sdpa_causal_drops_user_mask", SDPA,
           f"{SDPA}/matches", f"""
def scaled_dot_product_attention({_SDPA_SIG}):
    if is_causal:
        t, s = q.shape[1], k.shape[1]
        mask = jnp.tril(jnp.ones((t, s), dtype=bool))
    return _original_scaled_dot_product_attention(q, k, v, mask=mask)
"""),
    Mutant("sdpa_causal_bottom_right", SDPA, f"{SDPA}/causal", f"""
def scaled_dot_product_attention({_SDPA_SIG}):
    if is_causal:
        t, s = q.shape[1], k.shape[1]
        causal = jnp.tril(jnp.ones((t, s), dtype=bool), k=s - t)
        mask = causal if mask is None else jnp.logical_and(mask, causal)
    return _original_scaled_dot_product_attention(q, k, v, mask=mask)
"""),
    Mutant("sdpa_softmax_over_queries", SDPA,
           f"{SDPA}/weights", _sdpa_from_weights("""
    weights = _masked_softmax(logits, allowed, axis=-2)
""")),
    Mutant("sdpa_mask_by_multiplying", SDPA,
           f"{SDPA}/weights", _sdpa_from_weights("""
    weights = _masked_softmax(logits * allowed, None)
""")),
    Mutant("sdpa_naive_exp", SDPA, f"{SDPA}/large_logits",
           _sdpa_from_weights("""
    e = jnp.where(allowed, jnp.exp(logits), 0.0)
    weights = e / jnp.sum(e, axis=-1, keepdims=True)
""")),
    Mutant("sdpa_additive_minus_1e4_mask", SDPA, f"{SDPA}/large_logits",
           _sdpa_from_weights("""
    weights = _masked_softmax(logits + (1.0 - allowed) * -10000.0, None)
""")),
    Mutant("sdpa_detached_normalizer", SDPA, f"{SDPA}/grad", _sdpa_from_weights("""
    z = jnp.where(allowed, logits, -1e30)
    e = jnp.exp(z - jnp.max(z, axis=-1, keepdims=True))
    weights = e / jax.lax.stop_gradient(jnp.sum(e, axis=-1, keepdims=True))
""")),
    Mutant("sdpa_python_if_on_mask", SDPA, f"{SDPA}/jit", f"""
def scaled_dot_product_attention({_SDPA_SIG}):
    if mask is not None and bool(jnp.all(mask)):
        mask = None  # nothing to hide: skip the masking
    return _original_scaled_dot_product_attention(q, k, v, mask=mask, is_causal=is_causal)
""", status="error"),
    Mutant("sdpa_numpy_mask", SDPA, f"{SDPA}/vmap", f"""
import numpy as np

def scaled_dot_product_attention({_SDPA_SIG}):
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
    return _original_scaled_dot_product_attention(q, k, v, mask=mask, is_causal=is_causal)
""", status="error"),
    Mutant("sdpa_calls_jax_nn_alias", SDPA, f"{SDPA}/forbidden", f"""
from jax import nn as jnn

def scaled_dot_product_attention({_SDPA_SIG}):
    return jnn.dot_product_attention(q, k, v, mask=mask, is_causal=is_causal)
""", status="forbidden"),
    # multi_head_attention
    Mutant("mha_head_dim_from_model_dim", MHA, f"{MHA}/matches", """
def multi_head_attention(params, x, *, num_heads, mask=None):
    b, t, d = x.shape
    h = d // num_heads

    def heads(p):
        flat = x @ p["kernel"].reshape(d, -1) + p["bias"].reshape(-1)
        return flat.reshape(b, t, num_heads, h)

    q, k, v = heads(params["query"]), heads(params["key"]), heads(params["value"])
    o = scaled_dot_product_attention(q, k, v, mask=mask).reshape(b, t, d)
    return o @ params["out"]["kernel"].reshape(d, -1) + params["out"]["bias"]
"""),
    Mutant("mha_forgets_value_bias", MHA, f"{MHA}/matches", """
def multi_head_attention(params, x, *, num_heads, mask=None):
    q = _project(x, **params["query"])
    k = _project(x, **params["key"])
    v = jnp.einsum("btd,dnh->btnh", x, params["value"]["kernel"])
    o = scaled_dot_product_attention(q, k, v, mask=mask)
    return jnp.einsum("btnh,nhd->btd", o, params["out"]["kernel"]) + params["out"]["bias"]
"""),
    Mutant("mha_causal_by_default", MHA, f"{MHA}/permutation", """
def multi_head_attention(params, x, *, num_heads, mask=None):
    q, k, v = (_project(x, **params[n]) for n in ("query", "key", "value"))
    o = scaled_dot_product_attention(q, k, v, mask=mask, is_causal=True)
    return jnp.einsum("btnh,nhd->btd", o, params["out"]["kernel"]) + params["out"]["bias"]
"""),
    Mutant("mha_detached_key_projection", MHA, f"{MHA}/grad", """
def multi_head_attention(params, x, *, num_heads, mask=None):
    q, v = _project(x, **params["query"]), _project(x, **params["value"])
    k = jax.lax.stop_gradient(_project(x, **params["key"]))
    o = scaled_dot_product_attention(q, k, v, mask=mask)
    return jnp.einsum("btnh,nhd->btd", o, params["out"]["kernel"]) + params["out"]["bias"]
"""),
    Mutant("mha_python_if_on_mask", MHA, f"{MHA}/jit", """
def multi_head_attention(params, x, *, num_heads, mask=None):
    if mask is not None and not bool(jnp.any(mask)):
        raise ValueError("the mask hides everything")
    return _original_multi_head_attention(params, x, num_heads=num_heads, mask=mask)
""", status="error"),
    Mutant("mha_numpy_input", MHA, f"{MHA}/vmap", """
import numpy as np

def multi_head_attention(params, x, *, num_heads, mask=None):
    x = np.asarray(x, dtype=np.float32)
    return _original_multi_head_attention(params, x, num_heads=num_heads, mask=mask)
""", status="error"),
    Mutant("mha_flax_dot_product_attention", MHA, f"{MHA}/forbidden",
           """
from flax.nnx import dot_product_attention as dpa

def multi_head_attention(params, x, *, num_heads, mask=None):
    q, k, v = (_project(x, **params[n]) for n in ("query", "key", "value"))
    o = dpa(q, k, v, mask=mask)
    return jnp.einsum("btnh,nhd->btd", o, params["out"]["kernel"]) + params["out"]["bias"]
""", status="forbidden"),
    # bahdanau_attention
    Mutant("bahdanau_forgets_tanh", BAH, f"{BAH}/matches", """
def bahdanau_attention(params, query, keys, *, mask=None):
    hidden = (query @ params["w_query"])[:, None, :] + keys @ params["w_key"]
    return _attend(hidden @ params["v"], keys, mask)
"""),
    Mutant("bahdanau_masks_after_softmax", BAH,
           f"{BAH}/weights", """
def bahdanau_attention(params, query, keys, *, mask=None):
    hidden = jnp.tanh((query @ params["w_query"])[:, None, :] + keys @ params["w_key"])
    weights = _masked_softmax(hidden @ params["v"], None)
    if mask is not None:
        weights = weights * mask
    return jnp.einsum("bs,bsd->bd", weights, keys), weights
"""),
    Mutant("bahdanau_naive_exp", BAH, f"{BAH}/large_scores", """
def bahdanau_attention(params, query, keys, *, mask=None):
    hidden = jnp.tanh((query @ params["w_query"])[:, None, :] + keys @ params["w_key"])
    e = jnp.exp(hidden @ params["v"])
    if mask is not None:
        e = jnp.where(mask, e, 0.0)
    weights = e / jnp.sum(e, axis=-1, keepdims=True)
    return jnp.einsum("bs,bsd->bd", weights, keys), weights
"""),
    Mutant("bahdanau_detached_weights_in_context", BAH, f"{BAH}/grad", """
def bahdanau_attention(params, query, keys, *, mask=None):
    context, weights = _original_bahdanau_attention(params, query, keys, mask=mask)
    context = jnp.einsum("bs,bsd->bd", jax.lax.stop_gradient(weights), keys)
    return context, weights
"""),
    Mutant("bahdanau_python_if_on_mask", BAH, f"{BAH}/jit", """
def bahdanau_attention(params, query, keys, *, mask=None):
    if mask is not None and bool(mask.all()):
        mask = None
    return _original_bahdanau_attention(params, query, keys, mask=mask)
""", status="error"),
    Mutant("bahdanau_numpy_tanh", BAH, f"{BAH}/vmap", """
import numpy as np

def bahdanau_attention(params, query, keys, *, mask=None):
    hidden = np.tanh((query @ params["w_query"])[:, None, :] + keys @ params["w_key"])
    return _attend(jnp.asarray(hidden) @ params["v"], keys, mask)
""", status="error"),
    Mutant("bahdanau_via_dot_product_attention_bias", BAH,
           f"{BAH}/forbidden", """
def bahdanau_attention(params, query, keys, *, mask=None):
    hidden = jnp.tanh((query @ params["w_query"])[:, None, :] + keys @ params["w_key"])
    scores = hidden @ params["v"]
    weights = _masked_softmax(scores, mask)
    b, s, d = keys.shape
    context = jax.nn.dot_product_attention(
        jnp.zeros((b, 1, 1, d)), keys[:, :, None, :], keys[:, :, None, :],
        bias=scores[:, None, None, :],
        mask=None if mask is None else mask[:, None, None, :])
    return context[:, 0, 0, :], weights
""", status="forbidden"),
    # luong_attention
    Mutant("luong_dot_scaled_by_sqrt_d", LUONG, f"{LUONG}/matches_dot",
           """
def luong_attention(params, query, keys, *, score="dot", mask=None):
    if score == "dot":
        scores = jnp.einsum("bd,bsd->bs", query, keys) / jnp.sqrt(keys.shape[-1])
        return _attend(scores, keys, mask)
    return _original_luong_attention(params, query, keys, score=score, mask=mask)
"""),
    Mutant("luong_general_w_transposed", LUONG,
           f"{LUONG}/matches_general", """
def luong_attention(params, query, keys, *, score="dot", mask=None):
    if score == "general":
        scores = jnp.einsum("bsk,kq,bq->bs", keys, params["w"], query)
        return _attend(scores, keys, mask)
    return _original_luong_attention(params, query, keys, score=score, mask=mask)
"""),
    Mutant("luong_softmax_over_batch", LUONG,
           f"{LUONG}/weights", """
def luong_attention(params, query, keys, *, score="dot", mask=None):
    if score == "dot":
        scores = jnp.einsum("bd,bsd->bs", query, keys)
    else:
        scores = jnp.einsum("bq,qk,bsk->bs", query, params["w"], keys)
    weights = _masked_softmax(scores, mask, axis=0)
    return jnp.einsum("bs,bsd->bd", weights, keys), weights
"""),
    Mutant("luong_naive_exp", LUONG, f"{LUONG}/large_scores", """
def luong_attention(params, query, keys, *, score="dot", mask=None):
    if score == "dot":
        scores = jnp.einsum("bd,bsd->bs", query, keys)
    else:
        scores = jnp.einsum("bq,qk,bsk->bs", query, params["w"], keys)
    e = jnp.exp(scores) if mask is None else jnp.where(mask, jnp.exp(scores), 0.0)
    weights = e / jnp.sum(e, axis=-1, keepdims=True)
    return jnp.einsum("bs,bsd->bd", weights, keys), weights
"""),
    Mutant("luong_detached_keys_in_scores", LUONG, f"{LUONG}/grad", """
def luong_attention(params, query, keys, *, score="dot", mask=None):
    fixed = jax.lax.stop_gradient(keys)
    if score == "dot":
        scores = jnp.einsum("bd,bsd->bs", query, fixed)
    else:
        scores = jnp.einsum("bq,qk,bsk->bs", query, params["w"], fixed)
    return _attend(scores, keys, mask)
"""),
    Mutant("luong_python_if_on_mask", LUONG, f"{LUONG}/jit", """
def luong_attention(params, query, keys, *, score="dot", mask=None):
    if mask is not None and int(mask.sum()) == mask.size:
        mask = None
    return _original_luong_attention(params, query, keys, score=score, mask=mask)
""", status="error"),
    Mutant("luong_numpy_scores", LUONG, f"{LUONG}/vmap", """
import numpy as np

def luong_attention(params, query, keys, *, score="dot", mask=None):
    if score == "dot":
        scores = np.einsum("bd,bsd->bs", query, keys)
    else:
        scores = np.einsum("bq,qk,bsk->bs", query, params["w"], keys)
    return _attend(jnp.asarray(scores), keys, mask)
""", status="error"),
    Mutant("luong_context_via_jax_nn", LUONG, f"{LUONG}/forbidden",
           """
import jax.nn

def luong_attention(params, query, keys, *, score="dot", mask=None):
    _, weights = _original_luong_attention(params, query, keys, score=score, mask=mask)
    q = query if score == "dot" else query @ params["w"]
    context = jax.nn.dot_product_attention(
        q[:, None, None, :], keys[:, :, None, :], keys[:, :, None, :], scale=1.0,
        mask=None if mask is None else mask[:, None, None, :])
    return context[:, 0, 0, :], weights
""", status="forbidden"),
]

ALTERNATIVES = [
    Alternative("sdpa_prescaled_q_jax_nn_softmax", SDPA, f"""
def scaled_dot_product_attention({_SDPA_SIG}):
    t, s = q.shape[1], k.shape[1]
    logits = jnp.einsum("btnh,bsnh->bnts", q / jnp.sqrt(jnp.float32(q.shape[-1])), k)
    if is_causal:
        causal = jnp.arange(t)[:, None] >= jnp.arange(s)[None, :]
        logits = jnp.where(causal, logits, -jnp.inf)
    if mask is not None:
        logits = jnp.where(mask, logits, -jnp.inf)
    weights = jax.nn.softmax(logits, axis=-1)
    return jnp.einsum("bnts,bsnh->btnh", weights, v)
"""),
    Alternative("sdpa_transposed_matmul", SDPA, f"""
def scaled_dot_product_attention({_SDPA_SIG}):
    qh, kh, vh = (jnp.swapaxes(a, 1, 2) for a in (q, k, v))  # (B, N, T|S, H)
    logits = (qh @ jnp.swapaxes(kh, -1, -2)) * q.shape[-1] ** -0.5
    keep = jnp.ones(logits.shape, dtype=bool)
    if mask is not None:
        keep = jnp.logical_and(keep, mask)
    if is_causal:
        keep = jnp.logical_and(keep, jnp.tril(jnp.ones(logits.shape[-2:], dtype=bool)))
    logits = jnp.where(keep, logits, jnp.finfo(logits.dtype).min)
    e = jnp.exp(logits - jnp.max(logits, axis=-1, keepdims=True))
    weights = e / jnp.sum(e, axis=-1, keepdims=True)
    return jnp.swapaxes(weights @ vh, 1, 2)
"""),
    Alternative("mha_reshape_and_matmul", MHA, """
def multi_head_attention(params, x, *, num_heads, mask=None):
    b, t, d = x.shape
    _, n, h = params["query"]["kernel"].shape

    def heads(p):
        return (x @ p["kernel"].reshape(d, n * h)).reshape(b, t, n, h) + p["bias"]

    o = scaled_dot_product_attention(heads(params["query"]), heads(params["key"]),
                                     heads(params["value"]), mask=mask)
    out = params["out"]
    return o.reshape(b, t, n * h) @ out["kernel"].reshape(n * h, -1) + out["bias"]
"""),
    Alternative("bahdanau_einsum_jax_nn_softmax", BAH, """
def bahdanau_attention(params, query, keys, *, mask=None):
    hidden = jnp.tanh(jnp.einsum("bq,qa->ba", query, params["w_query"])[:, None, :]
                      + jnp.einsum("bsk,ka->bsa", keys, params["w_key"]))
    scores = jnp.einsum("bsa,a->bs", hidden, params["v"])
    if mask is not None:
        scores = jnp.where(mask, scores, -jnp.inf)
    weights = jax.nn.softmax(scores, axis=-1)
    return jnp.sum(weights[:, :, None] * keys, axis=1), weights
"""),
    Alternative("luong_matmul_branches", LUONG, """
def luong_attention(params, query, keys, *, score="dot", mask=None):
    if score == "general":
        query = query @ params["w"]
    elif score != "dot":
        raise ValueError(score)
    scores = (keys @ query[:, :, None])[:, :, 0]
    if mask is not None:
        scores = jnp.where(mask, scores, jnp.finfo(scores.dtype).min)
    scores = scores - jnp.max(scores, axis=-1, keepdims=True)
    weights = jnp.exp(scores) / jnp.sum(jnp.exp(scores), axis=-1, keepdims=True)
    return (weights[:, None, :] @ keys)[:, 0, :], weights
"""),
]
