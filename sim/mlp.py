"""ReLU MLP representations: the ground truth h*, and the strong and weak representations h_s, h_w.

A representation is a stack of ``Linear + ReLU`` layers; its output (the last ReLU's activations) is the
feature vector a task head reads. This matches the architecture of the synthetic experiment of Charikar,
Pabbaraju & Shiragur (2024, arXiv 2405.15116): ``depth`` layers of ``Linear(., width) + ReLU`` followed by
a linear head ``Linear(width, 1)`` that is *not* part of the representation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class MLP:
    """A ReLU representation ``x -> relu(... relu(x W_1 + b_1) ... W_L + b_L)``.

    Attributes
    ----------
    weights : list of (fan_in, fan_out) arrays, one per layer (row-vector convention, ``x @ W``).
    biases : list of (fan_out,) arrays.
    """

    weights: list[np.ndarray]
    biases: list[np.ndarray]

    def __post_init__(self) -> None:
        if len(self.weights) == 0 or len(self.weights) != len(self.biases):
            raise ValueError(f"MLP needs one bias per weight matrix and at least one layer, got "
                             f"{len(self.weights)} weights and {len(self.biases)} biases")
        for k, (W, b) in enumerate(zip(self.weights, self.biases)):
            if W.ndim != 2 or b.shape != (W.shape[1],):
                raise ValueError(f"MLP layer {k}: weight must be (fan_in, fan_out) and bias (fan_out,), "
                                 f"got {W.shape} and {b.shape}")
            if k and W.shape[0] != self.weights[k - 1].shape[1]:
                raise ValueError(f"MLP layer {k}: fan_in {W.shape[0]} != previous fan_out "
                                 f"{self.weights[k - 1].shape[1]}")

    @property
    def depth(self) -> int:
        return len(self.weights)

    @property
    def input_dim(self) -> int:
        return self.weights[0].shape[0]

    @property
    def width(self) -> int:
        return self.weights[-1].shape[1]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Features of ``x`` (..., input_dim) -> (..., width)."""
        a = x
        for W, b in zip(self.weights, self.biases):
            a = np.maximum(a @ W + b, 0.0)
        return a

    def perturbed(self, rng: np.random.Generator, relative_scale: float) -> "MLP":
        """A copy with Gaussian noise added to every weight and bias.

        The noise of each array has standard deviation ``relative_scale`` times that array's root mean
        square, so the scale is comparable across layers whatever their fan-in.
        """
        def noisy(a: np.ndarray) -> np.ndarray:
            rms = float(np.sqrt(np.mean(a ** 2)))
            return a + rng.normal(0.0, relative_scale * rms, size=a.shape)

        return MLP([noisy(W) for W in self.weights], [noisy(b) for b in self.biases])

    def to_arrays(self, prefix: str) -> dict[str, np.ndarray]:
        """Flat dict of arrays for ``np.savez`` (``{prefix}W{k}``, ``{prefix}b{k}``)."""
        out = {}
        for k, (W, b) in enumerate(zip(self.weights, self.biases)):
            out[f"{prefix}W{k}"] = W
            out[f"{prefix}b{k}"] = b
        return out

    @classmethod
    def from_arrays(cls, arrays, prefix: str) -> "MLP":
        weights, biases = [], []
        k = 0
        while f"{prefix}W{k}" in arrays:
            weights.append(np.asarray(arrays[f"{prefix}W{k}"]))
            biases.append(np.asarray(arrays[f"{prefix}b{k}"]))
            k += 1
        return cls(weights, biases)


def torch_default_linear_init(rng: np.random.Generator, fan_in: int, fan_out: int) -> tuple[np.ndarray, np.ndarray]:
    """Weight (fan_in, fan_out) and bias (fan_out,) drawn like ``torch.nn.Linear``'s default init.

    PyTorch initialises both from U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (kaiming_uniform with a = sqrt(5));
    the ground truth and the task heads of the original protocol are drawn this way.
    """
    bound = 1.0 / np.sqrt(fan_in)
    return (rng.uniform(-bound, bound, size=(fan_in, fan_out)), rng.uniform(-bound, bound, size=fan_out))


def random_mlp(rng: np.random.Generator, input_dim: int, width: int, depth: int) -> MLP:
    """An untrained ReLU MLP with PyTorch's default initialisation (the ground truth h*)."""
    dims = [input_dim] + [width] * depth
    layers = [torch_default_linear_init(rng, i, o) for i, o in zip(dims[:-1], dims[1:])]
    return MLP([W for W, _ in layers], [b for _, b in layers])
