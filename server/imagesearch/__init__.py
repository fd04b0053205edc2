"""imagesearch: a self-hosted reverse image search server."""

__version__ = "0.1.0"
