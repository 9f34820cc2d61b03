"""Line numbers for YAML documents: maps a key path to the line where that key (or item) starts."""

from __future__ import annotations

from collections.abc import Sequence

import yaml

from rupu.strict import LineFinder


def yaml_line_finder(text: str, *, offset: int = 0) -> LineFinder:
    """`offset` is added to every line (frontmatter starts below the opening `---`)."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        root = None

    def find(loc: Sequence[str | int]) -> int | None:
        node = root
        line = None if node is None else node.start_mark.line + 1
        for part in loc:
            if isinstance(node, yaml.MappingNode):
                for key, value in node.value:
                    if key.value == str(part):
                        line = key.start_mark.line + 1
                        node = value
                        break
                else:
                    break
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
                if part >= len(node.value):
                    break
                node = node.value[part]
                line = node.start_mark.line + 1
            else:
                break
        return None if line is None else line + offset

    return find
