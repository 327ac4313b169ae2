"""The machine and software a bench run was taken on: figures mean little without it."""

from __future__ import annotations

import os
import platform
from importlib.metadata import version
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
import redis

from bench.config import Services


def _first(path: str, key: str) -> str:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(key):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def describe(services: Services) -> dict[str, Any]:
    total = os.cpu_count() or 0
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else total
    mem_kib = _first("/proc/meminfo", "MemTotal").split()[0]
    ram = f"{int(mem_kib) / 1024 / 1024:.1f} GiB" if mem_kib.isdigit() else "unknown"
    with psycopg.connect(services.database_url) as conn:
        row = conn.execute("SHOW server_version").fetchone()
        postgres = str(row[0]) if row else "unknown"
    client = redis.Redis.from_url(services.redis_url)
    try:
        redis_version = str(client.info("server").get("redis_version", "unknown"))
    finally:
        client.close()
    return {
        "cpu": _first("/proc/cpuinfo", "model name"),
        "cores": total,
        "usable_cores": usable,
        "ram": ram,
        "load_average_at_start": [round(value, 2) for value in os.getloadavg()],
        "kernel": platform.release(),
        "python": platform.python_version(),
        "django": version("Django"),
        "channels": version("channels"),
        "daphne": version("daphne"),
        "rq": version("rq"),
        "postgresql": postgres,
        "redis": redis_version,
        "database": services.database_name,
        "redis_url": without_credentials(services.redis_url),
    }


def without_credentials(url: str) -> str:
    parts = urlsplit(url)
    host = f"{parts.hostname}:{parts.port}" if parts.port else str(parts.hostname)
    return f"{parts.scheme}://{host}{parts.path}"


def lines(info: dict[str, Any]) -> list[str]:
    load = ", ".join(f"{value:.2f}" for value in info["load_average_at_start"])
    cores = info["cores"]
    if info["usable_cores"] != cores:
        cores = f"{info['usable_cores']} usable of {cores}"
    return [
        f"machine   {info['cpu']}, {cores} cores, {info['ram']} RAM, "
        f"load {load} (1/5/15 min) at start",
        f"software  Python {info['python']}, Django {info['django']}, "
        f"channels {info['channels']}, daphne {info['daphne']}, rq {info['rq']}",
        f"services  PostgreSQL {info['postgresql']} (database {info['database']}), "
        f"Redis {info['redis']} ({info['redis_url']})",
    ]
