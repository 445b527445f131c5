"""Hyperparameter tuning: grid and random search, vmapped sweeps, BO and an ES."""

from dlcore.tuning.bayes import bayes_opt as bayes_opt
from dlcore.tuning.evolution import evolution_strategy as evolution_strategy
from dlcore.tuning.gp import expected_improvement as expected_improvement
from dlcore.tuning.gp import gp_posterior as gp_posterior
from dlcore.tuning.search import grid_search as grid_search
from dlcore.tuning.search import random_search as random_search
from dlcore.tuning.sweep import vmapped_lr_sweep as vmapped_lr_sweep
