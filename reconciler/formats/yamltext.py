"""YAML text that reads back as written: what the tool writes for people (import's files)."""

from __future__ import annotations

from typing import Any

import yaml

from reconciler.formats.yamlfile import YAML11_WORDS


class Dumper(yaml.SafeDumper):
    """PyYAML's safe dumper, quoting the words YAML 1.1 would read as booleans (yes, n, ...):
    unquoted, the loader refuses them."""


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "'" if value.lower() in YAML11_WORDS else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


Dumper.add_representer(str, _text)


def dump(data: Any, **options: Any) -> str:
    """`data` as YAML text (yaml.safe_dump's options), every YAML 1.1 word quoted."""
    text: str = yaml.dump(data, Dumper=Dumper, **options)
    return text
