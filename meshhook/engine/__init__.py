"""MeshHook's workflow engine: pure Python, no Django. See API.md beside this file."""

from .context import NO_OVERRIDE, ExecutionContext, is_run_timeout
from .definition import parse_definition
from .events import EngineEvent, HttpExchange
from .executor import (
    IterationStep,
    StepOutcome,
    StepPreview,
    execute_step,
    preview_step,
    run_workflow,
)
from .limits import Limits
from .masking import MASK, credential_values, is_sensitive_header, mask_headers, mask_secrets
from .model import NODE_TYPES, Edge, Node, RetryPolicy, Workflow, WorkflowSettings
from .planner import plan_next
from .policy import AllowAll, OutboundPolicy, PolicyViolation
from .problems import DefinitionError, Problem
from .state import Plan, RunInput, RunResult, RunState, StepRecord

__all__ = [
    "MASK",
    "NODE_TYPES",
    "NO_OVERRIDE",
    "AllowAll",
    "DefinitionError",
    "Edge",
    "EngineEvent",
    "ExecutionContext",
    "HttpExchange",
    "IterationStep",
    "Limits",
    "Node",
    "OutboundPolicy",
    "Plan",
    "PolicyViolation",
    "Problem",
    "RetryPolicy",
    "RunInput",
    "RunResult",
    "RunState",
    "StepOutcome",
    "StepPreview",
    "StepRecord",
    "Workflow",
    "WorkflowSettings",
    "credential_values",
    "execute_step",
    "is_run_timeout",
    "is_sensitive_header",
    "mask_headers",
    "mask_secrets",
    "parse_definition",
    "plan_next",
    "preview_step",
    "run_workflow",
]
