"""The word bridge: carry token-level probabilities across models whose tokenizers differ.

Bayesian WeakS-to-Strong (Cui et al. 2024, §3.3) supervises a strong generator with token-level soft targets
built from weak models that may tokenize differently. The shared level is the whitespace word:

1. a weak model scores a text by teacher forcing; its token log-probs are summed per whitespace word, giving
   the word log-score l_w. For the multi-weak targets each weak model scores its *own* 1-best, so l_w is the
   model's own decoding score of its output (beam search scores a hypothesis by the same token log-probs). The
   EOS token joins the last word for confidence (``eos="attach"``, as the reference does); the misfit views
   keep it as a unit of its own (``eos="own"``), so stopping is measured too;
2. several models' word probabilities combine as the weighted mixture p(word) = sum_j w_j p_j(word);
3. the word's log-score is split over the strong tokenizer's pieces of that word: piece t gets
   log c_t = softmax_t(-m_t) * l_w, where m_t = max_k p_strong(k) at t is how sure the strong model is there
   (``split="strong"``, the reference's; the pieces the strong model is less sure of carry more of the doubt),
   so the product over the word's pieces is exp(l_w) again. ``split="even"`` (log c_t = l_w / n_pieces) is the
   reference's ablation;
4. the soft target at a strong position puts mass c on the target token and spreads 1 - c over the rest of the
   vocabulary in proportion to the student's own distribution, which is not detached (as the reference);
5. the student is trained on these targets with a soft KL (naive multi-weak) or the evidential loss
   (Bayesian multi-weak, ``weakstrong.llm.supervision.losses``), whose KL term is annealed, clamped and scaled
   as in the reference and computed in float64, so a full vocabulary is safe.

A token is assigned to the word holding its first non-space character; a token of pure whitespace goes to the
next word (byte-level BPEs attach the leading space to the following word).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from weakstrong.llm.models.lm import encode_examples, target_token_logprobs
from weakstrong.llm.supervision.losses import KL_CLAMP, KL_WEIGHT, edl_step_targets, evidential_loss


def word_spans(text: str) -> list[tuple[int, int]]:
    """Character spans ``[start, end)`` of the whitespace-separated words of ``text``."""
    spans, start = [], None
    for i, ch in enumerate(text):
        if ch.isspace():
            if start is not None:
                spans.append((start, i))
                start = None
        elif start is None:
            start = i
    if start is not None:
        spans.append((start, len(text)))
    return spans


def token_words(text: str, offsets: Sequence[tuple[int, int]]) -> np.ndarray:
    """Word index of each token given its character offsets into ``text`` (rule in the module docstring).

    Returns
    -------
    (n_tokens,) int array; tokens with no character of ``text`` after them map to the last word.
    """
    spans = word_spans(text)
    char_word = np.full(len(text) + 1, -1, dtype=int)
    for w, (s, e) in enumerate(spans):
        char_word[s:e] = w
    # next_word[i]: the word of the first non-space character at or after i
    next_word = np.full(len(text) + 1, len(spans) - 1, dtype=int)
    for i in range(len(text) - 1, -1, -1):
        next_word[i] = char_word[i] if char_word[i] >= 0 else next_word[i + 1]
    out = np.empty(len(offsets), dtype=int)
    for k, (s, e) in enumerate(offsets):
        inside = [char_word[i] for i in range(s, min(e, len(text))) if char_word[i] >= 0]
        out[k] = inside[0] if inside else next_word[min(e, len(text))]
    return out


def target_token_words(tokenizer, target: str, eos: str = "own") -> tuple[np.ndarray, int]:
    """Word index of each token of ``encode_target(tokenizer, target)`` (EOS last), and the number of words.

    ``eos="own"``: the EOS token gets index ``n_words``, a word of its own; ``eos="attach"``: it joins the last
    word (index ``n_words - 1``; a target with no word keeps EOS as word 0).
    """
    enc = tokenizer(target, add_special_tokens=False, return_offsets_mapping=True)
    n_words = len(word_spans(target))
    words = token_words(target, enc["offset_mapping"]) if n_words else np.zeros(len(enc["input_ids"]), int)
    if eos not in ("own", "attach"):
        raise ValueError(f"eos must be 'own' or 'attach', got {eos!r}")
    return np.append(words, n_words if eos == "own" or n_words == 0 else n_words - 1), n_words


def same_segmentation(tokenizer_a, tokenizer_b, texts: Sequence[str]) -> bool:
    """Whether two tokenizers cut every text into the same character spans (so a token of one is a token of the
    other, and per-token probabilities of the two models can be compared directly)."""
    def spans(tok, text):
        return [tuple(o) for o in tok(text, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]]
    return all(spans(tokenizer_a, t) == spans(tokenizer_b, t) for t in texts)


def sum_per_word(token_values: np.ndarray, words: np.ndarray, n_words: int) -> np.ndarray:
    """Sum token values into their words; returns (n_words + 1,), EOS last."""
    if len(token_values) != len(words):
        raise ValueError(f"token_values and words must align, got {len(token_values)} and {len(words)}")
    return np.bincount(words, weights=token_values, minlength=n_words + 1)


def words_from_tokens(tokenizer, targets: Sequence[str], token_lps: Sequence[np.ndarray],
                      eos: str = "own") -> list[np.ndarray]:
    """Sum each target's token log-probs (EOS last, as :func:`weakstrong.llm.models.lm.target_token_logprobs` gives
    them) into its whitespace words: log p(word | prompt, previous words); with ``eos="own"`` EOS is the last
    entry, with ``eos="attach"`` it is part of the last word (see :func:`target_token_words`)."""
    out = []
    for target, lp in zip(targets, token_lps):
        words, n_words = target_token_words(tokenizer, target, eos)
        values = sum_per_word(np.asarray(lp), words, n_words)
        out.append(values if eos == "own" or n_words == 0 else values[:n_words])
    return out


def word_logprobs(model, tokenizer, prompts: Sequence[str], targets: Sequence[str],
                  batch_size: int = 32) -> list[np.ndarray]:
    """log p(word | prompt, previous words) for each whitespace word of each target (+ EOS), by one model.

    This is the shared level on which models with different tokenizers are compared: the word sequence of a
    text does not depend on the tokenizer, and summing token log-probs over a word gives the model's
    log-probability of that word by the chain rule.
    """
    return words_from_tokens(tokenizer, targets, token_logprobs(model, tokenizer, prompts, targets, batch_size))


def token_logprobs(model, tokenizer, prompts: Sequence[str], targets: Sequence[str],
                   batch_size: int = 32, statistic: str = "logprob") -> list[np.ndarray]:
    """log p(token | prompt, previous tokens) of each target's tokens under the model's own tokenizer (EOS last);
    ``statistic="dirichlet_logprob"`` scores by the Dirichlet mean (an evidential student's view)."""
    examples = encode_examples(tokenizer, prompts, targets, max_length=10 ** 9)
    return target_token_logprobs(model, tokenizer, examples, batch_size, statistic=statistic)


def bridged_token_probs(word_lps: np.ndarray, tokenizer, target: str) -> np.ndarray:
    """A model's word probabilities carried onto ``tokenizer``'s pieces of ``target`` (EOS last) by
    :func:`piece_confidence`: the token-level view of a model that tokenizes differently."""
    return piece_confidence(np.exp(np.asarray(word_lps)), target_token_words(tokenizer, target)[0])


def ensemble_word_probs(per_model: Sequence[Sequence[np.ndarray]], weights: Sequence[float]) -> list[np.ndarray]:
    """The weak ensemble's word probabilities: the weighted mixture sum_j w_j exp(log p_j(word)).

    Parameters
    ----------
    per_model : per_model[j][i] = word log-probs of target i under weak model j.
    weights : ensemble weights, nonnegative, normalised here.
    """
    w = np.asarray(weights, dtype=float)
    if w.shape != (len(per_model),) or np.any(w < 0) or w.sum() <= 0:
        raise ValueError(f"weights must be {len(per_model)} nonnegative numbers, not all zero; got {weights}")
    w = w / w.sum()
    return [sum(wj * np.exp(m[i]) for wj, m in zip(w, per_model)) for i in range(len(per_model[0]))]


def piece_confidence(word_probs: np.ndarray, words: np.ndarray, floor: float = 1e-6,
                     strong_max_probs: np.ndarray | None = None) -> np.ndarray:
    """Split each word's probability over its pieces; the product over a word's pieces is p(word).

    Without ``strong_max_probs`` the split is even: c = p(word) ** (1 / n_pieces(word)). With it (the
    reference's split), piece t of word w gets log c_t = softmax_t(-m_t) * log p(w), the softmax taken over the
    pieces of w and m_t the strong model's max probability at piece t.

    Parameters
    ----------
    word_probs : one probability per word index of ``words`` (EOS last when it is a word of its own).
    words : word index of each piece of the *strong* tokenization of the same text.
    floor : lower clamp on p(word), so log stays finite.
    strong_max_probs : (len(words),) the strong model's max_k p(k) at each piece, or None (even split).
    """
    counts = np.bincount(words, minlength=len(word_probs))
    if counts.shape[0] != len(word_probs):
        raise ValueError(f"words index {counts.shape[0]} words but word_probs has {len(word_probs)}")
    log_p = np.log(np.clip(word_probs, floor, 1.0))
    if strong_max_probs is None:
        return np.exp(log_p[words] / counts[words])
    m = np.asarray(strong_max_probs, dtype=float)
    if m.shape != words.shape:
        raise ValueError(f"strong_max_probs must have one value per piece ({len(words)}), got shape {m.shape}")
    e = np.exp(-m)  # m in [0, 1]: no overflow, and the softmax over a word's pieces is e / its sum
    share = e / np.bincount(words, weights=e, minlength=len(word_probs))[words]
    return np.exp(share * log_p[words])


def soft_targets(student_logits: torch.Tensor, targets: torch.Tensor, confidence: torch.Tensor,
                 detach: bool = False) -> torch.Tensor:
    """Token-level soft targets: c on the target token, 1 - c over the others in proportion to the student.

    Parameters
    ----------
    student_logits : (N, V) logits. As in the reference, the student's distribution is not detached, so the
        target carries gradient; ``detach=True`` is the ablation that stops it.
    targets : (N,) target token ids.
    confidence : (N,) c in [0, 1].

    Returns
    -------
    (N, V) float32 rows on the simplex.
    """
    z = student_logits.float()
    probs = torch.softmax(z.detach() if detach else z, -1)  # (N, V)
    onehot = torch.zeros_like(probs).scatter_(1, targets[:, None], 1.0)
    rest = probs * (1.0 - onehot)
    # If the student is already certain of the target, "the rest" has no mass: spread it uniformly instead.
    norm = rest.sum(-1, keepdim=True)
    uniform = (1.0 - onehot) / max(1, probs.shape[1] - 1)
    rest = torch.where(norm > 1e-12, rest / norm.clamp_min(1e-12), uniform)
    c = confidence.float().clamp(0.0, 1.0)[:, None]
    return c * onehot + (1.0 - c) * rest


def soft_kl_token_loss(logits, targets, weights, confidence, step, total_steps, detach: bool = False
                       ) -> torch.Tensor:
    """The naive multi-weak token loss: KL(soft target || student) per token (the reference's ``soft_kl``),
    weighted mean over tokens."""
    if confidence is None:
        raise ValueError("the soft-KL loss needs per-token confidence on every example")
    y = soft_targets(logits, targets, confidence, detach)
    per_token = torch.nn.functional.kl_div(torch.log_softmax(logits.float(), -1), y, reduction="none").sum(-1)
    return (weights * per_token).sum() / weights.sum().clamp_min(1e-12)


def evidential_token_loss(logits, targets, weights, confidence, step, total_steps, kl_weight: float = KL_WEIGHT,
                          kl_clamp: float = KL_CLAMP, clamp: str = "annealed", edl_step: bool = False,
                          detach: bool = False) -> torch.Tensor:
    """The Bayesian multi-weak token loss: the evidential loss on the soft targets of :func:`soft_targets`
    (``edl``), or on their ``edl_step`` mix with the student's argmax (``edl_step=True``)."""
    if confidence is None:
        raise ValueError("the evidential loss needs per-token confidence on every example")
    y = soft_targets(logits, targets, confidence, detach)
    if edl_step:
        y = edl_step_targets(y, logits, step, total_steps)
    return evidential_loss(logits, y, step, total_steps, kl_weight=kl_weight, kl_clamp=kl_clamp, clamp=clamp,
                           sample_weight=weights)
