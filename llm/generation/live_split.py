"""The word bridge's split on the student's own, current distribution: the reference's multi-weak training.

Step 3 of :mod:`weakstrong.llm.generation.bridge` splits a word's log-score l_w over the strong pieces of the
word: piece t gets log c_t = softmax_t(-m_t) * l_w, m_t = max_k p(k) at t. The reference takes p from the
student being trained, on every forward pass (its probabilities detached; temperature 1), so the split follows
the student as it learns. This module does that (``--piece-split live``, the default); the strong model's
probabilities before w2s training, fixed (``base``), and the even split (``even``) are the ablations computed
once in :func:`~weakstrong.llm.generation.bridge.piece_confidence`.

What training needs per target token is l_w of its word and where each word starts. Both travel through the
per-token confidence channel of :class:`~weakstrong.llm.models.lm.Example` as one float: l_w, shifted by
``-WORD_START`` at the first piece of each word. l_w is at least log(floor) > -WORD_START / 2, so the shift marks
word starts unambiguously; a row's first target token always starts a word, so the words of a batch's
concatenated target tokens (row-major, as the fine-tuning loop gathers them) are the runs between marks.
"""

from __future__ import annotations

import numpy as np
import torch

from weakstrong.llm.generation.bridge import evidential_token_loss, soft_kl_token_loss

WORD_START = 100.0  # the shift that marks a word's first piece (log-scores are floored far above -WORD_START / 2)


def encode_live_split(word_probs: np.ndarray, words: np.ndarray, floor: float = 1e-6) -> np.ndarray:
    """Per strong piece, log p(word of the piece) (floored at ``floor``, as the fixed splits), shifted by
    ``-WORD_START`` at the first piece of each word.

    Parameters
    ----------
    word_probs : one probability per word index of ``words``.
    words : word index of each piece of the strong tokenization (non-decreasing, as a text's words are).
    """
    words = np.asarray(words)
    counts = np.bincount(words, minlength=len(word_probs))
    if counts.shape[0] != len(word_probs):
        raise ValueError(f"words index {counts.shape[0]} words but word_probs has {len(word_probs)}")
    if np.any(np.diff(words) < 0):
        raise ValueError("words must be non-decreasing (the pieces of a text, in order)")
    if not 0 < floor < 1 or np.log(floor) <= -WORD_START / 2:
        raise ValueError(f"floor must be in (0, 1) with log(floor) > {-WORD_START / 2}, got {floor}")
    log_p = np.log(np.clip(word_probs, floor, 1.0))[words]
    starts = np.r_[True, words[1:] != words[:-1]] if len(words) else np.zeros(0, bool)
    return log_p - WORD_START * starts


def live_confidence(logits: torch.Tensor, encoded: torch.Tensor) -> torch.Tensor:
    """c_t = exp(softmax_t(-m_t) * l_w), the softmax over each word's pieces, m_t = max_k p_student(k) at t.

    Parameters
    ----------
    logits : (N, V) the student's logits at the N target positions of a batch, row after row.
    encoded : (N,) :func:`encode_live_split` values at the same positions.

    Returns
    -------
    (N,) float32 confidences in [0, 1]; the product over a word's pieces is p(word).
    """
    encoded = encoded.float()
    starts = encoded < -WORD_START / 2
    if len(encoded) and not bool(starts[0]):
        raise ValueError("the first target position must start a word (encode_live_split marks word starts)")
    log_pw = torch.where(starts, encoded + WORD_START, encoded)
    group = torch.cumsum(starts.long(), 0) - 1
    m = torch.softmax(logits.detach().float(), -1).amax(-1)
    e = torch.exp(-m)  # m in [0, 1]: no overflow, and the softmax over a word's pieces is e / its sum
    total = torch.zeros(int(starts.sum()), dtype=e.dtype, device=e.device).index_add_(0, group, e)
    return torch.exp(e / total[group] * log_pw)


def live_soft_kl_token_loss(logits, targets, weights, encoded, step, total_steps, detach: bool = False
                            ) -> torch.Tensor:
    """Naive multi-weak's soft KL (:func:`~weakstrong.llm.generation.bridge.soft_kl_token_loss`) on the live
    split's confidences."""
    if encoded is None:
        raise ValueError("the live split needs the encoded word log-scores on every example")
    return soft_kl_token_loss(logits, targets, weights, live_confidence(logits, encoded), step, total_steps,
                              detach)


def live_evidential_token_loss(logits, targets, weights, encoded, step, total_steps, **options) -> torch.Tensor:
    """Bayesian multi-weak's evidential loss (:func:`~weakstrong.llm.generation.bridge.evidential_token_loss`,
    ``options`` as there) on the live split's confidences."""
    if encoded is None:
        raise ValueError("the live split needs the encoded word log-scores on every example")
    return evidential_token_loss(logits, targets, weights, live_confidence(logits, encoded), step, total_steps,
                                 **options)


# a student trained with these losses depends on this module's code too (its stage key covers it)
live_soft_kl_token_loss.code_deps = live_evidential_token_loss.code_deps = (live_confidence, encode_live_split)
