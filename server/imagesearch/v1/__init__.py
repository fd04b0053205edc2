"""Generated gRPC code for imagesearch.v1 (python -m imagesearch.protogen); do not edit."""
