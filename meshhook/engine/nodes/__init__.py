"""Node handlers by type; each takes a `NodeCall` and the node's rendered config."""

from __future__ import annotations

from .base import Handler, NodeCall, NodeResult, NodeRun
from .http_nodes import run_http_call, run_webhook
from .loop import run_loop
from .simple import run_branch, run_delay, run_terminate, run_transform, run_trigger
from .xml import run_xml_json_transform

HANDLERS: dict[str, Handler] = {
    "webhook_trigger": run_trigger,
    "transform": run_transform,
    "xml_json_transform": run_xml_json_transform,
    "http_call": run_http_call,
    "webhook": run_webhook,
    "branch": run_branch,
    "delay": run_delay,
    "loop": run_loop,
    "terminate": run_terminate,
}

__all__ = ["HANDLERS", "Handler", "NodeCall", "NodeResult", "NodeRun"]
