"""Provenance graphs drawn as SVG on the server: a small layered (Sugiyama-style) layout.

    Graph(nodes, edges) --layout()--> columns by longest path from the sources, rows ordered by the
    mean row of each node's predecessors (two sweeps) --svg()--> <svg> with one <a> per node

Nodes are generic (``kind`` picks the colour and shape), so a workflow's steps are one more kind:
image -> step -> step -> result draws like image -> run -> result. Pure code: no Flask, no IO.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from markupsafe import Markup, escape

NODE_W, NODE_H, COL_GAP, ROW_GAP, PAD = 230, 46, 64, 18, 12
STYLE = {  # kind -> (fill, stroke, label)
    "image": ("#e8f0fe", "#1f5fbf", "image"),
    "index": ("#e8f0fe", "#1f5fbf", "image index"),
    "dataset": ("#e9f7ef", "#1e7b45", "dataset"),
    "run": ("#fff4e0", "#9a5b00", "run"),
    "step": ("#fff4e0", "#9a5b00", "step"),
    "result": ("#f3eafd", "#6b3fa0", "result"),
    "doi": ("#fdecef", "#a3213b", "DOI"),
    "hidden": ("#f0f0f0", "#6b6b6b", "not visible to you"),
}


@dataclass
class Node:
    id: str
    kind: str
    label: str
    href: str | None = None
    detail: str = ""
    current: bool = False
    col: int = 0
    row: float = 0.0


@dataclass
class Graph:
    nodes: dict[str, Node] = field(default_factory=dict)
    edges: list[tuple[str, str]] = field(default_factory=list)

    def add(self, node: Node) -> Node:
        return self.nodes.setdefault(node.id, node)

    def link(self, src: str, dst: str) -> None:
        if src in self.nodes and dst in self.nodes and (src, dst) not in self.edges and src != dst:
            self.edges.append((src, dst))

    # --- layout -----------------------------------------------------------------------------------
    def layout(self) -> None:
        preds: dict[str, list[str]] = {n: [] for n in self.nodes}
        for a, b in self.edges:
            preds[b].append(a)
        col: dict[str, int] = {}

        def depth(n: str, stack: frozenset[str]) -> int:
            if n in col:
                return col[n]
            if n in stack:  # a cycle (never in provenance, but never loop): break it here
                return 0
            d = max((depth(p, stack | {n}) + 1 for p in preds[n]), default=0)
            col[n] = d
            return d

        for n in self.nodes:
            depth(n, frozenset())
        columns: dict[int, list[str]] = {}
        for n in self.nodes:  # insertion order is the first ordering
            self.nodes[n].col = col[n]
            columns.setdefault(col[n], []).append(n)
        succs: dict[str, list[str]] = {n: [] for n in self.nodes}
        for a, b in self.edges:
            succs[a].append(b)
        for sweep in range(4):
            order = sorted(columns) if sweep % 2 == 0 else sorted(columns, reverse=True)
            for c in order:
                ids = columns[c]
                for i, n in enumerate(ids):
                    self.nodes[n].row = i
                near = preds if sweep % 2 == 0 else succs

                def key(n: str, near: dict[str, list[str]] = near) -> float:
                    rows = [self.nodes[p].row for p in near[n]]
                    return sum(rows) / len(rows) if rows else self.nodes[n].row

                ids.sort(key=key)
                for i, n in enumerate(ids):
                    self.nodes[n].row = i
        tallest = max((len(v) for v in columns.values()), default=1)
        for ids in columns.values():
            offset = (tallest - len(ids)) / 2  # centre short columns
            for i, n in enumerate(ids):
                self.nodes[n].row = i + offset

    # --- drawing ------------------------------------------------------------------------------------
    def svg(self, title: str = "Provenance graph") -> Markup:
        self.layout()
        cols = max((n.col for n in self.nodes.values()), default=0) + 1
        rows = max((n.row for n in self.nodes.values()), default=0) + 1
        width = int(PAD * 2 + cols * NODE_W + (cols - 1) * COL_GAP)
        height = int(PAD * 2 + rows * NODE_H + (rows - 1) * ROW_GAP) + 4

        def xy(n: Node) -> tuple[float, float]:
            return PAD + n.col * (NODE_W + COL_GAP), PAD + n.row * (NODE_H + ROW_GAP)

        out = [
            (
                '<svg xmlns="http://www.w3.org/2000/svg" class="graph" role="group" '
                'aria-labelledby="graph-title" '
                f'viewBox="0 0 {width} {height}" width="{width}" height="{height}">'
            ),
            f'<title id="graph-title">{escape(title)}</title>',
            (
                '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" '
                'markerWidth="7" markerHeight="7" '
                'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#5b6577"/></marker></defs>'
            ),
        ]
        for a, b in self.edges:
            na, nb = self.nodes[a], self.nodes[b]
            (x1, y1), (x2, y2) = xy(na), xy(nb)
            x1, y1, x2, y2 = x1 + NODE_W, y1 + NODE_H / 2, x2 - 2, y2 + NODE_H / 2
            mx = (x1 + x2) / 2
            out.append(
                f'<path class="edge" d="M{x1:.0f},{y1:.0f} C{mx:.0f},{y1:.0f} {mx:.0f},{y2:.0f} '
                f'{x2:.0f},{y2:.0f}" fill="none" stroke="#5b6577" stroke-width="1.4" '
                f'marker-end="url(#arrow)"/>'
            )
        for n in self.nodes.values():
            x, y = xy(n)
            fill, stroke, kind_label = STYLE.get(n.kind, STYLE["hidden"])
            label = n.label if len(n.label) <= 28 else n.label[:27] + "\u2026"
            dash = ' stroke-dasharray="4 3"' if n.kind == "hidden" else ""
            name = f"{kind_label}: {n.label}" + (f" ({n.detail})" if n.detail else "")
            shape = (
                f'<rect x="{x:.0f}" y="{y:.0f}" width="{NODE_W}" height="{NODE_H}" '
                f'rx="{14 if n.kind in ("run", "step") else 4}" fill="{fill}" stroke="{stroke}" '
                f'stroke-width="{3 if n.current else 1.5}"{dash}/>'
                # one text element, so the link's visible text is "<kind> <label>", its accessible name
                f'<text x="{x + 10:.0f}" y="{y + 18:.0f}" font-size="11" fill="#3b4352">{escape(kind_label)}'
                f' <tspan x="{x + 10:.0f}" y="{y + 35:.0f}" font-size="13" fill="#1d2433" '
                f'font-weight="{600 if n.current else 400}">{escape(label)}</tspan></text>'
            )
            if n.href:
                out.append(
                    f'<a class="node" href="{escape(n.href)}" '
                    f'aria-label="{escape(kind_label)} {escape(label)}" '
                    f'data-detail="{escape(name)}">{shape}</a>'
                )
            else:
                out.append(f'<g class="node" role="img" aria-label="{escape(name)}">{shape}</g>')
        out.append("</svg>")
        return Markup("".join(out))
