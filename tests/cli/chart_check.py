#!/usr/bin/env python3
"""Checks that a report chart is legible: no two of its text boxes intersect.

  chart_check.py SVG [PNG]

Each <text> element's box comes from the SVG's own coordinates (x, y, text-anchor, font-size,
a translate/rotate(-90) transform) and the width of its string measured with the font that
rsvg-convert draws it in (DejaVu Sans, bold where the element is bold), via Pillow. The chart is
also rendered with rsvg-convert, which must succeed and draw something; PNG keeps the picture.
Exit 1 naming the first pair of texts that overlap.
"""
import os
import re
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

from PIL import Image, ImageFont

FONTS = "/usr/share/fonts/truetype/dejavu"


def boxes(svg_path):
    root = ET.parse(svg_path).getroot()
    default_size = float(root.get("font-size", "16"))
    fonts = {}
    out = []
    for el in root.iter("{http://www.w3.org/2000/svg}text"):
        s = "".join(el.itertext())
        size = float(el.get("font-size", default_size))
        bold = el.get("font-weight") == "bold"
        key = (size, bold)
        if key not in fonts:
            fonts[key] = ImageFont.truetype(os.path.join(FONTS, "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"), size)
        width = fonts[key].getlength(s)
        ascent, descent = fonts[key].getmetrics()
        x, y = float(el.get("x", 0)), float(el.get("y", 0))
        rotated = False
        transform = el.get("transform", "")
        if transform:
            m = re.fullmatch(r"translate\(([-\d.]+),\s*([-\d.]+)\)\s*rotate\(-90\)", transform.strip())
            if not m:
                sys.exit(f"{svg_path}: a text with a transform this check does not read: {transform!r}")
            x, y, rotated = float(m.group(1)), float(m.group(2)), True
        anchor = el.get("text-anchor", "start")
        start = {"start": 0.0, "middle": -width / 2, "end": -width}[anchor]
        if rotated:  # the string runs upwards from (x, y); its ascent points left
            box = (x - ascent, y - start - width, x + descent, y - start)
        else:
            box = (x + start, y - ascent, x + start + width, y + descent)
        out.append((s, box))
    return out


def overlap(a, b):
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def main():
    svg = sys.argv[1]
    found = boxes(svg)
    if not found:
        sys.exit(f"{svg}: no text at all")
    for i, (s, a) in enumerate(found):
        for t, b in found[i + 1:]:
            if overlap(a, b):
                sys.exit(f"{svg}: the texts {s!r} at {tuple(round(v) for v in a)} and {t!r} at "
                         f"{tuple(round(v) for v in b)} overlap")
    png = sys.argv[2] if len(sys.argv) > 2 else os.path.join(tempfile.mkdtemp(), "chart.png")
    subprocess.run(["rsvg-convert", "-o", png, svg], check=True)
    img = Image.open(png).convert("L")
    dark = sum(1 for v in img.getdata() if v < 128)
    if dark < 1000:
        sys.exit(f"{png}: rendered almost blank ({dark} dark pixels)")
    print(f"{svg}: {len(found)} texts, none overlapping; rendered {img.size[0]}x{img.size[1]} to {png}")


if __name__ == "__main__":
    main()
