"""Length-bucketed batches: examples of similar length share a batch, so padding is small and batches large.

One sort-and-chunk (:func:`length_sorted_batches`) serves everything; two shufflers sit on top of it:

- :func:`length_bucketed_batches`: numpy-seeded batch order (classifier fine-tuning);
- :func:`length_buckets`: ``random.Random``-seeded batch order, every example on this process (causal-LM
  fine-tuning and scoring, which must see each example exactly once).

The two seeded orders differ, and each is kept as it is so that cached stages and committed numbers stay
reproducible. Both are *global* batches: under DDP every rank walks the same order and takes its contiguous
share of each batch (:func:`weakstrong.llm.models.device.rank_shard`), so a run on W ranks steps through the
same batches as a run on one process.
"""

from __future__ import annotations

import random
from typing import Sequence

import numpy as np



def length_sorted_batches(lengths: Sequence[int], batch_size: int) -> list[np.ndarray]:
    """Indices sorted by length (stable), cut into consecutive batches of ``batch_size`` (the last may be short)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    order = np.argsort(np.asarray(lengths), kind="stable")
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


def length_bucketed_batches(lengths: Sequence[int], batch_size: int, shuffle: bool = False,
                            seed: int = 0) -> list[np.ndarray]:
    """Split indices into batches of similar length, in a seeded random batch order when ``shuffle``.

    Each index appears exactly once; the order does not depend on the number of DDP ranks.
    """
    batches = length_sorted_batches(lengths, batch_size)
    if shuffle:
        rng = np.random.default_rng(seed)
        batches = [batches[i] for i in rng.permutation(len(batches))]
    return batches


def length_buckets(lengths: Sequence[int], batch_size: int, shuffle: bool, seed: int = 0) -> list[list[int]]:
    """Batches of indices of similar length (sorted, chunked), in random batch order when ``shuffle``."""
    batches = [b.tolist() for b in length_sorted_batches(lengths, batch_size)]
    if shuffle:
        random.Random(seed).shuffle(batches)
    return batches
