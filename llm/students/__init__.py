"""Students: probe and fine-tuned classifier heads, top-K fine-tuning, and DPO."""
