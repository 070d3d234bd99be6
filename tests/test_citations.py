"""The citation contract: markers parsed and checked against real retrieved sources.

The "LLM replies" here are hand-written strings; sources, embeddings and the store
are real.
"""

import pytest

from rag import Assistant
from rag.citations import check_answer, keep_known_markers, parse_markers
from tests.conftest import TREE_PLANNER


def test_parse_markers() -> None:
    assert parse_markers("a [1] b [2, 3] c [4-6] d [7][8]") == [1, 2, 3, 4, 5, 6, 7, 8]
    text, unknown = keep_known_markers("Claim one [1]. Claim two [7]. Both [1, 9].", 5)
    assert text == "Claim one [1]. Claim two. Both [1]."
    assert unknown == [7, 9]


@pytest.fixture(scope="module")
def tree_sources(assistant: Assistant):  # type: ignore[no-untyped-def]
    sources = assistant.retrieve("How much does Tree-Planner reduce token consumption and error corrections?", k=5)
    assert sources[0].paper.id == TREE_PLANNER
    return sources


def check(assistant: Assistant, sources, text: str):  # type: ignore[no-untyped-def]
    return check_answer(text, sources, assistant.index, assistant.embedder.encode, assistant.settings.scoring)


def test_correct_answer_passes_untouched(assistant: Assistant, tree_sources) -> None:  # type: ignore[no-untyped-def]
    segs, report, _ = check(assistant, tree_sources, "Tree-Planner reduces token consumption by 92.2% compared to the previously best-performing model [1].")
    assert (report.sentences, report.kept, report.dropped) == (1, 1, 0)
    assert segs[0].evidence[0][0] == 0
    a, b = segs[0].evidence[0][2:]
    assert "92.2%" in tree_sources[0].paper.abstract[a:b]


def test_wrong_number_is_dropped(assistant: Assistant, tree_sources) -> None:  # type: ignore[no-untyped-def]
    segs, report, notes = check(assistant, tree_sources, "Tree-Planner reduces token consumption by 85.7% compared to the previously best-performing model [1].")
    assert report.dropped == 1 and not segs
    assert any("85.7%" in n for n in notes)


def test_number_from_another_paper_is_dropped(assistant: Assistant, tree_sources) -> None:  # type: ignore[no-untyped-def]
    from rag.text import numbers

    mine = numbers(tree_sources[0].paper.abstract)
    foreign = sorted(
        (n.rstrip("%") for s in tree_sources[1:] for n in numbers(s.paper.abstract) if n.rstrip("%") + "%" not in mine),
        key=len,
    )
    assert foreign, "expected another retrieved abstract to report a number"
    segs, report, _ = check(assistant, tree_sources, f"Tree-Planner reduces token consumption by {foreign[-1]}% compared to the previously best-performing model [1].")
    assert report.dropped == 1 and not segs


def test_unsupported_claim_is_dropped(assistant: Assistant, tree_sources) -> None:  # type: ignore[no-untyped-def]
    segs, report, _ = check(assistant, tree_sources, "Tree-Planner was trained on ImageNet with a convolutional backbone [1].")
    assert report.dropped == 1 and not segs


def test_wrong_marker_is_recited(assistant: Assistant, tree_sources) -> None:  # type: ignore[no-untyped-def]
    segs, report, notes = check(assistant, tree_sources, "Token consumption is reduced by 92.2% compared to the previously best-performing model [2].")
    assert report.recited == 1
    assert segs[0].evidence[0][0] == 0
    assert any("re-cited" in n for n in notes)


def test_unknown_marker_removed_and_claim_checked(assistant: Assistant, tree_sources) -> None:  # type: ignore[no-untyped-def]
    segs, report, notes = check(assistant, tree_sources, "Error corrections decrease by 40.5% thanks to backtracking on the action tree [9].")
    assert any("[9]" in n for n in notes)
    assert report.recited == 1 and segs[0].evidence[0][0] == 0


