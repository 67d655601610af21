"""Generate the synthetic sample images and their labels.

Every image is drawn from scratch with Pillow + numpy and fixed seeds, so running
this script again reproduces the committed files exactly. All names, numbers and
addresses are fake.

    python sample_images/make_samples.py            # writes next to this script
    python sample_images/make_samples.py OUT_DIR    # writes into OUT_DIR
"""

from __future__ import annotations

import argparse
import csv
import math
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

HERE = Path(__file__).resolve().parent
JPEG_QUALITY = 82

# (file, task, label, tag) — tag is only used by tag_rating rows.
LABELS: list[tuple[str, str, str, str]] = [
    ("id_card.png", "pii_detection", "true", ""),
    ("receipt.png", "pii_detection", "true", ""),
    ("screenshot_contact.png", "pii_detection", "true", ""),
    ("park_scene.jpg", "pii_detection", "false", ""),
    ("road_clear.jpg", "pii_detection", "false", ""),
    ("road_pothole_severe.jpg", "pothole_severity", "severe", ""),
    ("road_pothole_moderate.jpg", "pothole_severity", "moderate", ""),
    ("road_pothole_minor.jpg", "pothole_severity", "minor", ""),
    ("road_clear.jpg", "pothole_severity", "no_pothole", ""),
    ("park_scene.jpg", "moderation", "false", ""),
    ("beach_sunset.jpg", "moderation", "false", ""),
    ("id_card.png", "moderation", "false", ""),
    ("road_clear.jpg", "moderation", "false", ""),
    ("park_scene.jpg", "tag_rating", "4", "tree"),
    ("park_scene.jpg", "tag_rating", "0", "car"),
    ("beach_sunset.jpg", "tag_rating", "5", "beach"),
    ("road_pothole_severe.jpg", "tag_rating", "5", "pothole"),
    ("receipt.png", "tag_rating", "5", "receipt"),
]


@lru_cache(maxsize=None)
def font(size: int) -> ImageFont.FreeTypeFont:
    # Pillow >= 10.1 ships a scalable default font, so no font file is needed.
    return ImageFont.load_default(size=size)


def vertical_gradient(width: int, height: int, stops: list[tuple[float, tuple[int, int, int]]]) -> np.ndarray:
    """An RGB float array blending between colour stops at fractions of the height."""
    ys = np.linspace(0.0, 1.0, height)
    positions = [p for p, _ in stops]
    channels = [np.interp(ys, positions, [c[i] for _, c in stops]) for i in range(3)]
    column = np.stack(channels, axis=1)
    return np.repeat(column[:, None, :], width, axis=1)


def to_image(pixels: np.ndarray) -> Image.Image:
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")


def jagged_polygon(rng: np.random.Generator, cx: float, cy: float, rx: float, ry: float,
                   roughness: float, points: int = 48) -> list[tuple[float, float]]:
    """An irregular closed outline around (cx, cy): a wobbly ellipse with chipped edges."""
    angles = np.linspace(0, 2 * math.pi, points, endpoint=False)
    wobble = sum(rng.uniform(0.05, 0.15) * np.sin(k * angles + rng.uniform(0, 2 * math.pi)) for k in (2, 3, 5))
    chips = rng.uniform(-roughness, roughness, points)
    scale = 1.0 + wobble + chips
    return [(cx + rx * s * math.cos(a), cy + ry * s * math.sin(a)) for a, s in zip(angles, scale)]


def polygon_mask(size: tuple[int, int], outline: list[tuple[float, float]]) -> np.ndarray:
    mask = Image.new("L", size, 0)
    ImageDraw.Draw(mask).polygon(outline, fill=255)
    return np.asarray(mask, dtype=np.float32) / 255.0


# --- road scenes -----------------------------------------------------------------------

ROAD_SIZE = (960, 640)
HORIZON = 230
VANISH_X = 480


def road_edges_at(y: float) -> tuple[float, float]:
    """Left and right road edge x at image row y (the road narrows towards the horizon)."""
    t = (y - HORIZON) / (ROAD_SIZE[1] - HORIZON)
    half = 30 + t * 620
    return VANISH_X - half, VANISH_X + half


