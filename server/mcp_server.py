"""The MCP server: each tool is a few lines over the read API (`rulecat.index.api`).

Plain `def` tools run on the SDK's worker threads, so each thread opens its own read-only
connection to the catalog (`ToolContext.catalog()`). A built file never changes, but a new
build renames a new file into place: each call checks the path's identity first and reopens
when it changed, while a call already running keeps reading the old file through its open
handle. With no catalog yet, every tool answers with how to build one; the server never
waits for a build.
Features register their tools from their own modules (`tools_core.py`, ...).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from difflib import get_close_matches
from functools import cache, wraps
from pathlib import Path
from typing import Any, get_args, get_origin

from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, TextContent
from pydantic import (
    BaseModel, ConfigDict, ModelWrapValidatorHandler, TypeAdapter, ValidationError,
    create_model, model_validator,
)
from pydantic_core import PydanticCustomError

from rulecat.index.api import Catalog
from rulecat.index.errors import RulecatError

from . import package_version

INSTRUCTIONS = """\
rulecat answers questions about detection rules (Sigma, Elastic, Splunk) and their MITRE
ATT&CK coverage from a prebuilt catalog. Start with get_technique_coverage for a technique
ID, top_indicators for what those rules test, find_rules_by_field for one field across
vendors, get_rule for one rule's logic, catalog_info for what the catalog holds. Lists are
paged: call again with the answer's `next` arguments."""


class ToolContext:
    """What tools share: the catalog path, and a read-only `Catalog` per worker thread."""

    def __init__(self, catalog_path: Path) -> None:
        self.catalog_path = catalog_path
        self._local = threading.local()

    @contextmanager
    def catalog(self) -> Iterator[Catalog]:
        """The thread's catalog; rulecat's own errors become tool errors the model reads."""
        try:
            yield self._current()
        except RulecatError as exc:
            raise ToolError(str(exc)) from exc

    def _current(self) -> Catalog:
        """The thread's open catalog, reopened when a build replaced the file at the path.

        Closing the previous one is safe: no caller awaits or nests inside `catalog()`, so a
        thread (the event loop's included) holds at most one call's catalog at a time.
        """
        identity = _identity(self.catalog_path)
        cat: Catalog | None = getattr(self._local, "catalog", None)
        if cat is not None and identity == self._local.identity:
            return cat
        self._local.catalog = None
        if cat is not None:
            cat.close()  # this thread's previous call has finished with it
        cat = Catalog(self.catalog_path)  # no file: CatalogMissing says how to build one
        self._local.catalog, self._local.identity = cat, identity
        return cat


def _identity(path: Path) -> tuple[int, int, int, int] | None:
    """What changes when a build renames a new file into place (None: no file)."""
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size


def create_server(catalog_path: Path) -> MCPServer:
    """An MCP server answering from the catalog at `catalog_path`."""
    from . import resources, tools_analytics, tools_core, tools_search, tools_sources

    server = MCPServer("rulecat", version=package_version(), instructions=INSTRUCTIONS)
    context = ToolContext(catalog_path)
    # Each feature registers its own tools; add new modules to this tuple.
    for module in (tools_core, resources, tools_analytics, tools_search, tools_sources):
        module.register(server, context)
    _compact_listing(server)
    _compact_answers(server)
    return server


def _compact_answers(server: MCPServer) -> None:
    """Send each answer's text block as compact JSON.

    A tool's answer goes out twice: as structured content, and (as the protocol asks, for
    clients that read only text) as the same JSON in a text block, which the SDK indents;
    most clients hand the model the text. Compact JSON is the same data in about 30% fewer
    bytes (T1559.001's coverage: 7.5 KB instead of 10.4 KB). The SDK still checks the
    structured content against the tool's answer model.
    """
    manager = getattr(server, "_tool_manager", None)
    for tool in manager.list_tools() if manager is not None else []:
        tool.fn = _answered_compactly(tool.fn)


