"""Benchmarks of the imagesearch server against the limits of the machine it runs on.

Run `python -m bench all --quick` (a few minutes, CI smoke test) or `python -m bench all`
(the full run behind docs/benchmarks.md). See bench/__main__.py for the sub-commands.
"""
