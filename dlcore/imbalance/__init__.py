"""Learning from imbalanced data: class weights, weighted and focal losses, resampling."""

from dlcore.imbalance.losses import focal_loss as focal_loss
from dlcore.imbalance.losses import weighted_cross_entropy as weighted_cross_entropy
from dlcore.imbalance.sampling import balanced_batch_indices as balanced_batch_indices
from dlcore.imbalance.sampling import smote as smote
from dlcore.imbalance.threshold import best_threshold_f1 as best_threshold_f1
from dlcore.imbalance.weights import class_weights_balanced as class_weights_balanced
