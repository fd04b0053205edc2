"""Reclustering all faces of a collection: Chinese whispers over the same-person graph,
then each new cluster takes the id (and so the name) of the old person it overlaps most.

Pure logic over plain ids and distances, so the order faces were inserted in does not
matter: nodes are visited in sorted face-id order and ties go to the smallest label,
which makes the result a function of the graph alone.

Why Chinese whispers: it is what dlib's own face clustering example uses on this
embedding; it needs no number of clusters and, unlike connected components, one
spurious edge between two people does not fuse them (a node follows the majority of its
neighbours). It runs in O(edges) per pass on the k-nearest-neighbour graph the store
provides, so it scales to 100k faces where all-pairs methods cannot.
"""

from __future__ import annotations

from collections import Counter
from typing import Iterable, Mapping, Sequence

from imagesearch.faces.people import Assignment, People

PASSES = 20


def chinese_whispers(nodes: Sequence[str], edges: Iterable[tuple[str, str]], passes: int = PASSES) -> list[list[str]]:
    """Clusters (each a sorted list of node ids, largest first) of an undirected graph."""
    order = sorted(set(nodes))
    index = {node: i for i, node in enumerate(order)}
    neighbours: list[set[int]] = [set() for _ in order]
    for a, b in edges:
        if a != b and a in index and b in index:
            neighbours[index[a]].add(index[b])
            neighbours[index[b]].add(index[a])
    labels = list(range(len(order)))
    for _ in range(passes):
        changed = False
        for node in range(len(order)):
            if not neighbours[node]:
                continue
            votes = Counter(labels[other] for other in neighbours[node])
            best = max(votes.values())
            label = min(candidate for candidate, count in votes.items() if count == best)
            if label != labels[node]:
                labels[node], changed = label, True
        if not changed:
            break
    groups: dict[int, list[str]] = {}
    for node, label in enumerate(labels):
        groups.setdefault(label, []).append(order[node])
    return sorted(groups.values(), key=lambda group: (-len(group), group[0]))


def relabel(clusters: Sequence[Sequence[str]], people: People) -> dict[str, Assignment]:
    """Assignments for every face of `clusters`: pinned faces keep their person; each
    cluster, largest first, takes the person most of its faces had (if no larger cluster
    took it), else a new person."""
    taken: set[str] = set()
    result: dict[str, Assignment] = {}
    for cluster in clusters:
        current: Mapping[str, str | None] = {face: people.person_of(face) for face in cluster}
        votes = Counter(person for person in current.values() if person is not None and person not in taken)
        if votes:
            best = max(votes.values())
            person_id = min(p for p, count in votes.items() if count == best)
        else:
            person_id = people.new_person()
        taken.add(person_id)
        for face in cluster:
            old = people.assignments.get(face)
            result[face] = old if old is not None and old.pinned else Assignment(person_id)
    return result
