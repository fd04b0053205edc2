"""`imagesearch people ...`: the people of a collection created with --faces (docs/faces.md)."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from typing import TYPE_CHECKING

from imagesearch.commands.common import (
    add_client_options,
    add_collection_option,
    add_json_option,
    counted,
    open_client,
    print_json,
)

if TYPE_CHECKING:
    from imagesearch_client import Person

PEOPLE_HELP = """\
Faces found in a collection created with --faces are grouped into people as they are
inserted (a face joins the person of the nearest stored face within dlib's same-person
distance, 0.6, or starts a person). People are named by their IDs ("person-3"), as
`people list` prints them; a face by its item's ID and its position in the item's image
(0: the best detector score, as `detect-faces` numbers them).

Face data is biometric: `people delete` deletes a person's face vectors (its items stay);
deleting an item or the collection deletes their faces.

examples:
  imagesearch people list -c family --min-faces 1
  imagesearch people name -c family person-1 "Grandma"
  imagesearch people search -c family person-1
  imagesearch people merge -c family person-1 person-4 person-9
  imagesearch people move-face -c family "album/2019 07.jpg" 1 --to person-2
  imagesearch people delete -c family person-4
  imagesearch people recluster -c family
"""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Adds `people list|show|name|merge|move-face|delete|recluster|search`."""
    people = subparsers.add_parser(
        "people", help="list, name, merge, split and delete the people found in a collection's faces",
        description=PEOPLE_HELP, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = people.add_subparsers(dest="action", required=True)
    added = [_add_list(actions), _add_show(actions), _add_name(actions), _add_merge(actions),
             _add_move_face(actions), _add_delete(actions), _add_recluster(actions), _add_search(actions)]
    for action in added:
        add_collection_option(action)
        add_client_options(action)


def _add_list(actions: argparse._SubParsersAction) -> argparse.ArgumentParser:
    listing = actions.add_parser(
        "list", help="the people, most faces first (ListPeople)",
        description="List a collection's people, most faces first. Each line: person ID, face count, name "
        "('-' while unnamed), the item of its representative face (the largest) and that face's box.",
    )
    listing.add_argument("--min-faces", type=int, default=None,
                         help="only people with at least this many faces (default: the server's faces_min_listed, 2)")
    add_json_option(listing, "the people")
    listing.set_defaults(func=list_people)
    return listing


def _add_show(actions: argparse._SubParsersAction) -> argparse.ArgumentParser:
    show = actions.add_parser("show", help="one person (GetPerson)")
    show.add_argument("person", help="the person's ID, e.g. person-3")
    add_json_option(show, "the person")
    show.set_defaults(func=show_person)
    return show


def _add_name(actions: argparse._SubParsersAction) -> argparse.ArgumentParser:
    name = actions.add_parser("name", help="name a person, or unname it with \"\" (UpdatePerson)")
    name.add_argument("person", help="the person's ID, e.g. person-3")
    name.add_argument("display_name", metavar="NAME", help='its name, 1-100 characters ("" removes the name)')
    name.set_defaults(func=name_person)
    return name


def _add_merge(actions: argparse._SubParsersAction) -> argparse.ArgumentParser:
    merge = actions.add_parser(
        "merge", help="move every face of OTHER people into PERSON (MergePeople)",
        description="Merge people that are one person: the faces of each OTHER move into PERSON, which keeps its "
        "name (or takes the first other's); the others cease to exist. Reclusters keep merged faces together.",
    )
    merge.add_argument("person", help="the person that stays")
    merge.add_argument("others", nargs="+", metavar="OTHER", help="the people merged into it (1-100)")
    merge.set_defaults(func=merge_people)
    return merge


def _add_move_face(actions: argparse._SubParsersAction) -> argparse.ArgumentParser:
    move = actions.add_parser(
        "move-face", help="put one face with another person, or a new one of its own (UpdateFace)",
        description="Move face FACE (its position in the item's image, from 0) of item ITEM to --to PERSON, or "
        "without --to to a new person of its own. Reclusters leave a moved face where it was put.",
    )
    move.add_argument("item", metavar="ITEM", help="the item's ID")
    move.add_argument("face", metavar="FACE", type=int, help="the face's position in the item's image (0, 1, ...)")
    move.add_argument("--to", default=None, metavar="PERSON", help="the person to move it to (default: a new one)")
    move.set_defaults(func=move_face)
    return move


def _add_delete(actions: argparse._SubParsersAction) -> argparse.ArgumentParser:
    delete = actions.add_parser(
        "delete", help="delete a person and its face vectors; its items stay (DeletePerson)",
        description="Delete a person and every face vector of it (face data is biometric). The items whose "
        "images show it stay, without those faces; inserting an item again detects its faces again.",
    )
    delete.add_argument("person", help="the person's ID, e.g. person-3")
    delete.set_defaults(func=delete_person)
    return delete


def _add_recluster(actions: argparse._SubParsersAction) -> argparse.ArgumentParser:
    recluster = actions.add_parser(
        "recluster", help="regroup every face into people now (ReclusterPeople)",
        description="Regroup all faces from scratch (names, IDs and hand-placed faces are kept). The server also "
        "does this every faces_recluster_every new faces; the cost grows with the square of the faces (about 9 s "
        "at 10,000 faces), so raise --timeout for large collections.",
    )
    recluster.set_defaults(func=recluster_people)
    return recluster


def _add_search(actions: argparse._SubParsersAction) -> argparse.ArgumentParser:
    search = actions.add_parser(
        "search", help="the items showing a person (SearchItems with a person query)",
        description="The items whose images show PERSON, best first. Each line: rank, score (0..1: how close "
        "the item's face is to the person's mean face; above 0.5 is dlib's 'same person'), item ID, face box.",
    )
    search.add_argument("person", help="the person's ID, e.g. person-3")
    search.add_argument("-k", "--top-k", type=int, default=None, help="how many items, 1-1000 (default: 10)")
    search.add_argument("--min-score", type=float, default=None, help="only items scoring at least this (0..1)")
    add_json_option(search, "the hits")
    search.set_defaults(func=search_person)
    return search


def _line(person: "Person") -> str:
    face = person.representative
    box = tuple(round(v) for v in face.box)
    return f"{person.id}\t{person.face_count}\t{person.display_name or '-'}\t{face.item_id}\tface {face.index} {box}"


def list_people(ns: argparse.Namespace) -> int:
    with open_client(ns) as client:
        people = list(client.list_people(ns.collection, min_face_count=ns.min_faces))
    if ns.json:
        print_json([asdict(p) for p in people])
    else:
        for person in people:
            print(_line(person))
    return 0


def show_person(ns: argparse.Namespace) -> int:
    with open_client(ns) as client:
        person = client.get_person(ns.collection, ns.person)
    if ns.json:
        print_json(asdict(person))
    else:
        print(_line(person))
    return 0


def name_person(ns: argparse.Namespace) -> int:
    with open_client(ns) as client:
        print(_line(client.name_person(ns.collection, ns.person, ns.display_name)))
    return 0


def merge_people(ns: argparse.Namespace) -> int:
    with open_client(ns) as client:
        print(_line(client.merge_people(ns.collection, ns.person, ns.others)))
    return 0


def move_face(ns: argparse.Namespace) -> int:
    with open_client(ns) as client:
        face = client.move_face(ns.collection, ns.item, ns.face, ns.to)
    print(f"face {face.index} of {face.item_id} is now with {face.person_id}")
    return 0


def delete_person(ns: argparse.Namespace) -> int:
    with open_client(ns) as client:
        client.delete_person(ns.collection, ns.person)
    print(f"deleted {ns.person} and its face vectors")
    return 0


def recluster_people(ns: argparse.Namespace) -> int:
    with open_client(ns) as client:
        report = client.recluster_people(ns.collection)
    people = f"{report.people} {'person' if report.people == 1 else 'people'}"
    print(f"{counted(report.faces, 'face')} in {people}; {counted(report.changed, 'face')} changed person")
    return 0


def search_person(ns: argparse.Namespace) -> int:
    with open_client(ns) as client:
        hits = client.search_person(ns.collection, ns.person, top_k=ns.top_k, min_score=ns.min_score)
    if ns.json:
        print_json([asdict(h) for h in hits])
        return 0
    for h in hits:
        print(f"{h.rank:>4}  {h.score:.4f}  {h.id}  face {h.face_index}: box {tuple(round(v) for v in h.face_box)}"
              f"  {json.dumps(h.metadata)}")
    return 0
