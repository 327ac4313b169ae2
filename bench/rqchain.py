"""The peer of the end-to-end figure: RQ alone, each job enqueueing the next.

A chain of plain jobs on the same Redis through the same kind of worker (RQ's
non-forking SimpleWorker, which `manage.py testrun_worker` uses), with no database and
no broadcast: what one hop of the queue costs, the floor a step-per-job design sits on.
"""

from __future__ import annotations

import time
import uuid

from redis import Redis
from rq import Queue, get_current_job

from bench.stats import BenchError

CHAIN_QUEUE = "bench-chain"


def hop(remaining: int, done_key: str) -> None:
    job = get_current_job()
    assert job is not None
    if remaining > 0:
        queue = Queue(CHAIN_QUEUE, connection=job.connection)
        queue.enqueue(hop, remaining - 1, done_key, result_ttl=0)
    else:
        job.connection.rpush(done_key, b"done")


def chain_ms(redis_url: str, runs: int, hops: int) -> list[float]:
    """Per-hop ms of `runs` chains of `hops` jobs (after one untimed chain)."""
    connection = Redis.from_url(redis_url)
    queue = Queue(CHAIN_QUEUE, connection=connection)
    samples: list[float] = []
    try:
        for index in range(runs + 1):
            key = f"bench:chain:{uuid.uuid4().hex}"
            started = time.perf_counter()
            queue.enqueue(hop, hops - 1, key, result_ttl=0)
            if connection.blpop([key], timeout=60) is None:
                raise BenchError(f"an RQ chain of {hops} jobs did not finish in 60 s")
            if index:  # the first chain warms the worker's imports
                samples.append((time.perf_counter() - started) * 1000 / hops)
            connection.delete(key)
    finally:
        connection.close()
    return samples
