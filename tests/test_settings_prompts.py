import pytest

from rag import EngineError, Settings
from rag.prompting import load, render, variables
from rag.settings import Scoring


def test_every_setting_and_constant_is_described() -> None:
    for model in (Settings, Scoring):
        for name, field in model.model_fields.items():
            assert field.description and len(field.description) > 15, name


def test_env_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAG_TOP_K", "7")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    s = Settings()
    assert s.top_k == 7 and s.resolved_engine() == "openai"
    monkeypatch.delenv("OPENAI_BASE_URL")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    assert Settings().resolved_engine() == "extractive"


@pytest.mark.parametrize(
    ("name", "expected"),
    [("answer_system.md", set()), ("answer_user.md", {"sources", "question"}), ("answer_completion.md", {"sources", "question"})],
)
def test_prompt_variables(name: str, expected: set[str]) -> None:
    s = Settings()
    assert variables(load(name, s)) == expected
    text = render(name, s, **{v: f"<{v}>" for v in expected})
    assert all(f"<{v}>" in text for v in expected)


def test_prompts_are_filled_strictly() -> None:
    s = Settings()
    with pytest.raises(EngineError, match="uses variables"):
        render("answer_user.md", s, sources="x")
    with pytest.raises(EngineError, match="uses variables"):
        render("answer_user.md", s, sources="x", question="q", extra="y")
    with pytest.raises(EngineError, match="missing"):
        render("nope.md", s)
