"""Sub-commands of `imagesearch` that operate on a data dir (cli.py wires them in)."""
