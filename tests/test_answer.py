"""Retrieval and the extractive engine on the bundled corpus, end to end."""

import pytest

from rag import Assistant, UsageError
from tests.conftest import TREE_PLANNER


def test_hybrid_retrieval_ranks_the_named_paper_first(assistant: Assistant) -> None:
    sources = assistant.retrieve("How much does Tree-Planner reduce token consumption?", k=3)
    assert len(sources) == 3
    assert sources[0].paper.id == TREE_PLANNER
    assert sources[0].chunks and sources[0].dense > 0.4
    assert [s.rank for s in sources] == [1, 2, 3]
    assert len(assistant.retrieve("latent reasoning", k=7)) == 7


def test_tree_planner_answer_cites_it_with_the_number(assistant: Assistant) -> None:
    ans = assistant.ask("How much does Tree-Planner reduce token consumption?")
    assert not ans.refused and ans.engine == "extractive"
    assert "92.2%" in ans.text
    assert ans.citations[0].paper_id == TREE_PLANNER
    assert "92.2%" in ans.citations[0].quote


@pytest.mark.parametrize(
    ("question", "title_start", "fact"),
    [
        ("Which method lets a model reason in a continuous latent space?", "Training Large Language Models to Reason", "Coconut"),
        ("What is SequenceMatch?", "SequenceMatch", "SequenceMatch"),
        ("How can a model revert a sampled token during generation?", "SequenceMatch", "backspace"),
    ],
)
def test_answers_cite_the_right_paper(assistant: Assistant, question: str, title_start: str, fact: str) -> None:
    ans = assistant.ask(question)
    assert not ans.refused
    assert ans.citations[0].title.startswith(title_start)
    assert fact.lower() in ans.text.lower()


@pytest.mark.parametrize(
    "question",
    [
        "Who won the 2022 FIFA World Cup?",
        "What is the capital of France?",
        "How do you bake sourdough bread?",
        "What accuracy does AlphaReason-7B reach on GSM8K?",
    ],
)
def test_out_of_scope_questions_are_refused(assistant: Assistant, question: str) -> None:
    ans = assistant.ask(question)
    assert ans.refused
    assert ans.text == "The indexed papers do not answer this question."
    assert ans.citations == []
    assert ans.sources  # the closest matches are still offered


def test_every_quote_is_verbatim_and_spans_point_at_it(assistant: Assistant) -> None:
    for q in [
        "How much does Tree-Planner reduce token consumption?",
        "How do process reward models guide tree search for self-training?",
        "What makes backtracking useful for reasoning?",
    ]:
        ans = assistant.ask(q)
        for c in ans.citations:
            assert c.quote in c.abstract
            assert any(c.abstract[a:b] == c.quote for a, b in c.spans)
            for a, b in c.spans:
                assert c.abstract[a:b] in ans.text  # extractive sentences are verbatim
        markers = {int(m) for m in __import__("re").findall(r"\[(\d+)\]", ans.text)}
        assert markers == {c.n for c in ans.citations}


def test_bad_questions_are_usage_errors(assistant: Assistant) -> None:
    with pytest.raises(UsageError, match="empty"):
        assistant.ask("   ")
    with pytest.raises(UsageError, match="limit is 2000"):
        assistant.ask("why " * 600)
    with pytest.raises(UsageError, match="Unknown engine"):
        assistant.ask("What is SequenceMatch?", engine="gpt-9")
