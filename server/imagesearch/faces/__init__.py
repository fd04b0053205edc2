"""Faces: scores, people (incremental grouping, reclustering, edits) and their orchestration."""
