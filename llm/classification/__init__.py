"""Classification: the weak-ensemble -> strong pipeline (``weakstrong llm classify``) and its metrics."""
