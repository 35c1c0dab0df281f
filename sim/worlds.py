"""Synthetic worlds: inputs, a ground-truth ReLU representation h*, and strong/weak representations.

Setup of Charikar, Pabbaraju & Shiragur (2024, arXiv 2405.15116, Sec. 5; REFERENCE.md section 1):
x ~ N(0, sigma^2 I_d) with d = 8 and sigma = 500; h* an untrained 5-layer ReLU MLP of width 16 with
PyTorch's default init; a task is a linear head on h* (also PyTorch-default), its gold label
``f*(x) = g . h*(x) + c``. Labels are used on their raw scale, as in the original protocol: with
sigma = 500 and the default init each ReLU layer shrinks the second moment about six-fold, so gold labels
have a variance of order 10-20 and the reference errors (weak ~0.47, ceiling ~0.056) are on that scale.

Three ways to obtain the strong and weak representations (``WorldConfig.setting``):

- ``"pretrained"``: h_s (8 layers) and h_w (2 layers) are MLPs trained on T = 10 random linear tasks over
  h* (2000 samples each) with the task heads frozen (:mod:`weakstrong.sim.pretrain`);
- ``"perturbed"``: h_s and h_w are h* with Gaussian noise of relative scale ``strong_noise`` and
  ``weak_noise`` on every weight (:meth:`MLP.perturbed`);
- ``"realizable"``: h_s = h* (so every task head is in the strong class), h_w pretrained as above.

Pretrained representations are cached by a hash of everything they depend on, so a rerun skips training.

Examples
--------
>>> world = make_world(WorldConfig(setting="perturbed", seed=0))
>>> rng = np.random.default_rng(1)
>>> x = world.sample_inputs(rng, 100)                # (100, 8)
>>> heads = sample_task_heads(rng, 5, world.width)  # 5 tasks
>>> gold = heads.labels(world.truth(x))             # (5, 100)
"""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from weakstrong.config import ConfigError, check_memory
from weakstrong.io import config_hash, read_npz_cache, save_npz_atomic
from weakstrong.sim.common import check_choice, check_finite, check_positive_int, spawn_rngs
from weakstrong.sim.heads import LinearHead
from weakstrong.sim.mlp import MLP, random_mlp, torch_default_linear_init
from weakstrong.sim.pretrain import PretrainConfig, pretrain_representation

SETTINGS = ("realizable", "pretrained", "perturbed")
# The settings of :func:`perturbed_world`: h_s = h* exactly, or h* with weight noise.
PERTURBED_SETTINGS = ("realizable", "perturbed")
# Bump when the pretraining code changes what it produces, so stale caches are not reused.
_CACHE_VERSION = 2


