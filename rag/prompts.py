"""Prompt files from `prompts/`, rendered strictly.

`render(name, settings, **values)` fails with `EngineError` when the file is missing,
a variable it uses is not given, or a given variable is not used, so a prompt can
never go out with an empty slot.
"""

from __future__ import annotations

import string
from pathlib import Path

from .errors import EngineError
from .settings import Settings


def variables(template: str) -> set[str]:
    return {f for _, f, _, _ in string.Formatter().parse(template) if f}


def load(name: str, settings: Settings) -> str:
    path = Path(settings.prompts_dir) / name
    if not path.is_file():
        raise EngineError(f"Prompt file {path} is missing: expected it in RAG_PROMPTS_DIR ({settings.prompts_dir}).")
    return path.read_text(encoding="utf-8")


def render(name: str, settings: Settings, **values: str) -> str:
    template = load(name, settings)
    needed = variables(template)
    if needed != set(values):
        raise EngineError(
            f"Prompt {name} uses variables {sorted(needed)} but was given {sorted(values)}; "
            "edit the prompt or the code so they match (see prompts/README.md)."
        )
    return template.format(**values).strip()
