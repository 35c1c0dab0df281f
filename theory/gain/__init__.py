"""Predicting the gain of a weak-to-strong student before it is trained: gain = misfit + cross, the misfit from
unlabelled data and the cross term from k gold labels, with an interval.

- ``predictor``: predict_gain, predict_subspace_gain, gain_decomposition, misfit_sampling_prob -> GainPrediction;
- ``sampling``: the labelled designs behind the intervals (uniform, without replacement, misfit-guided);
- ``simulation``: repeated_predictions and draw_summary, the predictor's draws on a fully labelled pool,
  vectorised.
"""

from .predictor import GainPrediction, gain_decomposition, misfit_sampling_prob, predict_gain, predict_subspace_gain
from .simulation import SAMPLINGS, draw_summary, repeated_predictions

__all__ = ["GainPrediction", "SAMPLINGS", "draw_summary", "gain_decomposition", "misfit_sampling_prob", "predict_gain",
           "predict_subspace_gain", "repeated_predictions"]