def road_scene(seed: int) -> Image.Image:
    """A straight two-lane road in perspective with verges, edge lines and a dashed centre line."""
    rng = np.random.default_rng(seed)
    w, h = ROAD_SIZE
    pixels = vertical_gradient(w, h, [(0.0, (120, 170, 225)), (HORIZON / h, (205, 225, 240)), (1.0, (205, 225, 240))])

    grass = vertical_gradient(w, h, [(0.0, (70, 110, 50)), (HORIZON / h, (95, 130, 70)), (1.0, (60, 105, 40))])
    grass += rng.normal(0, 14, (h, w, 1))
    pixels[HORIZON:] = grass[HORIZON:]

    asphalt = np.full((h, w, 3), 88.0) + rng.normal(0, 11, (h, w, 1))
    asphalt += (rng.random((h, w, 1)) > 0.985) * 45  # light aggregate specks
    # Far asphalt looks smoother and lighter, as detail blurs out with distance.
    fade = np.clip((np.arange(h) - HORIZON) / (h - HORIZON), 0, 1)[:, None, None]
    asphalt = asphalt * (0.55 + 0.45 * fade) + 98 * (0.45 - 0.45 * fade)
    left_bottom, right_bottom = road_edges_at(h)
    road = polygon_mask((w, h), [(VANISH_X - 30, HORIZON), (VANISH_X + 30, HORIZON),
                                 (right_bottom, h), (left_bottom, h)])[..., None]
    pixels = pixels * (1 - road) + asphalt * road

    image = to_image(pixels)
    draw = ImageDraw.Draw(image)
    for side in (0, 1):
        inner = [(road_edges_at(y)[side] + (12 if side == 0 else -12) * (y - HORIZON) / (h - HORIZON), y)
                 for y in (HORIZON + 2, h)]
        draw.line(inner, fill=(235, 235, 225), width=7)
    dash_rows = [HORIZON + 8 * (1.32 ** k) for k in range(16)]
    for top, bottom in zip(dash_rows[::2], dash_rows[1::2]):
        if top >= h:
            break
        half_top = 1 + 9 * (top - HORIZON) / (h - HORIZON)
        half_bottom = 1 + 9 * (min(bottom, h) - HORIZON) / (h - HORIZON)
        draw.polygon([(VANISH_X - half_top, top), (VANISH_X + half_top, top),
                      (VANISH_X + half_bottom, bottom), (VANISH_X - half_bottom, bottom)], fill=(240, 215, 90))
    draw_roadside_trees(draw, rng)
    return image


def draw_roadside_trees(draw: ImageDraw.ImageDraw, rng: np.random.Generator) -> None:
    for x in (40, 140, 820, 905):
        scale = rng.uniform(0.8, 1.2)
        top = HORIZON - 70 * scale
        draw.rectangle([x - 5, HORIZON - 20, x + 5, HORIZON + 12], fill=(90, 65, 40))
        draw.ellipse([x - 35 * scale, top, x + 35 * scale, HORIZON - 5], fill=(50, 95, 45))


