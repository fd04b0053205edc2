"""Fetching images from URLs for inserts and searches, safely (see fetcher.py)."""
