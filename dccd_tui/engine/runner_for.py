"""`make_runner`: the runner a config asks for, on this machine or on a Dask cluster.

A module of its own so that neither runner imports the other's module to choose: the cluster's
runner (cluster/runner.py) is the engine's `Runner` with its runs elsewhere, and is imported
only when the config has a `[cluster]` table (the optional extra: Dask loads with it).
"""

from __future__ import annotations

from typing import Any

from .jobs import Config
from .runner import Runner


def make_runner(config: Config, **kwargs: Any) -> Runner:
    """The runner of `config`: one that hands its series to a Dask cluster when the config has
    a `[cluster]` scheduler (engine/cluster), else the one that runs them on this machine."""
    if config.cluster is not None:
        from .cluster.runner import ClusterRunner

        return ClusterRunner(config, **kwargs)
    return Runner(config, **kwargs)
