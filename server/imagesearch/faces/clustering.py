"""Reclustering all faces of a collection: Chinese whispers over the same-person graph,
then each new cluster takes the id (and so the name) of the old person it overlaps most.

Pure logic over plain ids and distances, so the order faces were inserted in does not
matter: the visiting order is drawn with a fixed seed over the sorted face ids, which
makes the result a function of the graph alone.

Why Chinese whispers: it is what dlib's own face clustering example uses on this
embedding; it needs no number of clusters and, unlike connected components, one
spurious edge between two people does not fuse them (a node follows the majority of its
neighbours). It runs in O(edges) per pass on the k-nearest-neighbour graph the store
provides, so it scales to 100k faces where all-pairs methods cannot.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence

from imagesearch.faces.people import Assignment, People

PASSES = 20
SEED = 0


def chinese_whispers(
    nodes: Sequence[str], edges: Iterable[tuple[str, str] | tuple[str, str, float]], passes: int = PASSES
) -> list[list[str]]:
    """Clusters (each a sorted list of node ids, largest first) of an undirected graph.

    Each node in turn takes the label with the largest summed edge weight among its
    neighbours (weight 1 when an edge has none; graph.py weighs closer pairs more, so a
    spurious edge near the threshold counts little). The visiting order and ties come
    from a fixed-seed generator over the sorted nodes, as in dlib's implementation: a
    fixed order with smallest-label ties lets one label flood across a bridge.
    """
    order = sorted(set(nodes))
    index = {node: i for i, node in enumerate(order)}
    neighbours: list[dict[int, float]] = [{} for _ in order]
    for edge in edges:
        a, b = edge[0], edge[1]
        weight = float(edge[2]) if len(edge) > 2 else 1.0
        if a != b and a in index and b in index:
            i, j = index[a], index[b]
            neighbours[i][j] = neighbours[j][i] = max(weight, neighbours[i].get(j, 0.0))
    labels = list(range(len(order)))
    rng = random.Random(SEED)
    for _ in range(passes):
        changed = False
        for node in rng.sample(range(len(order)), len(order)):
            if not neighbours[node]:
                continue
            votes: dict[int, float] = defaultdict(float)
            for other, weight in neighbours[node].items():
                votes[labels[other]] += weight
            best = max(votes.values())
            label = rng.choice(sorted(candidate for candidate, total in votes.items() if total >= best - 1e-12))
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
