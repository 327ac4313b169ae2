"""Layout of a workflow graph for server-rendered SVG: layers left to right.

A node's column is the length of the longest path to it from the trigger. A loop's body is
drawn in a frame below its loop, laid out the same way inside the frame. Plain geometry in,
plain geometry out; templates draw it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

NODE_W, NODE_H = 184, 64
GAP_X, GAP_Y = 44, 24
PAD = 16
# Inside a loop frame: the padding round its body and the height of its title.
FRAME_PAD, FRAME_HEAD = 12, 24
LANE_GAP = 18  # from the lowest node of a region to the lane that edges round nodes use

# Labels are measured, not counted: 12.5px semibold text from x=50; the first line stops
# short of the status icon in the top right corner, the second may run on under it.
LABEL_PX = 12.5
LINE_1_PX, LINE_2_PX = NODE_W - 50 - 30, NODE_W - 50 - 12
MAX_LINES = 2

TYPE_ICONS = {
    "webhook_trigger": "⚡",
    "transform": "ƒ",
    "xml_json_transform": "⟨⟩",
    "http_call": "⇄",
    "webhook": "↗",
    "branch": "◇",
    "delay": "",  # drawn as an SVG clock in graph.html: Debian's Chromium has no emoji font
    "loop": "↻",
    "terminate": "■",
}
TYPE_NAMES = {
    "webhook_trigger": "Webhook trigger",
    "transform": "Transform",
    "xml_json_transform": "XML ⇄ JSON",
    "http_call": "HTTP call",
    "webhook": "Webhook",
    "branch": "Branch",
    "delay": "Delay",
    "loop": "Loop",
    "terminate": "Terminate",
}
# Each status is drawn as a shape as well as a colour, and named in words (title, aria-label).
STATUS_ICONS = {
    "succeeded": "M-3.6 0.2 L-1.1 2.7 L3.6 -2.4",
    "mocked": "M-3.6 3 V-3 L0 0.8 L3.6 -3 V3",
    "failed": "M-3 -3 L3 3 M3 -3 L-3 3",
    "skipped": "M-3.6 0 H3.6",
    "cancelled": "M-2.6 -2.6 H2.6 V2.6 H-2.6 Z",
    "running": "M0 -3.6 A3.6 3.6 0 1 1 -3.6 0",
    "pending": "",
    "next": "M-1.6 -3 V3 M1.6 -3 V3",
}
STATUS_WORDS = {
    "succeeded": "succeeded",
    "mocked": "succeeded (mocked)",
    "failed": "failed",
    "skipped": "skipped",
    "cancelled": "cancelled",
    "running": "running",
    "pending": "pending",
}
_PASSED = ("succeeded", "mocked")
_NARROW = set("iljtfrI.,;:'!|()[]{} `\"-")
_WIDE = set("mwMW@%")


class StepFacts(Protocol):
    """What the graph shows of a recorded step besides its status (a StepRun has these)."""

    @property
    def node_id(self) -> str: ...
    @property
    def duration_ms(self) -> int | None: ...
    @property
    def branch(self) -> bool | None: ...


@dataclass
class LaidNode:
    id: str
    label: str
    type: str
    icon: str
    type_name: str
    x: int
    y: int
    in_loop: bool
    status: str = ""
    parent: str = ""
    lines: list[str] = field(default_factory=list)
    duration: str = ""
    is_next: bool = False

    @property
    def cx(self) -> int:
        return self.x + NODE_W // 2

    @property
    def short_label(self) -> str:
        return " ".join(self.lines)

    @property
    def label_ys(self) -> list[tuple[str, int]]:
        """(line, baseline) pairs: one line sits lower so the text stays centred."""
        top = 22 if len(self.lines) > 1 else 27
        return [(line, top + 15 * index) for index, line in enumerate(self.lines)]

    @property
    def type_y(self) -> int:
        return 53 if len(self.lines) > 1 else 45

    @property
    def status_icon(self) -> str:
        key = "next" if self.is_next and self.status in ("", "pending") else self.status
        return STATUS_ICONS.get(key, "")

    @property
    def status_key(self) -> str:
        """The class of the status badge: the paused-before step has its own."""
        return "next" if self.is_next and self.status in ("", "pending") else self.status

    @property
    def status_text(self) -> str:
        words = STATUS_WORDS.get(self.status, self.status)
        if self.is_next:
            words = f"{words or 'pending'}, up next"
        return words

    @property
    def description(self) -> str:
        """Name, type, status and duration in words: the node's title and aria-label."""
        parts = [self.label, self.type_name]
        if self.status_text:
            parts.append(self.status_text)
        if self.duration:
            parts.append(self.duration)
        return ", ".join(parts)