@dataclass(frozen=True)
class WorldConfig:
    """Everything that defines a world. Defaults are the original protocol's."""

    # how h_s and h_w are obtained: pretrained on T tasks, h_s = h* (realizable), or h* perturbed
    setting: str = field(default="pretrained", metadata={"choices": SETTINGS})
    input_dim: int = 8            # d, the input dimension (1 to 4096)
    sigma: float = 500.0          # input standard deviation (1e-3 to 1e6)
    width: int = 16               # width of every representation layer (1 to 4096)
    truth_depth: int = 5          # layers of h* (1 to 64)
    strong_depth: int = 8         # layers of a pretrained h_s (1 to 64)
    weak_depth: int = 2           # layers of a pretrained h_w (1 to 64)
    pretrain_tasks: int = 10      # T (1 to 10,000)
    pretrain_samples: int = 2000  # samples per pretraining task (width + 1 to 10,000,000)
    strong_noise: float = 0.1     # perturbed setting: relative noise on h* for h_s (0 to 100)
    weak_noise: float = 0.5       # perturbed setting: relative noise on h* for h_w (0 to 100)
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)
    seed: int = 0                 # master seed of the world (truth, representations) and of its tasks

    def validate(self) -> "WorldConfig":
        """Check every field; raise ``ValueError`` naming the first bad one. Returns self."""
        check_choice("WorldConfig", "setting", self.setting, SETTINGS)
        # The ranges are where the kernels stay in float64's comfortable range (a sigma of 1e-300 underflows
        # every activation; one of 1e300 overflows the first layer) and the sizes where a world still fits.
        for name, top in (("input_dim", 4096), ("width", 4096), ("truth_depth", 64), ("strong_depth", 64),
                          ("weak_depth", 64), ("pretrain_tasks", 10_000)):
            check_positive_int("WorldConfig", name, getattr(self, name))
            check_finite("WorldConfig", name, getattr(self, name), maximum=top)
        check_positive_int("WorldConfig", "seed", self.seed, minimum=0)
        check_finite("WorldConfig", "sigma", self.sigma, minimum=1e-3, maximum=1e6)
        check_finite("WorldConfig", "strong_noise", self.strong_noise, minimum=0.0, maximum=100.0)
        check_finite("WorldConfig", "weak_noise", self.weak_noise, minimum=0.0, maximum=100.0)
        check_positive_int("WorldConfig", "pretrain_samples", self.pretrain_samples)
        check_finite("WorldConfig", "pretrain_samples", self.pretrain_samples, maximum=10_000_000)
        if self.setting != "realizable":
            # Pretraining data: inputs and the hidden states of the deepest representation, in float64.
            check_memory("WorldConfig", "pretraining", 8.0 * self.pretrain_tasks * self.pretrain_samples *
                         (self.input_dim + self.width * (max(self.strong_depth, self.weak_depth) + 2)))
        if self.setting != "perturbed":
            # Pretraining fits width-dimensional heads' worth of structure per task; fewer samples than
            # parameters of one layer would leave the representation unidentified.
            check_positive_int("WorldConfig", "pretrain_samples", self.pretrain_samples,
                               minimum=self.width + 1)
        if not isinstance(self.pretrain, PretrainConfig):
            raise ConfigError(f"WorldConfig.pretrain must be a PretrainConfig, got {self.pretrain!r}")
        self.pretrain.validate()
        return self


@dataclass(frozen=True)
class TaskHeads:
    """T linear heads on a width-dimensional representation: ``label_t(x) = coef_t . h(x) + intercept_t``."""

    coef: np.ndarray       # (T, width)
    intercept: np.ndarray  # (T,)

    @property
    def n_tasks(self) -> int:
        return self.coef.shape[0]

    def labels(self, features: np.ndarray) -> np.ndarray:
        """Labels of every task: features (n, width) shared -> (T, n); per task (T, n, width) -> (T, n)."""
        if features.ndim == 2:
            return self.coef @ features.T + self.intercept[:, None]
        return np.einsum("tnw,tw->tn", features, self.coef) + self.intercept[:, None]


def sample_task_heads(rng: np.random.Generator, n_tasks: int, width: int) -> TaskHeads:
    """``n_tasks`` random heads drawn like ``torch.nn.Linear(width, 1)``'s default init (the protocol's)."""
    check_positive_int("sample_task_heads", "n_tasks", n_tasks)
    check_positive_int("sample_task_heads", "width", width)
    pairs = [torch_default_linear_init(rng, width, 1) for _ in range(n_tasks)]
    return TaskHeads(np.stack([W[:, 0] for W, _ in pairs]), np.array([b[0] for _, b in pairs]))


@dataclass
class World:
    """A ground truth and its strong and weak representations (all acting on raw inputs).

    Attributes
    ----------
    config : the configuration it was built from.
    truth, strong, weak : the representations h*, h_s, h_w.
    pretrain_loss : final mean squared pretraining loss per pretrained representation
        (``{"strong": ..., "weak": ...}``; None for a representation that was not pretrained).
    pretrain_seconds : wall time spent pretraining in this call (0 when loaded from the cache).
    """

    config: WorldConfig
    truth: MLP
    strong: MLP
    weak: MLP
    pretrain_loss: dict = field(default_factory=dict)
    pretrain_seconds: float = 0.0

    @property
    def width(self) -> int:
        return self.truth.width

    def sample_inputs(self, rng: np.random.Generator, *shape: int) -> np.ndarray:
        """Inputs x ~ N(0, sigma^2 I_d) of shape (*shape, d)."""
        return rng.normal(0.0, self.config.sigma, size=(*shape, self.config.input_dim))