@pytest.mark.parametrize(
    "question",
    [
        "How much does Tree-Planner reduce token consumption?",
        "What is SequenceMatch?",
        "Which papers study grokking?",
        "How does ReST-MCTS* collect process rewards?",
    ],
)
def test_extractive_answers_pass_the_check_untouched(assistant: Assistant, question: str) -> None:
    """The check is consistent with the extractive engine: verbatim quotes are all kept."""
    from rag.types import Paper, Source

    ans = assistant.ask(question)
    sources = [
        Source(rank=c.n, paper=Paper(id=c.paper_id, title=c.title, abstract=c.abstract), score=0)
        for c in ans.citations
    ]
    segs, report, notes = check(assistant, sources, ans.text)
    assert report.sentences >= 1 and report.kept == report.sentences, notes


@pytest.mark.parametrize(("claim", "evidence", "swapped"), [
    ("Prior methods mostly address model inaccuracy rather than the edge-of-reach problem.",
     "We reveal how prior methods are primarily addressing the edge-of-reach problem, rather than model-inaccuracy.", True),
    ("It predicts a superlinear trend in the time to move from memorization to generalization.",
     "We show a superlinear trend in the timescale for transitioning from generalization to memorization.", True),
    # the same contrast, reworded: not a swap
    ("The new greedy rules make more progress in each iteration than Gauss-Southwell selection.",
     "We propose new greedy block-selection strategies that guarantee more progress per iteration than the "
     "Gauss-Southwell rule; (ii) we explore how to implement the new rules.", False),
    ("Prior methods mainly tackle the edge-of-reach problem rather than model inaccuracy.",
     "We reveal how prior methods are primarily addressing the edge-of-reach problem, rather than model-inaccuracy.", False),
])
def test_a_contrast_with_its_sides_swapped_is_caught(claim: str, evidence: str, swapped: bool) -> None:
    from rag.citations import swapped_sides

    assert swapped_sides(claim, evidence) is swapped


@pytest.mark.parametrize(("claim", "evidence", "moved"), [
    # a figure given to the other name of the sentence
    ("Qwen2.5-32B-Instruct scores 57.0% on LiveCodeBench, just behind o1-preview.",
     "On LiveCodeBench, o1-preview scores 57.0% while Qwen2.5-32B-Instruct scores 59.1%.", True),
    ("SPaR-8B reaches 70.1%, ahead of GPT-4-Turbo at 68.3%.",
     "SPaR-8B reaches 68.3%, behind GPT-4-Turbo at 70.1%.", True),
    # the figure stays with its name, or the evidence gives it to no name: nothing moved
    ("Qwen2.5-32B-Instruct scores 59.1% on LiveCodeBench.",
     "On LiveCodeBench, o1-preview scores 57.0% while Qwen2.5-32B-Instruct scores 59.1%.", False),
    ("Tree-Planner reduces token consumption by 92.2%.",
     "As a result, token consumption is reduced by 92.2% compared to the previously best-performing model.", False),
    # the claim's name is not in the evidence: the other checks judge it
    ("MOREC reaches 95.4% of the expert score.", "CUBER reaches 95.4% of the expert score.", False),
])
def test_a_figure_moved_to_another_name_is_caught(claim: str, evidence: str, moved: bool) -> None:
    from rag.citations import moved_number

    assert moved_number(claim, evidence) is moved


@pytest.mark.parametrize(("claim", "evidence", "opposite"), [
    ("When the sampling budget is small, the loss of support exceeds the gain.",
     "When the sampling budget is large, the loss of support exceeds the gain.", True),
    ("DoC beats Decision Transformer in deterministic environments.",
     "DoC beats Decision Transformer in stochastic environments.", True),
    ("Tree-Planner lowers token consumption by 92.2%.",
     "Token consumption is reduced by 92.2% compared to the previously best-performing model.", False),
])
def test_a_condition_turned_into_its_opposite_is_a_feature(claim: str, evidence: str, opposite: bool) -> None:
    from rag.citations import claim_features
    from rag.evidence import SentenceHit

    hit = SentenceHit(0, "abstract", 0, len(evidence), evidence, cos=0.9, lex=0.9)
    assert bool(claim_features(claim, [hit], evidence)[-1]) is opposite  # the last feature: antonym
