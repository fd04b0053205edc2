"""Code generated from protos/imagesearch/v1 (`python -m imagesearch.protogen`); do not edit."""
