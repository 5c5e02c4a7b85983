"""Jobs on a Dask cluster (the optional `[cluster]` extra, docs/cluster.md).

The engine keeps its jobs, their states, the store's lock and the protocol its clients speak;
with `[cluster] scheduler` set, a job's run is one Dask task on a worker (`task.run_series`),
one worker per egress address, whose rate gates live in the worker process. Its progress and
log travel back as worker events (`relay.py`), and a cancel as a `distributed.Event`
(`runner.py`). Nothing here is imported without a scheduler in the config: `import
dccd_tui.engine` never loads Dask (tests/test_architecture.py).
"""