def _answered_compactly(fn: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        result = fn(*args, **kwargs)
        if not isinstance(result, BaseModel):
            return result
        data = result.model_dump(mode="json", by_alias=True)
        text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
        return CallToolResult(content=[TextContent(type="text", text=text)],
                              structured_content=data)

    return call


def _compact_listing(server: MCPServer) -> None:
    """Keep `tools/list` small: every client reads it whole, and a model reads most of it.

    - input schemas lose pydantic's generated `title` keys, and an optional parameter is
      published as its type (`{"type": "string"}`), not `anyOf [string, null]` with a null
      default: leaving it out means "no filter", and the SDK still validates arguments
      with the signature's own model, which accepts null;
    - a description's line breaks and indentation are bytes, not meaning;
    - the published output schema is `{"type": "object"}`: it tells a client the answer
      comes as structured content, and costs 17 bytes instead of the ~4 KB per tool of
      the full schema (all 14 full schemas are ~54 KB, four times the 12 KB budget of
      the whole listing). The full JSON Schema of each answer, every field described,
      is the resource `rulecat://schema/{tool}`; the SDK still validates each answer
      against the tool's pydantic model before sending it.

    The SDK has no public hook for this, hence its tool manager; `fn_metadata` fields are
    read live, so the compact output schema is what clients see.
    """
    manager = getattr(server, "_tool_manager", None)
    for tool in manager.list_tools() if manager is not None else []:
        tool.parameters = _compact_input(tool.parameters)
        tool.description = " ".join((tool.description or "").split())
        if tool.fn_metadata.output_schema is not None:
            tool.fn_metadata.output_schema = compact_output(tool.fn_metadata.output_schema)
        model = tool.fn_metadata.arg_model
        tool.fn_metadata.arg_model = create_model(
            model.__name__, __base__=(model, _PlainArguments))


class _PlainArguments(BaseModel):
    """Mixed into every tool's argument model (the SDK builds one from the signature).

    An unknown argument is an error, not silently ignored: `vendor: ["splunk"]` for
    `vendors` would otherwise answer unfiltered. A lone string for a list is a one-item
    list (`vendors: "splunk"`), the commonest slip. Any other mistake reads as one line
    that names the argument, says what was wrong and lists what the tool takes.
    """

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="wrap")
    @classmethod
    def _plain_errors(cls, data: Any, handler: ModelWrapValidatorHandler[Any]) -> Any:
        if isinstance(data, dict):
            lists = _list_arguments(cls)
            data = {k: [v] if k in lists and isinstance(v, str) else v for k, v in data.items()}
        try:
            return handler(data)
        except ValidationError as exc:
            raise PydanticCustomError("invalid_arguments", "{why}",
                                      {"why": _argument_errors(cls, exc)}) from None


@cache
def _list_arguments(model: type[BaseModel]) -> frozenset[str]:
    """Names of the arguments typed `list[...]` (or `list[...] | None`)."""
    def is_list(annotation: Any) -> bool:
        return get_origin(annotation) is list or any(
            get_origin(a) is list for a in get_args(annotation))
    return frozenset(n for n, f in model.model_fields.items() if is_list(f.annotation))


def _argument_errors(model: type[BaseModel], exc: ValidationError) -> str:
    names = list(model.model_fields)
    said = []
    for error in exc.errors():
        name = str(error["loc"][0]) if error["loc"] else "arguments"
        if error["type"] == "extra_forbidden":
            near = get_close_matches(name, names, n=1)
            said.append(f"unknown argument {name!r}" + (f" (did you mean {near[0]!r}?)"
                                                           if near else ""))
        elif error["type"] == "missing":
            said.append(f"{name!r} is required")
        else:
            said.append(f"{name!r}: {error['msg']} (got {str(error.get('input'))[:60]!r})")
    return "; ".join(said) + f". This tool takes: {', '.join(names)}."


def full_output_schemas(server: MCPServer) -> dict[str, dict[str, Any]]:
    """Each tool's whole answer schema, as pydantic writes it (for `rulecat://schema/...`)."""
    manager = getattr(server, "_tool_manager", None)
    schemas: dict[str, dict[str, Any]] = {}
    for tool in manager.list_tools() if manager is not None else []:
        model = tool.fn_metadata.output_model
        if model is not None:
            schemas[tool.name] = TypeAdapter(model).json_schema()
    return schemas


def compact_output(schema: dict[str, Any]) -> dict[str, Any]:
    """What `tools/list` publishes of an answer's schema: that it is a JSON object."""
    return {"type": "object"} if schema.get("type") == "object" else schema


def _compact_input(schema: Any) -> Any:
    if isinstance(schema, list):
        return [_compact_input(v) for v in schema]
    if not isinstance(schema, dict):
        return schema
    schema = _not_null(schema)
    return {k: _compact_input(v) for k, v in schema.items()
            if not (k == "title" and isinstance(v, str))}


def _not_null(schema: dict[str, Any]) -> dict[str, Any]:
    """`{"anyOf": [X, {"type": "null"}], "default": null, ...}` -> `{...X, ...}`."""
    options = schema.get("anyOf")
    if not isinstance(options, list) or {"type": "null"} not in options or len(options) != 2:
        return schema
    (kept,) = [o for o in options if o != {"type": "null"}]
    rest = {k: v for k, v in schema.items()
            if k != "anyOf" and not (k == "default" and v is None)}
    return {**kept, **rest}
