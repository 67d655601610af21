"""Small arithmetic shared by the image-token rules."""
from __future__ import annotations

import math


def count_label(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def round_half_up(x: float) -> int:
    return int(math.floor(x + 0.5))


def ceil_clean(x: float) -> int:
    # Float noise (43.99999999 or 33.00000001) must not add a whole row of patches.
    return math.ceil(round(x, 6))


def fit_within(width: int, height: int, longest_edge: int) -> tuple[int, int]:
    """Scale down (never up) to fit a longest_edge square, rounding to the nearest pixel, as Mistral's
    tokenizer does; a side never rounds to zero, since providers bill at least one row of a thin image."""
    ratio = max(width / longest_edge, height / longest_edge)
    if ratio <= 1:
        return width, height
    return max(1, round(width / ratio)), max(1, round(height / ratio))
