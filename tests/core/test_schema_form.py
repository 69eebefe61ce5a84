"""JSON Schema -> form fields and validation, over real ``tools/list`` schemas: npm's
server-everything (captured in tests/tui/data/everything_lists.json) and the Python SDK's own
(generated live by MCPServer from the demo server's and the test server's functions)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from omproxy_tui.core.schema_form import MISSING, build_arguments, form_fields, prompt_fields, validate

DATA = Path(__file__).resolve().parents[1] / "tui" / "data" / "everything_lists.json"


@pytest.fixture(scope="module")
def everything() -> dict:
    return json.loads(DATA.read_text())


def _tools(lists: dict) -> dict[str, dict]:
    return {t["name"]: t for t in lists["tools/list"]["result"]["tools"]}


@pytest.fixture(scope="module")
def sdk_tools() -> dict[str, dict]:
    from omproxy_tui.demo.server import server

    tools = asyncio.run(server.list_tools())
    return {t.name: {"name": t.name, "inputSchema": t.input_schema} for t in tools}


def by_name(fields):
    return {f.name: f for f in fields}


def test_everything_every_tool_maps(everything):
    for tool in _tools(everything).values():
        fields = form_fields(tool["inputSchema"])
        assert [f.name for f in fields if f.required] == [
            n for n in tool["inputSchema"]["properties"] if n in tool["inputSchema"].get("required", [])]
        for f in fields:
            assert f.kind in ("string", "integer", "number", "boolean", "enum", "json")


def test_everything_enum_default_and_required(everything):
    tools = _tools(everything)
    f = by_name(form_fields(tools["get-annotated-message"]["inputSchema"]))
    assert f["messageType"].kind == "enum" and f["messageType"].required
    assert [label for label, _ in f["messageType"].choices] == ["error", "success", "debug"]
    assert f["messageType"].description.startswith("Type of message")
    assert f["includeImage"].kind == "boolean" and not f["includeImage"].required
    assert f["includeImage"].default is False and f["includeImage"].initial_text() == "false"
    args, errors = build_arguments(list(f.values()), {"messageType": "success", "includeImage": True})
    assert (args, errors) == ({"messageType": "success", "includeImage": True}, {})
    args, errors = build_arguments(list(f.values()), {"messageType": "", "includeImage": ""})
    assert errors == {"messageType": "required"}


def test_everything_number_bounds(everything):
    f = by_name(form_fields(_tools(everything)["get-resource-links"]["inputSchema"]))["count"]
    assert f.kind == "number" and f.initial_text() == "3"
    assert f.parse("5") == (5, None)
    assert f.parse("11") == (11, "must be ≤ 10")
    assert f.parse("0")[1] == "must be ≥ 1"
    assert f.parse("three")[1] == "not a number: 'three'"
    assert f.parse("") == (MISSING, None)  # optional: not sent


def test_everything_get_sum_required_numbers(everything):
    fields = form_fields(_tools(everything)["get-sum"]["inputSchema"])
    args, errors = build_arguments(fields, {"a": "1.5", "b": "2"})
    assert args == {"a": 1.5, "b": 2} and not errors
    _, errors = build_arguments(fields, {"a": "1"})
    assert errors == {"b": "required"}


def test_everything_prompts(everything):
    prompts = {p["name"]: p for p in everything["prompts/list"]["result"]["prompts"]}
    fields = prompt_fields(prompts["args-prompt"])
    assert [(f.name, f.required) for f in fields] == [("city", True), ("state", False)]
    assert prompt_fields(prompts["simple-prompt"]) == []
    args, errors = build_arguments(fields, {"city": "Paris", "state": ""})
    assert args == {"city": "Paris"} and not errors


def test_sdk_nested_optional_model_and_list(sdk_tools):
    """Pydantic's shapes: Literal -> enum, Optional[Model] -> anyOf [$ref, null], list -> array."""
    fields = form_fields(sdk_tools["deploy"]["inputSchema"])
    f = by_name(fields)
    assert [x.name for x in fields] == ["service", "environment", "options", "tags"]
    assert f["service"].kind == "string" and f["service"].required
    assert f["environment"].kind == "enum" and [v for _, v in f["environment"].choices] == ["dev", "staging", "prod"]
    assert f["options"].kind == "json" and f["options"].nullable and f["options"].type_label == "object | null"
    assert f["tags"].kind == "json" and f["tags"].type_label == "array | null"
    # nested validation goes through the $ref
    assert f["options"].parse('{"replicas": 3, "dry_run": false}') == ({"replicas": 3, "dry_run": False}, None)
    assert f["options"].parse('{"replicas": 30}')[1] == "replicas: must be ≤ 10"
    assert f["options"].parse('{"replicas": "x"}')[1] == "replicas: expected integer, got string"
    assert f["options"].parse('5')[1].startswith("matches none of the allowed shapes")
    assert f["options"].parse("{oops")[1] == "not valid JSON: Expecting property name enclosed in double quotes (line 1, column 2)"
    assert f["options"].parse("null") == (MISSING, None)  # null is the default: not sent
    assert f["tags"].parse('["a", 2]')[1] == "[1]: expected string, got integer"
    args, errors = build_arguments(fields, {"service": "api", "environment": "prod", "options": "null", "tags": '["x"]'})
    assert args == {"service": "api", "environment": "prod", "tags": ["x"]} and not errors
    _, errors = build_arguments(fields, {"service": "", "environment": ""})
    assert errors == {"service": "required", "environment": "required"}


def test_sdk_defaults_and_types(sdk_tools):
    f = by_name(form_fields(sdk_tools["slow"]["inputSchema"]))["seconds"]
    assert f.kind == "number" and f.initial_text() == "1.0" and not f.required
    f = by_name(form_fields(sdk_tools["big"]["inputSchema"]))["kb"]
    assert f.kind == "integer" and f.parse("1.5")[1] == "not an integer: '1.5'"


def test_validate_edge_cases():
    assert validate(True, {"type": "integer"}) == ["expected integer, got boolean"]
    assert validate(1.0, {"type": "integer"}) == []
    assert validate({"a": 1, "b": 2}, {"type": "object", "properties": {"a": {}}, "additionalProperties": False}) == [
        "unexpected property 'b'"]
    assert validate("ab", {"type": "string", "pattern": "^a+$"}) == ["does not match ^a+$"]
    assert validate([], {"type": "array", "minItems": 1}) == ["at least 1 items"]
    assert form_fields({"type": "object"}) == [] and form_fields(None) == []



def test_canned_demo_tools_match_the_demo_server(sdk_tools):
    """The steering screenshots' canned tools/list is the demo server's real one."""
    from omproxy_tui.demo.steer_canned import DEMO_TOOLS

    assert {t["name"]: t["inputSchema"] for t in DEMO_TOOLS} == {n: t["inputSchema"] for n, t in sdk_tools.items()}
