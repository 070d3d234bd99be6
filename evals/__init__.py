"""Benchmarks and (later) the regression eval; adapters over `rag.Assistant`."""
