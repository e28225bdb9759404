"""Strict mode for Graph: every request and response body is validated against the OpenAPI subset of Graph v1.0.

The subset (``openapi/openapi-subset.json``, see ``openapi/SOURCE.md``) is compiled once, at start (``load``), into
one ``jsonschema_rs`` (Rust) validator per operation and status: a 100-contact page is checked in well under a
millisecond, where the pure-Python ``jsonschema`` took ~70 ms. OpenAPI 3.0's ``nullable`` becomes a JSON-Schema ``null``
type. Requests are read as the service reads them: enum values case-insensitively ("Required" is "required") and
a date where a date-time is expected (the docs' own examples send ``"birthday": "1974-07-22"``), and the parameters
of an action (``sendMail``, ``createUploadSession``...) as OData reads them: names in any case (the docs send
``"AttachmentItem"`` where the CSDL says ``attachmentItem``) and a Boolean as the string "true" or "false" (the docs
send ``"saveToSentItems": "false"``); the handlers read them the same way.
A request body that violates its schema answers 400 ``BadRequest``; a response that violates it is the simulator's
own bug and answers 500 ``InternalServerError`` (and is logged) so the test suite, which runs strict, sees it.
A resource reached through a folder (``/contactFolders/{id}/contacts``, ``/mailFolders/{id}/messages``,
``/calendars/{id}/events``) is checked against the same resource reached directly when the subset does not list the
folder form. Operations missing from the subset altogether are not validated.
"""

from __future__ import annotations

import copy
import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jsonschema_rs import Draft7Validator

from .wire import GraphError

log = logging.getLogger(__name__)

SCHEMA_PATH = Path(__file__).resolve().parent / "openapi" / "openapi-subset.json"
_USER_PREFIX = "/users/{user-id}"
_DATE_TIME_PATTERN = ("^[0-9]{4,}-(0[1-9]|1[012])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
                      "([.][0-9]{1,12})?(Z|[+-][0-9][0-9]:[0-9][0-9])$")
# "true"/"false" in any case; spelled out because the schema's own keywords are checked as ECMA regexes (no (?i))
_BOOLEAN_TEXT = {"type": "string", "pattern": "^([Tt][Rr][Uu][Ee]|[Ff][Aa][Ll][Ss][Ee])$"}
_LENIENT_DATE_TIME = ("^[0-9]{4,}-(0[1-9]|1[012])-(0[1-9]|[12][0-9]|3[01])(T([01][0-9]|2[0-3]):[0-5][0-9]"
                      "(:[0-5][0-9]([.][0-9]{1,12})?)?(Z|[+-][0-9][0-9]:[0-9][0-9])?)?$")


class StrictSchemaMissing(FileNotFoundError):
    """Strict mode was asked for but the OpenAPI subset is not there (the CLI exits 2 with this message)."""


@dataclass(slots=True)
class Operation:
    method: str
    pattern: re.Pattern[str]
    request: Draft7Validator | None
    parameters: dict[str, str]  # an action's parameter names, lower-case -> as the schema spells them
    responses: dict[str, Draft7Validator | None] = field(default_factory=dict)


@dataclass(slots=True)
class Schema:
    user_operations: list[Operation]  # paths after /users/{user-id}
    root_operations: list[Operation]  # /$batch, /subscriptions


_loaded: dict[Path, Schema] = {}
_active: list[Schema] = []  # the schema requests are checked against (set by activate; the default file otherwise)


def activate(path: Path = SCHEMA_PATH) -> Schema:
    """Load and use this subset for every check (``serve --strict`` calls it at start, so a missing file stops
    the simulator before it answers anything)."""
    schema = load(path)
    _active[:] = [schema]
    return schema


def load(path: Path = SCHEMA_PATH) -> Schema:
    """Compile the subset (once per path); raise StrictSchemaMissing with a clear message if it is absent."""
    if path in _loaded:
        return _loaded[path]
    if not path.is_file():
        raise StrictSchemaMissing(
            f"strict mode validates Graph bodies against {path}, which is missing; restore it from the repository "
            f"(see simulator/graph/openapi/SOURCE.md) or start without --strict")
    document = json.loads(path.read_text(encoding="utf-8"))
    answers = _converted(document["components"], lenient=False)
    requests = _converted(document["components"], lenient=True)
    user_operations, root_operations = [], []
    for template, item in document["paths"].items():
        for method, operation in item.items():
            if not isinstance(operation, dict) or method.upper() not in ("GET", "POST", "PATCH", "PUT", "DELETE"):
                continue
            body_schema = _json_schema(operation.get("requestBody"))
            compiled = Operation(method.upper(), _path_pattern(template.removeprefix(_USER_PREFIX)),
                                 _validator(_action_parameters(body_schema), requests), _parameter_names(body_schema),
                                 {status: _validator(_json_schema(response), answers)
                                  for status, response in operation.get("responses", {}).items()})
            (user_operations if template.startswith(_USER_PREFIX) else root_operations).append(compiled)
    _loaded[path] = Schema(user_operations, root_operations)
    return _loaded[path]


