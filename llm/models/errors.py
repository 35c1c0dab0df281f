"""The llm layer's own error types (a leaf module, imported by the registry and the GGUF loader alike)."""

from __future__ import annotations

from weakstrong.config import ConfigError


class ModelNotAvailableError(ConfigError):
    """A model named by hub id or path cannot be loaded (offline, missing folder, missing package)."""
