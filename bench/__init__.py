"""Benchmark scripts (run them as ``python bench/<name>.py``; each prints one JSON object last)."""
