"""dlcore.imbalance pinned to scikit-learn, optax and the imbalanced-learn SMOTE recipe."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from scipy import stats
from sklearn.datasets import make_classification
from sklearn.metrics import average_precision_score, log_loss, precision_recall_curve
from sklearn.neighbors import NearestNeighbors
from sklearn.utils.class_weight import compute_class_weight

from dlcore.imbalance import (
    balanced_batch_indices,
    best_threshold_f1,
    class_weights_balanced,
    focal_loss,
    smote,
    weighted_cross_entropy,
)


def test_class_weights_match_sklearn():
    rng = np.random.default_rng(0)
    for _ in range(5):
        labels = rng.choice(4, size=50, p=[0.7, 0.2, 0.07, 0.03])
        labels[:4] = np.arange(4)  # every class present
        got = jax.jit(class_weights_balanced, static_argnums=1)(labels, 4)
        want = compute_class_weight("balanced", classes=np.arange(4), y=labels)
        np.testing.assert_allclose(got, want, rtol=1e-6)  # one float32 division
        counts = np.bincount(labels, minlength=4)
        np.testing.assert_allclose(np.sum(counts * np.asarray(got)), 50, rtol=1e-6)


def test_class_weights_absent_class_gets_zero():
    labels = jnp.array([0, 0, 0, 2, 2, 0])
    got = class_weights_balanced(labels, 3)
    assert float(got[1]) == 0.0
    np.testing.assert_allclose(got[jnp.array([0, 2])], [6 / 12, 6 / 6], rtol=1e-6)
    with pytest.raises(ValueError):
        compute_class_weight("balanced", classes=np.arange(3), y=np.asarray(labels))


def _ce_case(seed, n=64, c=5, scale=3.0):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, c)) * scale
    labels = rng.integers(0, c, size=n)
    weights = rng.random(c) + 0.1
    return logits, labels, weights


def test_weighted_cross_entropy_matches_sklearn_log_loss():
    with jax.enable_x64(True):
        for seed in range(4):
            logits, labels, weights = _ce_case(seed)
            got = float(weighted_cross_entropy(logits, labels, weights))
            probs = np.asarray(jax.nn.softmax(logits, axis=-1))
            want = log_loss(labels, probs, labels=range(5), sample_weight=weights[labels])
            np.testing.assert_allclose(got, want, rtol=1e-6)  # x64; sklearn clips at 2e-16


def test_weighted_cross_entropy_reductions_and_scale():
    logits, labels, weights = _ce_case(5)
    logits, labels, weights = (jnp.asarray(a, jnp.float32) for a in (logits, labels, weights))
    labels = labels.astype(jnp.int32)
    plain = jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, labels))
    np.testing.assert_allclose(
        weighted_cross_entropy(logits, labels, jnp.ones(5)), plain, rtol=1e-6
    )
    np.testing.assert_allclose(
        weighted_cross_entropy(logits, labels, 7.5 * weights),
        weighted_cross_entropy(logits, labels, weights),
        rtol=1e-6,
    )
    # normalized by sum w[y], not by N (Keras)
    keras = jnp.mean(
        weights[labels] * optax.softmax_cross_entropy_with_integer_labels(logits, labels)
    )
    assert abs(float(weighted_cross_entropy(logits, labels, weights)) - float(keras)) > 1e-3


def test_weighted_cross_entropy_stable_at_large_logits():
    logits, labels, weights = _ce_case(6, n=16, c=3)
    logits = jnp.asarray(np.sign(logits) * 1e4, jnp.float32)
    labels, weights = jnp.asarray(labels), jnp.asarray(weights, jnp.float32)
    value, grad = jax.jit(jax.value_and_grad(weighted_cross_entropy))(logits, labels, weights)
    w = weights[labels]
    want = w[:, None] * (jax.nn.softmax(logits) - jax.nn.one_hot(labels, 3)) / jnp.sum(w)
    assert np.isfinite(float(value))
    np.testing.assert_allclose(grad, want, atol=1e-7)


def test_focal_loss_matches_optax():
    logits = jnp.tile(jnp.linspace(-30.0, 30.0, 61), (2, 1))
    labels = jnp.stack([(jnp.arange(61) % 2).astype(jnp.float32), jnp.full(61, 0.3)])  # hard, soft
    gammas = jnp.array([0.0, 0.5, 1.0, 2.0, 5.0])
    for alpha in (None, 0.25, 0.75):
        got = jax.vmap(lambda g, a=alpha: focal_loss(logits, labels, alpha=a, gamma=g))(gammas)
        want = jax.vmap(
            lambda g, a=alpha: optax.sigmoid_focal_loss(logits, labels, alpha=a, gamma=g)
        )(gammas)
        assert got.shape == (5, 2, 61)
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-30)  # the same formula


def test_focal_loss_gamma_zero_is_bce_and_extremes_are_finite():
    logits = jax.random.normal(jax.random.key(1), (4, 7)) * 5
    labels = jax.random.bernoulli(jax.random.key(2), 0.3, (4, 7)).astype(jnp.float32)
    np.testing.assert_allclose(
        jax.jit(focal_loss)(logits, labels, gamma=0.0),
        optax.sigmoid_binary_cross_entropy(logits, labels),
        rtol=1e-6,
    )
    x = jnp.array([-100.0, 100.0, -100.0, 100.0])
    y = jnp.array([0.0, 1.0, 1.0, 0.0])
    value, grad = jax.jit(jax.value_and_grad(lambda z: jnp.sum(focal_loss(z, y, gamma=0.5))))(x)
    assert np.isfinite(float(value)) and np.all(np.isfinite(grad))


def _closest_segments(points, x, neighbours):
    """Each point's closest undirected kNN segment: (segment id, gap from its base, distance).

    Segment ids index ``pairs``; a pair found from both ends (i in kNN(j) and j in kNN(i))
    has multiplicity 2 and no known direction, so its gap is NaN.
    """
    directed = {(i, int(j)) for i in range(len(x)) for j in neighbours[i]}
    undirected = sorted({tuple(sorted(p)) for p in directed})
    mult = np.array([((a, b) in directed) + ((b, a) in directed) for a, b in undirected])
    base = np.array([a if (a, b) in directed else b for a, b in undirected])
    tip = np.array([b if (a, b) in directed else a for a, b in undirected])
    a, d = x[base][:, None, :], (x[tip] - x[base])[:, None, :]  # (S, 1, D)
    t = np.clip(np.sum((points[None] - a) * d, -1) / np.sum(d * d, -1), 0.0, 1.0)  # (S, M)
    dist = np.linalg.norm(points[None] - (a + t[..., None] * d), axis=-1)
    seg = np.argmin(dist, 0)
    cols = np.arange(len(points))
    gap = np.where(mult[seg] == 1, t[seg, cols], np.nan)
    return seg, mult, gap, dist[seg, cols]


@pytest.mark.parametrize("k", [1, 3])
def test_smote_points_lie_on_knn_segments(k):
    x = np.asarray(jax.random.normal(jax.random.key(3), (20, 3)))
    draw = jax.jit(smote, static_argnums=2, static_argnames="k")
    new = np.asarray(draw(jax.random.key(4), x, 4000, k=k))
    assert new.shape == (4000, 3)
    # neighbours from an independent implementation; column 0 is the point itself
    neighbours = NearestNeighbors(n_neighbors=k + 1).fit(x).kneighbors(x)[1][:, 1:]
    seg, mult, gap, dist = _closest_segments(new, x, neighbours)
    assert dist.max() < 1e-5  # float32 interpolation error is ~1e-7
    # STAT (alpha 1e-6 keeps it stable): each directed (point, neighbour) pair has
    # probability 1 / (n k), so an undirected segment found from both ends has twice that
    counts = np.bincount(seg, minlength=len(mult))
    assert stats.chisquare(counts, len(new) * mult / mult.sum()).pvalue > 1e-6
    gap = gap[~np.isnan(gap)]
    assert len(gap) > 500
    assert stats.kstest(gap, "uniform").pvalue > 1e-6


def test_smote_key_discipline_and_validation():
    x = jax.random.normal(jax.random.key(5), (8, 2))
    a = smote(jax.random.key(0), x, 10, k=3)
    np.testing.assert_array_equal(a, smote(jax.random.key(0), x, 10, k=3))
    assert not np.array_equal(a, smote(jax.random.key(1), x, 10, k=3))
    with pytest.raises(ValueError):
        smote(jax.random.key(0), x[:3], 5, k=3)


def test_balanced_batches_statistics():
    labels = jnp.array([0] * 97 + [1] * 3)
    keys = jax.random.split(jax.random.key(6), 200)
    draw = jax.jit(jax.vmap(balanced_batch_indices, (0, None, None)), static_argnums=2)
    idx = np.asarray(draw(keys, labels, 64))
    assert idx.dtype == np.int32 and idx.shape == (200, 64)
    assert idx.min() >= 0 and idx.max() < 100
    share = np.mean(np.asarray(labels)[idx])
    assert abs(share - 0.5) < 6 * np.sqrt(0.25 / idx.size)
    # i.i.d. draws: the minority count per batch is Binomial(64, 0.5), variance 16 (the sample
    # variance over 200 batches has sd 1.6); exact balancing would give 0
    assert 8 < np.var(np.asarray(labels)[idx].sum(1)) < 32
    counts = np.bincount(idx.ravel(), minlength=100)
    assert stats.chisquare(counts[:97]).pvalue > 1e-6  # uniform within the majority
    assert stats.chisquare(counts[97:]).pvalue > 1e-6  # and within the minority
    np.testing.assert_array_equal(draw(keys, labels, 64), idx)
    one = jax.jit(balanced_batch_indices, static_argnums=2)
    assert not np.array_equal(
        one(jax.random.key(0), labels, 64), one(jax.random.key(1), labels, 64)
    )


def _sklearn_best_f1(scores, labels):
    precision, recall, thresholds = precision_recall_curve(labels, scores)
    denom = precision + recall
    f1 = np.where(denom > 0, 2 * precision * recall / np.where(denom > 0, denom, 1), 0.0)[:-1]
    best = f1.max()
    # 2PR/(P+R) rounds differently from 2TP/(PP+P); equal F1 in exact arithmetic is a tie
    return thresholds[f1 >= best - 1e-12].min(), best


def test_best_threshold_matches_sklearn():
    rng = np.random.default_rng(7)
    labels = (rng.random((30, 50)) < 0.2).astype(np.int32)
    labels[:, 0] = 1
    tie_free = rng.normal(size=(30, 50)) + labels
    tied = np.round(tie_free, 0)
    best = jax.jit(jax.vmap(best_threshold_f1))
    for scores, exact_threshold in ((tie_free, True), (tied, False)):
        thresholds, f1s = (np.asarray(a) for a in best(scores.astype(np.float32), labels))
        for i in range(30):
            t, f1 = _sklearn_best_f1(scores[i].astype(np.float32), labels[i])
            np.testing.assert_allclose(f1s[i], f1, atol=1e-6)
            if exact_threshold:
                assert thresholds[i] == t
            # the returned threshold reaches the returned F1 with the rule score >= t
            pred = scores[i].astype(np.float32) >= thresholds[i]
            tp = np.sum(pred & (labels[i] == 1))
            np.testing.assert_allclose(2 * tp / (pred.sum() + labels[i].sum()), f1s[i], atol=1e-6)


def test_best_threshold_separable_and_ties():
    scores = jnp.array([-3.0, -1.0, 0.5, 2.0, 4.0])
    labels = jnp.array([0, 0, 1, 1, 1])
    t, f1 = best_threshold_f1(scores, labels)
    assert float(t) == 0.5 and float(f1) == 1.0
    # F1 is 2/3 at both t = 1 and t = 4: the smaller threshold wins
    t, f1 = best_threshold_f1(jnp.array([1.0, 2.0, 3.0, 4.0]), jnp.array([1, 0, 0, 1]))
    assert float(t) == 1.0
    np.testing.assert_allclose(f1, 2 / 3, rtol=1e-6)


@jax.jit
def _train_linear(x, y, weights):
    """Full-batch Adam(0.05), 500 steps, linear softmax model; returns (w, b)."""
    tx = optax.adam(0.05)
    params = {"w": jnp.zeros((x.shape[1], 2)), "b": jnp.zeros(2)}

    def loss(p):
        return weighted_cross_entropy(x @ p["w"] + p["b"][None, :], y, weights)

    def step(carry, _):
        p, s = carry
        g = jax.grad(loss)(p)
        u, s = tx.update(g, s, p)
        return (optax.apply_updates(p, u), s), None

    (params, _), _ = jax.lax.scan(step, (params, tx.init(params)), None, length=500)
    return params["w"], params["b"]


def test_train_weighting_and_threshold_help_the_minority():
    x, y = make_classification(
        6000,
        n_features=20,
        n_informative=5,
        weights=[0.97, 0.03],
        flip_y=0,
        class_sep=0.8,
        random_state=0,
    )
    x, y = jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.int32)
    xtr, ytr, xte, yte = x[:4000], y[:4000], x[4000:], y[4000:]

    def report(pred):
        recall = float(jnp.mean(pred[yte == 1] == 1))
        specificity = float(jnp.mean(pred[yte == 0] == 0))
        return recall, (recall + specificity) / 2

    def model(weights):
        w, b = _train_linear(xtr, ytr, weights)  # one compile for both weightings
        return lambda z: z @ w + b[None, :]

    plain = model(jnp.ones(2))
    weighted = model(class_weights_balanced(ytr, 2))
    plain_recall, plain_bacc = report(jnp.argmax(plain(xte), -1))
    recall, bacc = report(jnp.argmax(weighted(xte), -1))
    margin = lambda f, z: f(z)[:, 1] - f(z)[:, 0]  # noqa: E731
    t, _ = best_threshold_f1(margin(plain, xtr[:1000]), ytr[:1000])

    def f1(pred):
        tp = float(jnp.sum(pred & (yte == 1)))
        return 2 * tp / (float(jnp.sum(pred)) + float(jnp.sum(yte)))

    f1_default = f1(margin(plain, xte) >= 0)
    f1_tuned = f1(margin(plain, xte) >= t)
    ap_plain = average_precision_score(yte, margin(plain, xte))
    ap_weighted = average_precision_score(yte, margin(weighted, xte))
    print(
        f"plain recall {plain_recall:.2f} bacc {plain_bacc:.2f}; weighted recall {recall:.2f} "
        f"bacc {bacc:.2f}; F1 {f1_default:.2f} -> {f1_tuned:.2f}; AP {ap_plain:.2f} / "
        f"{ap_weighted:.2f}"
    )
    # measured: plain 0.07 / 0.53; weighted 0.72 / 0.78; F1 0.11 -> 0.29 (contract)
    assert plain_recall < 0.3
    assert recall >= 0.5 and bacc >= 0.70
    assert f1_tuned - f1_default >= 0.10
