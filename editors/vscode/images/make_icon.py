"""Draw the extension's icon, images/icon.png (128x128 RGBA), with the standard library only.

A ranked list: three candidate bars on a dark rounded square, the top one highlighted and
ticked. Rerun after changing the drawing (the PNG is committed; vsce packages it):

    python3 editors/vscode/images/make_icon.py
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

SIZE = 128
SCALE = 4  # supersampling for smooth edges
OUT = Path(__file__).resolve().parent / "icon.png"

BACKGROUND = (30, 41, 59)
TOP = (74, 222, 128)
OTHERS = (100, 116, 139)
TICK = (30, 41, 59)

Color = tuple[int, int, int]


def _inside_rounded(x: float, y: float, box: tuple[float, float, float, float], r: float) -> bool:
    left, top, right, bottom = box
    if not (left <= x <= right and top <= y <= bottom):
        return False
    cx = min(max(x, left + r), right - r)
    cy = min(max(y, top + r), bottom - r)
    return (x - cx) ** 2 + (y - cy) ** 2 <= r * r


def _on_tick(x: float, y: float) -> bool:
    """A check mark inside the top bar's left end (two thick segments)."""

    def near(ax: float, ay: float, bx: float, by: float) -> bool:
        dx, dy = bx - ax, by - ay
        t = max(0.0, min(1.0, ((x - ax) * dx + (y - ay) * dy) / (dx * dx + dy * dy)))
        return (x - ax - t * dx) ** 2 + (y - ay - t * dy) ** 2 <= 3.2**2

    return near(29, 38, 35, 44) or near(35, 44, 46, 31)


def color_at(x: float, y: float) -> tuple[Color, float]:
    """(colour, alpha) of the point (x, y) in 128-pixel coordinates."""
    if not _inside_rounded(x, y, (4, 4, 124, 124), 24):
        return BACKGROUND, 0.0
    bars = [((18, 24, 110, 50), TOP), ((18, 60, 94, 80), OTHERS), ((18, 90, 74, 110), OTHERS)]
    for box, color in bars:
        if _inside_rounded(x, y, box, 9):
            if color == TOP and _on_tick(x, y):
                return TICK, 1.0
            return color, 1.0
    return BACKGROUND, 1.0


def render() -> bytes:
    rows = []
    for py in range(SIZE):
        row = bytearray([0])  # filter: none
        for px in range(SIZE):
            r = g = b = a = 0.0
            for sy in range(SCALE):
                for sx in range(SCALE):
                    color, alpha = color_at(px + (sx + 0.5) / SCALE, py + (sy + 0.5) / SCALE)
                    r += color[0] * alpha
                    g += color[1] * alpha
                    b += color[2] * alpha
                    a += alpha
            n = SCALE * SCALE
            if a:
                row += bytes([round(r / a), round(g / a), round(b / a), round(255 * a / n)])
            else:
                row += bytes(4)
        rows.append(bytes(row))
    return b"".join(rows)


def png(width: int, height: int, rgba: bytes) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)  # 8-bit RGBA
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rgba, 9))
        + chunk(b"IEND", b"")
    )


if __name__ == "__main__":
    OUT.write_bytes(png(SIZE, SIZE, render()))
    print(OUT)
