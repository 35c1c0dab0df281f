"""Weak supervisors, trained on the gold labels of weak-train, then used to label w2s-train.

Short names (the offline ladder, diverse on purpose: bag of words, shallow pretrained, no pretraining):

- ``tfidf``: TF-IDF word 1-2-grams + logistic regression (scikit-learn); ridge regression for a rating target.
- ``minilm-l1`` ... ``minilm-l6``: all-MiniLM-L6-v2 truncated to its first k layers, frozen, with a logistic
  head on its (pair-aware) features.
- ``scratch-tiny``: a 2-layer, 64-wide BERT trained from random initialisation with its own WordPiece
  tokenizer (trained on weak-train text).
- anything else: an HF model by hub id or local directory, frozen, with a logistic head.

Every supervisor has ``fit(split) -> self`` and ``predict(split) -> (n,)`` values in [0, 1] (P(y = 1), or the
predicted target for regression), plus ``config()`` (a JSON-able dict naming it for caching).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from weakstrong.llm.data.tasks import Split
from weakstrong.llm.models.features import FeatureExtractor


class TfidfWeak:
    """TF-IDF (1-2-grams, sublinear tf) + logistic regression, or ridge regression for a regression target."""

    def __init__(self, regression: bool = False, max_features: int = 50_000, c: float = 1.0, seed: int = 0):
        self.regression, self.max_features, self.c, self.seed = regression, max_features, c, seed

    def config(self) -> dict:
        return {"kind": "tfidf", "regression": self.regression, "max_features": self.max_features, "c": self.c}

    def fit(self, split: Split):
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression, Ridge

        self.vectorizer_ = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1,
                                           max_features=self.max_features)
        x = self.vectorizer_.fit_transform(split.joined())
        if self.regression:
            self.model_ = Ridge(alpha=1.0 / self.c).fit(x, split.target)
        else:
            self.model_ = LogisticRegression(C=self.c, max_iter=1000, random_state=self.seed).fit(x, split.label)
        return self

    def predict(self, split: Split) -> np.ndarray:
        x = self.vectorizer_.transform(split.joined())
        if self.regression:
            return np.clip(self.model_.predict(x), 0.0, 1.0)
        return self.model_.predict_proba(x)[:, 1]


class FrozenProbeWeak:
    """A frozen HF backbone (ladder name, path or hub id) with a logistic (or ridge) head on its features."""

    def __init__(self, features: FeatureExtractor, regression: bool = False, c: float = 1.0, seed: int = 0):
        self.features, self.regression, self.c, self.seed = features, regression, c, seed

    def config(self) -> dict:
        return {"kind": "frozen-probe", "features": self.features.config(), "regression": self.regression,
                "c": self.c}

    def fit(self, split: Split):
        from sklearn.linear_model import LogisticRegression, Ridge
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        x = self.features(split.text, split.pair, "weak-train")
        if self.regression:
            self.model_ = make_pipeline(StandardScaler(), Ridge(alpha=1.0 / self.c)).fit(x, split.target)
        else:
            head = LogisticRegression(C=self.c, max_iter=2000, random_state=self.seed)
            self.model_ = make_pipeline(StandardScaler(), head).fit(x, split.label)
        return self

    def predict(self, split: Split) -> np.ndarray:
        x = self.features(split.text, split.pair, "predict")
        if self.regression:
            return np.clip(self.model_.predict(x), 0.0, 1.0)
        return self.model_.predict_proba(x)[:, 1]


@dataclass
class ScratchConfig:
    """The from-scratch transformer: BERT architecture, random initialisation, own tokenizer."""

    vocab_size: int = 4000
    hidden_size: int = 64
    num_layers: int = 2
    num_heads: int = 2
    intermediate_size: int = 128
    epochs: int = 3
    lr: float = 1e-3
    batch_size: int = 32
    max_length: int = 128
    seed: int = 0


class ScratchTransformerWeak:
    """A tiny transformer trained from random initialisation on weak-train gold labels."""

    def __init__(self, config: ScratchConfig | None = None, device=None):
        self.cfg, self.device = config or ScratchConfig(), device

    def config(self) -> dict:
        return {"kind": "scratch", **asdict(self.cfg)}

    def fit(self, split: Split):
        import torch
        from transformers import BertConfig, BertModel

        from weakstrong.llm.models.device import select_device
        from weakstrong.llm.models.tokenizer_training import train_wordpiece_tokenizer
        from weakstrong.llm.students.classifier import ClassifierFinetuneConfig, make_classifier, train_classifier

        torch.manual_seed(self.cfg.seed)
        corpus = split.text + (split.pair or [])
        self.tokenizer_ = train_wordpiece_tokenizer(corpus, self.cfg.vocab_size)
        bert = BertModel(BertConfig(vocab_size=len(self.tokenizer_), hidden_size=self.cfg.hidden_size,
                                    num_hidden_layers=self.cfg.num_layers, num_attention_heads=self.cfg.num_heads,
                                    intermediate_size=self.cfg.intermediate_size,
                                    max_position_embeddings=max(512, self.cfg.max_length)))
        self.model_ = make_classifier(bert.to(select_device(self.device)), "encoder")
        self.train_cfg_ = ClassifierFinetuneConfig(epochs=self.cfg.epochs, lr=self.cfg.lr,
                                                   batch_size=self.cfg.batch_size, max_length=self.cfg.max_length,
                                                   seed=self.cfg.seed)
        train_classifier(self.model_, self.tokenizer_, split.text, split.pair, split.target, "xent",
                         self.train_cfg_, progress="weak scratch-tiny")
        return self

    def predict(self, split: Split) -> np.ndarray:
        from weakstrong.llm.students.classifier import predict_classifier

        return predict_classifier(self.model_, self.tokenizer_, split.text, split.pair, self.train_cfg_)


def make_weak(name: str, regression: bool = False, seed: int = 0, device=None, batch_size: int = 64,
              max_length: int = 128, cache_dir=None, log: dict | None = None):
    """The weak supervisor called ``name`` (see the module docstring); unknown ids fail clearly offline."""
    if name == "tfidf":
        return TfidfWeak(regression=regression, seed=seed)
    if name == "scratch-tiny":
        return ScratchTransformerWeak(ScratchConfig(seed=seed, max_length=max_length), device=device)
    extractor = FeatureExtractor(name, device=device, batch_size=batch_size, max_length=max_length,
                                 cache_dir=cache_dir, log=log)
    return FrozenProbeWeak(extractor, regression=regression, seed=seed)
