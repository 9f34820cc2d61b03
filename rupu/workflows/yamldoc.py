"""Reading a YAML file safely and remembering where everything is.

The text is composed into nodes once: duplicate keys and alias bombs are refused there, values are
built from the nodes with the safe constructor, and the nodes answer "which line holds
`steps.2.prompt`?" for every later error.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from rupu.errors import ConfigError, Location

MAX_ALIASES = 100
MAX_DEPTH = 100
MAX_EXPANDED_NODES = 200_000


@dataclass(slots=True)
class YamlDoc:
    path: Path
    text: str
    root: yaml.Node | None

    @property
    def shown(self) -> str:
        return str(self.path)

    def node(self, loc: Sequence[str | int]) -> tuple[yaml.Node | None, int | None]:
        """The value node at `loc` (or the deepest one found) and the 1-based line of its key."""
        node = self.root
        line = None if node is None else node.start_mark.line + 1
        for part in loc:
            if isinstance(node, yaml.MappingNode):
                for key, value in node.value:
                    if key.value == str(part):
                        line = key.start_mark.line + 1
                        node = value
                        break
                else:
                    return None, line
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
                if part >= len(node.value):
                    return None, line
                node = node.value[part]
                line = node.start_mark.line + 1
            else:
                return None, line
        return node, line

    def line(self, loc: Sequence[str | int]) -> int | None:
        return self.node(loc)[1]

    def where(self, loc: Sequence[str | int]) -> Location:
        return Location(self.shown, self.line(loc))

    def content_line(self, loc: Sequence[str | int], lineno: int) -> int | None:
        """The file line of line `lineno` (1-based) inside the string value at `loc`."""
        node, line = self.node(loc)
        if not isinstance(node, yaml.ScalarNode):
            return line
        first = node.start_mark.line + 1
        if node.style in ("|", ">"):
            first += 1
        return first + max(lineno, 1) - 1


def parse_yaml(path: Path, text: str) -> tuple[Any, YamlDoc]:
    """The data and its node map. Raises `ConfigError` at file:line:col for syntax errors,
    duplicate keys and too many aliases."""
    shown = str(path)
    loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        _check_depth(text, loader, shown)
        root = yaml.compose(text, Loader=loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or "invalid YAML"
        location = Location(shown, mark.line + 1, mark.column + 1) if mark else Location(shown)
        raise ConfigError(f"YAML syntax error: {problem}", location=location) from None
    except RecursionError:
        raise ConfigError("the YAML is nested too deeply", location=Location(shown)) from None
    doc = YamlDoc(path, text, root)
    if root is None:
        return None, doc
    _check_nodes(root, shown)
    loader = yaml.SafeLoader("")
    try:
        data = loader.construct_document(root)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ConfigError(
            f"YAML error: {getattr(exc, 'problem', None) or exc}",
            location=Location(shown, mark.line + 1 if mark else None),
        ) from None
    finally:
        loader.dispose()
    return data, doc


def _check_depth(text: str, loader: Any, shown: str) -> None:
    """Streams the parser's events first: composing very deep nesting can crash libyaml."""
    depth = 0
    for event in yaml.parse(text, Loader=loader):
        if isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                line = event.start_mark.line + 1 if event.start_mark else None
                raise ConfigError(
                    f"the YAML is nested more than {MAX_DEPTH} levels deep",
                    location=Location(shown, line),
                )
        elif isinstance(event, yaml.MappingEndEvent | yaml.SequenceEndEvent):
            depth -= 1


def _check_nodes(root: yaml.Node, shown: str) -> None:
    """Refuses duplicate keys, and alias bombs: every revisit of a node is an `*alias`."""
    stack = [root]
    seen_nodes: set[int] = set()
    aliases = 0
    while stack:
        node = stack.pop()
        if id(node) in seen_nodes:
            aliases += 1
            if aliases > MAX_ALIASES:
                raise ConfigError(
                    f"too many YAML aliases (more than {MAX_ALIASES})",
                    location=Location(shown, node.start_mark.line + 1),
                    hint="write the values out instead of repeating *aliases",
                )
            continue
        seen_nodes.add(id(node))
        if isinstance(node, yaml.MappingNode):
            keys: dict[str, int] = {}
            for key, value in node.value:
                name = str(key.value)
                if isinstance(key, yaml.ScalarNode) and name in keys:
                    raise ConfigError(
                        f"duplicate key '{name}' (first at line {keys[name]})",
                        location=Location(shown, key.start_mark.line + 1),
                        hint="remove one of them",
                    )
                keys[name] = key.start_mark.line + 1
                stack.append(value)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
    if aliases and _expanded_size(root, {}) > MAX_EXPANDED_NODES:
        raise ConfigError(
            f"the YAML expands to more than {MAX_EXPANDED_NODES} values through its aliases",
            location=Location(shown),
            hint="write the values out instead of nesting *aliases",
        )


def _expanded_size(node: yaml.Node, memo: dict[int, int]) -> int:
    """How many nodes the document has once every alias is expanded (memoised, so linear)."""
    if id(node) in memo:
        return memo[id(node)]
    memo[id(node)] = 1  # a cycle through an alias counts once
    size = 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            size += _expanded_size(key, memo) + _expanded_size(value, memo)
    elif isinstance(node, yaml.SequenceNode):
        for child in node.value:
            size += _expanded_size(child, memo)
    memo[id(node)] = size
    return size
