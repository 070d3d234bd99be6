"""Follow-up questions: the deterministic rewrite and its use through the Assistant."""

import pytest

from rag import Assistant, UsageError
from rag.followup import condense_rule
from tests.conftest import TREE_PLANNER

PREV = [{"question": "How much does Tree-Planner reduce token consumption?", "answer": "...", "refused": False,
         "citations": [{"title": "Tree-Planner: Efficient Close-loop Task Planning with Large Language Models"}]}]


@pytest.mark.parametrize(
    ("question", "standalone"),
    [
        ("and how does it compare with SequenceMatch?", "How does Tree-Planner compare with SequenceMatch?"),
        ("What does this method cost?", "What does Tree-Planner cost?"),
        ("And its error corrections?", "Tree-Planner's error corrections?"),
        ("What about error corrections?", "What about error corrections in Tree-Planner?"),
        # standalone questions are left alone
        ("What is Coconut?", "What is Coconut?"),
        ("Which papers propose methods that reduce hallucination?", "Which papers propose methods that reduce hallucination?"),
    ],
)
def test_rule(question: str, standalone: str) -> None:
    assert condense_rule(question, PREV) == standalone
    assert condense_rule(question, []) == question


def test_titles_are_not_regex_templates() -> None:
    prev = [dict(PREV[0], citations=[{"title": r"\textsc{Foo}\q: a paper"}])]
    assert condense_rule("how does it work?", prev) == r"How does \textsc{Foo}\q work?"


def test_follow_up_through_the_assistant(assistant: Assistant) -> None:
    first = assistant.ask("How much does Tree-Planner reduce token consumption?")
    second = assistant.ask("and how much does it reduce error corrections?", history=[first])
    assert second.standalone == "How much does Tree-Planner reduce error corrections?"
    assert "40.5%" in second.text and second.citations[0].paper_id == TREE_PLANNER
    assert second.to_json_dict()["standalone_query"] == second.standalone


@pytest.mark.parametrize("history", ["not a list", [{"citations": ["x"]}], [{"citations": [{"no": "title"}]}], [3]])
def test_malformed_history_is_a_usage_error(assistant: Assistant, history: object) -> None:
    with pytest.raises(UsageError, match="history"):
        assistant.ask("and how does it work?", history=history)  # type: ignore[arg-type]


def test_comparison_follow_up_cites_both_papers(assistant: Assistant) -> None:
    first = assistant.ask("How much does Tree-Planner reduce token consumption?")
    second = assistant.ask("and how does it compare with SequenceMatch?", history=[first])
    assert second.standalone == "How does Tree-Planner compare with SequenceMatch?"
    titles = [c.title for c in second.citations]
    assert any(t.startswith("Tree-Planner") for t in titles) and any(t.startswith("SequenceMatch") for t in titles)
