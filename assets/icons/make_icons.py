#!/usr/bin/env python3
"""Draws the app icons of the reporting form (icon-192.png, icon-512.png): three white
bars rising on the pages' blue, inside the middle 60 % so that a phone's round or
squircle mask (a "maskable" icon) never cuts them. Standard library only.

    python3 assets/icons/make_icons.py     # rewrites the two PNGs beside this file
"""
import os
import struct
import zlib

BLUE = (0x1D, 0x5F, 0xA7)
WHITE = (0xFF, 0xFF, 0xFF)


def pixel(x, y, size):
    u, v = x / size, y / size
    # Three bars, left to right, growing: (left, right, top) in units of the icon.
    for left, right, top in ((0.26, 0.38, 0.56), (0.44, 0.56, 0.42), (0.62, 0.74, 0.28)):
        if left <= u < right and top <= v < 0.74:
            return WHITE
    return BLUE


def png(size):
    rows = b"".join(
        b"\x00" + bytes(c for x in range(size) for c in pixel(x, y, size)) for y in range(size)
    )

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows, 9))
        + chunk(b"IEND", b"")
    )


here = os.path.dirname(os.path.abspath(__file__))
for size in (192, 512):
    with open(os.path.join(here, f"icon-{size}.png"), "wb") as out:
        out.write(png(size))
