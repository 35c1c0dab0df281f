"""Pretraining the from-scratch decoder ladder (``weakstrong llm pretrain``)."""
