"""Numba-accelerated synthetic weak-to-strong simulator."""
