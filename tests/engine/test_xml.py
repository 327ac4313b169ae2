"""xml_json_transform: both directions, attribute prefix, RSS and Atom, entity attacks refused."""

from typing import Any

import pytest

from .helpers import build, chain, run, trigger

RSS = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0">
  <channel>
    <title>News</title>
    <item><title>First</title><link>https://example.test/1</link></item>
    <item><title>Second</title><link>https://example.test/2</link></item>
  </channel>
</rss>"""

ATOM = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title>Example Feed</title>
  <link href="http://example.org/"/>
  <entry>
    <title>Atom-Powered Robots Run Amok</title>
    <id>urn:uuid:1225c695-cfb8-4ebb-aaaa-80da344efa6a</id>
    <link rel="alternate" href="http://example.org/2003/12/13/atom03"/>
  </entry>
</feed>"""

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
  <!ENTITY lol "lol">
  <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<lolz>&lol3;</lolz>"""

XXE = """<?xml version="1.0"?>
<!DOCTYPE data [<!ENTITY file SYSTEM "file:///etc/passwd">]>
<data>&file;</data>"""


def convert(payload: Any, **config: Any) -> tuple[str, Any]:
    workflow = build(
        [trigger(), {"id": "x", "type": "xml_json_transform", "config": config, "input": "body"}],
        chain("hook", "x"),
    )
    _, records, _ = run(workflow, payload)
    record = records["x"]
    return record.status, record.output if record.status == "succeeded" else record.error


def test_rss_to_json() -> None:
    status, output = convert(RSS)
    assert status == "succeeded"
    channel = output["rss"]["channel"]
    assert output["rss"]["@_version"] == "2.0"
    assert [item["title"] for item in channel["item"]] == ["First", "Second"]


def test_atom_to_json_with_attributes() -> None:
    _, output = convert(ATOM, direction="xml_to_json")
    feed = output["feed"]
    assert feed["@_xmlns"] == "http://www.w3.org/2005/Atom"
    assert feed["link"] == {"@_href": "http://example.org/"}
    assert feed["entry"]["link"]["@_rel"] == "alternate"


def test_custom_attribute_prefix() -> None:
    _, output = convert('<a id="1">t</a>', attribute_prefix="$")
    assert output == {"a": {"$id": "1", "#text": "t"}}


def test_json_to_xml_with_attributes() -> None:
    status, output = convert({"order": {"@_id": "7", "line": [{"sku": "a"}, {"sku": "b"}]}})
    assert status == "succeeded"
    assert output == (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<order id="7"><line><sku>a</sku></line><line><sku>b</sku></line></order>'
    )


def test_json_to_xml_wraps_several_keys_lists_and_scalars_in_a_root() -> None:
    assert convert({"a": 1, "b": 2})[1].endswith("<root><a>1</a><b>2</b></root>")
    assert convert([1, 2], direction="json_to_xml", root="items")[1].endswith(
        "<items><item>1</item><item>2</item></items>"
    )
    assert convert("plain text", direction="json_to_xml")[1].endswith("<root>plain text</root>")


def test_round_trip() -> None:
    _, xml = convert({"note": {"@_lang": "en", "to": "Ada", "body": "hi"}})
    _, back = convert(xml)
    assert back == {"note": {"@_lang": "en", "to": "Ada", "body": "hi"}}


@pytest.mark.parametrize("document", [BILLION_LAUGHS, XXE], ids=["billion-laughs", "xxe"])
def test_entity_declarations_are_refused(document: str) -> None:
    status, error = convert(document)
    assert status == "failed"
    assert error.startswith("XML refused: EntitiesForbidden")


def test_malformed_xml_fails_clearly() -> None:
    status, error = convert("<a><b></a>")
    assert status == "failed"
    assert error.startswith("input is not well-formed XML: mismatched tag")


def test_xml_to_json_needs_a_string() -> None:
    status, error = convert({"a": 1}, direction="xml_to_json")
    assert status == "failed"
    assert "needs an XML string as input" in error


def test_keys_that_are_not_xml_names_fail_clearly() -> None:
    status, error = convert({"1st": "x"})
    assert status == "failed"
    assert error.startswith("cannot turn the input into XML: a key is not a valid XML name")
    status, error = convert({"a b": "x"})
    assert status == "failed"
    assert error.startswith("cannot turn the input into XML: Invalid element name")
