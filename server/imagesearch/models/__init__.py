"""Embedding model artefacts: exporting weights to ONNX and filling the Triton model repository."""
