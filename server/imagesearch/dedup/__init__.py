"""Duplicate detection: content fingerprints and the near-duplicate rule."""
