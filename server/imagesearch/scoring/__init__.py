"""Calibrated search scores: a hit's cosine mapped per model space to the documented bands
(>= 0.9 near-duplicate, 0.7-0.9 clearly related, < 0.5 noise), raised into the
near-duplicate band by copy evidence for the top hits (docs/quality.md, "Scores")."""
