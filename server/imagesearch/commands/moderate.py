"""`imagesearch moderate`: the NSFW score of an image, which is not stored."""

from __future__ import annotations

import argparse

from imagesearch.commands.common import add_client_options, add_image_source, image_source, open_client


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Adds `moderate`."""
    moderate = subparsers.add_parser(
        "moderate", help="NSFW score of an image file or --url (nothing is stored)",
        description="Score an image with the NSFW model (ModerateImage). Prints the score (0..1) and the label at "
        "the server's threshold.",
    )
    add_image_source(moderate, "the image file")
    add_client_options(moderate)
    moderate.set_defaults(func=run)


def run(ns: argparse.Namespace) -> int:
    image, url = image_source(ns)
    with open_client(ns) as client:
        result = client.moderate_image(image, image_url=url)
    label = "NSFW" if result.nsfw else "safe"
    print(f"{result.nsfw_score:.4f}\t{label} (threshold {result.threshold:g})")
    return 0
