"""xml_json_transform: XML ⇄ JSON, refusing entity tricks (billion laughs, XXE)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from xml.parsers.expat import ExpatError

import xmltodict
from defusedxml import DefusedXmlException
from defusedxml import ElementTree as DefusedElementTree

from ..context import StepFailure
from .base import NodeCall, NodeResult

DEFAULT_ATTRIBUTE_PREFIX = "@_"
DEFAULT_ROOT = "root"


def looks_like_xml(value: Any) -> bool:
    return isinstance(value, str) and value.lstrip().startswith("<")


def xml_to_json(text: str, attribute_prefix: str) -> Any:
    # defusedxml refuses entity declarations and external references before xmltodict (whose
    # own entity guard covers declarations only) ever sees the document.
    try:
        DefusedElementTree.fromstring(text, forbid_dtd=False)
    except DefusedXmlException as exc:
        raise StepFailure(f"XML refused: {exc}") from exc
    except DefusedElementTree.ParseError as exc:
        raise StepFailure(f"input is not well-formed XML: {exc}") from exc
    try:
        return xmltodict.parse(text, attr_prefix=attribute_prefix, disable_entities=True)
    except (ExpatError, ValueError) as exc:  # pragma: no cover - defusedxml rejects these first
        raise StepFailure(f"input is not well-formed XML: {exc}") from exc


def json_to_xml(value: Any, attribute_prefix: str, root: str) -> str:
    if (
        isinstance(value, dict)
        and len(value) == 1
        and not isinstance(next(iter(value.values())), list)
    ):
        document = value
    elif isinstance(value, list):
        document = {root: {"item": value}}
    else:
        document = {root: value}
    try:
        text: str = xmltodict.unparse(document, attr_prefix=attribute_prefix)
    except (ValueError, TypeError) as exc:
        raise StepFailure(f"cannot turn the input into XML: {exc}") from exc
    # xmltodict writes keys such as "1a" or "" as element names unchecked; reading the result
    # back is the cheapest complete check that it is well-formed.
    try:
        DefusedElementTree.fromstring(text)
    except DefusedElementTree.ParseError as exc:
        raise StepFailure(
            f"cannot turn the input into XML: a key is not a valid XML name ({exc})"
        ) from exc
    return text


def run_xml_json_transform(call: NodeCall, resolved: Mapping[str, Any]) -> NodeResult:
    direction = resolved.get("direction", "auto")
    prefix = resolved.get("attribute_prefix", DEFAULT_ATTRIBUTE_PREFIX)
    if direction == "auto":
        direction = "xml_to_json" if looks_like_xml(call.input) else "json_to_xml"
    if direction == "xml_to_json":
        if not isinstance(call.input, str):
            raise StepFailure(
                "xml_to_json needs an XML string as input; select one with the node's input, "
                'e.g. "input": "body"'
            )
        return NodeResult(xml_to_json(call.input, prefix))
    return NodeResult(json_to_xml(call.input, prefix, resolved.get("root", DEFAULT_ROOT)))
