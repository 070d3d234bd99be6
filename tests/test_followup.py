"""Follow-up questions: rewritten only when they depend on the previous turn (table-driven,
with counter-examples), and used through the Assistant."""

import pytest

from rag import Assistant, UsageError
from rag.followup import condense_rule, is_followup
from tests.conftest import TREE_PLANNER

TREE = "Tree-Planner: Efficient Close-loop Task Planning with Large Language Models"
PREV = [{"question": "How much does Tree-Planner reduce token consumption?", "answer": "...", "refused": False,
         "citations": [{"title": TREE, "abstract": "We propose Tree-Planner ..."}]}]
SPEC = [{"question": "What does the Speculative Thinking framework do?", "answer": "...", "refused": False,
         "citations": [{"title": "Speculative Thinking: Enhancing Small-Model Reasoning with Large Model Guidance at "
                                 "Inference Time", "abstract": "We propose Speculative Thinking, a framework ..."}]}]
COCONUT = [{"question": "What is Coconut?", "answer": "...", "refused": False,
            "citations": [{"title": "Training Large Language Models to Reason in a Continuous Latent Space",
                           "abstract": "We introduce a new paradigm Coconut (Chain of Continuous Thought)."}]}]


@pytest.mark.parametrize(
    ("history", "question", "standalone"),
    [
        (PREV, "and how does it compare with SequenceMatch?", "How does Tree-Planner compare with SequenceMatch?"),
        (PREV, "What does this method cost?", "What does Tree-Planner cost?"),
        (PREV, "And its error corrections?", "Tree-Planner's error corrections?"),
        (PREV, "What about error corrections?", "How much does Tree-Planner reduce token consumption, error corrections?"),
        (PREV, "What about SequenceMatch?", "How much does SequenceMatch reduce token consumption?"),
        (PREV, "Which solver was it built on?", "Which solver was Tree-Planner built on?"),
        (PREV, "How does that approach handle errors?", "How does Tree-Planner handle errors?"),
        (SPEC, "How much does it shorten the average output length?",
         "How much does Speculative Thinking shorten the average output length?"),
        (COCONUT, "How does it compare with chain-of-thought?", "How does Coconut compare with chain-of-thought?"),
        # questions with their own subject are left alone
        (PREV, "What is Coconut?", "What is Coconut?"),
        (PREV, "What does SPaR do and how is it trained?", "What does SPaR do and how is it trained?"),
        (PREV, "Which papers propose methods that reduce hallucination?", "Which papers propose methods that reduce hallucination?"),
        (PREV, "What does the model learn from demonstrations?", "What does the model learn from demonstrations?"),
        (PREV, "Which method feeds the last hidden state back into the model as the next input embedding?",
         "Which method feeds the last hidden state back into the model as the next input embedding?"),
        (PREV, "On which benchmarks does the MOREC method improve the state of the art?",
         "On which benchmarks does the MOREC method improve the state of the art?"),
        (PREV, "What is backtracking?", "What is backtracking?"),
        (PREV, "How do diffusion models generate images?", "How do diffusion models generate images?"),
    ],
)
def test_rule(history: list, question: str, standalone: str) -> None:  # type: ignore[type-arg]
    assert condense_rule(question, history) == standalone
    assert condense_rule(question, []) == question


@pytest.mark.parametrize(("question", "dependent"), [
    ("How does it compare with LR^2Bench in size?", True),
    ("Up to what share of its problems can the best agent solve from scratch?", True),
    ("What method do they propose to fix it?", True),
    ("And on MATH?", True),
    ("What does SPaR do and how is it trained?", False),
    ("What dataset was created to train the NeuroBack model?", False),
    ("What does the method that uses a backspace action do?", False),
    ("Is it true that grokking needs weight decay?", True),
])
def test_is_followup(question: str, dependent: bool) -> None:
    assert is_followup(question) is dependent


def test_titles_are_not_regex_templates() -> None:
    prev = [dict(PREV[0], citations=[{"title": r"\textsc{Foo}\q: a paper"}])]
    assert condense_rule("how does it work?", prev) == r"How does \textsc{Foo}\q work?"


def test_follow_up_through_the_assistant(assistant: Assistant) -> None:
    first = assistant.ask("How much does Tree-Planner reduce token consumption?")
    second = assistant.ask("and how much does it reduce error corrections?", history=[first])
    assert second.standalone == "How much does Tree-Planner reduce error corrections?"
    assert "40.5%" in second.text and second.citations[0].paper_id == TREE_PLANNER
    assert second.to_json_dict()["standalone_query"] == second.standalone
    third = assistant.ask("Which method feeds the last hidden state back into the model as the next input embedding?",
                          history=[first, second])
    assert third.standalone is None and "Coconut" in third.text or "continuous thought" in third.text


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
