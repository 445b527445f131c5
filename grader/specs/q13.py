"""q13 Attention: scaled dot-product, multi-head, additive and multiplicative attention.

Masks always leave every query at least one allowed key (column 0 is always True, and the
top-left causal triangle always allows key 0): rows with no allowed key are not graded.
Inputs at logit scale 1e4 are redrawn until the two largest allowed logits of every row are
at least 20 apart: near-ties would turn float32 rounding of the logits (which legitimately
differs between correct formulas) into visible weight differences.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from grader import checks as ck
from grader import props
from grader.judge import compare_arrays
from grader.spec import Exercise, Failure, FileSpec, case

SDPA, MHA = "scaled_dot_product_attention", "multi_head_attention"
BAH, LUONG = "bahdanau_attention", "luong_attention"
TASKS = (SDPA, MHA, BAH, LUONG)
_FORBIDDEN = ("jax.nn.dot_product_attention", "jax._src.nn.functions.dot_product_attention",
              "flax")
_GAP = 20.0

# ---- inputs ------------------------------------------------------------------------------


def _mask(rng, shape):
    m = rng.random(shape) < 0.6
    m[..., 0] = True  # every query keeps a key: fully masked rows are not graded
    return m


def _separated(draw, scores):
    """``draw()`` again until every row's two largest allowed ``scores(case)`` (a pair
    ``(scores, allowed)``) are >= _GAP apart; ``scores`` None: the first draw."""
    for _ in range(200):
        c = draw()
        if scores is None:
            return c
        top = np.sort(np.where(scores(c)[1], scores(c)[0], -np.inf), axis=-1)[..., -2:]
        if np.where(np.isfinite(top[..., 0]), top[..., 1] - top[..., 0], np.inf).min() >= _GAP:
            return c
    raise RuntimeError("could not draw well-separated large logits")  # pragma: no cover


def _allowed(c):
    """The (B, T, N, S) pairs that may attend in an sdpa case (the output's layout)."""
    (b, t, n, _), s = c.args[0].shape[-4:], c.args[1].shape[-3]
    ok = np.broadcast_to(c.kwargs.get("mask", True), (b, n, t, s))
    if c.static.get("is_causal"):
        ok = ok & np.tril(np.ones((t, s), bool))
    return ok.transpose(0, 2, 1, 3)


def _sdpa(rng, b, t, s, n, h, mask=None, causal=None, scale=1.0, one_hot_v=False, cot=False,
          lead=(), label="", first_changed=None):
    """``case(q, k, v, mask=, static={"is_causal": ...})``; one-hot values need H == S."""
    st = ({} if causal is None else {"is_causal": causal}) | (
        {} if first_changed is None else {"_first_changed": first_changed})

    def draw():
        q, k = (ck.normal(rng, (*lead, b, x, n, h), scale) for x in (t, s))
        v = (np.broadcast_to(np.eye(s, dtype=np.float32)[None, :, None, :], (b, s, n, h)).copy()
             if one_hot_v else ck.normal(rng, (*lead, b, s, n, h)))
        return case(q, k, v, static=st, label=label, **({"mask": _mask(rng, mask)} if mask else {}),
                    extras={"cot": ck.normal(rng, (b, t, n, h))} if cot else None)

    return _separated(draw, None if scale == 1.0 else lambda c: (np.einsum(
        "btnh,bsnh->btns", *(a.astype(np.float64) for a in c.args[:2])) / np.sqrt(h), _allowed(c)))


def _mha(rng, b=2, t=5, d=8, n=2, h=4, mask=None, causal_mask=False, cot=False, perm=False,
         lead=(), label=""):
    """``case(params, x, mask=, static={"num_heads": n})`` with flax's parameter layout."""
    params = {p: {"kernel": ck.normal(rng, (d, n, h), 1 / np.sqrt(d)),
                  "bias": ck.normal(rng, (n, h), 0.1)} for p in ("query", "key", "value")}
    params["out"] = {"kernel": ck.normal(rng, (n, h, d), 1 / np.sqrt(n * h)),
                     "bias": ck.normal(rng, (d,), 0.1)}
    x = ck.normal(rng, (*lead, b, t, d))
    kw = ({"mask": np.tril(np.ones((1, 1, t, t), bool))} if causal_mask
          else {"mask": _mask(rng, (*lead, *mask))} if mask else {})
    extras = {"cot": ck.normal(rng, (b, t, d))} if cot else {}
    if perm:
        extras["perm"] = rng.permutation(t).astype(np.int32)
    return case(params, x, static={"num_heads": n}, extras=extras, label=label, **kw)


def _scores(task, c):
    """(scores, allowed) of a bahdanau / luong case, in float64."""
    params, q, k = c.args[0], *(a.astype(np.float64) for a in c.args[1:])
    if task == BAH:
        s = np.tanh((q @ params["w_query"])[:, None, :] + k @ params["w_key"]) @ params["v"]
    elif c.static.get("score") == "general":
        s = np.einsum("bq,qk,bsk->bs", q, params["w"], k)
    else:
        s = np.einsum("bd,bsd->bs", q, k)
    return s, c.kwargs.get("mask", True)


def _attend(rng, task, b=3, s=7, dq=5, dk=4, a=6, mask=False, score=None, scale=1.0,
            cot=False, lead=(), label=""):
    """``case(params, query, keys, mask=)`` for bahdanau (v scaled by ``scale``) or luong
    (query and keys by sqrt(scale)); the cotangent is one for (context, weights)."""
    dq = dk if task == LUONG and score in (None, "dot") else dq

    def draw():
        params, qk = None, np.sqrt(scale)
        if task == BAH:
            params, qk = {"w_query": ck.normal(rng, (dq, a), 1 / np.sqrt(dq)),
                          "w_key": ck.normal(rng, (dk, a), 1 / np.sqrt(dk)),
                          "v": ck.normal(rng, (a,), scale)}, 1.0
        elif score == "general":
            params = {"w": ck.normal(rng, (dq, dk), 1 / np.sqrt(dq))}
        q, k = ck.normal(rng, (*lead, b, dq), qk), ck.normal(rng, (*lead, b, s, dk), qk)
        return case(params, q, k, static={} if score is None else {"score": score}, label=label,
                    **({"mask": _mask(rng, (*lead, b, s))} if mask else {}))

    c = _separated(draw, None if scale == 1.0 else lambda c: _scores(task, c))
    cot = (ck.normal(rng, (b, dk)), ck.normal(rng, (b, s))) if cot else None
    return c if cot is None else dataclasses.replace(c, extras={"cot": cot})


# ---- properties --------------------------------------------------------------------------


def _weights(allowed, of=None):
    """Weights of the expected shape, finite, exactly 0 where not ``allowed``, >= 0 and
    summing to 1 over the keys (the last axis). Tolerance 1e-5 for the sums."""
    def right_shape(c, out):
        got, want = np.shape(out if of is None else out[of]), allowed(c).shape
        return None if got == want else f"weights: expected shape {want}, got {got}"

    return props.all_of(right_shape, props.finite(of=of), props.zeros_where(allowed, of=of),
                        props.sums_to_one(of=of))


def _perturb_later(i):
    p, (q, k, v) = i.static["_first_changed"], i.args
    return i.replace(args=(q, k.at[:, p:].add(3.0), v.at[:, p:].add(3.0)))


def _ignores_later(c, got, ref):
    """The metamorphic pair agrees (1e-6) at queries < p and differs somewhere at >= p."""
    p, after, before = c.static["_first_changed"], got["lhs"], got["rhs"]
    msg = compare_arrays("", after[:, :p], before[:, :p], rtol=1e-6, atol=1e-6)
    if msg:
        return Failure(f"on {c.describe()}: with is_causal=True, changing k and v at key "
                       f"positions >= {p} changed the output at query positions < {p} (they "
                       "may only see keys s <= t): " + msg.replace("output: ", "", 1))
    if np.array_equal(after[:, p:], before[:, p:]):
        return Failure(f"on {c.describe()}: changing k and v at key positions >= {p} left the "
                       f"outputs at query positions >= {p} unchanged, yet query t sees s <= t")
    return None


def _traced(task, jit_case, vmap_case, statics=None, in_axes=0):
    """The jit (``statics`` static) and vmap (over ``in_axes``) checks, one case each."""
    hint = "never call bool(), float(), .item() or NumPy on an array (the mask included)"
    return (ck.jit(task, lambda rng: [jit_case(rng)], hint=(f"{statics} is a Python value: "
                   f"branch on it with a Python `if`; " if statics else "") + hint),
            ck.vmap(task, lambda rng: [vmap_case(rng)], in_axes=in_axes, hint="use jnp (not "
                    "NumPy) on every array so vmap can trace it; take sizes from .shape"))


# ---- checks ------------------------------------------------------------------------------

_ATTEND = ("weights = softmax over s of jnp.where(mask, scores, big_negative); "
           "context = einsum('bs,bsd->bd', weights, keys)")
_W_TITLE = "weights sum to 1, masked weights are exactly 0"
_LEAD = "a leading axis of 3 over "

SDPA_CHECKS = (
    ck.equivalence(SDPA, lambda rng: [
        _sdpa(rng, 2, 5, 5, 2, 4), _sdpa(rng, 2, 5, 7, 2, 4, causal=False),
        _sdpa(rng, 2, 5, 7, 2, 4, causal=True), _sdpa(rng, 2, 7, 5, 2, 4, causal=True),
        _sdpa(rng, 2, 5, 7, 2, 4, (2, 2, 5, 7)), _sdpa(rng, 2, 5, 7, 2, 4, (2, 1, 5, 7), True),
        _sdpa(rng, 2, 6, 6, 2, 4, (1, 1, 6, 6), True), _sdpa(rng, 2, 5, 7, 2, 4, (2, 1, 1, 7))],
        title="matches jax.nn.dot_product_attention", description="T == S and T != S, with and "
        "without is_causal, masks (B, N, T, S), (B, 1, T, S), (1, 1, T, S) and (B, 1, 1, S)",
        hint="logits = einsum('btnh,bsnh->bnts', q, k) / sqrt(H); jnp.where(mask, logits, "
        "big_negative), a max-shifted softmax over s, einsum('bnts,bsnh->btnh', weights, v); "
        "the causal mask is tril(ones((T, S))), aligned top-left"),
    ck.grad(SDPA, lambda rng: [_sdpa(rng, 2, 5, 7, 2, 4, cot=True),
                               _sdpa(rng, 2, 5, 7, 2, 4, (2, 2, 5, 7), True, cot=True)],
            wrt=(0, 1, 2), description="w.r.t. q, k and v, with and without causal and bool "
            "masks", hint="the softmax denominator depends on every logit"),
    # values are one-hot rows (H == S): the output at (b, t, n) is the weight row w[b, n, t, :]
    ck.invariant(SDPA, lambda rng: [
        _sdpa(rng, 2, 5, 7, 2, 7, (2, 2, 5, 7), True, one_hot_v=True),
        _sdpa(rng, 2, 5, 7, 2, 7, (1, 1, 5, 7), one_hot_v=True),
        _sdpa(rng, 2, 6, 6, 2, 6, causal=True, one_hot_v=True)], _weights(_allowed),
        id="weights", title=_W_TITLE, description="one-hot values (H == S) reveal the weights: "
        "rows sum to 1 over s, masked (or future, under is_causal) weights are exactly 0",
        hint="mask with jnp.where(mask, logits, big_negative) before a softmax over the key "
        "axis s, never by multiplying logits or weights by the mask"),
    dataclasses.replace(ck.metamorphic(
        SDPA, lambda rng: [_sdpa(rng, 2, 5, 7, 2, 4, causal=True, first_changed=3),
                           _sdpa(rng, 2, 6, 6, 2, 4, (2, 1, 1, 6), True, first_changed=2)],
        transform=_perturb_later, relation=lambda y, i: y, id="causal",
        title="causal outputs ignore later keys", description="is_causal=True: k and v changed "
        "at positions >= p leave the outputs at queries < p unchanged", hint="query t sees "
        "keys s <= t (jnp.tril(jnp.ones((T, S), bool))), from the top-left even when T != S"),
        judge=_ignores_later),
    ck.equivalence(SDPA, lambda rng: [
        _sdpa(rng, 2, 5, 7, 2, 4, scale=100.0, label="logits ~1e4"),
        _sdpa(rng, 2, 5, 7, 2, 4, (2, 2, 5, 7), True, scale=100.0, label="logits ~1e4")],
        kind="stability", id="large_logits", title="finite and right at logit scale 1e4",
        description="q and k scaled by 100, with and without a causal + bool mask", hint="subtract "
        "the row max before exp; mask with jnp.where and a huge negative (jnp.finfo(dtype).min), "
        "not by adding -1e4"),
    *_traced(SDPA, lambda rng: _sdpa(rng, 2, 5, 7, 2, 4, (2, 1, 5, 7), True),
             lambda rng: _sdpa(rng, 2, 5, 7, 2, 4, (3, 2, 2, 5, 7), True, lead=(3,),
                               label=_LEAD + "q, k, v and mask"), "is_causal"),
    ck.forbidden(SDPA),
)

MHA_CHECKS = tuple(dataclasses.replace(c, uses=(SDPA,)) if c.kind != "forbidden" else c for c in (
    ck.equivalence(MHA, lambda rng: [
        _mha(rng), _mha(rng, mask=(2, 2, 5, 5)), _mha(rng, t=6, d=6, n=3, h=2, mask=(2, 1, 1, 6)),
        _mha(rng, t=4, causal_mask=True), _mha(rng, d=6, n=2, h=4, label="N*H != D")],
        title="matches flax.nnx.MultiHeadAttention", description="same weights, no mask and "
        "(B, N, T, T), (B, 1, 1, T) and causal masks, also when N * H != D", hint="q = einsum("
        "'btd,dnh->btnh', x, kernel) + bias (also k, v); y = einsum('btnh,nhd->btd', o, "
        "out_kernel) + out_bias; take N and H from the kernel shapes, not D // num_heads"),
    ck.grad(MHA, lambda rng: [_mha(rng, mask=(2, 2, 5, 5), cot=True)], wrt=(0, 1),
            description="w.r.t. every parameter and x (with a mask)"),
    ck.metamorphic(MHA, lambda rng: [_mha(rng, t=6, perm=True)], id="permutation",
                   title="permutation-equivariant without positions",
                   transform=lambda i: i.replace(args=(i.args[0], i.args[1][:, i.extras["perm"]])),
                   relation=lambda y, i: y[:, i.extras["perm"]], description="without a mask, "
                   "permuting the tokens of x permutes the output the same way", hint="add no "
                   "positional terms and no causal mask unless a mask is passed in"),
    *_traced(MHA, lambda rng: _mha(rng, mask=(2, 1, 5, 5)),
             lambda rng: _mha(rng, lead=(3,), mask=(2, 1, 5, 5), label=_LEAD + "x and mask"),
             "num_heads", (None, 0)),
    ck.forbidden(MHA),
))


def _attention_checks(task, large, large_what):
    """grad, returned weights, scale 1e4, jit, vmap and forbidden for bahdanau / luong."""
    luong = task == LUONG
    dot = {"score": "dot"} if luong else {}
    return (
        ck.grad(task, lambda rng: [_attend(rng, task, mask=True, cot=True, **dot)] + (
            [_attend(rng, task, score="general", mask=True, cot=True)] if luong else []),
            wrt=(0, 1, 2), description="of context and weights w.r.t. params, query, keys"),
        ck.invariant(task, lambda rng: [_attend(rng, task, mask=True, **dot), (
            _attend(rng, task, score="general", mask=True) if luong
            else _attend(rng, task, b=2, s=5, mask=True))],
            _weights(lambda c: c.kwargs["mask"], of=1), id="weights", title=_W_TITLE,
            description="the returned weights are >= 0, sum to 1 over S and are exactly 0 "
            "where the mask is False", hint="mask the scores with jnp.where before the softmax "
            "over S (axis -1), so that the softmax renormalizes over the allowed keys"),
        ck.equivalence(task, large, kind="stability", id="large_scores", description=large_what,
                       title="finite and right at score scale 1e4",
                       hint="subtract the max score of each row before exp"),
        *_traced(task, lambda rng: _attend(rng, task, mask=True, score="general" if luong
                                           else None),
                 lambda rng: _attend(rng, task, mask=True, lead=(3,), **dot,
                                     label=_LEAD + "query, keys and mask"),
                 "score" if luong else None, (None, 0, 0)),
        ck.forbidden(task),
    )


BAH_CHECKS = (
    ck.equivalence(BAH, lambda rng: [
        _attend(rng, BAH), _attend(rng, BAH, mask=True),
        _attend(rng, BAH, b=2, s=5, dq=3, dk=6, a=4, mask=True),
        _attend(rng, BAH, b=1, s=1, dq=2, dk=3, a=2, label="a single key")],
        description="(context, weights) with and without a (B, S) mask, Dq != Dk, a single key",
        hint="score = tanh((query @ w_query)[:, None, :] + keys @ w_key) @ v; " + _ATTEND),
    *_attention_checks(BAH, lambda rng: [
        _attend(rng, BAH, scale=1e4, label="v scaled by 1e4"),
        _attend(rng, BAH, scale=1e4, mask=True, label="v scaled by 1e4")],
        "v scaled by 1e4 (scores ~1e4)"),
)

LUONG_CHECKS = (
    ck.equivalence(LUONG, lambda rng: [
        _attend(rng, LUONG, label="default score"), _attend(rng, LUONG, score="dot", mask=True),
        _attend(rng, LUONG, b=2, s=5, dk=6, score="dot", mask=True)],
        id="matches_dot", title="(score='dot') matches the reference", description="score "
        "q . k (params None), with and without a (B, S) mask, also as the default score",
        hint="score = einsum('bd,bsd->bs', query, keys), no 1/sqrt(d) scaling; " + _ATTEND),
    ck.equivalence(LUONG, lambda rng: [
        _attend(rng, LUONG, score="general"), _attend(rng, LUONG, score="general", mask=True),
        _attend(rng, LUONG, dq=4, score="general", mask=True)],
        id="matches_general", title="(score='general') matches the reference",
        description="score q @ w @ k, w (Dq, Dk), Dq != Dk and Dq == Dk, with and without a "
        "mask", hint="score = einsum('bq,qk,bsk->bs', query, w, keys); " + _ATTEND),
    *_attention_checks(LUONG, lambda rng: [
        _attend(rng, LUONG, score="dot", scale=1e4, label="scores ~1e4"),
        _attend(rng, LUONG, score="general", scale=1e4, mask=True, label="scores ~1e4")],
        "query and keys scaled by 100 (scores ~1e4), 'dot' and 'general'"),
)

EXERCISE = Exercise(
    id="q13",
    title="Attention",
    files={"attention.py": FileSpec(
        tasks=tuple(f"dlcore.nn.attention:{t}" for t in TASKS),
        summary="scaled dot-product, multi-head, additive and multiplicative attention")},
    checks=(*SDPA_CHECKS, *MHA_CHECKS, *BAH_CHECKS, *LUONG_CHECKS),
    forbidden={t: _FORBIDDEN for t in TASKS},
)
