"""Fetching papers over the network (optional): the Hugging Face Daily Papers feed for a date,
and arXiv records by id. Everything else in the package works offline.

Polite by design: a timeout, a few retries with exponential backoff, a descriptive
User-Agent, and every raw response cached in the data dir (`fetch-cache/`), so asking again
reads the cache instead of the network. A host that cannot be reached gives one line naming
it and saying how to ingest a downloaded file instead. Responses are turned into files the
readers understand (Daily Papers JSON; JSONL for arXiv) and then ingested like any file.
Not here: parsing formats (corpus/), storing (ingest.py).
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from .errors import UsageError
from .settings import Settings

USER_AGENT = "paper-rag/0.1 (offline-first research-paper QA; one request per user action)"
_ARXIV_ID = re.compile(r"^(\d{4}\.\d{4,5}|[a-z-]+(\.[A-Z]{2})?/\d{7})(v\d+)?$")


class FetchError(UsageError):
    """The network source could not be reached or answered badly."""

    exit_code = 1


def _get(url: str, settings: Settings, cache: Path, refresh: bool) -> bytes:
    """The body at `url`: from the cache, or fetched (with retries) and cached."""
    if cache.is_file() and not refresh:
        return cache.read_bytes()
    host = urllib.parse.urlparse(url).netloc
    last = ""
    for attempt in range(settings.fetch_retries + 1):
        try:
            req = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, "Accept": "*/*"})
            with urllib.request.urlopen(req, timeout=settings.fetch_timeout) as resp:
                body: bytes = resp.read()
            cache.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache.with_suffix(cache.suffix + ".partial")
            tmp.write_bytes(body)
            tmp.replace(cache)
            return body
        except urllib.error.HTTPError as e:
            if e.code < 500 and e.code != 429:
                raise FetchError(f"{host} answered {e.code} {e.reason} for {url}; check the date or id.") from None
            last = f"{e.code} {e.reason}"
        except (urllib.error.URLError, TimeoutError, OSError) as e:
            last = str(getattr(e, "reason", e))
        if attempt < settings.fetch_retries:
            time.sleep(settings.fetch_backoff * 2**attempt)
    raise FetchError(f"Could not reach {host} ({last}). Without a network, download the file elsewhere and add it "
                     "with `rag ingest FILE` (Daily Papers JSON, arXiv JSONL, BibTeX or PDF).")


def daily(date: str, settings: Settings, refresh: bool = False) -> Path:
    """The Daily Papers of `date` (YYYY-MM-DD) as a JSON file the readers understand."""
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", date):
        raise UsageError(f"Bad date {date!r}: write it as YYYY-MM-DD, e.g. 2024-08-19.")
    url = f"{settings.hf_base_url.rstrip('/')}/api/daily_papers?date={date}"
    cache = Path(settings.data_dir) / "fetch-cache" / f"daily-{date}.json"
    body = _get(url, settings, cache, refresh)
    try:
        data = json.loads(body)
    except json.JSONDecodeError:
        cache.unlink(missing_ok=True)
        raise FetchError(f"{url} did not return JSON; try again later.") from None
    if not isinstance(data, list):
        cache.unlink(missing_ok=True)
        raise FetchError(f"{url} returned {type(data).__name__}, expected a list of papers.")
    return cache


def arxiv(ids: list[str], settings: Settings, refresh: bool = False) -> Path:
    """arXiv records by id as a JSONL file the readers understand."""
    import feedparser

    bad = [i for i in ids if not _ARXIV_ID.match(i)]
    if bad or not ids:
        raise UsageError(f"Bad arXiv id(s) {', '.join(bad) or '(none)'}: expected ids like 2312.06585 or hep-th/9901001.")
    key = hashlib.sha1(",".join(sorted(ids)).encode()).hexdigest()[:12]
    url = f"{settings.arxiv_base_url.rstrip('/')}/api/query?id_list={','.join(ids)}&max_results={len(ids)}"
    raw = _get(url, settings, Path(settings.data_dir) / "fetch-cache" / f"arxiv-{key}.atom", refresh)
    feed = feedparser.parse(raw)
    rows: list[dict[str, object]] = []
    for e in feed.entries:
        title, summary = " ".join(str(e.get("title", "")).split()), " ".join(str(e.get("summary", "")).split())
        if not title or not summary or title.lower() == "error":
            continue
        aid = str(e.get("id", "")).rsplit("/abs/", 1)[-1]
        base = re.sub(r"v\d+$", "", str(aid))
        rows.append({"id": f"arxiv:{base}", "title": title, "abstract": summary,
                     "authors": [a.get("name") for a in e.get("authors", []) if a.get("name")],
                     "year": int(str(e.get("published", ""))[:4]) if str(e.get("published", ""))[:4].isdigit() else None,
                     "url": f"https://arxiv.org/abs/{base}"})
    found = {str(r["id"]).split(":", 1)[1] for r in rows}
    missing = [i for i in ids if re.sub(r"v\d+$", "", i) not in found]
    if missing:
        raise FetchError(f"arXiv has no record for {', '.join(missing)}; check the id(s).")
    out = Path(settings.data_dir) / "fetch-cache" / f"arxiv-{key}.jsonl"
    out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return out
