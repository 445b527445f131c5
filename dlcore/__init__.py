"""dlcore: deep-learning engineering in JAX, one concept at a time.

A pure-functional library: every function takes arrays and pytrees and returns new ones,
randomness is an explicit key (the first positional argument), train/eval an explicit
``deterministic`` flag, optimizers are ``optax.GradientTransformation``s, and Flax NNX
modules are thin wrappers over the same functions. Topics live in subpackages, imported
on demand (``import dlcore`` itself imports no JAX):

- ``dlcore.nn``: activations, losses, convolution (1-D and 2-D), pooling, attention,
  dropout, normalization, recurrent cells, initializers, regularizers, gradient tools, and
  NNX modules;
- ``dlcore.optim``: sgd, rmsprop, adagrad, adam, adamw, weight decay;
- ``dlcore.autodiff``: a hand-written backward pass and finite differences;
- ``dlcore.graphs``: jaxprs, a small interpreter and reverse mode over it, StableHLO;
- ``dlcore.perf``: benchmarking, gradient accumulation, rematerialization, prefetching,
  profiling;
- ``dlcore.debug``: gradient checks, finding NaNs, logging from jit;
- ``dlcore.train``: splits, early stopping, a Keras-style ``fit``;
- ``dlcore.metrics``, ``dlcore.imbalance``, ``dlcore.tuning``: scikit-learn-equal
  metrics, imbalanced data, hyperparameter search;
- ``dlcore.transfer``, ``dlcore.port``: fine-tuning NNX models, porting PyTorch weights;
- ``dlcore.data``, ``dlcore.models``: minibatches and small reference models.
"""

__version__ = "0.2.0"

__all__ = [
    "autodiff", "data", "debug", "graphs", "imbalance", "metrics", "models", "nn", "optim",
    "perf", "port", "train", "transfer", "tuning",
]


def __getattr__(name):
    if name in __all__:
        import importlib

        return importlib.import_module(f"dlcore.{name}")
    raise AttributeError(f"module 'dlcore' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *__all__])
