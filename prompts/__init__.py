"""The prompt files, shipped inside the package as `rag.prompt_files` (see pyproject.toml)."""
