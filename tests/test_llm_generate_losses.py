"""The word bridge across two different tokenizers, token-level soft targets with the evidential loss and its
gradient, and the conservative DPO loss against its slow reference."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from weakstrong.llm.data.slurp import serialise_slots
from weakstrong.llm.generation.bridge import (evidential_token_loss, bridged_token_probs, ensemble_word_probs,
                                              piece_confidence, same_segmentation, soft_targets, target_token_words,
                                              token_logprobs, token_words, word_logprobs, word_spans, words_from_tokens)
from weakstrong.llm.models.lm import encode_examples, load_causal_lm, target_token_logprobs
from weakstrong.llm.models.tokenizer_training import train_bpe_tokenizer
from weakstrong.llm.pretrain.train import save_random_model
from weakstrong.llm.students.dpo import conservative_dpo_loss, conservative_dpo_loss_reference
from weakstrong.llm.supervision.losses import evidential_loss
from evidential_oracle import edl_oracle

CORPUS_A = [f"wake me up at {h} am on {d} please" for h in ("five", "six", "seven") for d in ("monday", "friday")]
CORPUS_B = [serialise_slots([("time", t), ("date", d)]) for t in ("five am", "noon") for d in ("today", "this week")]
TEXTS = ['[{"date":"this week"},{"time":"five am"}]', "wake me up at seven am", '[]', "  two  spaces here ",
         serialise_slots([("time", "five am"), ("date", "this week")])]


@pytest.fixture(scope="module")
def tokenizers():
    # Genuinely different BPEs: different training text and vocabulary sizes.
    return train_bpe_tokenizer(CORPUS_A * 5, 300), train_bpe_tokenizer((CORPUS_B + CORPUS_A[:2]) * 5, 420)


def test_the_two_tokenizers_differ(tokenizers):
    a, b = tokenizers
    pieces = [tok.convert_ids_to_tokens(tok(TEXTS[0], add_special_tokens=False)["input_ids"]) for tok in (a, b)]
    assert pieces[0] != pieces[1]


@pytest.mark.parametrize("text", TEXTS)
def test_tokens_land_in_the_word_they_spell(tokenizers, text):
    words = [text[s:e] for s, e in word_spans(text)]
    assert words == text.split()
    for tok in tokenizers:
        idx, n_words = target_token_words(tok, text)
        assert n_words == len(words) and idx[-1] == n_words  # EOS is a word of its own
        ids = tok(text, add_special_tokens=False)["input_ids"]
        spelled = ["" for _ in words]
        for t, w in zip(ids, idx[:-1]):
            spelled[w] += tok.decode([t])
        assert [s.strip() for s in spelled] == words


def test_token_words_rule_on_hand_offsets():
    # "ab cd": tokens "ab", " c" (leading space -> next word), "d", and a pure-space token at the end
    assert token_words("ab cd ", [(0, 2), (2, 4), (4, 5), (5, 6)]).tolist() == [0, 1, 1, 1]


@pytest.fixture(scope="module")
def two_models(tmp_path_factory, tokenizers):
    root = tmp_path_factory.mktemp("bridge")
    out = []
    for i, (arch, vocab, texts) in enumerate((("gpt2", 300, CORPUS_A), ("llama", 420, CORPUS_B + CORPUS_A))):
        torch.manual_seed(i)
        path = save_random_model(root / arch, texts * 5, vocab, arch=arch)
        out.append(load_causal_lm(str(path), "cpu"))
    return out


def test_word_logprobs_conserve_the_sequence_logprob(two_models):
    prompts, targets = ["utterance: wake me\nslots: "] * 2, TEXTS[:2]
    for model, tok in two_models:
        per_word = word_logprobs(model, tok, prompts, targets)
        per_token = target_token_logprobs(model, tok, encode_examples(tok, prompts, targets))
        for w, t, text in zip(per_word, per_token, targets):
            assert len(w) == len(text.split()) + 1  # same length for both tokenizers: the shared level
            assert w.sum() == pytest.approx(t.sum())  # chain rule: words partition the tokens
            assert np.all(w <= 0)


def test_words_from_tokens_and_the_bridged_token_view(two_models):
    prompts, targets = ["utterance: wake me\nslots:"] * 2, [TEXTS[4], TEXTS[1]]
    (_, tok_a), (model_b, tok_b) = two_models
    tokens = token_logprobs(model_b, tok_b, prompts, targets)
    words = words_from_tokens(tok_b, targets, tokens)
    assert all(np.allclose(w, v) for w, v in zip(words, word_logprobs(model_b, tok_b, prompts, targets)))
    for w, text in zip(words, targets):  # model b's words carried onto tokenizer a's pieces
        probs = bridged_token_probs(w, tok_a, text)
        idx, n_words = target_token_words(tok_a, text)
        assert len(probs) == len(idx)
        for k in range(n_words + 1):
            assert np.prod(probs[idx == k]) == pytest.approx(np.exp(w[k]))


def test_same_segmentation(tokenizers):
    a, b = tokenizers
    assert same_segmentation(a, a, TEXTS) and not same_segmentation(a, b, TEXTS)
    assert same_segmentation(a, b, [""])


def test_piece_confidence_spreads_the_word_probability(tokenizers):
    text = TEXTS[0]
    word_p = np.array([0.5, 0.2, 0.9, 0.7])  # three whitespace words + EOS
    for tok in tokenizers:
        idx, _ = target_token_words(tok, text)
        c = piece_confidence(word_p, idx)
        for w in range(4):  # the product over a word's pieces gives the word probability back
            assert np.prod(c[idx == w]) == pytest.approx(word_p[w])


def test_the_strong_split_gives_less_sure_pieces_more_of_the_doubt(tokenizers):
    text = TEXTS[0]
    word_p = np.array([0.5, 0.2, 0.9, 0.7])
    for tok in tokenizers:
        idx, _ = target_token_words(tok, text)
        m = np.linspace(0.05, 0.95, len(idx))  # the strong model grows surer along the text
        c = piece_confidence(word_p, idx, strong_max_probs=m)
        for w in range(4):
            pieces = np.flatnonzero(idx == w)
            assert np.prod(c[pieces]) == pytest.approx(word_p[w])  # the word's probability is kept
            share = np.exp(-m[pieces]) / np.exp(-m[pieces]).sum()  # softmax(-max p_strong) over the pieces
            np.testing.assert_allclose(np.log(c[pieces]), share * np.log(word_p[w]), rtol=1e-10)
            if len(pieces) > 1:  # the first piece, the least sure, carries the most doubt
                assert c[pieces[0]] < c[pieces[-1]]


def test_eos_attaches_to_the_last_word_for_confidence(tokenizers):
    for tok in tokenizers:
        own, n_words = target_token_words(tok, TEXTS[0])
        attach, _ = target_token_words(tok, TEXTS[0], eos="attach")
        assert own[-1] == n_words and attach[-1] == n_words - 1 and np.array_equal(own[:-1], attach[:-1])
        lps = [np.full(len(own), -0.1)]
        (words,) = words_from_tokens(tok, [TEXTS[0]], lps, eos="attach")
        assert len(words) == n_words and words.sum() == pytest.approx(-0.1 * len(own))


def test_the_soft_target_carries_gradient_as_in_the_reference_unless_detached():
    logits = torch.randn(4, 30, requires_grad=True)
    targets, conf = torch.tensor([1, 2, 3, 4]), torch.full((4,), 0.7)
    assert soft_targets(logits, targets, conf).requires_grad
    assert not soft_targets(logits, targets, conf, detach=True).requires_grad


def test_ensemble_word_probs_is_the_weighted_mixture():
    lp = [[np.log([0.5, 0.1])], [np.log([0.3, 0.9])]]
    mix = ensemble_word_probs(lp, [1.0, 3.0])[0]
    assert mix == pytest.approx([0.25 * 0.5 + 0.75 * 0.3, 0.25 * 0.1 + 0.75 * 0.9])


@given(st.integers(0, 10_000), st.floats(0.0, 1.0))
@settings(max_examples=25, deadline=None)
def test_soft_targets_put_mass_c_on_the_target(seed, c):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(6, 50, generator=g) * 4
    targets = torch.randint(0, 50, (6,), generator=g)
    y = soft_targets(logits, targets, torch.full((6,), c))
    assert torch.allclose(y.sum(-1), torch.ones(6), atol=1e-5)
    assert torch.allclose(y.gather(1, targets[:, None])[:, 0], torch.full((6,), c), atol=1e-6)
    rest = y.clone().scatter_(1, targets[:, None], 0.0)
    p = torch.softmax(logits, -1).scatter_(1, targets[:, None], 0.0)
    if c < 0.999:  # the rest follows the student's own distribution (float32: c rounds to 1 near 1)
        assert torch.allclose(rest / (1 - c), p / p.sum(-1, keepdim=True), atol=1e-5)


def test_evidential_token_loss_is_safe_over_a_full_vocabulary():
    torch.manual_seed(0)
    vocab = 32_000
    logits = (torch.randn(8, vocab) * 30).requires_grad_()
    logits.data[0, 5] = 500.0  # a saturated logit
    targets = torch.randint(0, vocab, (8,))
    conf = torch.tensor([1.0, 0.0, 0.5, 0.99, 0.01, 0.3, 0.7, 0.9])
    loss = evidential_token_loss(logits, targets, torch.ones(8), conf, step=5, total_steps=10)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(logits.grad).all()


def test_evidential_token_loss_equals_the_reference_evidential_loss():
    torch.manual_seed(1)
    logits, targets, conf = torch.randn(5, 12) * 3, torch.randint(0, 12, (5,)), torch.rand(5)
    y = soft_targets(logits, targets, conf)
    got = evidential_token_loss(logits, targets, torch.ones(5), conf, step=3, total_steps=4, kl_weight=0.1)
    want = edl_oracle(logits, y, 3, 4, kl_weight=0.1)
    assert float(got) == pytest.approx(want, rel=1e-4)


def test_evidential_loss_gradient_matches_finite_differences_of_the_reference():
    torch.manual_seed(2)
    logits = (torch.randn(3, 7) * 2).double()
    y = soft_targets(logits, torch.tensor([0, 3, 6]), torch.tensor([0.9, 0.5, 0.2])).double()
    z = logits.clone().float().requires_grad_()
    evidential_loss(z, y.float(), 2, 4, kl_weight=0.5).backward()
    h, num = 1e-4, torch.zeros_like(logits)
    for i in range(3):
        for k in range(7):
            up, down = logits.clone(), logits.clone()
            up[i, k] += h
            down[i, k] -= h
            num[i, k] = (edl_oracle(up, y, 2, 4, kl_weight=0.5)
                         - edl_oracle(down, y, 2, 4, kl_weight=0.5)) / (2 * h)
    assert torch.allclose(z.grad.double(), num, atol=1e-4)
    # raising the target logit of a confident target lowers the loss
    assert z.grad[0, 0] < 0


@given(st.integers(1, 12), st.floats(0.1, 10.0), st.floats(0.0, 0.45), st.integers(0, 10_000))
@settings(max_examples=40, deadline=None)
def test_conservative_dpo_loss_matches_the_slow_reference(batch, beta, eps, seed):
    g = torch.Generator().manual_seed(seed)
    pc, pr, rc, rr = (torch.randn(batch, generator=g, dtype=torch.float64) * 3 - 10 for _ in range(4))
    got = conservative_dpo_loss(pc, pr, rc, rr, beta, eps)
    assert float(got) == pytest.approx(conservative_dpo_loss_reference(pc, pr, rc, rr, beta, eps), rel=1e-9)


def test_conservative_dpo_loss_limits_and_gradient():
    zero = torch.zeros(3)
    # h = 0: every pair costs log 2 whatever eps
    assert float(conservative_dpo_loss(zero, zero, zero, zero, 5.0, 0.1)) == pytest.approx(np.log(2))
    # eps = 0 is plain DPO, -log sigma(beta h)
    h = torch.tensor([0.3, -0.2])
    assert torch.allclose(conservative_dpo_loss(h, torch.zeros(2), torch.zeros(2), torch.zeros(2), 2.0, 0.0,
                                                reduction="none"), -torch.nn.functional.logsigmoid(2.0 * h))
    # huge margins neither overflow nor vanish to nan
    big = torch.tensor([1e4, -1e4])
    assert torch.isfinite(conservative_dpo_loss(big, -big, zero[:2], zero[:2], 5.0, 0.1))
    # the gradient raises the chosen and lowers the rejected sequence while the margin is small
    pc, pr = torch.zeros(2, requires_grad=True), torch.zeros(2, requires_grad=True)
    conservative_dpo_loss(pc, pr, torch.zeros(2), torch.zeros(2), 5.0, 0.1).backward()
    assert (pc.grad < 0).all() and (pr.grad > 0).all()
    with pytest.raises(ValueError, match="shape"):
        conservative_dpo_loss(torch.zeros(2), torch.zeros(3), torch.zeros(2), torch.zeros(2))


def test_dpo_stage_does_not_depend_on_what_ran_before(two_models):
    """A stage rerun after a resume starts from other random states than in the uninterrupted run: the stage
    must seed what it draws (dropout) itself."""
    import copy

    from weakstrong.llm.generation.config import DPOConfig
    from weakstrong.llm.students.dpo import train_dpo

    model, tok = two_models[0]  # GPT-2: dropout is on while training
    prompts = ["utterance: wake me\nslots: "] * 3
    chosen = encode_examples(tok, prompts, TEXTS[:3])
    rejected = encode_examples(tok, prompts, TEXTS[1:4])
    runs = []
    for earlier in (1, 2):
        torch.manual_seed(earlier)  # whatever the stages before left in torch's generator
        policy = copy.deepcopy(model)
        info = train_dpo(policy, tok, chosen, rejected, DPOConfig(lr=1e-3, epochs=2, batch_size=2))
        runs.append((info["losses"], policy.state_dict()))
    assert runs[0][0] == runs[1][0]
    assert all(torch.equal(runs[0][1][k], runs[1][1][k]) for k in runs[0][1])


def test_dpo_accumulates_decays_linearly_and_measures_held_out_pairs(tmp_path):
    """Batch 1 x accumulation 2 takes the same optimizer steps as batch 2 (the loss of a step is the mean over
    its pairs), the learning rate decays linearly to 0, and held-out pairs are scored before and after."""
    from weakstrong.llm.generation.config import DPOConfig
    from weakstrong.llm.students.dpo import train_dpo

    texts = [f"say {w} then {v}" for w in ("one", "two", "three") for v in ("red", "blue")] * 8
    torch.manual_seed(0)
    path = save_random_model(tmp_path / "lm", texts, 90, arch="llama")  # llama: no dropout, so runs compare

    def run(batch_size, grad_accum):
        model, tok = load_causal_lm(str(path), "cpu")
        prompts = [f"say {w} then" for w in ("one", "two", "three", "one")]
        chosen = encode_examples(tok, prompts, [" red", " blue", " red", " blue"])
        rejected = encode_examples(tok, prompts, [" blue", " red", " blue", " red"])
        held = (encode_examples(tok, ["say two then"], [" red"]), encode_examples(tok, ["say two then"], [" blue"]))
        info = train_dpo(model, tok, chosen, rejected, DPOConfig(lr=1e-3, epochs=2, batch_size=batch_size,
                                                                 grad_accum=grad_accum), heldout=held)
        return info

    accumulated = run(1, 2)
    batched = run(2, 1)
    assert accumulated["optimizer_steps"] == batched["optimizer_steps"] == 4  # 2 epochs x 2 steps
    assert len(accumulated["losses"]) == 8 and len(batched["losses"]) == 4
    # each step's loss is the mean over its two pairs either way (Adam amplifies float-order differences in
    # the weights, so the comparison is on the losses, within float tolerance)
    step_means = np.asarray(accumulated["losses"]).reshape(4, 2).mean(1)
    np.testing.assert_allclose(step_means, batched["losses"], rtol=2e-3)
    for key in ("before", "after"):
        stats = accumulated["heldout"][key]
        assert stats["n_pairs"] == 1 and 0.0 <= stats["accuracy"] <= 1.0
    assert accumulated["heldout"]["before"]["margin"] != accumulated["heldout"]["after"]["margin"]


def _dpo_one_pass_at_a_time(model, tok, chosen, rejected, config):
    """The reference's DPO loop, one pass (chosen, then rejected) per forward, its loss divided by the passes
    of the optimizer step and accumulated: the oracle of train_dpo's one-forward-per-step loop."""
    import random

    from weakstrong.llm.models.lm import make_optimizer
    from weakstrong.llm.students.dpo import conservative_dpo_loss, sequence_logprob_sums

    pad = tok.pad_token_id
    order = list(range(len(chosen)))
    with torch.no_grad():
        model.eval()
        ref_c = torch.cat([sequence_logprob_sums(model, [chosen[i]], pad) for i in order])
        ref_r = torch.cat([sequence_logprob_sums(model, [rejected[i]], pad) for i in order])
    opt = make_optimizer(model, config.lr)
    total = config.epochs * -(-len(order) // config.grad_accum)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: max(0.0, 1.0 - s / total))
    rng, losses = random.Random(config.seed), []
    model.train()
    for _ in range(config.epochs):
        rng.shuffle(order)
        for n, i in enumerate(order):
            pc = sequence_logprob_sums(model, [chosen[i]], pad)
            pr = sequence_logprob_sums(model, [rejected[i]], pad)
            loss = conservative_dpo_loss(pc, pr, ref_c[i:i + 1], ref_r[i:i + 1], config.beta, config.eps)
            in_step = min(config.grad_accum, len(order) - (n - n % config.grad_accum))
            (loss / in_step).backward()
            if n % config.grad_accum == config.grad_accum - 1 or n == len(order) - 1:
                opt.step()
                sched.step()
                opt.zero_grad(set_to_none=True)
            losses.append(float(loss.detach()))
    return losses


def test_dpo_one_forward_per_step_equals_the_reference_loop(tmp_path):
    """train_dpo runs an optimizer step's passes (chosen and rejected) in one forward: the same losses and
    weights as the reference's one pass at a time, with an odd number of pairs (a last step of one pass)."""
    from weakstrong.llm.generation.config import DPOConfig
    from weakstrong.llm.students.dpo import train_dpo

    texts = [f"say {w} then {v}" for w in ("one", "two", "three") for v in ("red", "blue", "green")] * 6
    torch.manual_seed(1)
    path = save_random_model(tmp_path / "lm", texts, 90, arch="llama")  # llama: no dropout
    prompts = [f"say {w} then" for w in ("one", "two", "three", "two", "one")]
    config = DPOConfig(lr=3e-4, epochs=2, batch_size=1, grad_accum=2, seed=3)
    out = []
    for fit in ("ours", "oracle"):
        model, tok = load_causal_lm(str(path), "cpu")
        model.float()
        chosen = encode_examples(tok, prompts, [" red", " blue green", " red", " green", " blue"])
        rejected = encode_examples(tok, prompts, [" blue red", " red", " green", " blue", " red green"])
        losses = train_dpo(model, tok, chosen, rejected, config)["losses"] if fit == "ours" else \
            _dpo_one_pass_at_a_time(model, tok, chosen, rejected, config)
        out.append((losses, {k: v.clone() for k, v in model.state_dict().items()}))
    (ours, w_ours), (oracle, w_oracle) = out
    assert len(ours) == len(oracle) == 10  # 2 epochs x 5 passes
    np.testing.assert_allclose(ours, oracle, rtol=1e-4, atol=1e-6)
    assert all(torch.allclose(w_ours[k], w_oracle[k], atol=1e-5) for k in w_ours)
    assert any(not torch.equal(w_ours[k], load_causal_lm(str(path), "cpu")[0].state_dict()[k]) for k in w_ours)
