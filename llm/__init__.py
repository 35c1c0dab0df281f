"""Real transformer weak-to-strong experiments (weak ensembles, evidential supervision, DPO)."""
