"""Length-bucketed batches: examples of similar length share a batch, so padding is small and batches large.

One sort-and-chunk (:func:`length_sorted_batches`) serves everything; two shufflers sit on top of it:

- :func:`length_bucketed_batches`: numpy-seeded batch order and, under torchrun, one share per DDP rank
  (classifier fine-tuning);
- :func:`length_buckets`: ``random.Random``-seeded batch order, every example on this process (causal-LM
  fine-tuning and scoring, which must see each example exactly once).

The two seeded orders differ, and each is kept as it is so that cached stages and committed numbers stay
reproducible.
"""

from __future__ import annotations

import random
from typing import Sequence

import numpy as np

from weakstrong.llm.models.device import dist_info


def length_sorted_batches(lengths: Sequence[int], batch_size: int) -> list[np.ndarray]:
    """Indices sorted by length (stable), cut into consecutive batches of ``batch_size`` (the last may be short)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    order = np.argsort(np.asarray(lengths), kind="stable")
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


def length_bucketed_batches(lengths: Sequence[int], batch_size: int, shuffle: bool = False,
                            seed: int = 0) -> list[np.ndarray]:
    """Split indices into batches of similar length, this rank's share under DDP.

    The batch order is shuffled when ``shuffle``; each index appears exactly once over all ranks. Under DDP each
    rank takes every world_size-th batch, and the last ``len(batches) % world_size`` batches of the (shuffled)
    order are dropped so every rank steps equally.
    """
    batches = length_sorted_batches(lengths, batch_size)
    if shuffle:
        rng = np.random.default_rng(seed)
        batches = [batches[i] for i in rng.permutation(len(batches))]
    rank, world = dist_info()
    if world > 1:  # equal batch counts per rank, or DDP's collective calls hang at the end of an epoch
        batches = batches[: len(batches) - len(batches) % world]
        if not batches:
            raise ValueError(f"{len(lengths)} examples in batches of {batch_size} are too few for {world} ranks")
    return batches[rank::world]


def length_buckets(lengths: Sequence[int], batch_size: int, shuffle: bool, seed: int = 0) -> list[list[int]]:
    """Batches of indices of similar length (sorted, chunked), in random batch order when ``shuffle``."""
    batches = [b.tolist() for b in length_sorted_batches(lengths, batch_size)]
    if shuffle:
        random.Random(seed).shuffle(batches)
    return batches