@dataclass
class LaidEdge:
    path: str
    label: str
    label_x: int
    label_y: int
    dashed: bool
    source: str
    target: str
    bypass: bool = False
    taken: bool = False


@dataclass
class LaidFrame:
    """The box round a loop's body."""

    loop_id: str
    label: str
    x: int
    y: int
    width: int
    height: int
    title: str = ""
    title_x: int = 0
    status: str = ""

    @property
    def title_y(self) -> int:
        return self.y + 16

    def contains(self, node: LaidNode) -> bool:
        return (
            self.x <= node.x
            and node.x + NODE_W <= self.x + self.width
            and self.y <= node.y
            and node.y + NODE_H <= self.y + self.height
        )


@dataclass
class GraphLayout:
    nodes: list[LaidNode]
    edges: list[LaidEdge]
    width: int
    height: int
    frames: list[LaidFrame] = field(default_factory=list)
    node_w: int = NODE_W
    node_h: int = NODE_H

    @property
    def fits(self) -> bool:
        """Narrow enough to scale into the page and stay readable; wider graphs scroll."""
        return self.width <= 1600

    @property
    def has_run(self) -> bool:
        return any(node.status for node in self.nodes)


def text_width(text: str, size: float = LABEL_PX) -> float:
    """Roughly how wide `text` is drawn in the console's sans-serif, in pixels."""
    # On the wide side (DejaVu Sans, Debian's default): a label that is too long for its
    # line would run under the status icon, one that is a little short only wraps sooner.
    em = 0.0
    for char in text:
        if char in _NARROW:
            em += 0.34
        elif char in _WIDE:
            em += 0.92
        elif char.isupper():
            em += 0.72
        else:
            em += 0.62
    return em * size


def wrap_label(text: str, widths: Sequence[float] = (LINE_1_PX, LINE_2_PX)) -> list[str]:
    """Words into at most len(widths) lines that fit; an ellipsis ends what does not fit."""
    words = text.split()
    lines: list[str] = []
    current = ""
    index = 0
    while index < len(words) and len(lines) < len(widths):
        limit = widths[len(lines)]
        word = words[index]
        candidate = f"{current} {word}" if current else word
        if text_width(candidate) <= limit:
            current = candidate
            index += 1
        elif current:
            lines.append(current)
            current = ""
        else:  # one word longer than a line: break it
            cut = _fitting_prefix(word, limit)
            lines.append(word[:cut])
            words[index] = word[cut:]
    if current and len(lines) < len(widths):
        lines.append(current)
        current = ""
    if index < len(words) or current:
        last = lines[-1] if lines else ""
        limit = widths[len(lines) - 1] if lines else widths[0]
        while last and text_width(last + "…") > limit:
            last = last[:-1].rstrip()
        lines[-1:] = [last + "…"]
    return lines or [""]


def _fitting_prefix(word: str, limit: float) -> int:
    cut = len(word)
    while cut > 1 and text_width(word[:cut]) > limit:
        cut -= 1
    return cut


def format_duration(ms: int | None) -> str:
    if ms is None:
        return ""
    if ms < 1000:
        return f"{ms} ms"
    if ms < 60_000:
        return f"{ms / 1000:.1f} s"
    return f"{ms // 60_000} min {ms % 60_000 // 1000} s"


def _columns(ids: Sequence[str], links: Iterable[tuple[str, str]]) -> dict[str, int]:
    """Longest path from a source, by relaxation; validated graphs are acyclic."""
    members = set(ids)
    inner = [(s, t) for s, t in links if s in members and t in members]
    column = dict.fromkeys(ids, 0)
    for _ in range(len(ids)):
        changed = False
        for source, target in inner:
            if column[target] < column[source] + 1:
                column[target] = column[source] + 1
                changed = True
        if not changed:
            break
    return column


def _grid(ids: Sequence[str], column: dict[str, int]) -> dict[str, tuple[int, int]]:
    """(column, row) of each node: rows fill in the order of `nodes`."""
    rows: dict[int, int] = {}
    cells: dict[str, tuple[int, int]] = {}
    for node_id in ids:
        col = column[node_id]
        cells[node_id] = (col, rows.get(col, 0))
        rows[col] = rows.get(col, 0) + 1
    return cells