def _world_rngs(seed: int) -> list[np.random.Generator]:
    """Fresh streams for: truth, strong perturbation, weak perturbation, pretraining data, strong init,
    weak init. Recreated on every call so each stage sees the same numbers whatever ran before it."""
    return spawn_rngs(seed, 6)


def pretraining_data(config: WorldConfig, truth: MLP):
    """The T pretraining tasks of a world: ``(x (T n, d), y (T n,), task (T n,), heads)``.

    They depend only on the truth and the seed, not on which representation learns them: strong and weak
    see the same T tasks, as in the protocol.
    """
    data_rng = _world_rngs(config.seed)[3]
    heads = sample_task_heads(data_rng, config.pretrain_tasks, config.width)
    x = data_rng.normal(0.0, config.sigma, size=(config.pretrain_tasks * config.pretrain_samples,
                                                 config.input_dim))
    task = np.repeat(np.arange(config.pretrain_tasks), config.pretrain_samples)
    y = np.einsum("nw,nw->n", truth(x), heads.coef[task]) + heads.intercept[task]
    return x, y, task, heads


def representation_rng(config: WorldConfig, which: str) -> np.random.Generator:
    """The fresh generator that initialises and shuffles the pretraining of ``which`` ("strong", "weak")."""
    return _world_rngs(config.seed)[4 if which == "strong" else 5]


def _representation_path(config: WorldConfig, which: str, cache_dir: Path | None) -> Path | None:
    """Where the pretrained ``which`` ("strong" or "weak") representation of ``config`` is cached."""
    if cache_dir is None:
        return None
    depth = config.strong_depth if which == "strong" else config.weak_depth
    key = {"version": _CACHE_VERSION, "which": which, "depth": depth, "seed": config.seed,
           "input_dim": config.input_dim, "sigma": config.sigma, "width": config.width,
           "truth_depth": config.truth_depth, "pretrain_tasks": config.pretrain_tasks,
           "pretrain_samples": config.pretrain_samples, "pretrain": asdict(config.pretrain)}
    return Path(cache_dir) / f"representation-{config_hash(key)}.npz"


def _representation_from_arrays(arrays: dict, config: WorldConfig, which: str) -> tuple[MLP, float, float]:
    """The cached representation's ``(mlp, loss, 0.0)``; ValueError when its layers are not the config's."""
    depth = config.strong_depth if which == "strong" else config.weak_depth
    mlp = MLP.from_arrays(arrays, "h_")
    shapes = [w.shape for w in mlp.weights]
    want = [(config.input_dim if k == 0 else config.width, config.width) for k in range(depth)]
    if shapes != want or not all(np.isfinite(w).all() for w in mlp.weights):
        raise ValueError(f"layers {shapes}, expected {want} with finite weights")
    return mlp, float(arrays["loss"]), 0.0


def _load_representation(path: Path | None, config: WorldConfig, which: str) -> tuple[MLP, float, float] | None:
    """The cached representation at ``path`` as ``(mlp, loss, 0.0)``, or None when there is none.

    Call it from one thread only: numpy parses .npy headers with ``ast``, which CPython 3.11 cannot run
    in two threads at once (it fails with "AST constructor recursion depth mismatch").
    """
    if path is None:
        return None
    # A damaged file is set aside with a warning and the representation is pretrained again.
    return read_npz_cache(path, lambda arrays: _representation_from_arrays(arrays, config, which))


def _pretrain(config: WorldConfig, truth: MLP, which: str, path: Path | None) -> tuple[MLP, float, float]:
    """Pretrain the ``which`` representation and cache it at ``path``: ``(mlp, loss, seconds)``."""
    depth = config.strong_depth if which == "strong" else config.weak_depth
    x, y, task, heads = pretraining_data(config, truth)
    start = time.perf_counter()
    mlp, info = pretrain_representation(representation_rng(config, which), x, y, task, heads.coef,
                                        heads.intercept, depth, config.width, config.sigma, config.pretrain)
    seconds = time.perf_counter() - start
    if path is not None:
        save_npz_atomic(path, loss=np.array(info["loss"]), **mlp.to_arrays("h_"))
    return mlp, info["loss"], seconds


