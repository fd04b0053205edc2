"""Searching images by the text they show: OCR lines, text folding, matching, the n-gram index."""
