"""One vector per text from a backbone's hidden states: masked mean for encoders, last real token for decoders.

The last token is located from the attention mask (left or right padding alike), never from a pad id, so a
tokenizer whose pad token is a real token (GPT-2's EOS) pools correctly.
"""

from __future__ import annotations

from typing import Sequence


def last_token_index(attention_mask):
    """Position of the last attended token per row, from the mask alone (works for left and right padding)."""
    import torch

    positions = torch.arange(attention_mask.shape[1], device=attention_mask.device)
    return torch.where(attention_mask.bool(), positions, -1).amax(dim=1)  # (B,)


def pool_hidden(hidden, attention_mask, kind: str):
    """(B, T, H) hidden states -> (B, H): masked mean for encoders, last non-pad token for decoders."""
    if kind == "decoder":
        idx = last_token_index(attention_mask)
        return hidden[idx.new_tensor(range(hidden.shape[0])), idx]
    if kind != "encoder":
        raise ValueError(f"kind must be 'encoder' or 'decoder', got {kind!r}")
    mask = attention_mask.to(hidden.dtype).unsqueeze(-1)  # (B, T, 1)
    return (hidden * mask).sum(1) / mask.sum(1).clamp_min(1.0)


def forward_pooled(model, tokenizer, kind: str, texts: Sequence[str], pairs: Sequence[str] | None = None,
                   max_length: int = 128):
    """Tokenise one batch (optionally as text pairs), run the backbone, return pooled (B, H) features."""
    device = next(model.parameters()).device
    # Segment ids matter for BERT pairs; many decoders (Llama) reject them.
    enc = tokenizer(list(texts), list(pairs) if pairs is not None else None, padding=True, truncation=True,
                    max_length=max_length, return_tensors="pt",
                    return_token_type_ids=kind == "encoder").to(device)
    out = model(**enc)
    return pool_hidden(out.last_hidden_state, enc["attention_mask"], kind)
