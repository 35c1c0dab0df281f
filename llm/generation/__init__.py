"""Generation: SLURP slot filling (``weakstrong llm generate``): config, decoding, the word bridge, the SLU metric, report and benchmark."""
