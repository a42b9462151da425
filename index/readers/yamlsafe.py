"""Safe YAML loading for rule files: PyYAML's C safe loader, minus duplicate keys.

YAML itself says mapping keys are unique, but PyYAML silently keeps the last of two equal
keys. In a detection rule that hides logic (a second `selection:` replaces the first), so
rulecat refuses such a document instead, naming the key and both lines.

Hostile YAML is refused before it becomes Python data (`YamlLimitError`; the limits are in
`limits.py`), in two passes that each stop at the first limit met:

1. libyaml's event stream (C, streaming): documents, nodes and nesting as written. A 5 MB
   flow list of two million items stops after `MAX_YAML_NODES` events (~30 ms) instead of
   being composed (~7 s and ~700 MB).
2. the composed node graph of each document, counting an alias at every use: a "billion
   laughs" bomb stops after `MAX_YAML_ALIASES` uses instead of expanding.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.events import (
    AliasEvent, CollectionEndEvent, CollectionStartEvent, DocumentStartEvent, ScalarEvent,
)
from yaml.nodes import MappingNode, Node, SequenceNode

from .limits import MAX_NESTING, MAX_YAML_ALIASES, MAX_YAML_DOCUMENTS, MAX_YAML_NODES

_MERGE_TAG = "tag:yaml.org,2002:merge"


class DuplicateKeyError(ConstructorError):
    """A mapping names the same key twice. `problem_mark` points at the second one."""

    def __init__(self, key: Any, first_line: int, node: MappingNode, key_node: Any) -> None:
        super().__init__(
            "while constructing a mapping",
            node.start_mark,
            f"found duplicate key {key!r} (first defined on line {first_line})",
            key_node.start_mark,
        )
        self.key = key
        self.first_line = first_line
        self.line = key_node.start_mark.line + 1


class YamlLimitError(yaml.YAMLError):
    """A YAML file past one of rulecat's limits; `reason` says which, `line` where (1-based)."""

    def __init__(self, reason: str, line: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.line = line


def load_trusted(text: str) -> Any:
    """YAML that ships with rulecat or comes from MITRE (mapping tables, version maps): the
    C safe loader, without the hostile-input passes rule files get."""
    return yaml.load(text, Loader=yaml.CSafeLoader)


def _check_events(text: str) -> None:
    """Pass 1: count documents, nodes and nesting in the event stream, as written."""
    loader = yaml.CSafeLoader(text)
    documents = nodes = depth = 0
    try:
        while loader.check_event():
            event = loader.get_event()
            if isinstance(event, (ScalarEvent, AliasEvent, CollectionStartEvent)):
                nodes += 1
                depth += isinstance(event, CollectionStartEvent)
            elif isinstance(event, CollectionEndEvent):
                depth -= 1
            elif isinstance(event, DocumentStartEvent):
                documents += 1
            mark = getattr(event, "start_mark", None)
            line = mark.line + 1 if mark is not None else 1
            if documents > MAX_YAML_DOCUMENTS:
                raise YamlLimitError(f"more than {MAX_YAML_DOCUMENTS} YAML documents", line)
            _raise_if_over(nodes, 0, depth, line)
    finally:
        loader.dispose()


def _check_graph(root: Node) -> None:
    """Pass 2: walk one document's node graph, counting an alias at every use."""
    seen: set[int] = set()
    nodes = aliases = 0
    stack: list[tuple[Node, int]] = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        nodes += 1
        aliases += id(node) in seen
        seen.add(id(node))
        _raise_if_over(nodes, aliases, depth, node.start_mark.line + 1)
        if isinstance(node, MappingNode):
            stack.extend((child, depth + 1) for pair in node.value for child in pair)
        elif isinstance(node, SequenceNode):
            stack.extend((child, depth + 1) for child in node.value)


def _raise_if_over(nodes: int, aliases: int, depth: int, line: int) -> None:
    if aliases > MAX_YAML_ALIASES:
        raise YamlLimitError(f"YAML alias bomb: more than {MAX_YAML_ALIASES:,} uses of "
                             "anchors (`&name` ... `*name`)", line)
    if nodes > MAX_YAML_NODES:
        raise YamlLimitError(f"YAML too large: more than {MAX_YAML_NODES:,} values, keys and "
                             "lists", line)
    if depth > MAX_NESTING:
        raise YamlLimitError(f"YAML nested deeper than {MAX_NESTING} levels", line)


class StrictSafeLoader(yaml.CSafeLoader):
    """`yaml.CSafeLoader` that raises `DuplicateKeyError` on a repeated mapping key."""

    def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, MappingNode):
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == _MERGE_TAG:
                    continue  # `<<: *anchor` merges; explicit keys may override merged ones
                key = self.construct_object(key_node, deep=deep)
                try:
                    first = seen.get(key)
                except TypeError:  # unhashable key: the base class reports it
                    continue
                if first is not None:
                    raise DuplicateKeyError(key, first, node, key_node)
                seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


@dataclass(frozen=True)
class YamlDocument:
    """One document of a YAML stream and where its content starts (1-based line)."""

    data: Any
    line: int


def load_yaml_document_list(text: str) -> list[YamlDocument]:
    """Every document in `text`, with its start line. Raises `yaml.YAMLError` subclasses."""
    _check_events(text)
    loader = StrictSafeLoader(text)
    try:
        docs: list[YamlDocument] = []
        while loader.check_node():
            node = loader.get_node()
            line = node.start_mark.line + 1 if node is not None else 1
            if node is not None:
                _check_graph(node)
            docs.append(YamlDocument(loader.construct_document(node), line))
        return docs
    finally:
        loader.dispose()


def load_yaml_documents(text: str) -> list[Any]:
    """Every document in `text` as plain Python data (`None` for an empty document).

    Raises `yaml.YAMLError` for malformed YAML, and `DuplicateKeyError` (a
    `yaml.YAMLError`, with `.key` and `.line`) when a mapping repeats a key.
    """
    return [doc.data for doc in load_yaml_document_list(text)]


def error_line(exc: BaseException) -> int | None:
    """The 1-based line a YAML error points at, when it carries a mark."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    return mark.line + 1 if mark is not None else None