def carve_pothole(image: Image.Image, seed: int, cx: float, cy: float, radius: float,
                  depth: float, roughness: float, water: bool) -> Image.Image:
    """Cut a pothole into the asphalt: dark shaded hollow, broken rim, chunks and cracks."""
    rng = np.random.default_rng(seed)
    w, h = image.size
    pixels = np.asarray(image, dtype=np.float32).copy()
    outline = jagged_polygon(rng, cx, cy, radius, radius * 0.42, roughness)
    hole = polygon_mask((w, h), outline)
    rim = polygon_mask((w, h), jagged_polygon(rng, cx, cy, radius * 1.12, radius * 0.5, roughness))
    rim = np.asarray(Image.fromarray((rim * 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(2)),
                     dtype=np.float32) / 255.0

    # Lighter, broken asphalt around the edge where the surface is crumbling.
    edge = np.clip(rim - hole, 0, 1)[..., None]
    pixels = pixels * (1 - edge) + (pixels * 0.6 + 130 * 0.4 + rng.normal(0, 18, (h, w, 1))) * edge

    # Inside: far wall catches light, the bottom is dark; shading follows the row.
    rows = np.arange(h, dtype=np.float32)[:, None, None]
    top, bottom = cy - radius * 0.45, cy + radius * 0.45
    t = np.clip((rows - top) / (bottom - top), 0, 1)
    wall = 105 - depth * 40 * t
    floor = np.array([62, 56, 50]) * (1.0 - 0.6 * depth)
    inside = np.where(t < 0.35, wall, floor) + rng.normal(0, 10, (h, w, 1))
    inside = inside + (rng.random((h, w, 1)) > 0.97) * 50 * (1 - depth * 0.5)  # loose gravel
    hole3 = hole[..., None]
    pixels = pixels * (1 - hole3) + inside * hole3

    if water:
        puddle = polygon_mask((w, h), jagged_polygon(rng, cx, cy + radius * 0.1, radius * 0.75,
                                                      radius * 0.25, 0.03)) * hole
        sky = np.array([120, 140, 160]) + rng.normal(0, 6, (h, w, 1))
        glint = (np.sin(rows[..., 0] * 0.9) > 0.92)[..., None] * 40
        pixels = pixels * (1 - puddle[..., None]) + (sky + glint) * puddle[..., None] * 0.85

    result = to_image(pixels)
    draw = ImageDraw.Draw(result)
    draw.line(outline + outline[:1], fill=(28, 26, 24), width=max(2, int(radius / 40)))
    draw_cracks(draw, rng, (cx, cy), outline, cracks=int(4 + 10 * depth), reach=radius * (0.4 + 0.5 * depth))
    draw_chunks(draw, rng, outline, count=int(25 * depth), size=radius * 0.06)
    return result


def draw_cracks(draw: ImageDraw.ImageDraw, rng: np.random.Generator, center: tuple[float, float],
                outline: list[tuple[float, float]], cracks: int, reach: float) -> None:
    for _ in range(cracks):
        x, y = outline[rng.integers(len(outline))]
        # Cracks run outwards from the hole into the surrounding asphalt.
        heading = math.atan2((y - center[1]) / 0.45, x - center[0])
        points = [(x, y)]
        for _ in range(8):
            heading += rng.normal(0, 0.5)
            x += math.cos(heading) * reach / 8
            y += math.sin(heading) * reach / 8 * 0.45
            points.append((x, y))
        draw.line(points, fill=(35, 33, 30), width=2)


def draw_chunks(draw: ImageDraw.ImageDraw, rng: np.random.Generator, outline: list[tuple[float, float]],
                count: int, size: float) -> None:
    for _ in range(count):
        x, y = outline[rng.integers(len(outline))]
        x, y = x + rng.normal(0, size * 2), y + rng.normal(0, size)
        shade = int(rng.uniform(60, 120))
        draw.polygon(jagged_polygon(rng, x, y, size, size * 0.6, 0.3, points=6), fill=(shade,) * 3)


def road_clear() -> Image.Image:
    return road_scene(seed=7)


def road_pothole_severe() -> Image.Image:
    return carve_pothole(road_scene(seed=7), seed=11, cx=330, cy=520, radius=190, depth=1.0,
                         roughness=0.12, water=True)


def road_pothole_moderate() -> Image.Image:
    return carve_pothole(road_scene(seed=7), seed=12, cx=320, cy=490, radius=95, depth=0.6,
                         roughness=0.08, water=False)


def road_pothole_minor() -> Image.Image:
    return carve_pothole(road_scene(seed=7), seed=13, cx=330, cy=500, radius=32, depth=0.2,
                         roughness=0.15, water=False)


# --- safe scenes ------------------------------------------------------------------------

def park_scene() -> Image.Image:
    """Blue sky, sun, rolling grass, a path and one leafy tree."""
    rng = np.random.default_rng(21)
    w, h = 960, 640
    horizon = 400
    pixels = vertical_gradient(w, h, [(0.0, (90, 150, 225)), (horizon / h, (195, 225, 245)), (1.0, (195, 225, 245))])
    xs = np.arange(w)
    hill = horizon - 25 * np.sin(xs / 210.0) - 12 * np.sin(xs / 77.0 + 1.0)
    rows = np.arange(h)[:, None]
    ground = (rows >= hill[None, :])[..., None]
    grass = vertical_gradient(w, h, [(0.0, (120, 180, 80)), (1.0, (60, 130, 45))]) + rng.normal(0, 12, (h, w, 1))
    pixels = pixels * (1 - ground) + grass * ground
    image = to_image(pixels)
    draw = ImageDraw.Draw(image)

    draw.polygon([(470, horizon + 5), (520, horizon + 5), (760, h), (520, h)], fill=(205, 185, 145))
    for r, alpha in ((95, (250, 240, 200)), (70, (255, 245, 180)), (50, (255, 225, 90))):
        draw.ellipse([800 - r, 110 - r, 800 + r, 110 + r], fill=alpha)
    for cx, cy in ((200, 90), (520, 150)):
        for dx, dy, r in ((0, 0, 35), (40, -15, 42), (85, 0, 33), (40, 12, 35)):
            draw.ellipse([cx + dx - r, cy + dy - r, cx + dx + r, cy + dy + r], fill=(250, 250, 252))
    draw_tree(draw, rng, x=260, ground=480)
    return image


def draw_tree(draw: ImageDraw.ImageDraw, rng: np.random.Generator, x: int, ground: int) -> None:
    draw.polygon([(x - 18, ground), (x + 18, ground), (x + 11, ground - 170), (x - 11, ground - 170)],
                 fill=(105, 70, 40))
    draw.line([(x, ground - 120), (x - 60, ground - 200)], fill=(105, 70, 40), width=10)
    draw.line([(x, ground - 140), (x + 55, ground - 215)], fill=(105, 70, 40), width=9)
    draw.ellipse([x - 120, ground + 5, x + 120, ground + 30], fill=(55, 105, 40))  # shadow
    for _ in range(40):
        dx, dy = rng.normal(0, 70), rng.normal(0, 45)
        r = rng.uniform(35, 60)
        green = (int(rng.uniform(40, 70)), int(rng.uniform(110, 150)), int(rng.uniform(35, 60)))
        draw.ellipse([x + dx - r, ground - 250 + dy - r, x + dx + r, ground - 250 + dy + r], fill=green)


def beach_sunset() -> Image.Image:
    """Sunset sky over the sea, sun on the horizon with its reflection, sandy beach."""
    rng = np.random.default_rng(31)
    w, h = 960, 640
    horizon, shore = 330, 470
    pixels = vertical_gradient(w, h, [(0.0, (70, 50, 120)), (0.3, (200, 90, 110)),
                                      (horizon / h, (250, 170, 90)), (1.0, (250, 170, 90))])
    sea = vertical_gradient(w, h, [(horizon / h, (60, 70, 120)), (shore / h, (40, 90, 130)), (1.0, (40, 90, 130))])
    sea += rng.normal(0, 5, (h, w, 1))
    sand = vertical_gradient(w, h, [(shore / h, (215, 180, 130)), (1.0, (235, 205, 160))]) + rng.normal(0, 9, (h, w, 1))
    xs = np.arange(w)
    waterline = shore + 12 * np.sin(xs / 90.0) + 6 * np.sin(xs / 31.0)
    rows = np.arange(h)[:, None]
    is_sea = ((rows >= horizon) & (rows < waterline[None, :]))[..., None]
    is_sand = (rows >= waterline[None, :])[..., None]
    pixels = pixels * (1 - is_sea - is_sand) + sea * is_sea + sand * is_sand
    image = to_image(pixels)
    draw = ImageDraw.Draw(image)

    draw.pieslice([410, horizon - 70, 550, horizon + 70], 180, 360, fill=(255, 215, 110))
    for k in range(14):
        y = horizon + 6 + k * 10
        half = 60 - k * 3 + rng.uniform(-8, 8)
        draw.line([(480 - half, y), (480 + half, y)], fill=(250, 190, 100), width=3)
    for k in range(3):
        y = horizon + 40 + k * 35
        for x0 in range(0, w, 140):
            x = x0 + rng.uniform(0, 60)
            draw.line([(x, y), (x + rng.uniform(30, 70), y)], fill=(120, 140, 170), width=2)
    foam = [(x, waterline[x] - 2) for x in range(0, w, 8)]
    draw.line(foam, fill=(245, 245, 240), width=6)
    for x, y in ((150, 80), (230, 110), (700, 70)):
        draw.arc([x - 14, y - 8, x, y + 8], 200, 340, fill=(40, 30, 50), width=3)
        draw.arc([x, y - 8, x + 14, y + 8], 200, 340, fill=(40, 30, 50), width=3)
    return image


# --- documents with fake PII ------------------------------------------------------------

def id_card() -> Image.Image:
    """A driver-licence style card: header, photo, fields, signature, on a desk."""
    rng = np.random.default_rng(41)
    image = Image.new("RGB", (1024, 680), (120, 110, 100))
    draw = ImageDraw.Draw(image)
    left, top, right, bottom = 40, 40, 984, 636
    draw.rounded_rectangle([left + 8, top + 10, right + 8, bottom + 10], 36, fill=(80, 72, 65))
    draw.rounded_rectangle([left, top, right, bottom], 36, fill=(232, 238, 246))
    for k in range(0, 600, 18):  # guilloche-like security pattern
        points = [(x, top + 150 + k * 0.75 + 12 * math.sin(x / 35 + k / 50)) for x in range(left + 20, right - 20, 8)]
        if points[0][1] < bottom - 20:
            draw.line(points, fill=(214, 224, 238), width=2)
    draw.rounded_rectangle([left, top, right, top + 100], 36, fill=(30, 70, 140))
    draw.rectangle([left, top + 60, right, top + 100], fill=(30, 70, 140))
    draw.text((left + 40, top + 18), "STATE OF EXAMPLE", font=font(40), fill="white")
    draw.text((left + 40, top + 64), "DRIVER LICENSE", font=font(26), fill=(200, 215, 240))
    draw.text((right - 40, top + 36), "SAMPLE - NOT A REAL ID", font=font(24), fill=(255, 210, 90), anchor="ra")

    draw_avatar(draw, (left + 40, top + 130, left + 300, top + 450))
    fields = [("ID", "D1234-5678-90"), ("NAME", "JANE Q. SAMPLE"), ("DOB", "01/02/1990"),
              ("ADDRESS", "123 EXAMPLE ST"), ("", "SPRINGFIELD, EX 00000"),
              ("ISS", "03/04/2021     EXP 03/04/2029"), ("SEX", "F     HGT 5'-06\"     EYES BRN")]
    y = top + 130
    for label, value in fields:
        if label:
            draw.text((left + 340, y), label, font=font(20), fill=(150, 40, 40))
        draw.text((left + 460, y - 6), value, font=font(32), fill=(20, 25, 35))
        y += 50
    draw_signature(draw, rng, (left + 340, top + 480, left + 760, top + 560))
    draw.line([(left + 340, top + 560), (left + 780, top + 560)], fill=(120, 130, 150), width=2)
    draw.text((left + 40, top + 470), "D1234-5678-90", font=font(22), fill=(90, 100, 120))
    return image


def draw_avatar(draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int]) -> None:
    x0, y0, x1, y1 = box
    cx = (x0 + x1) / 2
    draw.rectangle(box, fill=(170, 195, 220), outline=(90, 100, 120), width=3)
    draw.pieslice([x0 + 20, y0 + 200, x1 - 20, y1 + 120], 180, 360, fill=(60, 80, 120))  # shoulders
    draw.ellipse([cx - 70, y0 + 50, cx + 70, y0 + 230], fill=(90, 60, 40))  # hair
    draw.ellipse([cx - 58, y0 + 70, cx + 58, y0 + 220], fill=(236, 196, 165))  # face
    for ex in (cx - 24, cx + 24):
        draw.ellipse([ex - 8, y0 + 125, ex + 8, y0 + 141], fill=(40, 40, 50))
    draw.arc([cx - 25, y0 + 150, cx + 25, y0 + 190], 20, 160, fill=(150, 60, 60), width=4)


