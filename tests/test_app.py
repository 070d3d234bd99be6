"""The real Gradio app on a free 127.0.0.1 port, driven by gradio_client."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from gradio_client import Client

from rag import Assistant
from tests.conftest import TREE_PLANNER, serving

QUESTIONS = [
    ("How much does Tree-Planner reduce token consumption?", "92.2%"),
    ("Which method lets a model reason in a continuous latent space?", "Coconut"),
    ("How does Tree-Planner reduce error corrections?", "40.5%"),
    ("What is SequenceMatch?", "SequenceMatch"),
]


@pytest.fixture(scope="module")
def server(assistant: Assistant) -> Iterator[str]:
    with serving(assistant) as url:
        yield url


def test_ask_endpoint_returns_the_cli_json(server: str) -> None:
    result = Client(server, verbose=False).predict("How much does Tree-Planner reduce token consumption?", "auto", 0, api_name="/ask")
    assert set(result) >= {"question", "answer", "refused", "engine", "citations", "timings_ms"}
    assert "92.2%" in result["answer"] and result["citations"][0]["paper_id"] == TREE_PLANNER
    assert all(c["quote"] in c["abstract"] for c in result["citations"])


def test_eight_concurrent_callers(server: str) -> None:
    def call(i: int) -> tuple[str, dict]:  # type: ignore[type-arg]
        q, fact = QUESTIONS[i % len(QUESTIONS)]
        return fact, Client(server, verbose=False).predict(q, "extractive", 5, api_name="/ask")

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(call, range(8)))
    assert len(results) == 8
    for fact, r in results:
        assert not r["refused"] and fact in r["answer"], r["answer"]


def test_follow_up_through_the_chat_endpoint(server: str) -> None:
    c = Client(server, verbose=False)
    first = c.predict("How much does Tree-Planner reduce token consumption?", [], "auto", 0, api_name="/chat")
    second = c.predict("and how much does it reduce error corrections?", [first], "auto", 0, api_name="/chat")
    assert "Tree-Planner" in second["standalone_query"]
    assert "40.5%" in second["answer"]
    assert second["citations"][0]["paper_id"] == TREE_PLANNER


def test_bad_questions_get_a_message(server: str) -> None:
    c = Client(server, verbose=False)
    with pytest.raises(Exception, match="question is empty"):
        c.predict("   ", "auto", 0, api_name="/ask")
    with pytest.raises(Exception, match="limit is 2000"):
        c.predict("why " * 600, "auto", 0, api_name="/ask")


def test_host_header_is_validated(server: str) -> None:
    """DNS rebinding: a page on another name that resolves to 127.0.0.1 must not reach the API."""
    import urllib.error
    import urllib.request

    ok = urllib.request.urlopen(urllib.request.Request(server, headers={"Host": "localhost"}), timeout=10)
    assert ok.status == 200
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(urllib.request.Request(server, headers={"Host": "evil.example:7860"}), timeout=10)
    assert e.value.code == 400