def layout(
    definition: dict[str, Any],
    statuses: Mapping[str, str] | None = None,
    steps: Iterable[StepFacts] = (),
    next_node: str = "",
) -> GraphLayout:
    """Lay out a (validated) definition. On a run, `statuses` colours nodes by node id and
    `steps` (the run's top-level step records) give durations and branch decisions."""
    statuses = statuses or {}
    facts = {step.node_id: step for step in steps}
    nodes = [n for n in definition.get("nodes", []) if isinstance(n, dict) and "id" in n]
    order = {n["id"]: i for i, n in enumerate(nodes)}
    edges = [
        e
        for e in definition.get("edges", [])
        if isinstance(e, dict) and e.get("source") in order and e.get("target") in order
    ]
    types = {n["id"]: str(n.get("type", "")) for n in nodes}
    parents = {
        n["id"]: str(n["parent"])
        for n in nodes
        if n.get("parent") in order and types[n["parent"]] == "loop" and n["parent"] != n["id"]
    }
    pairs = [(e["source"], e["target"]) for e in edges]
    top = [n["id"] for n in nodes if n["id"] not in parents]
    bodies: dict[str, list[str]] = {}
    for node in nodes:
        if node["id"] in parents:
            bodies.setdefault(parents[node["id"]], []).append(node["id"])

    laid: dict[str, LaidNode] = {}

    def place(node_id: str, x: int, y: int) -> None:
        node = nodes[order[node_id]]
        label = str(node.get("label") or node_id)
        fact = facts.get(node_id)
        laid[node_id] = LaidNode(
            id=node_id,
            label=label,
            type=types[node_id],
            icon=TYPE_ICONS.get(types[node_id], "•"),
            type_name=TYPE_NAMES.get(types[node_id], types[node_id]),
            x=x,
            y=y,
            in_loop=node_id in parents,
            status=statuses.get(node_id, ""),
            parent=parents.get(node_id, ""),
            lines=wrap_label(label),
            duration=format_duration(fact.duration_ms) if fact is not None else "",
            is_next=bool(next_node) and node_id == next_node,
        )

    top_cells = _grid(top, _columns(top, pairs))
    for node_id, (col, row) in top_cells.items():
        place(node_id, PAD + col * (NODE_W + GAP_X), PAD + row * (NODE_H + GAP_Y))
    top_bottom = max((n.y + NODE_H for n in laid.values()), default=PAD)
    top_lane = top_bottom + LANE_GAP
    occupied = {(n.x, n.y) for n in laid.values()}
    top_links = [(s, t) for s, t in pairs if s in top_cells and t in top_cells]
    needs_lane = any(_blocked(laid[s], laid[t], occupied) for s, t in top_links)
    band_y = (top_lane + GAP_Y if needs_lane else top_bottom + GAP_Y) - 4

    frames, lanes = _place_bodies(bodies, pairs, laid, band_y, place)
    occupied = {(n.x, n.y) for n in laid.values()}
    tolerant = {n["id"] for n in nodes if n.get("on_error") == "continue"}
    decisions = {node_id: fact.branch for node_id, fact in facts.items()}

    def taken(source: str, target: str, when: str | None) -> bool:
        return _taken(source, target, when, statuses, decisions, tolerant)

    drawn = []
    for edge in edges:
        source, target = edge["source"], edge["target"]
        lane = lanes.get(parents.get(source, ""), top_lane)
        when = str(edge.get("when") or "")
        is_taken = taken(source, target, when)
        drawn.append(_edge(laid[source], laid[target], when, False, occupied, lane, is_taken))
    for loop_id, body in bodies.items():
        within = [(s, t) for s, t in pairs if s in body and t in body]
        for entry in body:
            if any(t == entry for _, t in within):
                continue  # reached through the body's own edges
            is_taken = taken(loop_id, entry, None)
            drawn.append(_edge(laid[loop_id], laid[entry], "", True, occupied, 0, is_taken))
    width = max([n.x + NODE_W for n in laid.values()] + [f.x + f.width for f in frames] + [0])
    height = max([n.y + NODE_H for n in laid.values()] + [f.y + f.height for f in frames] + [0])
    if needs_lane:
        height = max(height, top_lane + 4)
    for frame in frames:
        frame.status = statuses.get(frame.loop_id, "")
    return GraphLayout(list(laid.values()), drawn, width + PAD, height + PAD, frames)