def draw_signature(draw: ImageDraw.ImageDraw, rng: np.random.Generator, box: tuple[int, int, int, int]) -> None:
    x0, y0, x1, y1 = box
    # A drifting circle traces cursive-looking loops; varying height mimics letters.
    ts = np.linspace(0, 1, 500)
    turns = 2 * math.pi * 7 * ts
    height = 10 + 18 * np.abs(np.sin(ts * 11 + rng.uniform(0, 2 * math.pi)))
    xs = x0 + ts * (x1 - x0) + 26 * np.cos(turns)
    ys = (y0 + y1) / 2 + height * -np.sin(turns) + 8 * np.sin(ts * 5)
    draw.line(list(zip(xs, ys)), fill=(20, 30, 110), width=3, joint="curve")


def receipt() -> Image.Image:
    """A till receipt on a counter, with a masked card number and a customer email."""
    rng = np.random.default_rng(51)
    w, h = 560, 940
    image = Image.new("RGB", (w, h), (92, 80, 70))
    draw = ImageDraw.Draw(image)
    left, right, top, paper_bottom = 60, 500, 30, 900
    teeth = [(x, paper_bottom + (10 if (x // 12) % 2 else 0)) for x in range(right, left - 1, -12)]
    draw.polygon([(left, top), (right, top)] + teeth, fill=(250, 249, 244))

    y = top + 30
    center = (left + right) / 2

    def line(text: str, price: str = "", size: int = 22, centered: bool = False, gap: int = 32) -> None:
        nonlocal y
        if centered:
            draw.text((center, y), text, font=font(size), fill=(30, 30, 30), anchor="ma")
        else:
            draw.text((left + 25, y), text, font=font(size), fill=(30, 30, 30))
        if price:
            draw.text((right - 25, y), price, font=font(size), fill=(30, 30, 30), anchor="ra")
        y += gap

    def rule() -> None:
        nonlocal y
        draw.line([(left + 20, y + 4), (right - 20, y + 4)], fill=(140, 140, 140), width=2)
        y += 20

    line("CORNER MARKET", size=38, centered=True, gap=50)
    line("42 Sample Road, Springfield", size=18, centered=True, gap=26)
    line("Tel 555-0100", size=18, centered=True, gap=34)
    line("2024-05-17  14:32      Till 3", size=18, gap=30)
    rule()
    items = [("Coffee beans 500g", "12.99"), ("Oat milk 1L", "3.49"), ("Bananas 1.2kg", "1.87"),
             ("Sourdough loaf", "5.50"), ("Tomatoes", "2.95"), ("Dish soap", "4.25")]
    for name, price in items:
        line(name, price)
    rule()
    line("SUBTOTAL", "31.05")
    line("TAX 8%", "2.48")
    line("TOTAL", "33.53", size=30, gap=46)
    line("VISA", "**** **** **** 4242")
    line("AUTH 004211   CONTACTLESS", size=18, gap=40)
    rule()
    line("Receipt emailed to:", size=18, gap=26)
    line("jane.sample@example.com", size=22, gap=44)
    line("THANK YOU!", size=28, centered=True, gap=50)

    bar_x = left + 50
    while bar_x < right - 50:
        bar_w = int(rng.integers(1, 5))
        draw.rectangle([bar_x, y, bar_x + bar_w - 1, y + 70], fill=(20, 20, 20))
        bar_x += bar_w + int(rng.integers(1, 5))
    return image


def screenshot_contact() -> Image.Image:
    """A desktop window of a contacts app showing one fake person's details."""
    w, h = 1024, 640
    image = Image.new("RGB", (w, h), (58, 90, 140))
    draw = ImageDraw.Draw(image)
    win = (40, 30, 984, 610)
    draw.rounded_rectangle(win, 14, fill=(250, 250, 252), outline=(40, 50, 70), width=1)
    draw.rounded_rectangle([win[0], win[1], win[2], win[1] + 44], 14, fill=(228, 230, 236))
    draw.rectangle([win[0], win[1] + 30, win[2], win[1] + 44], fill=(228, 230, 236))
    for k, color in enumerate(((237, 95, 85), (245, 190, 70), (95, 200, 85))):
        draw.ellipse([win[0] + 18 + k * 26, win[1] + 14, win[0] + 34 + k * 26, win[1] + 30], fill=color)
    draw.text(((win[0] + win[2]) / 2, win[1] + 12), "Contacts", font=font(20), fill=(60, 60, 70), anchor="ma")

    draw.rectangle([win[0], win[1] + 44, win[0] + 260, win[3] - 14], fill=(238, 240, 245))
    draw.rounded_rectangle([win[0] + 15, win[1] + 60, win[0] + 245, win[1] + 92], 8, fill=(255, 255, 255))
    draw.text((win[0] + 28, win[1] + 66), "Search", font=font(18), fill=(150, 150, 160))
    names = ["Alex Example", "Jane Sample", "Pat Placeholder", "Sam Test", "Taylor Demo"]
    for k, name in enumerate(names):
        y = win[1] + 110 + k * 44
        if name == "Jane Sample":
            draw.rectangle([win[0], y - 8, win[0] + 260, y + 34], fill=(60, 120, 220))
        draw.text((win[0] + 28, y), name, font=font(20), fill="white" if name == "Jane Sample" else (40, 40, 50))

    px = win[0] + 310
    draw.ellipse([px, win[1] + 80, px + 110, win[1] + 190], fill=(120, 90, 200))
    draw.text((px + 55, win[1] + 135), "JS", font=font(44), fill="white", anchor="mm")
    draw.text((px + 140, win[1] + 95), "Jane Sample", font=font(40), fill=(25, 25, 35))
    draw.text((px + 140, win[1] + 148), "Product Designer, Example Corp", font=font(20), fill=(110, 110, 120))
    rows = [("email", "jane.sample@example.com"), ("mobile", "+1 (555) 010-0199"),
            ("address", "123 Example St, Springfield"), ("birthday", "January 2, 1990")]
    for k, (label, value) in enumerate(rows):
        y = win[1] + 240 + k * 64
        draw.text((px, y), label, font=font(18), fill=(130, 130, 140))
        draw.text((px + 120, y - 6), value, font=font(28), fill=(30, 90, 200) if k < 2 else (30, 30, 40))
        draw.line([(px, y + 40), (win[2] - 40, y + 40)], fill=(225, 225, 232), width=1)
    for k, label in enumerate(("Message", "Call", "Share")):
        bx = px + k * 150
        draw.rounded_rectangle([bx, win[3] - 70, bx + 130, win[3] - 30], 10, fill=(235, 238, 245))
        draw.text((bx + 65, win[3] - 50), label, font=font(20), fill=(30, 90, 200), anchor="mm")
    return image


# --- output -----------------------------------------------------------------------------

IMAGES = {
    "id_card.png": id_card,
    "receipt.png": receipt,
    "screenshot_contact.png": screenshot_contact,
    "road_pothole_severe.jpg": road_pothole_severe,
    "road_pothole_moderate.jpg": road_pothole_moderate,
    "road_pothole_minor.jpg": road_pothole_minor,
    "road_clear.jpg": road_clear,
    "park_scene.jpg": park_scene,
    "beach_sunset.jpg": beach_sunset,
}


def save(image: Image.Image, path: Path) -> None:
    if path.suffix == ".png":
        # Documents have few colours; a palette keeps them small without visible loss.
        image.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(path, optimize=True)
    else:
        image.save(path, quality=JPEG_QUALITY, optimize=True)


def write_labels(path: Path) -> None:
    with path.open("w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["file", "task", "label", "tag"])
        writer.writerows(LABELS)


def make_samples(out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, draw_image in IMAGES.items():
        save(draw_image(), out_dir / name)
        written.append(out_dir / name)
    write_labels(out_dir / "labels.csv")
    return written + [out_dir / "labels.csv"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out_dir", nargs="?", type=Path, default=HERE, help="where to write (default: %(default)s)")
    args = parser.parse_args()
    for path in make_samples(args.out_dir):
        print(f"{path}  {path.stat().st_size // 1024} KB")


if __name__ == "__main__":
    main()