def check_request(world: Any, method: str, path: str, body: Any, *, user_bound: bool = True) -> None:
    """400 ``BadRequest`` when the body violates its operation's request schema."""
    operation = _operation(method, path, user_bound)
    if operation is None or operation.request is None or body is None:
        return
    if operation.parameters and isinstance(body, dict):
        body = {operation.parameters.get(key.lower(), key): value for key, value in body.items()}
    error = next(iter(sorted(operation.request.iter_errors(body), key=lambda e: [str(p) for p in e.instance_path])),
                 None)
    if error is not None:
        where = "/".join(str(p) for p in error.instance_path) or "(body)"
        raise GraphError(400, "BadRequest", f"Invalid request body at {where}: {error.message}")


def check_response(world: Any, method: str, path: str, status: int, payload: bytes, *,
                   user_bound: bool = True) -> None:
    """500 ``InternalServerError`` (and an error in the log) when the answer violates its documented schema."""
    operation = _operation(method, path, user_bound)
    if operation is None or not payload:
        return
    validator = operation.responses.get(str(status), operation.responses.get("default"))
    if validator is None:
        return
    error = next(iter(validator.iter_errors(json.loads(payload))), None)
    if error is not None:
        where = "/".join(str(p) for p in error.instance_path) or "(body)"
        log.error("Graph %s %s answered a body that violates the schema at %s: %s", method, path, where,
                  error.message)
        raise GraphError(500, "InternalServerError", f"The simulator's answer violates the Graph schema at {where}: "
                                                     f"{error.message}")


_CONTAINER = re.compile(r"^/(?:contactFolders|mailFolders|calendars)/[^/]+(?=/)", re.IGNORECASE)


def _operation(method: str, path: str, user_bound: bool) -> Operation | None:
    schema = _active[0] if _active else activate()
    operations = schema.user_operations if user_bound else schema.root_operations
    # A resource reached through its folder has the schema of the same resource reached directly (the subset
    # lists GET /contactFolders/{id}/contacts only as POST, but /contacts as GET and POST).
    for candidate in dict.fromkeys((path, _CONTAINER.sub("", path) if user_bound else path)):
        for operation in operations:
            if operation.method == method and operation.pattern.match(candidate):
                return operation
    return None


def _path_pattern(template: str) -> re.Pattern[str]:
    escaped = re.escape(template).replace(r"delta\(\)", r"delta(?:\(\))?")
    return re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", escaped) + "$", re.IGNORECASE)


def _json_schema(holder: Any) -> Any:
    if not isinstance(holder, dict):
        return None
    return holder.get("content", {}).get("application/json", {}).get("schema")


def _parameter_names(schema: Any) -> dict[str, str]:
    """The parameter names of an action body (an inline object schema; a resource body is a ``$ref``)."""
    if not isinstance(schema, dict) or "$ref" in schema:
        return {}
    return {name.lower(): name for name in schema.get("properties", {})}


def _action_parameters(schema: Any) -> Any:
    """An action body's schema with its Boolean parameters also taking "true"/"false" as strings."""
    if not _parameter_names(schema):
        return schema
    properties = {name: ({"anyOf": [spec, _BOOLEAN_TEXT]}
                         if isinstance(spec, dict) and spec.get("type") == "boolean" else spec)
                  for name, spec in schema["properties"].items()}
    return {**schema, "properties": properties}


def _validator(schema: Any, components: dict[str, Any]) -> Draft7Validator | None:
    if schema is None:
        return None
    return Draft7Validator({**_convert(copy.deepcopy(schema), lenient=False), "components": components})


def _converted(components: dict[str, Any], *, lenient: bool) -> dict[str, Any]:
    return _convert(copy.deepcopy(components), lenient=lenient)


def _convert(node: Any, *, lenient: bool) -> Any:
    """OpenAPI 3.0 -> JSON Schema: ``nullable`` to a null type; for requests, case-insensitive enums and dates."""
    if isinstance(node, list):
        return [_convert(n, lenient=lenient) for n in node]
    if not isinstance(node, dict):
        return node
    node = {k: _convert(v, lenient=lenient) for k, v in node.items()}
    nullable = node.pop("nullable", False)
    if lenient and node.get("type") == "string" and isinstance(node.get("enum"), list):
        choices = "|".join(re.escape(str(v)) for v in node.pop("enum") if v is not None)
        node["pattern"] = f"(?i)^({choices})$"
    if lenient and node.get("pattern") == _DATE_TIME_PATTERN:
        node["pattern"] = _LENIENT_DATE_TIME
        node.pop("format", None)  # the validator checks formats too; the lenient pattern says it all
    if nullable:
        if "type" in node:
            node["type"] = [node["type"], "null"] if isinstance(node["type"], str) else [*node["type"], "null"]
            if "enum" in node:
                node["enum"] = [*node["enum"], None]
        elif "anyOf" in node:
            node["anyOf"] = [*node["anyOf"], {"type": "null"}]
        else:
            node = {"anyOf": [node, {"type": "null"}]}
    return node
