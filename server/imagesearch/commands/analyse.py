"""`imagesearch read-text` and `imagesearch detect-faces`: what the OCR and face models see
in an image, which is not stored."""

from __future__ import annotations

import argparse
from dataclasses import asdict

from imagesearch.commands.common import (
    add_client_options,
    add_image_source,
    add_json_option,
    image_source,
    open_client,
    print_json,
)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Adds `read-text` and `detect-faces`."""
    read = subparsers.add_parser(
        "read-text", help="the lines of text in an image file or --url (OCR; nothing is stored)",
        description="Read the text in an image (ReadImageText). Prints one line per text line: confidence, text, "
        "and its box's corners.",
    )
    add_image_source(read, "the image file")
    add_json_option(read, "the lines")
    add_client_options(read)
    read.set_defaults(func=read_text)
    detect = subparsers.add_parser(
        "detect-faces", help="the faces in an image file or --url (nothing is stored)",
        description="Find the faces in an image (DetectFaces). Prints one line per face, best first: its index (for "
        "`search --face-index`), confidence and box (left, top, right, bottom).",
    )
    add_image_source(detect, "the image file")
    add_json_option(detect, "the faces")
    add_client_options(detect)
    detect.set_defaults(func=detect_faces)


def read_text(ns: argparse.Namespace) -> int:
    image, url = image_source(ns)
    with open_client(ns) as client:
        lines = client.read_image_text(image, image_url=url)
    if ns.json:
        print_json([asdict(line) for line in lines])
    for line in [] if ns.json else lines:
        print(f"{line.confidence:.3f}\t{line.text}\t{[tuple(round(v) for v in p) for p in line.box]}")
    return 0


def detect_faces(ns: argparse.Namespace) -> int:
    image, url = image_source(ns)
    with open_client(ns) as client:
        faces = client.detect_faces(image, image_url=url)
    if ns.json:
        print_json([asdict(face) for face in faces])
    for index, face in [] if ns.json else enumerate(faces):
        print(f"{index}\t{face.confidence:.3f}\t{tuple(round(v) for v in face.box)}")
    return 0