def _place_bodies(
    bodies: dict[str, list[str]],
    pairs: Sequence[tuple[str, str]],
    laid: dict[str, LaidNode],
    band_y: int,
    place: Any,
) -> tuple[list[LaidFrame], dict[str, int]]:
    """Each loop's body in a frame below the top level, under its loop. Frames that would
    overlap go into a band of their own, lower down."""
    frames: list[LaidFrame] = []
    lanes: dict[str, int] = {}
    bands: list[tuple[int, list[tuple[int, int]]]] = []  # (top, x ranges) per band
    for loop_id in sorted(bodies, key=lambda i: (laid[i].x, laid[i].y)):
        body = bodies[loop_id]
        cells = _grid(body, _columns(body, pairs))
        cols = max(col for col, _ in cells.values()) + 1
        rows = max(row for _, row in cells.values()) + 1
        inner_h = rows * (NODE_H + GAP_Y) - GAP_Y
        loop = laid[loop_id]
        positions = {
            node_id: (loop.x + col * (NODE_W + GAP_X), row * (NODE_H + GAP_Y))
            for node_id, (col, row) in cells.items()
        }
        spots = {(x, y) for x, y in positions.values()}
        within = [(s, t) for s, t in pairs if s in cells and t in cells]
        body_lane = any(
            positions[s][1] == positions[t][1]
            and any(
                (x, positions[s][1]) in spots
                for x in range(positions[s][0] + NODE_W + GAP_X, positions[t][0], NODE_W + GAP_X)
            )
            for s, t in within
        )
        if body_lane:
            inner_h += LANE_GAP + 8
        width = cols * (NODE_W + GAP_X) - GAP_X + 2 * FRAME_PAD
        height = inner_h + FRAME_HEAD + 2 * FRAME_PAD
        x = loop.x - FRAME_PAD
        span = (x, x + width)
        for band_top, ranges in bands:
            if all(span[1] + 8 <= a or b + 8 <= span[0] for a, b in ranges):
                ranges.append(span)
                y = band_top
                break
        else:
            if bands:
                last = bands[-1][0]
                y = last + max(f.height for f in frames if f.y == last) + GAP_Y
            else:
                y = band_y
            bands.append((y, [span]))
        # The title sits right of the dashed line that comes down from the loop.
        title_x = loop.cx + 12
        title = wrap_label(f"each item of {loop.label}", [x + width - 10 - title_x])[0]
        frames.append(LaidFrame(loop_id, loop.label, x, y, width, height, title, title_x))
        top = y + FRAME_PAD + FRAME_HEAD
        for node_id, (node_x, node_y) in positions.items():
            place(node_id, node_x, top + node_y)
        lanes[loop_id] = top + rows * (NODE_H + GAP_Y) - GAP_Y + LANE_GAP
    return frames, lanes


def _taken(
    source: str,
    target: str,
    when: str | None,
    statuses: Mapping[str, str],
    decisions: Mapping[str, bool | None],
    tolerant: set[str],
) -> bool:
    """Did the run go along this edge (or is it on its way along it)? The rules of the
    engine's planner, read back from what the run recorded."""
    status = statuses.get(source, "")
    if status not in _PASSED and not (status == "failed" and source in tolerant):
        return False
    reached = statuses.get(target, "")
    if reached in ("", "skipped"):
        return False
    if not when:
        return True
    decision = False if status == "failed" else decisions.get(source)
    if decision is None:  # a branch inside a loop body decides once per item
        return reached != "pending"
    return when == ("true" if decision else "false")


def _blocked(a: LaidNode, b: LaidNode, occupied: set[tuple[int, int]]) -> bool:
    return a.y == b.y and any(
        (x, a.y) in occupied for x in range(a.x + NODE_W + GAP_X, b.x, NODE_W + GAP_X)
    )


def _edge(
    a: LaidNode,
    b: LaidNode,
    label: str,
    dashed: bool,
    occupied: set[tuple[int, int]],
    lane_y: int,
    taken: bool,
) -> LaidEdge:
    source, target = a.id, b.id
    if _blocked(a, b, occupied):
        # A straight line would run through the nodes between; go round them underneath.
        x1, x2 = a.cx, b.cx - 14
        y1, y2 = a.y + NODE_H, b.y + NODE_H
        path = (
            f"M{x1},{y1} V{lane_y - 8} Q{x1},{lane_y} {x1 + 8},{lane_y} "
            f"H{x2 - 8} Q{x2},{lane_y} {x2},{lane_y - 8} V{y2}"
        )
        mid = (x1 + x2) // 2
        return LaidEdge(path, label, mid, lane_y - 5, dashed, source, target, True, taken)
    x1, y1 = a.x + NODE_W, a.y + NODE_H // 2
    x2, y2 = b.x, b.y + NODE_H // 2
    if x2 <= x1:  # below (a loop's body in its frame): from the bottom edge down
        x1, y1 = a.cx, a.y + NODE_H
        x2, y2 = b.cx, b.y
        bend = max(20, (y2 - y1) // 2)
        path = f"M{x1},{y1} C{x1},{y1 + bend} {x2},{y2 - bend} {x2},{y2}"
        return LaidEdge(path, label, x1 + 18, y1 + 16, dashed, source, target, False, taken)
    bend = max(24, (x2 - x1) // 2)
    path = f"M{x1},{y1} C{x1 + bend},{y1} {x2 - bend},{y2} {x2},{y2}"
    mid_x, mid_y = (x1 + x2) // 2, (y1 + y2) // 2 - 6
    return LaidEdge(path, label, mid_x, mid_y, dashed, source, target, False, taken)
