"""The Gradio chat UI: a thin adapter over `rag.Assistant` (see ui/app.py)."""
