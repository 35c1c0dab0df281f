"""Misfit theory of weak-to-strong generalization: distances, convex projections, bounds (no I/O)."""
