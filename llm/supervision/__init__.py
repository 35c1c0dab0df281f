"""Supervision: weak supervisors, the ensembles of them, and the losses they train with."""
