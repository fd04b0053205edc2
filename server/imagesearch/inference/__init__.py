"""Talking to the inference server: turning image bytes into embedding vectors."""
