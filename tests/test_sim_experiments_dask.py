"""The sweep on a Dask cluster (joblib's dask backend) gives the same records as in-process runs.

Needs the optional ``dask[distributed]`` extra; skips with a reason when it is not installed.
"""

from __future__ import annotations

import pytest

from weakstrong.sim import selection
from weakstrong.sim.parallel import RunOptions

distributed = pytest.importorskip("dask.distributed", reason="dask[distributed] is not installed "
                                  "(optional extra: pip install \"weakstrong[dask]\")")

CONFIG = selection.SelectionConfig(worlds=3, candidates=3, n_weak=40, n_w2s=100, n_test=200)


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as c:
        yield c


def test_dask_sweep_matches_in_process(cluster):
    local, _ = selection.run(CONFIG)
    remote, _ = selection.run(CONFIG, RunOptions(scheduler=cluster.scheduler_address))
    assert [r.to_dict() for r in remote] == [r.to_dict() for r in local]


def test_unreachable_scheduler_is_a_clear_error(monkeypatch):
    from weakstrong.sim import parallel

    monkeypatch.setattr(parallel, "_CONNECT_TIMEOUT_S", 1)   # fail fast: nothing listens on port 9
    with pytest.raises(ValueError, match="could not connect"):
        selection.run(CONFIG, RunOptions(scheduler="tcp://127.0.0.1:9"))
