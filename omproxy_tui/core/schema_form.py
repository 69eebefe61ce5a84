"""JSON Schema -> form fields, and validation of what the user typed (standard library only).

The compose screen builds a ``tools/call`` from a tool's ``inputSchema`` as captured in the
session's own ``tools/list`` answer (and ``prompts/get`` from ``prompts/list`` arguments). Each
top-level property becomes one :class:`FormField`: its kind decides the widget (text, number,
a choice for enums and booleans, a JSON text for nested objects, arrays and unions). What the
user typed is turned back into values and checked against the schema *before* anything is sent,
with one clear message per field.

The validator covers what tool schemas use in practice (``type`` incl. lists and ``null``,
``enum``, ``const``, ``required``, ``properties``, ``additionalProperties: false``, ``items``,
``min/maxItems``, ``minimum``/``maximum`` and their exclusive forms, ``min/maxLength``,
``pattern``, ``anyOf``/``oneOf``/``allOf``, local ``$ref``). Keywords it does not know are
not checked: the server validates again anyway.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "FormField",
    "MISSING",
    "build_arguments",
    "form_fields",
    "prompt_fields",
    "validate",
]


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


#: "no value": an optional field left empty is not sent at all
MISSING: Any = _Missing()

_PY_TYPES = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list,),
    "null": (type(None),),
}


@dataclass
class FormField:
    """One top-level argument of a tool (or prompt)."""

    name: str
    #: ``string`` | ``integer`` | ``number`` | ``boolean`` | ``enum`` | ``json``
    kind: str
    #: the schema's type as shown to the user (``string``, ``integer | null``, ``object``…)
    type_label: str
    description: str = ""
    required: bool = False
    enum: list[Any] | None = None
    default: Any = MISSING
    nullable: bool = False
    schema: dict[str, Any] = field(default_factory=dict)

    @property
    def choices(self) -> list[tuple[str, Any]]:
        """For ``enum`` and ``boolean`` fields: ``(label, value)`` pairs, in schema order."""
        if self.kind == "boolean":
            return [("true", True), ("false", False)]
        return [(v if isinstance(v, str) else json.dumps(v), v) for v in (self.enum or [])]

    def initial_text(self) -> str:
        """What the input starts with: the default, else a skeleton for JSON fields."""
        if self.default is not MISSING:
            return _as_text(self.default, self.kind)
        if self.kind == "json":
            base = _base_type(self.schema)
            return "{}" if base == "object" else "[]" if base == "array" else ""
        return ""

    def parse(self, text: str) -> tuple[Any, str | None]:
        """Typed value of what was entered (``MISSING`` for an empty optional field), or an
        error message. Choices are passed as their value, not text (see :attr:`choices`)."""
        if self.kind in ("enum", "boolean") and not isinstance(text, str):
            value = text
        else:
            stripped = text.strip() if isinstance(text, str) else text
            if stripped == "" and self.kind != "string":
                return (MISSING, "required") if self.required else (MISSING, None)
            if self.kind == "string":
                if text == "":  # (an empty string can still be sent from the JSON editor)
                    return (MISSING, "required") if self.required else (MISSING, None)
                value = text
            elif self.kind == "integer":
                try:
                    value = int(stripped)
                except ValueError:
                    if self.nullable and stripped == "null":
                        value = None
                    else:
                        return MISSING, f"not an integer: {stripped!r}"
            elif self.kind == "number":
                try:
                    value = float(stripped)
                except ValueError:
                    if self.nullable and stripped == "null":
                        value = None
                    else:
                        return MISSING, f"not a number: {stripped!r}"
                else:
                    if value.is_integer() and re.fullmatch(r"-?\d+", stripped):
                        value = int(value)
            elif self.kind == "boolean":
                if stripped in ("true", "false"):
                    value = stripped == "true"
                else:
                    return MISSING, "choose true or false"
            elif self.kind == "enum":
                value = _enum_from_text(stripped, self.enum or [])
                if value is MISSING:
                    return MISSING, "choose one of " + ", ".join(lbl for lbl, _ in self.choices)
            else:
                try:
                    value = json.loads(stripped)
                except json.JSONDecodeError as exc:
                    return MISSING, f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        if value is None and not self.required and self.default is None:
            return MISSING, None  # "null" where null is the default: the same as not sending it
        errors = validate(value, self.schema, root=self.schema.get("__root__"))
        return (value, errors[0] if errors else None)


def _enum_from_text(text: str, enum: list[Any]) -> Any:
    for v in enum:
        if (v if isinstance(v, str) else json.dumps(v)) == text:
            return v
    return MISSING


def _as_text(value: Any, kind: str) -> str:
    if isinstance(value, str) and kind in ("string", "enum"):
        return value
    return json.dumps(value, ensure_ascii=False)


# ---- schema -> fields ------------------------------------------------------------------------


def _resolve(schema: Any, root: dict | None, depth: int = 0) -> dict:
    """Follow a local ``$ref`` (``#/$defs/X``, ``#/definitions/X``)."""
    if not isinstance(schema, dict):
        return {}
    ref = schema.get("$ref")
    if not isinstance(ref, str) or root is None or depth > 20 or not ref.startswith("#/"):
        return schema
    node: Any = root
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, dict) or part not in node:
            return schema
        node = node[part]
    merged = dict(node) if isinstance(node, dict) else {}
    for k, v in schema.items():  # siblings of $ref (description, default) win
        if k != "$ref":
            merged[k] = v
    return _resolve(merged, root, depth + 1)


