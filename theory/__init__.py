"""Misfit theory of weak-to-strong generalization: distances, convex projections, bounds (no I/O).

Modules (import from them directly; nothing is re-exported here):

- ``distances``: sq_distance, inner_product, kl_divergence, pointwise_kl, bregman_divergence.
- ``projections``: project_onto_subspace / _ball / _hull / _box / _cone, kl_project_onto_hull -> Projection;
  simplex_least_squares, condition_number; ``simplex``: what they and ``kl_projection`` share (Projection,
  the simplex least-squares kernel, the Frank-Wolfe gap).
- ``bounds``: theorem1, subspace_equality, nonrealizable_identity, nonrealizable_bound,
  convex_nonrealizable_bound, kl_theorem, plus (re-exported) the ensemble statements of ``ensembles`` and
  the finite-sample bound of ``finite_sample``; each returns a ``BoundCheck``.
- ``gain`` (a subpackage): predict_gain (misfit + a k-label cross term, with a confidence interval),
  predict_subspace_gain, gain_decomposition, misfit_sampling_prob -> GainPrediction (``gain.predictor``); the
  sampling designs behind its intervals (``gain.sampling``); its draws on a labelled pool (``gain.simulation``).
- ``representations``: principal_subspace, subspace_misalignment (a label-free overlap of two representations).
- ``symbolic``: sympy derivations of the identities and ``statement_latex()`` for the paper.
- ``check``: random instances of every statement, behind ``weakstrong theory check``.
- ``records``: W2SRecord, the record every experiment writes; ``dirichlet``: KL(Dir(alpha) || Dir(1)).
- ``validation``: the input checks shared by all of the above (every bad input is a ValueError naming the
  argument) and the documented range of values, VALUE_RANGE and MAX_SQUARED.
"""
