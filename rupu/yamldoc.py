"""Reading a user-written YAML document safely and remembering where everything is.

The text is composed into nodes once: nesting deeper than `MAX_DEPTH`, duplicate keys and alias bombs
are refused there with rupu's own wording (whatever limits the installed YAML parser has), values are
built from the nodes with the safe constructor, and the nodes answer "which line holds
`steps.2.prompt`?" for every later error. Agent frontmatter, workflows, contracts and mock scripts all
read YAML through here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from rupu.errors import ConfigError, Location
from rupu.strict import LineFinder

MAX_ALIASES = 100
MAX_DEPTH = 100
MAX_EXPANDED_NODES = 200_000


@dataclass(slots=True)
class YamlDoc:
    path: Path
    text: str
    root: yaml.Node | None
    first_line: int = 1  # the file line of the document's first line (frontmatter starts at 2)

    @property
    def shown(self) -> str:
        return str(self.path)

    def node(self, loc: Sequence[str | int]) -> tuple[yaml.Node | None, int | None]:
        """The value node at `loc` (or the deepest one found) and the 1-based line of its key."""
        node = self.root
        line = None if node is None else node.start_mark.line + self.first_line
        for part in loc:
            if isinstance(node, yaml.MappingNode):
                for key, value in node.value:
                    if key.value == str(part):
                        line = key.start_mark.line + self.first_line
                        node = value
                        break
                else:
                    return None, line
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
                if part >= len(node.value):
                    return None, line
                node = node.value[part]
                line = node.start_mark.line + self.first_line
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
        first = node.start_mark.line + self.first_line
        if node.style in ("|", ">"):
            first += 1
        return first + max(lineno, 1) - 1


def split_frontmatter(text: str, path: str) -> tuple[str, str]:
    """(frontmatter YAML, body). Accepts a UTF-8 BOM and CRLF line endings."""
    text = text.removeprefix("\ufeff").replace("\r\n", "\n")
    first, _, rest = text.partition("\n")
    if first.rstrip() != "---":
        raise ConfigError(
            "missing frontmatter: an agent file starts with a line '---'",
            location=Location(path, 1),
            hint="add '---', the YAML keys (at least name:), and a closing '---' above the prompt",
        )
    lines = rest.split("\n")
    for index, line in enumerate(lines):
        if line.rstrip() == "---":
            return "\n".join(lines[:index]), "\n".join(lines[index + 1 :])
    raise ConfigError(
        "the frontmatter is not closed",
        location=Location(path, 1),
        hint="add a line '---' after the YAML keys",
    )


def parse_yaml(path: Path, text: str, *, first_line: int = 1) -> tuple[Any, YamlDoc]:
    """The data and its node map. Raises `ConfigError` at file:line:col for syntax errors, nesting
    deeper than `MAX_DEPTH`, duplicate keys and too many aliases. `first_line` is the file line on
    which `text` starts."""
    root = compose_yaml(path, text, first_line=first_line)
    doc = YamlDoc(path, text, root, first_line)
    if root is None:
        return None, doc
    shown = str(path)
    _check_nodes(root, shown, first_line)
    loader = yaml.SafeLoader("")
    try:
        data = loader.construct_document(root)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ConfigError(
            f"YAML error: {getattr(exc, 'problem', None) or exc}",
            location=Location(shown, mark.line + first_line if mark else None),
        ) from None
    finally:
        loader.dispose()
    return data, doc


def compose_yaml(path: Path, text: str, *, first_line: int = 1) -> yaml.Node | None:
    """The node tree of `text`, depth-checked before anything recursive touches it."""
    shown = str(path)
    loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        _check_depth(text, loader, shown, first_line)
        return yaml.compose(text, Loader=loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or "invalid YAML"
        location = (
            Location(shown, mark.line + first_line, mark.column + 1) if mark else Location(shown)
        )
        raise ConfigError(f"YAML syntax error: {problem}", location=location) from None
    except RecursionError:
        raise _too_deep(shown, None) from None


def line_finder(text: str, *, first_line: int = 1) -> LineFinder:
    """Finds the file line of a key path in `text`; finds nothing when `text` is not valid YAML."""
    try:
        root = compose_yaml(Path("-"), text, first_line=first_line)
    except ConfigError:
        root = None
    doc = YamlDoc(Path("-"), text, root, first_line)
    return doc.line


def _too_deep(shown: str, line: int | None) -> ConfigError:
    return ConfigError(
        f"the YAML is nested more than {MAX_DEPTH} levels deep",
        location=Location(shown, line),
        hint="flatten the structure",
    )


def _check_depth(text: str, loader: Any, shown: str, first_line: int) -> None:
    """Streams the parser's events before composing (composing is recursive). Parsers have nesting
    limits of their own, and newer ones stop before `MAX_DEPTH` is reached with their own words: when
    the parser fails, the tokens are counted with PyYAML's pure-Python scanner, which has none."""
    depth = 0
    try:
        for event in yaml.parse(text, Loader=loader):
            if isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    mark = event.start_mark
                    raise _too_deep(shown, mark.line + first_line if mark else None)
            elif isinstance(event, yaml.MappingEndEvent | yaml.SequenceEndEvent):
                depth -= 1
    except yaml.YAMLError:
        _check_token_depth(text, shown, first_line)
        raise


_OPENING = (
    yaml.FlowSequenceStartToken,
    yaml.FlowMappingStartToken,
    yaml.BlockSequenceStartToken,
    yaml.BlockMappingStartToken,
)
_CLOSING = (yaml.FlowSequenceEndToken, yaml.FlowMappingEndToken, yaml.BlockEndToken)


def _check_token_depth(text: str, shown: str, first_line: int) -> None:
    """Raises the depth error if the tokens nest deeper than `MAX_DEPTH` before any syntax error."""
    depth = 0
    try:
        for token in yaml.scan(text, Loader=yaml.SafeLoader):
            if isinstance(token, _OPENING):
                depth += 1
                if depth > MAX_DEPTH:
                    raise _too_deep(shown, token.start_mark.line + first_line)
            elif isinstance(token, _CLOSING):
                depth -= 1
    except yaml.YAMLError:
        return


def _check_nodes(root: yaml.Node, shown: str, first_line: int) -> None:
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
                    location=Location(shown, node.start_mark.line + first_line),
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
                        location=Location(shown, key.start_mark.line + first_line),
                        hint="remove one of them",
                    )
                keys[name] = key.start_mark.line + first_line
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