def _types(schema: dict) -> list[str]:
    t = schema.get("type")
    if isinstance(t, str):
        return [t]
    if isinstance(t, list):
        return [x for x in t if isinstance(x, str)]
    return []


def _base_type(schema: dict) -> str | None:
    types = [t for t in _types(schema) if t != "null"]
    return types[0] if len(types) == 1 else None


def _unwrap_nullable(schema: dict, root: dict | None) -> tuple[dict, bool]:
    """``anyOf: [X, {type: null}]`` (pydantic's Optional[X]) -> (X plus the outer keywords, True)."""
    for key in ("anyOf", "oneOf"):
        opts = schema.get(key)
        if isinstance(opts, list) and len(opts) == 2:
            rs = [_resolve(o, root) for o in opts]
            nulls = [o for o in rs if _types(o) == ["null"]]
            if len(nulls) == 1:
                inner = dict(next(o for o in rs if o is not nulls[0]))
                for k, v in schema.items():
                    if k not in (key, "type"):
                        inner.setdefault(k, v)
                return inner, True
    types = _types(schema)
    if "null" in types and len(types) == 2:
        inner = dict(schema)
        inner["type"] = next(t for t in types if t != "null")
        return inner, True
    return schema, False


def _field(name: str, prop: Any, required: bool, root: dict | None) -> FormField:
    raw = prop if isinstance(prop, dict) else {}
    schema = _resolve(raw, root)
    inner, nullable = _unwrap_nullable(schema, root)
    inner = _resolve(inner, root)
    base = _base_type(inner)
    enum = inner.get("enum") if isinstance(inner.get("enum"), list) else None
    if enum is None and "const" in inner:
        enum = [inner["const"]]
    if enum:
        kind = "enum"
    elif base in ("string", "integer", "number", "boolean"):
        kind = base
    else:
        kind = "json"
    label = base or " | ".join(_types(inner)) or ("any" if not inner.get("anyOf") else "anyOf")
    if kind == "enum":
        label = f"enum ({base})" if base else "enum"
    if nullable:
        label += " | null"
    desc = str(inner.get("description") or schema.get("description") or raw.get("title") or "")
    default = schema.get("default", MISSING) if isinstance(schema, dict) else MISSING
    check = dict(schema)
    check["__root__"] = root
    return FormField(name, kind, label, desc, required, enum, default, nullable, check)


def form_fields(schema: Any) -> list[FormField]:
    """One field per top-level property of an object schema, required ones first (each group
    in schema order). A schema that is not an object with properties gives no fields."""
    if not isinstance(schema, dict):
        return []
    root = schema
    schema = _resolve(schema, root)
    props = schema.get("properties")
    if not isinstance(props, dict):
        return []
    required = [r for r in schema.get("required") or [] if isinstance(r, str)]
    fields = [_field(name, prop, name in required, root) for name, prop in props.items()]
    return [f for f in fields if f.required] + [f for f in fields if not f.required]


def prompt_fields(prompt: Any) -> list[FormField]:
    """``prompts/list`` arguments -> fields (prompt arguments are always strings)."""
    out = []
    args = prompt.get("arguments") if isinstance(prompt, dict) else None
    for arg in args or []:
        if not isinstance(arg, dict) or not isinstance(arg.get("name"), str):
            continue
        out.append(FormField(arg["name"], "string", "string", str(arg.get("description") or ""),
                             bool(arg.get("required")), schema={"type": "string"}))
    return [f for f in out if f.required] + [f for f in out if not f.required]


