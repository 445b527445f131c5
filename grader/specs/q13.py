"""q13 Attention: scaled dot-product, multi-head, additive and multiplicative attention.

Masks always leave every query at least one allowed key (column 0 is always True, and the
top-left causal triangle always allows key 0): rows with no allowed key are not graded.
Array names avoid a leading ``key`` and a trailing ``_key`` (the grader turns such arrays
into PRNG keys), hence ``enc_keys`` for the keys, ``wk``/``bk`` for the key projection and
``w_q``/``w_k`` for Bahdanau's ``w_query``/``w_key``.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from grader import checks as ck
from grader.judge import compare_arrays
from grader.spec import Case, Exercise, FileSpec

SDPA = "scaled_dot_product_attention"
MHA = "multi_head_attention"
BAH = "bahdanau_attention"
LUONG = "luong_attention"

_FORBIDDEN = ("jax.nn.dot_product_attention", "jax._src.nn.functions.dot_product_attention", "flax")


# ---- calling the tasks -------------------------------------------------------------------


def _arrays(c) -> dict:
    return {k: v for k, v in c._arrays.items() if not k.startswith("_")}


def _masked(a) -> dict:
    return {"mask": a["mask"]} if "mask" in a else {}


def _call_sdpa(f, a, st):
    kw = {"is_causal": st["is_causal"]} if "is_causal" in st else {}
    return f(a["q"], a["k"], a["v"], **_masked(a), **kw)


_MHA_PARAMS = {
    "query": ("wq", "bq"),
    "key": ("wk", "bk"),
    "value": ("wv", "bv"),
    "out": ("wo", "bo"),
}


def _mha_params(a) -> dict:
    return {n: {"kernel": a[w], "bias": a[b]} for n, (w, b) in _MHA_PARAMS.items()}


def _call_mha(f, a, st):
    return f(_mha_params(a), a["x"], num_heads=st["num_heads"], **_masked(a))


def _call_bahdanau(f, a, st):
    params = {"w_query": a["w_q"], "w_key": a["w_k"], "v": a["v"]}
    return f(params, a["query"], a["enc_keys"], **_masked(a))


def _call_luong(f, a, st):
    params = {"w": a["w"]} if "w" in a else None
    kw = {"score": st["score"]} if "score" in st else {}
    return f(params, a["query"], a["enc_keys"], **kw, **_masked(a))


_CALLS = {SDPA: _call_sdpa, MHA: _call_mha, BAH: _call_bahdanau, LUONG: _call_luong}


def _probe(task):
    def probe(fns, c):
        return _CALLS[task](getattr(fns, task), _arrays(c), ck.kwargs_of(c))

    return probe


def _grad_probe(task, wrt):
    """Gradients of ``sum_i sum(_cot<i> * output_i)`` w.r.t. the arrays named in ``wrt``."""

    def probe(fns, c):
        import jax
        import jax.numpy as jnp

        f, a, st = getattr(fns, task), _arrays(c), ck.kwargs_of(c)
        fixed = {k: v for k, v in a.items() if k not in wrt}

        def scalar(diff):
            outs = jax.tree.leaves(_CALLS[task](f, {**fixed, **diff}, st))
            return sum(jnp.sum(o * c._arrays[f"_cot{i}"]) for i, o in enumerate(outs))

        return jax.grad(scalar)({k: a[k] for k in wrt if k in a})

    return probe


def _jit_probe(task):
    def probe(fns, c):
        import jax

        f, a, st = getattr(fns, task), _arrays(c), ck.kwargs_of(c)
        # the statics (is_causal, num_heads, score) are closed over: static under jit
        return {
            "eager": _CALLS[task](f, a, st),
            "jit": jax.jit(lambda arrs: _CALLS[task](f, arrs, st))(a),
        }

    return probe


def _vmap_probe(task, mapped):
    """vmap over the leading axis of the arrays in ``mapped``; the others are shared."""

    def probe(fns, c):
        import jax
        import jax.numpy as jnp

        f, a, st = getattr(fns, task), _arrays(c), ck.kwargs_of(c)
        shared = {k: v for k, v in a.items() if k not in mapped}
        over = {k: v for k, v in a.items() if k in mapped}
        g = lambda m: _CALLS[task](f, {**shared, **m}, st)
        n = next(iter(over.values())).shape[0]
        loop = [g({k: v[i] for k, v in over.items()}) for i in range(n)]
        return {"vmap": jax.vmap(g)(over), "loop": jax.tree.map(lambda *ys: jnp.stack(ys), *loop)}

    return probe


def _jit(task, cases, statics=None):
    hint = "never call bool(), float(), .item() or NumPy on an array (the mask included)"
    desc = f"jax.jit({task}) runs and equals the eager call"
    if statics:
        hint = f"{statics} is a Python value: branch on it with a Python `if`; " + hint
        desc = f"jax.jit({task}) with {statics} static runs and equals the eager call"
    check = ck.jit_matches_eager(task, cases, hint=hint)
    return dataclasses.replace(check, probe=_jit_probe(task), description=desc)


def _vmap(task, cases, mapped, what):
    check = ck.vmap_matches_loop(
        task,
        cases,
        hint="use jnp (not NumPy) on every array so vmap can trace it; take sizes from .shape",
    )
    return dataclasses.replace(
        check,
        probe=_vmap_probe(task, mapped),
        description=f"jax.vmap({task}) over {what} equals a loop",
    )


# ---- inputs ------------------------------------------------------------------------------


def _mask(rng, shape, p=0.6) -> np.ndarray:
    m = rng.random(shape) < p
    m[..., 0] = True  # every query keeps a key: fully masked rows are not graded
    return m


def _allowed(case) -> np.ndarray:
    """The (B, N, T, S) pairs that may attend in an sdpa case."""
    b, t, n, _ = case.arrays["q"].shape
    s = case.arrays["k"].shape[1]
    ok = np.ones((b, n, t, s), bool)
    if "mask" in case.arrays:
        ok &= np.broadcast_to(case.arrays["mask"], ok.shape)
    if case.static.get("is_causal"):
        ok &= np.tril(np.ones((t, s), bool))
    return ok


def _min_gap(scores: np.ndarray, allowed: np.ndarray) -> float:
    """Smallest gap between the two largest allowed scores of any row (inf: one allowed)."""
    s = np.where(allowed, scores, -np.inf)
    top = np.sort(s, axis=-1)[..., -2:]
    gaps = np.where(np.isfinite(top[..., 0]), top[..., 1] - top[..., 0], np.inf)
    return float(gaps.min())


# Near-ties at logit scale 1e4 would turn float32 rounding of the logits (abs ~1e-3 there,
# and it legitimately differs between correct formulas) into visible weight differences, so
# the large-logit inputs are redrawn until every row's top two allowed logits are >= 20 apart.
_GAP = 20.0


def _mask_label(mask_shape, causal) -> str:
    parts = ["causal"] if causal else []
    if mask_shape is not None:
        parts.append(f"mask {mask_shape}")
    return " + ".join(parts) or "no mask"


def _sdpa_case(
    rng,
    b,
    t,
    s,
    n,
    h,
    mask_shape=None,
    causal=None,
    scale=1.0,
    label="",
    one_hot_v=False,
    cot=False,
    extra=None,
):
    lead = () if extra is None else (extra,)
    for _ in range(200):
        arrays = {
            "q": ck.normal(rng, (*lead, b, t, n, h), scale),
            "k": ck.normal(rng, (*lead, b, s, n, h), scale),
        }
        if one_hot_v:
            assert h == s
            arrays["v"] = np.broadcast_to(
                np.eye(s, dtype=np.float32)[None, :, None, :], (b, s, n, h)
            ).copy()
        else:
            arrays["v"] = ck.normal(rng, (*lead, b, s, n, h))
        if mask_shape is not None:
            arrays["mask"] = _mask(rng, mask_shape)
        static = {} if causal is None else {"is_causal": causal}
        case = Case(
            arrays, static, label=label or f"T={t}, S={s}, {_mask_label(mask_shape, causal)}"
        )
        if scale == 1.0:
            break
        logits = np.einsum(
            "btnh,bsnh->bnts", arrays["q"].astype(np.float64), arrays["k"].astype(np.float64)
        ) / np.sqrt(h)
        if _min_gap(logits, _allowed(case)) >= _GAP:
            break
    else:  # pragma: no cover - the seeds used draw a good case in a few tries
        raise RuntimeError("could not draw well-separated large logits")
    if cot:
        case.arrays["_cot0"] = ck.normal(rng, (b, t, n, h))
    return case


def _sdpa_cases(rng):
    return [
        _sdpa_case(rng, 2, 5, 5, 2, 4),
        _sdpa_case(rng, 2, 5, 7, 2, 4, causal=False),
        _sdpa_case(rng, 2, 5, 7, 2, 4, causal=True),
        _sdpa_case(rng, 2, 7, 5, 2, 4, causal=True),
        _sdpa_case(rng, 2, 5, 7, 2, 4, (2, 2, 5, 7)),
        _sdpa_case(rng, 2, 5, 7, 2, 4, (2, 1, 5, 7), causal=True),
        _sdpa_case(rng, 2, 6, 6, 2, 4, (1, 1, 6, 6), causal=True),
        _sdpa_case(rng, 2, 5, 7, 2, 4, (2, 1, 1, 7)),
    ]


def _sdpa_grad_cases(rng):
    return [
        _sdpa_case(rng, 2, 5, 7, 2, 4, cot=True),
        _sdpa_case(rng, 2, 5, 7, 2, 4, (2, 2, 5, 7), causal=True, cot=True),
    ]


def _sdpa_weight_cases(rng):
    # values are one-hot rows (H == S): the output at (b, t, n) is the weight row w[b, n, t, :]
    return [
        _sdpa_case(rng, 2, 5, 7, 2, 7, (2, 2, 5, 7), causal=True, one_hot_v=True),
        _sdpa_case(rng, 2, 5, 7, 2, 7, (1, 1, 5, 7), one_hot_v=True),
        _sdpa_case(rng, 2, 6, 6, 2, 6, causal=True, one_hot_v=True),
    ]


def _sdpa_causal_cases(rng):
    cases = [
        _sdpa_case(rng, 2, 5, 7, 2, 4, causal=True),
        _sdpa_case(rng, 2, 6, 6, 2, 4, (2, 1, 1, 6), causal=True),
    ]
    for c, p in zip(cases, (3, 2), strict=True):
        c.static["_first_changed"] = p
    return cases


def _sdpa_large_cases(rng):
    return [
        _sdpa_case(rng, 2, 5, 7, 2, 4, scale=100.0, label="logits ~1e4, no mask"),
        _sdpa_case(
            rng,
            2,
            5,
            7,
            2,
            4,
            (2, 2, 5, 7),
            causal=True,
            scale=100.0,
            label="logits ~1e4, causal + mask (2, 2, 5, 7)",
        ),
    ]


def _mha_case(
    rng,
    b=2,
    t=5,
    d=8,
    n=2,
    h=4,
    mask_shape=None,
    causal_mask=False,
    cot=False,
    perm=False,
    extra=None,
    label="",
):
    lead = () if extra is None else (extra,)
    arrays = {"x": ck.normal(rng, (*lead, b, t, d))}
    for w, bias in list(_MHA_PARAMS.values())[:3]:
        arrays[w] = ck.normal(rng, (d, n, h), 1 / np.sqrt(d))
        arrays[bias] = ck.normal(rng, (n, h), 0.1)
    arrays["wo"] = ck.normal(rng, (n, h, d), 1 / np.sqrt(n * h))
    arrays["bo"] = ck.normal(rng, (d,), 0.1)
    desc = "no mask"
    if causal_mask:
        arrays["mask"] = np.tril(np.ones((1, 1, t, t), bool))
        desc = "causal mask (1, 1, T, T)"
    elif mask_shape is not None:
        arrays["mask"] = _mask(rng, (*lead, *mask_shape))
        desc = f"mask {mask_shape}"
    if cot:
        arrays["_cot0"] = ck.normal(rng, (b, t, d))
    if perm:
        arrays["_perm"] = rng.permutation(t).astype(np.int32)
    return Case(arrays, {"num_heads": n}, label=label or f"D={d}, N={n}, H={h}, T={t}, {desc}")


def _mha_cases(rng):
    return [
        _mha_case(rng),
        _mha_case(rng, mask_shape=(2, 2, 5, 5)),
        _mha_case(rng, t=6, d=6, n=3, h=2, mask_shape=(2, 1, 1, 6)),
        _mha_case(rng, t=4, causal_mask=True),
        _mha_case(rng, d=6, n=2, h=4, label="D=6, N=2, H=4 (N*H != D), T=5, no mask"),
    ]


def _attend_case(
    rng,
    task,
    b=3,
    s=7,
    dq=5,
    dk=4,
    a=6,
    mask=False,
    score=None,
    scale=1.0,
    cot=False,
    extra=None,
    label="",
):
    """Inputs for bahdanau (task BAH) or luong attention, optionally with a leading axis."""
    lead = () if extra is None else (extra,)
    if task == LUONG and score in (None, "dot"):
        dq = dk
    for _ in range(200):
        arrays = {}
        if task == BAH:
            arrays["w_q"] = ck.normal(rng, (dq, a), 1 / np.sqrt(dq))
            arrays["w_k"] = ck.normal(rng, (dk, a), 1 / np.sqrt(dk))
            arrays["v"] = ck.normal(rng, (a,), scale)
            q_scale = k_scale = 1.0
        else:
            if score == "general":
                arrays["w"] = ck.normal(rng, (dq, dk), 1 / np.sqrt(dq))
            q_scale = k_scale = np.sqrt(scale)
        arrays["query"] = ck.normal(rng, (*lead, b, dq), q_scale)
        arrays["enc_keys"] = ck.normal(rng, (*lead, b, s, dk), k_scale)
        if mask:
            arrays["mask"] = _mask(rng, (*lead, b, s))
        if scale == 1.0:
            break
        allowed = arrays.get("mask", np.ones((b, s), bool))
        if _min_gap(_np_scores(task, arrays, score), allowed) >= _GAP:
            break
    else:  # pragma: no cover
        raise RuntimeError("could not draw well-separated large scores")
    if cot:
        arrays["_cot0"] = ck.normal(rng, (b, dk))
        arrays["_cot1"] = ck.normal(rng, (b, s))
    static = {} if score is None else {"score": score}
    desc = f"mask ({b}, {s})" if mask else "no mask"
    return Case(arrays, static, label=label or f"Dq={dq}, Dk={dk}, S={s}, {desc}")


def _np_scores(task, a, score) -> np.ndarray:
    q, k = a["query"].astype(np.float64), a["enc_keys"].astype(np.float64)
    if task == BAH:
        hidden = np.tanh((q @ a["w_q"])[:, None, :] + k @ a["w_k"])
        return hidden @ a["v"].astype(np.float64)
    if score == "general":
        return np.einsum("bq,qk,bsk->bs", q, a["w"].astype(np.float64), k)
    return np.einsum("bd,bsd->bs", q, k)


def _bah_cases(rng):
    return [
        _attend_case(rng, BAH),
        _attend_case(rng, BAH, mask=True),
        _attend_case(rng, BAH, b=2, s=5, dq=3, dk=6, a=4, mask=True),
        _attend_case(rng, BAH, b=1, s=1, dq=2, dk=3, a=2, label="a single key (S=1)"),
    ]


def _luong_cases(rng, score):
    if score == "general":
        return [
            _attend_case(rng, LUONG, score="general"),
            _attend_case(rng, LUONG, score="general", mask=True),
            _attend_case(
                rng,
                LUONG,
                dq=4,
                dk=4,
                score="general",
                mask=True,
                label="Dq=Dk=4, S=7, mask (3, 7)",
            ),
        ]
    return [
        _attend_case(rng, LUONG, label="Dq=Dk=4, S=7, no mask, default score"),
        _attend_case(rng, LUONG, score="dot", mask=True),
        _attend_case(rng, LUONG, b=2, s=5, dk=6, score="dot", mask=True),
    ]


# ---- judges ------------------------------------------------------------------------------


def _weights_ok(w: np.ndarray, allowed: np.ndarray, what: str) -> str | None:
    w64 = w.astype(np.float64)
    if not np.isfinite(w64).all():
        return "the weights have non-finite entries"
    bad = (~allowed) & (w != 0)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        return (
            f"masked weights must be exactly 0, but {int(bad.sum())} of "
            f"{int((~allowed).sum())} are not; the weight at {what} = "
            f"{', '.join(map(str, idx))} is {w64[idx]:.3g} where attending is not allowed"
        )
    if (w64 < 0).any():
        return f"the weights have negative entries (min {w64.min():.3g})"
    sums = w64.sum(axis=-1)
    err = np.abs(sums - 1)
    if err.max() > 1e-5:
        idx = tuple(int(i) for i in np.unravel_index(np.argmax(err), err.shape))
        row = what.rsplit(", ", 1)[0] + ")"
        return (
            f"weights must sum to 1 over the keys s; the row {row} = "
            f"{', '.join(map(str, idx))} sums to {sums[idx]:.6g}"
        )
    return None


def _sdpa_weights(case, out):
    if out[""].shape != case.arrays["q"].shape:
        return f"expected shape {case.arrays['q'].shape}, got {out[''].shape}"
    w = np.transpose(out[""], (0, 2, 1, 3))  # (B, T, N, S) -> (B, N, T, S)
    return _weights_ok(w, _allowed(case), "(b, n, t, s)")


def _returned_weights(case, out):
    if set(out) != {"[0]", "[1]"}:
        return "expected a pair (context, weights)"
    w = out["[1]"]
    allowed = case.arrays.get("mask", np.ones(w.shape, bool))
    if w.shape != allowed.shape:
        return f"weights: expected shape {allowed.shape}, got {w.shape}"
    return _weights_ok(w, allowed, "(b, s)")


def _causal_probe(fns, c):
    f, a, st = fns.scaled_dot_product_attention, _arrays(c), ck.kwargs_of(c)
    p = c.s["_first_changed"]
    changed = dict(a, k=a["k"].at[:, p:].add(3.0), v=a["v"].at[:, p:].add(3.0))
    return {"out": _call_sdpa(f, a, st), "perturbed": _call_sdpa(f, changed, st)}


def _ignores_later(case, out):
    p = case.static["_first_changed"]
    before, after = out["['out']"], out["['perturbed']"]
    msg = compare_arrays("", after[:, :p], before[:, :p], rtol=1e-6, atol=1e-6)
    if msg:
        return (
            f"with is_causal=True, changing k and v at key positions >= {p} changed the "
            f"output at query positions < {p} (they may only see keys s <= t; expected "
            "= the output before the change): " + msg.replace("output: ", "", 1)
        )
    if np.array_equal(after[:, p:], before[:, p:]):
        return (
            f"changing k and v at key positions >= {p} left the outputs at query "
            f"positions >= {p} unchanged, yet query t sees keys s <= t"
        )
    return None


def _perm_probe(fns, c):
    f, a, st = fns.multi_head_attention, _arrays(c), ck.kwargs_of(c)
    perm = c._perm
    return {"out": _call_mha(f, a, st), "permuted": _call_mha(f, dict(a, x=a["x"][:, perm]), st)}


def _equivariant(case, out):
    perm = case.arrays["_perm"]
    msg = compare_arrays("", out["['permuted']"], out["['out']"][:, perm], tol_scale=10)
    if msg:
        return (
            f"permuting the tokens of x by {perm.tolist()} should permute the output the "
            "same way (no positions, no mask; expected = the output of x, permuted): "
            + msg.replace("output: ", "", 1)
        )
    return None


# ---- checks ------------------------------------------------------------------------------

_MATMUL_HINT = (
    "logits = einsum('btnh,bsnh->bnts', q, k) / sqrt(H); mask with "
    "jnp.where(mask, logits, big_negative) before a max-shifted softmax over s; "
    "out = einsum('bnts,bsnh->btnh', weights, v)"
)

SDPA_CHECKS = (
    ck.equivalence(
        SDPA,
        _sdpa_cases,
        probe=_probe(SDPA),
        name=f"{SDPA}: matches jax.nn.dot_product_attention",
        description="equals jax.nn.dot_product_attention with T == S and T != S, "
        "with and without is_causal and with bool masks of shapes "
        "(B, N, T, S), (B, 1, T, S), (1, 1, T, S) and (B, 1, 1, S)",
        hint=_MATMUL_HINT + "; the causal mask is tril(ones((T, S))), aligned top-left",
    ),
    dataclasses.replace(
        ck.grad_matches(
            SDPA,
            _sdpa_grad_cases,
            name=f"{SDPA}: gradient matches",
            description="gradients w.r.t. q, k and v equal the reference's, "
            "with and without causal and bool masks",
            hint="build the weights from differentiable jnp operations; the "
            "softmax denominator depends on every logit",
        ),
        probe=_grad_probe(SDPA, ("q", "k", "v")),
    ),
    ck.invariant(
        SDPA,
        _sdpa_weight_cases,
        _sdpa_weights,
        probe=_probe(SDPA),
        name=f"{SDPA}: weights sum to 1, masked weights are exactly 0",
        description="with one-hot values (H == S) the output reveals the weights: "
        "each row sums to 1 over the keys and every masked (or future, "
        "under is_causal) weight is exactly 0",
        hint="softmax over the key axis s (the last axis of (B, N, T, S)); mask "
        "with jnp.where(mask, logits, big_negative) before the softmax, never "
        "by multiplying logits or weights by the mask",
    ),
    ck.invariant(
        SDPA,
        _sdpa_causal_cases,
        _ignores_later,
        probe=_causal_probe,
        name=f"{SDPA}: causal outputs ignore later keys",
        description="with is_causal=True, changing k and v at positions >= p leaves "
        "the outputs at query positions < p unchanged",
        hint="the causal mask is jnp.tril(jnp.ones((T, S), bool)): query t sees "
        "keys s <= t, counted from the top-left even when T != S",
    ),
    ck.equivalence(
        SDPA,
        _sdpa_large_cases,
        probe=_probe(SDPA),
        kind="stability",
        name=f"{SDPA}: finite and right at logit scale 1e4",
        description="q and k scaled by 100 (logits ~1e4), with and without a "
        "causal + bool mask: finite and equal to the reference",
        hint="subtract the row max before exp; mask with jnp.where and a huge "
        "negative (e.g. jnp.finfo(dtype).min), not by adding -1e4",
    ),
    _jit(
        SDPA, lambda rng: [_sdpa_case(rng, 2, 5, 7, 2, 4, (2, 1, 5, 7), causal=True)], "is_causal"
    ),
    _vmap(
        SDPA,
        lambda rng: [
            _sdpa_case(
                rng,
                2,
                5,
                7,
                2,
                4,
                (3, 2, 2, 5, 7),
                causal=True,
                extra=3,
                label="a leading axis of 3 over q, k, v and mask (3, B, N, T, S), causal",
            )
        ],
        ("q", "k", "v", "mask"),
        "an extra leading axis of q, k, v and mask",
    ),
    ck.forbidden(SDPA),
)


def _mha_grad_case(rng):
    return [_mha_case(rng, mask_shape=(2, 2, 5, 5), cot=True)]


MHA_CHECKS = (
    ck.equivalence(
        MHA,
        _mha_cases,
        probe=_probe(MHA),
        uses=(SDPA,),
        name=f"{MHA}: matches flax.nnx.MultiHeadAttention",
        description="equals flax.nnx.MultiHeadAttention with the same weights, "
        "without a mask and with (B, N, T, T), (B, 1, 1, T) and causal "
        "masks, also when N * H != D",
        hint="q = einsum('btd,dnh->btnh', x, kernel) + bias for query, key and "
        "value; y = einsum('btnh,nhd->btd', o, out_kernel) + out_bias; take "
        "N and H from the kernel shapes, not from D // num_heads",
    ),
    dataclasses.replace(
        ck.grad_matches(
            MHA,
            _mha_grad_case,
            uses=(SDPA,),
            name=f"{MHA}: gradient matches",
            description="gradients w.r.t. every parameter and x equal the "
            "reference's (with a mask)",
        ),
        probe=_grad_probe(MHA, ("x", "wq", "bq", "wk", "bk", "wv", "bv", "wo", "bo")),
    ),
    ck.invariant(
        MHA,
        lambda rng: [_mha_case(rng, t=6, perm=True)],
        _equivariant,
        probe=_perm_probe,
        uses=(SDPA,),
        name=f"{MHA}: permutation-equivariant without positions",
        description="without a mask, permuting the tokens of x permutes the output the same way",
        hint="self-attention has no notion of order: add no positional terms and "
        "no causal mask unless a mask is passed in",
    ),
    dataclasses.replace(
        _jit(MHA, lambda rng: [_mha_case(rng, mask_shape=(2, 1, 5, 5))], "num_heads"), uses=(SDPA,)
    ),
    dataclasses.replace(
        _vmap(
            MHA,
            lambda rng: [
                _mha_case(
                    rng,
                    extra=3,
                    mask_shape=(2, 1, 5, 5),
                    label="x (3, B, T, D), mask (3, B, 1, T, T)",
                )
            ],
            ("x", "mask"),
            "an extra leading axis of x and mask (shared params)",
        ),
        uses=(SDPA,),
    ),
    ck.forbidden(MHA),
)


def _bah_large(rng):
    return [
        _attend_case(rng, BAH, scale=1e4, label="scores ~1e4 (v scaled by 1e4), no mask"),
        _attend_case(
            rng, BAH, scale=1e4, mask=True, label="scores ~1e4 (v scaled by 1e4), mask (3, 7)"
        ),
    ]


_ATTEND_HINT = (
    "weights = softmax over s of jnp.where(mask, scores, big_negative); "
    "context = einsum('bs,bsd->bd', weights, keys)"
)

BAH_CHECKS = (
    ck.equivalence(
        BAH,
        _bah_cases,
        probe=_probe(BAH),
        name=f"{BAH}: matches the reference",
        description="(context, weights) equal the reference with and without a "
        "(B, S) mask, also with Dq != Dk and a single key",
        hint="score = tanh((query @ w_query)[:, None, :] + keys @ w_key) @ v, "
        "shape (B, S); " + _ATTEND_HINT,
    ),
    dataclasses.replace(
        ck.grad_matches(
            BAH,
            lambda rng: [_attend_case(rng, BAH, mask=True, cot=True)],
            name=f"{BAH}: gradient matches",
            description="gradients of context and weights w.r.t. w_query, "
            "w_key, v, query and keys equal the reference's",
        ),
        probe=_grad_probe(BAH, ("w_q", "w_k", "v", "query", "enc_keys")),
    ),
    ck.invariant(
        BAH,
        lambda rng: [
            _attend_case(rng, BAH, mask=True),
            _attend_case(rng, BAH, b=2, s=5, mask=True),
        ],
        _returned_weights,
        probe=_probe(BAH),
        name=f"{BAH}: weights sum to 1, masked weights are exactly 0",
        description="the returned weights are >= 0, sum to 1 over S and are "
        "exactly 0 where the mask is False",
        hint="mask the scores before the softmax (jnp.where), so that the softmax "
        "renormalizes over the allowed keys",
    ),
    ck.equivalence(
        BAH,
        _bah_large,
        probe=_probe(BAH),
        kind="stability",
        name=f"{BAH}: finite and right at score scale 1e4",
        description="with v scaled by 1e4 (scores ~1e4): finite and equal to the reference",
        hint="subtract the max score of each row before exp",
    ),
    _jit(BAH, lambda rng: [_attend_case(rng, BAH, mask=True)]),
    _vmap(
        BAH,
        lambda rng: [
            _attend_case(
                rng,
                BAH,
                mask=True,
                extra=3,
                label="query (3, B, Dq), keys (3, B, S, Dk), mask (3, B, S)",
            )
        ],
        ("query", "enc_keys", "mask"),
        "an extra leading axis of query, keys and mask",
    ),
    ck.forbidden(BAH),
)


def _luong_large(rng):
    return [
        _attend_case(
            rng,
            LUONG,
            score="dot",
            scale=1e4,
            label="scores ~1e4 (query, keys scaled by 100), no mask",
        ),
        _attend_case(
            rng,
            LUONG,
            score="general",
            scale=1e4,
            mask=True,
            label="score='general', scores ~1e4, mask (3, 7)",
        ),
    ]


LUONG_CHECKS = (
    ck.equivalence(
        LUONG,
        lambda rng: _luong_cases(rng, "dot"),
        probe=_probe(LUONG),
        name=f"{LUONG} (score='dot'): matches the reference",
        description="(context, weights) with score q . k (params None), with and "
        "without a (B, S) mask, also as the default score",
        hint="score = einsum('bd,bsd->bs', query, keys), no 1/sqrt(d) scaling; " + _ATTEND_HINT,
    ),
    ck.equivalence(
        LUONG,
        lambda rng: _luong_cases(rng, "general"),
        probe=_probe(LUONG),
        name=f"{LUONG} (score='general'): matches the reference",
        description="(context, weights) with score q @ w @ k, w (Dq, Dk), with "
        "Dq != Dk and Dq == Dk, with and without a mask",
        hint="score = einsum('bq,qk,bsk->bs', query, w, keys); " + _ATTEND_HINT,
    ),
    dataclasses.replace(
        ck.grad_matches(
            LUONG,
            lambda rng: [
                _attend_case(rng, LUONG, score="dot", mask=True, cot=True),
                _attend_case(rng, LUONG, score="general", mask=True, cot=True),
            ],
            name=f"{LUONG}: gradient matches",
            description="gradients of context and weights w.r.t. query, keys (and w for "
            "'general') equal the reference's",
        ),
        probe=_grad_probe(LUONG, ("w", "query", "enc_keys")),
    ),
    ck.invariant(
        LUONG,
        lambda rng: [
            _attend_case(rng, LUONG, score="dot", mask=True),
            _attend_case(rng, LUONG, score="general", mask=True),
        ],
        _returned_weights,
        probe=_probe(LUONG),
        name=f"{LUONG}: weights sum to 1, masked weights are exactly 0",
        description="the returned weights are >= 0, sum to 1 over S and are "
        "exactly 0 where the mask is False, for both scores",
        hint="softmax over the key axis S (axis -1 of (B, S)), after masking the "
        "scores with jnp.where",
    ),
    ck.equivalence(
        LUONG,
        _luong_large,
        probe=_probe(LUONG),
        kind="stability",
        name=f"{LUONG}: finite and right at score scale 1e4",
        description="query and keys scaled by 100 (scores ~1e4), 'dot' and "
        "'general': finite and equal to the reference",
        hint="subtract the max score of each row before exp",
    ),
    _jit(LUONG, lambda rng: [_attend_case(rng, LUONG, score="general", mask=True)], "score"),
    _vmap(
        LUONG,
        lambda rng: [
            _attend_case(
                rng,
                LUONG,
                score="dot",
                mask=True,
                extra=3,
                label="score='dot', a leading axis of 3 over query, keys and mask",
            )
        ],
        ("query", "enc_keys", "mask"),
        "an extra leading axis of query, keys and mask",
    ),
    ck.forbidden(LUONG),
)

EXERCISE = Exercise(
    id="q13",
    title="Attention",
    files={
        "attention.py": FileSpec(
            tasks=tuple(f"dlcore.nn.attention:{t}" for t in (SDPA, MHA, BAH, LUONG)),
            summary="scaled dot-product, multi-head, additive and multiplicative attention",
        )
    },
    checks=(*SDPA_CHECKS, *MHA_CHECKS, *BAH_CHECKS, *LUONG_CHECKS),
    forbidden={t: _FORBIDDEN for t in (SDPA, MHA, BAH, LUONG)},
)
