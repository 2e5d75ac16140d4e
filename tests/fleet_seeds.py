"""Seeds chosen from the fleet's draw, never typed: a test that needs certain causes asks for
the first seed that draws them, so a change to the catalogue or the draw cannot leave it
testing a fleet without them."""

from __future__ import annotations

from ssmlab import fleet


def drawn_keys(seed: int, *, real_account: bool = False) -> set[str]:
    return {cause.key for _, cause in fleet.draw(seed, real_account=real_account)}


def seed_drawing(*keys: str, real_account: bool = False, upto: int = 500) -> int:
    """The first seed below ``upto`` whose fleet draws every cause in ``keys``."""
    return next(s for s in range(upto) if set(keys) <= drawn_keys(s, real_account=real_account))
