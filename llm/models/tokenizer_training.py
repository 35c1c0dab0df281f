"""Tokenizers trained here with ``tokenizers``: WordPiece for from-scratch encoders, byte-level BPE for the
decoder ladder. Both come back as ``transformers.PreTrainedTokenizerFast`` (``save_pretrained`` works)."""

from __future__ import annotations

from typing import Sequence

# Special tokens of the byte-level BPEs of the decoder ladder; EOS doubles as BOS.
BPE_SPECIAL = {"eos": "<|endoftext|>", "pad": "<|pad|>"}


def train_wordpiece_tokenizer(texts: Sequence[str], vocab_size: int = 2000, model_max_length: int = 512):
    """A lower-cased WordPiece tokenizer trained on ``texts`` with BERT-style special tokens.

    [CLS] ... [SEP] post-processing for single texts and pairs.
    """
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.train_from_iterator(list(texts), trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=specials))
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]", cls_token="[CLS]",
                                   sep_token="[SEP]", mask_token="[MASK]", model_max_length=model_max_length)


def train_bpe_tokenizer(texts, vocab_size: int):
    """A byte-level BPE with :data:`BPE_SPECIAL` tokens (EOS doubles as BOS)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[BPE_SPECIAL["eos"], BPE_SPECIAL["pad"]],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), min_frequency=2,
                                  show_progress=False)
    tok.train_from_iterator(texts, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=BPE_SPECIAL["eos"], eos_token=BPE_SPECIAL["eos"],
                                   pad_token=BPE_SPECIAL["pad"])
