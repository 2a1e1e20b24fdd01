"""Collections and statistics for the console: sums by day, township, segment, operator and channel;
readings progress per segment; a bar chart drawn as SVG on the server (no script, no CDN)."""

from __future__ import annotations

import sqlite3
from html import escape
from typing import Any

#: dimension -> SQL expression over payments p joined to customers c and segments s
DIMENSIONS: dict[str, str] = {
    "day": "p.day",
    # the township is the address's 乡/镇 (the demo area: 四川省仪陇县石佛乡…); segments belong to one
    "township": "c.addr",
    "segment": "c.segment || ' ' || s.name",
    "operator": "coalesce(p.operator, '-')",
    "channel": "p.method",
}


def township(addr: str) -> str:
    for mark in ("乡", "镇", "街道"):
        i = addr.find(mark)
        if i > 0:
            start = max(addr.rfind("县", 0, i), addr.rfind("区", 0, i), addr.rfind("市", 0, i))
            return addr[start + 1:i + len(mark)]
    return "-"


def collections(conn: sqlite3.Connection, by: str) -> list[tuple[str, int, int]]:
    """(key, count, amount fen) of payments not reversed, grouped by ``by``."""
    expr = DIMENSIONS[by]
    rows = conn.execute(f"SELECT {expr}, count(*), sum(p.amount) FROM payments p JOIN customers c ON c.cust = p.cust"
                        f" JOIN segments s ON s.segment = c.segment WHERE p.reversed_by IS NULL GROUP BY {expr}"
                        f" ORDER BY 1").fetchall()
    if by != "township":
        return [(str(k), int(n), int(a)) for k, n, a in rows]
    acc: dict[str, list[int]] = {}
    for addr, n, a in rows:
        t = acc.setdefault(township(addr), [0, 0])
        t[0] += int(n)
        t[1] += int(a)
    return [(k, v[0], v[1]) for k, v in sorted(acc.items())]


def progress(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """Per segment: customers, read (a reading uploaded by a terminal is in the ledger), unread, abnormal
    (an 抄表异常 registered); with the operator the segment is assigned to now."""
    out = []
    for seg, name, total, read, abnormal, operator in conn.execute(
            "SELECT s.segment, s.name, count(c.cust),"
            " count(DISTINCT r.cust), count(DISTINCT a.cust),"
            " (SELECT operator FROM segment_assignments x WHERE x.segment = s.segment ORDER BY x.id DESC LIMIT 1)"
            " FROM segments s LEFT JOIN customers c ON c.segment = s.segment"
            " LEFT JOIN readings r ON r.cust = c.cust LEFT JOIN abnormal a ON a.cust = c.cust"
            " GROUP BY s.segment, s.name ORDER BY s.segment").fetchall():
        out.append({"segment": seg, "name": name, "total": total, "read": read, "unread": total - read,
                    "abnormal": abnormal, "operator": operator})
    return out


def segments(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    return progress(conn)


def bar_chart_svg(rows: list[tuple[str, int, int]], width: int = 640) -> str:
    """A horizontal bar chart of the amounts (yuan), one bar per key."""
    bar, gap, label_w = 22, 6, 190
    height = max(1, len(rows)) * (bar + gap) + 30
    top = max((a for _, _, a in rows), default=0) or 1
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" role="img"'
             f' font-family="sans-serif" font-size="13">']
    if not rows:
        parts.append('<text x="10" y="20">-</text>')
    for i, (key, _count, amount) in enumerate(rows):
        y = 10 + i * (bar + gap)
        w = int((width - label_w - 90) * amount / top)
        parts.append(f'<text x="{label_w - 6}" y="{y + 16}" text-anchor="end">{escape(key[:24])}</text>'
                     f'<rect x="{label_w}" y="{y}" width="{max(w, 1)}" height="{bar}" fill="#2b6cb0"/>'
                     f'<text x="{label_w + w + 6}" y="{y + 16}">{amount // 100}.{amount % 100:02d}</text>')
    parts.append("</svg>")
    return "".join(parts)