def build_arguments(fields: list[FormField], entered: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """What the user entered (``{name: text or chosen value}``) -> (arguments, errors by name).
    Arguments hold only the fields that have a value; errors is empty when all is well."""
    args: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for f in fields:
        value, err = f.parse(entered.get(f.name, ""))
        if err:
            errors[f.name] = err
        elif value is not MISSING:
            args[f.name] = value
    return args, errors


# ---- validation --------------------------------------------------------------------------------


def _is_type(value: Any, t: str) -> bool:
    if t == "integer":
        return (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, float) and value.is_integer())
    if t == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if t == "boolean":
        return isinstance(value, bool)
    py = _PY_TYPES.get(t)
    return True if py is None else isinstance(value, py)


def validate(value: Any, schema: Any, path: str = "", root: dict | None = None) -> list[str]:
    """Errors (``"path: message"``) of ``value`` against ``schema``; empty when it conforms."""
    if not isinstance(schema, dict):
        return []
    if root is None:
        root = schema.get("__root__") or schema
    schema = _resolve(schema, root)
    where = f"{path}: " if path else ""
    errs: list[str] = []
    types = _types(schema)
    if types and not any(_is_type(value, t) for t in types):
        return [f"{where}expected {' or '.join(types)}, got {_json_type(value)}"]
    if isinstance(schema.get("enum"), list) and not any(_same(value, v) for v in schema["enum"]):
        return [f"{where}must be one of {', '.join(json.dumps(v) for v in schema['enum'])}"]
    if "const" in schema and not _same(value, schema["const"]):
        return [f"{where}must be {json.dumps(schema['const'])}"]
    for key in ("anyOf", "oneOf"):
        opts = schema.get(key)
        if isinstance(opts, list) and opts:
            results = [validate(value, o, path, root) for o in opts]
            if all(results):
                # One branch of the value's own type (Optional[Model] is anyOf [Model, null]):
                # its errors say what is wrong; otherwise name the first branch's problem.
                typed = [r for r, o in zip(results, opts) if _type_fits(value, _resolve(o, root))]
                if len(typed) == 1:
                    return typed[0]
                return [f"{where}matches none of the allowed shapes ({results[0][0]})"]
    for sub in schema.get("allOf") or []:
        errs += validate(value, sub, path, root)
    if isinstance(value, str):
        if isinstance(schema.get("minLength"), int) and len(value) < schema["minLength"]:
            errs.append(f"{where}at least {schema['minLength']} characters")
        if isinstance(schema.get("maxLength"), int) and len(value) > schema["maxLength"]:
            errs.append(f"{where}at most {schema['maxLength']} characters")
        pattern = schema.get("pattern")
        if isinstance(pattern, str):
            try:
                if re.search(pattern, value) is None:
                    errs.append(f"{where}does not match {pattern}")
            except re.error:
                pass
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        for key, bad, word in (("minimum", lambda v, m: v < m, "≥"), ("maximum", lambda v, m: v > m, "≤"),
                               ("exclusiveMinimum", lambda v, m: v <= m, ">"),
                               ("exclusiveMaximum", lambda v, m: v >= m, "<")):
            m = schema.get(key)
            if isinstance(m, (int, float)) and not isinstance(m, bool) and bad(value, m):
                errs.append(f"{where}must be {word} {m:g}")
    if isinstance(value, dict):
        props = schema.get("properties") if isinstance(schema.get("properties"), dict) else {}
        for name in schema.get("required") or []:
            if isinstance(name, str) and name not in value:
                errs.append(f"{where}missing required {name!r}")
        for k, v in value.items():
            sub = f"{path}.{k}" if path else k
            if k in props:
                errs += validate(v, props[k], sub, root)
            elif schema.get("additionalProperties") is False:
                errs.append(f"{where}unexpected property {k!r}")
            elif isinstance(schema.get("additionalProperties"), dict):
                errs += validate(v, schema["additionalProperties"], sub, root)
    if isinstance(value, list):
        if isinstance(schema.get("minItems"), int) and len(value) < schema["minItems"]:
            errs.append(f"{where}at least {schema['minItems']} items")
        if isinstance(schema.get("maxItems"), int) and len(value) > schema["maxItems"]:
            errs.append(f"{where}at most {schema['maxItems']} items")
        items = schema.get("items")
        if isinstance(items, dict):
            for i, v in enumerate(value):
                errs += validate(v, items, f"{path}[{i}]", root)
    return errs


def _type_fits(value: Any, schema: dict) -> bool:
    types = _types(schema)
    return bool(types) and any(_is_type(value, t) for t in types)


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b or (
        isinstance(a, (int, float)) and isinstance(b, (int, float))
        and not isinstance(a, bool) and not isinstance(b, bool) and a == b)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"
