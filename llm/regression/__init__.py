"""Real-data regression: the misfit paper's molecule study (FreeSolv, solubility) and its text analogue (IMDB
ratings), with classic and frozen-neural representations and exact least-squares students.

- ``datasets``: the offline readers (bad rows counted, never silently dropped) and the random / scaffold splits;
- ``representations``: RDKit descriptors and fingerprints, TF-IDF, frozen ladder embeddings, cached;
- ``study``: the protocol (``RegressionStudyConfig`` -> ``run(config, options)`` -> results dict).
"""
