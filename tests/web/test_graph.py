"""The server-side provenance graph layout (pure code): columns follow the arrows, rows do not
collide, every linked node is an <a>, and workflow steps are just more nodes."""

from __future__ import annotations

import re

from sciregistry.api.web.graph import Graph, Node


def chain_with_steps() -> Graph:
    g = Graph()
    g.add(Node("img", "image", "pipeline", "/r/lab/pipeline/-/manifest/sha256:1"))
    g.add(Node("data", "dataset", "reads", "/r/lab/reads/-/manifest/sha256:2"))
    g.add(Node("s1", "step", "align", "/runs/1#step-1"))
    g.add(Node("s2", "step", "count", "/runs/1#step-2"))
    g.add(Node("res", "result", "counts", "/r/lab/results/-/manifest/sha256:3"))
    g.add(Node("doi", "doi", "10.5072/abcd-efgh", "/doi/10.5072/abcd-efgh"))
    g.add(Node("secret", "hidden", "hidden"))
    for a, b in [
        ("img", "s1"),
        ("data", "s1"),
        ("s1", "s2"),
        ("img", "s2"),
        ("s2", "res"),
        ("res", "doi"),
        ("secret", "s2"),
    ]:
        g.link(a, b)
    return g


def test_columns_follow_the_arrows_and_rows_do_not_collide() -> None:
    g = chain_with_steps()
    g.layout()
    cols = {n.id: n.col for n in g.nodes.values()}
    assert cols == {"img": 0, "data": 0, "secret": 0, "s1": 1, "s2": 2, "res": 3, "doi": 4}
    for a, b in g.edges:
        assert g.nodes[a].col < g.nodes[b].col
    places = [(n.col, n.row) for n in g.nodes.values()]
    assert len(places) == len(set(places))


def test_svg_links_every_visible_node_and_hides_the_rest() -> None:
    svg = str(chain_with_steps().svg("Provenance"))
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    hrefs = re.findall(r'<a class="node" href="([^"]+)"', svg)
    assert sorted(hrefs) == sorted(
        [
            "/r/lab/pipeline/-/manifest/sha256:1",
            "/r/lab/reads/-/manifest/sha256:2",
            "/runs/1#step-1",
            "/runs/1#step-2",
            "/r/lab/results/-/manifest/sha256:3",
            "/doi/10.5072/abcd-efgh",
        ]
    )
    assert svg.count('<g class="node" role="img"') == 1 and "not visible to you" in svg
    assert svg.count('class="edge"') == 7


def test_labels_are_escaped_and_cycles_do_not_loop() -> None:
    g = Graph()
    g.add(Node("a", "run", '<script>alert("x")</script>', "/runs/1?a=1&b=2"))
    g.add(Node("b", "result", "b"))
    g.link("a", "b")
    g.link("b", "a")  # never in provenance; must still terminate
    svg = str(g.svg())
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    assert 'href="/runs/1?a=1&amp;b=2"' in svg
