"""Prompt files, rendered strictly.

The prompts are the `.md` files of the project's `prompts/` folder, installed as package
data (`rag.prompt_files`) and read with `importlib.resources`, so an installed package
works outside the checkout; `settings.prompts_dir` overrides them. `render(name, settings,
**values)` fails with `EngineError` when the file is missing, a variable it uses is not
given, or a given variable is not used, so a prompt never goes out with an empty slot.
"""

from __future__ import annotations

import string
from importlib import resources

from .errors import EngineError
from .settings import Settings


def variables(template: str) -> set[str]:
    return {f for _, f, _, _ in string.Formatter().parse(template) if f}


def load(name: str, settings: Settings) -> str:
    if settings.prompts_dir is not None:
        path = settings.prompts_dir / name
        if not path.is_file():
            raise EngineError(f"Prompt file {path} is missing: RAG_PROMPTS_DIR ({settings.prompts_dir}) must hold {name}.")
        return path.read_text(encoding="utf-8")
    try:
        return (resources.files("rag.prompt_files") / name).read_text(encoding="utf-8")
    except (FileNotFoundError, ModuleNotFoundError):
        raise EngineError(f"The packaged prompt {name} is missing: reinstall the package (`make install`).") from None


def render(name: str, settings: Settings, **values: str) -> str:
    template = load(name, settings)
    needed = variables(template)
    if needed != set(values):
        raise EngineError(
            f"Prompt {name} uses variables {sorted(needed)} but was given {sorted(values)}; "
            "edit the prompt or the code so they match (see prompts/README.md)."
        )
    return template.format(**values).strip()