def _pretrained(config: WorldConfig, truth: MLP, which: tuple[str, ...],
                cache_dir: Path | None) -> dict[str, tuple[MLP, float, float]]:
    """The representations named in ``which``: read from the cache, the missing ones pretrained.

    Cached ones are read here, on the calling thread; the missing ones train in parallel threads (the
    training kernel releases the GIL, so two representations train on two cores at once).
    """
    paths = {name: _representation_path(config, name, cache_dir) for name in which}
    out = {name: loaded for name in which if (loaded := _load_representation(paths[name], config, name)) is not None}
    missing = [name for name in which if name not in out]
    out.update(_in_daemon_threads({name: (lambda name=name: _pretrain(config, truth, name, paths[name]))
                                   for name in missing}))
    return out


def _in_daemon_threads(jobs: dict[str, Callable[[], Any]]) -> dict[str, Any]:
    """``{name: job()}``, each job in its own daemon thread while this thread waits in short, interruptible joins.

    A numba kernel cannot be interrupted, and a pool's threads are joined at exit; in daemon threads a Ctrl-C
    or SIGTERM stops the run at once instead of after the pretraining it interrupted (the cache is written
    atomically, so an abandoned kernel leaves no partial file).
    """
    results: dict[str, Any] = {}
    errors: dict[str, BaseException] = {}

    def run(name, job):
        try:
            results[name] = job()
        except BaseException as exc:  # re-raised on the calling thread
            errors[name] = exc

    threads = [threading.Thread(target=run, args=item, daemon=True, name=f"pretrain-{item[0]}")
               for item in jobs.items()]
    for t in threads:
        t.start()
    for t in threads:
        while t.is_alive():
            t.join(0.2)
    for exc in errors.values():
        raise exc
    return results


def make_world(config: WorldConfig, cache_dir: str | Path | None = None) -> World:
    """Build the world of ``config`` (validated first; pretrained parts cached under ``cache_dir``)."""
    config.validate()
    truth_rng, strong_rng, weak_rng = _world_rngs(config.seed)[:3]
    truth = random_mlp(truth_rng, config.input_dim, config.width, config.truth_depth)
    loss: dict = {"strong": None, "weak": None}
    seconds = 0.0
    if config.setting == "perturbed":
        strong = truth.perturbed(strong_rng, config.strong_noise)
        weak = truth.perturbed(weak_rng, config.weak_noise)
    elif config.setting == "realizable":
        strong = truth
        weak, loss["weak"], seconds = _pretrained(config, truth, ("weak",), cache_dir)["weak"]
    else:
        start = time.perf_counter()
        reps = _pretrained(config, truth, ("strong", "weak"), cache_dir)
        (strong, loss["strong"], s_strong), (weak, loss["weak"], s_weak) = reps["strong"], reps["weak"]
        seconds = time.perf_counter() - start if s_strong or s_weak else 0.0
    return World(config, truth, strong, weak, loss, seconds)


def perturbed_world(setting: str, strong_noise: float, seed: int, weak_noises) -> tuple:
    """A world whose h_s is h* (``"realizable"``) or h* perturbed by ``strong_noise``, and weak members.

    Returns ``(world, members)``, member j being h* with relative weight noise ``weak_noises[j]``; the
    members' noise streams are independent of the world's and of each other (one per member).
    """
    world = make_world(WorldConfig(setting="perturbed", seed=seed,
                                   strong_noise=0.0 if setting == "realizable" else strong_noise))
    rngs = spawn_rngs(seed + 1, len(weak_noises))
    return world, [world.truth.perturbed(r, noise) for r, noise in zip(rngs, weak_noises)]


def member_predictions(members, x_gold: np.ndarray, gold: np.ndarray, inputs: dict) -> dict:
    """Fit one linear head per member on gold labels ``gold`` (T, n) at ``x_gold``; predict on ``inputs``.

    Returns ``{name: (m, T, n_name) predictions}`` for each ``name: x`` of ``inputs``.
    """
    preds = {name: [] for name in inputs}
    for member in members:
        head = LinearHead().fit(member(x_gold), gold)
        for name, x in inputs.items():
            preds[name].append(head.predict(member(x)))
    return {name: np.stack(p) for name, p in preds.items()}
