"""The real-model misfit study (``weakstrong llm misfit-study``), its fine-tuned students, and gain prediction before training (``weakstrong llm predict``) with its evaluation."""
