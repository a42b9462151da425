"""Safe YAML loading for rule files: PyYAML's C safe loader, minus duplicate keys.

YAML itself says mapping keys are unique, but PyYAML silently keeps the last of two equal
keys. In a detection rule that hides logic (a second `selection:` replaces the first), so
rulecat refuses such a document instead, naming the key and both lines.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode

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
    loader = StrictSafeLoader(text)
    try:
        docs: list[YamlDocument] = []
        while loader.check_node():
            node = loader.get_node()
            line = node.start_mark.line + 1 if node is not None else 1
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
