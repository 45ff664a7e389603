"""What a Dockerfile builds from: the base images its ``FROM`` lines name,
with build arguments substituted. Pure parsing, no registry."""
from __future__ import annotations

import re
from collections.abc import Mapping

ARG_LINE = re.compile(r"^ARG\s+([A-Za-z_][A-Za-z0-9_]*)(?:=(\S*))?\s*$", re.IGNORECASE)
FROM_LINE = re.compile(r"^FROM\s+(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?\s*$", re.IGNORECASE)
VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)")


def instructions(text: str) -> list[str]:
    """Logical lines: continuations joined, comments and blank lines dropped."""
    lines, current = [], ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        lines.append(current + stripped)
        current = ""
    if current:
        lines.append(current)
    return lines


def base_images(text: str, build_args: dict[str, str]) -> list[str]:
    """The external images the stages start from, in order, without
    ``scratch`` and without earlier stages named by ``AS``."""
    global_args: dict[str, str] = {}
    stages: set[str] = set()
    images: list[str] = []
    seen_from = False
    for line in instructions(text):
        arg = ARG_LINE.match(line)
        if arg and not seen_from:
            global_args[arg.group(1)] = build_args.get(arg.group(1), arg.group(2) or "")
            continue
        match = FROM_LINE.match(line)
        if not match:
            continue
        seen_from = True
        image = VARIABLE.sub(lambda m: _expand(m, global_args), match.group(1))
        if image.lower() != "scratch" and image.lower() not in stages and image not in images:
            images.append(image)
        if match.group(2):
            stages.add(match.group(2).lower())
    return images


def _expand(match: re.Match[str], args: Mapping[str, str]) -> str:
    """$NAME, ${NAME} and ${NAME:-default} (the default also when empty)."""
    value = args.get(match.group(1) or match.group(3), "")
    return value or (match.group(2) or "")
