"""Which weights of a causal LM learn, and which enter a matmul: top-K fine-tuning and FLOP counting.

Both find the transformer blocks without assuming a family's attribute names (``model.transformer.h`` in GPT-2,
``model.model.layers`` in Llama and Gemma): the blocks are the ModuleList under ``model.base_model`` with one
entry per hidden layer, and the final norm is a norm module that is a direct child of ``model.base_model``.
"""

from __future__ import annotations

import torch

from weakstrong.config import ConfigError


def decoder_layers(model) -> torch.nn.ModuleList:
    """The model's stack of transformer blocks, found without assuming a family's attribute names: the
    ModuleList under ``model.base_model`` with one entry per hidden layer."""
    n = getattr(model.config, "num_hidden_layers", None)
    for module in model.base_model.modules():
        if isinstance(module, torch.nn.ModuleList) and len(module) == n:
            return module
    raise ValueError(f"cannot find the {n} transformer layers of {type(model).__name__}")


def set_trainable_top_k(model, k: int | None) -> dict:
    """Train only the last ``k`` transformer layers and the final norm (``k=None``: every parameter).

    The embeddings, the lower layers and the output head (tied to the embeddings in SmolLM2 and the ladder) are
    frozen, so the backward pass stops at the lowest trainable layer. The final norm is any norm module that is
    a direct child of ``model.base_model`` (``norm`` in Llama and Gemma, ``ln_f`` in GPT-2).

    Returns
    -------
    dict : ``trainable_params``, ``total_params``, ``top_k``.
    """
    params = list(model.parameters())
    if k is None:
        for p in params:
            p.requires_grad_(True)
    else:
        layers = decoder_layers(model)
        if not 1 <= k <= len(layers):
            raise ConfigError(f"LMFinetuneConfig.train_top_k (--finetune-train-top-k) must be between 1 and the "
                              f"model's {len(layers)} layers, got {k}")
        for p in params:
            p.requires_grad_(False)
        trainable = list(layers[len(layers) - k:])
        trainable += [m for m in model.base_model.children() if "norm" in type(m).__name__.lower()
                      or isinstance(m, torch.nn.LayerNorm)]
        for module in trainable:
            for p in module.parameters():
                p.requires_grad_(True)
    unique = {id(p): p for p in params}.values()
    return {"trainable_params": sum(p.numel() for p in unique if p.requires_grad),
            "total_params": sum(p.numel() for p in unique), "top_k": k}


def matmul_params(model) -> dict:
    """Weights that enter a matmul per token, for FLOP counts (:mod:`weakstrong.llm.models.matmul_rate`).

    ``forward``: every 2-D weight outside the embedding tables (token and position lookups are not matmuls),
    plus the output head even when it is tied to the token embedding; ``backward``: those from the lowest
    trainable transformer layer up, head included (the activation gradients); ``trainable``: those that
    receive gradients.
    """
    head = model.get_output_embeddings()
    head_w = head.weight if head is not None else None
    tables = {id(p) for m in model.modules() if isinstance(m, torch.nn.Embedding) for p in m.parameters()}
    layers = decoder_layers(model)
    first = next((i for i, layer in enumerate(layers) if any(p.requires_grad for p in layer.parameters())), None)
    above = set() if first is None else {id(p) for layer in list(layers)[first:] for p in layer.parameters()}
    out = {"forward": 0, "backward": 0, "trainable": 0}
    seen = set()
    for p in model.parameters():
        is_head = head_w is not None and p is head_w
        if id(p) in seen or p.ndim != 2 or (id(p) in tables and not is_head):
            continue
        seen.add(id(p))
        out["forward"] += p.numel()
        out["backward"] += p.numel() if id(p) in above or (is_head and (first is not None or p.requires_grad)) else 0
        out["trainable"] += p.numel() if p.requires_grad else 0
    if head_w is not None and id(head_w) not in seen:  # a head tied to a table the loop skipped
        out["forward"] += head_w.numel()
        out["backward"] += head_w.numel() if first is not None or head_w.requires_grad else 0
        out["trainable"] += head_w.numel() if head_w.requires_grad else 0
    return out
