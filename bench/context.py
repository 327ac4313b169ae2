"""What every section of the bench gets: sizes, the running stack, the table, a user."""

from __future__ import annotations

from dataclasses import dataclass

from bench.client import Api, Credentials
from bench.config import Services, Sizes
from bench.report import Table
from bench.stack import Stack

USERNAME = "bench"
# Workflows the bench creates through the API (slugs).
CHAIN = "bench-chain-40"  # trigger + 40 transforms: e2e per step, click → first event
CHAIN_LONG = "bench-chain-long"  # trigger + 160 transforms: what one more step costs
FLOOD = "bench-flood"  # a loop streaming thousands of events
FIVE = "bench-five"  # trigger + 4 transforms: throughput
FIVE_RSS = "bench-five-rss"  # the same, for the worker-memory runs


@dataclass
class Context:
    sizes: Sizes
    services: Services
    stack: Stack
    table: Table
    credentials: Credentials
    workers: int
    quick: bool

    def api(self) -> Api:
        return Api(self.stack.base_url, self.credentials)
