"""Where and how an llm run goes (:class:`RunOptions`): never part of what it computes.

Every experiment of ``weakstrong llm`` is a typed config of what is computed and ``run(config, options)``;
the options (stage cache, device, CPU threads, progress bars) never enter a config's identity or a cache key,
so moving a run to another machine or folder reuses its stages. Light module: no torch import.
"""

from __future__ import annotations

from dataclasses import dataclass

from weakstrong.config import ConfigError, ascii_int
from weakstrong.llm.models.device import check_device


@dataclass(frozen=True)
class RunOptions:
    """Where and how a run goes."""

    cache_dir: str | None = None  # stage cache (None: the command's default, or no caching)
    device: str | None = None  # torch device (None: cuda if available, else cpu)
    threads: int | None = None  # torch CPU threads (None: torch's own setting)
    progress: bool = True  # progress lines on stderr

    def validate(self) -> "RunOptions":
        """Raise :class:`ConfigError` naming the option of the first bad field. Returns self."""
        check_device("--device", self.device)
        if self.threads is not None and (isinstance(self.threads, bool) or not isinstance(self.threads, int)
                                         or self.threads < 1):
            raise ConfigError(f"--threads must be a positive integer (none: torch's own setting), got "
                              f"{self.threads!r}")
        if self.cache_dir is not None and not (isinstance(self.cache_dir, str) and self.cache_dir.strip()):
            raise ConfigError(f"--cache-dir must name a folder, got {self.cache_dir!r}")
        return self


def add_run_arguments(parser, cache_help: str | None = None, cache_default: str | None = None, out_help: str = "",
                      out_default: str | None = None, out_required: bool = False, threads_default: int | None = None):
    """The options every llm command shares, in one ``run`` group: ``--out`` (when ``out_help``), ``--cache-dir``
    (when ``cache_help``), ``--device``, ``--threads``. Returns the group."""
    group = parser.add_argument_group("run (where and how; never part of what is computed)")
    if out_help:
        group.add_argument("--out", required=out_required, default=out_default, metavar="DIR",
                           help=out_help + ("" if out_required else f" (default: {out_default or 'none'})"))
    if cache_help:
        group.add_argument("--cache-dir", default=cache_default, metavar="DIR",
                           help=cache_help if cache_default is None else f"{cache_help} (default: {cache_default})")
    group.add_argument("--device", default=None, help="torch device: cpu, cuda, cuda:N or mps (default: cuda if "
                                                      "available, else cpu)")
    group.add_argument("--threads", type=ascii_int, default=threads_default, metavar="INT",
                       help="torch CPU threads (default: {})".format(threads_default or "torch's own setting"))
    return group
