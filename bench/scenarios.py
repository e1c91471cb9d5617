"""The measured scenarios: which server, which action, which log size, how many connections."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Scenario", "all_scenarios"]


@dataclass(frozen=True, slots=True)
class Scenario:
    system: str  # "floor" or "logg"
    action: str  # "write" or "read"
    size: int | None  # entries in the logg log; None for the floor
    connections: int

    @property
    def label(self) -> str:
        if self.system == "floor":
            return f"floor {'insert' if self.action == 'write' else 'read page'}"
        what = "write entry" if self.action == "write" else "read first page"
        size = f"{self.size:,}".replace(",", " ")
        return f"logg {what}, {size}-entry log"


def all_scenarios(small: int, big: int, connections: tuple[int, ...]) -> list[Scenario]:
    """In the order one round runs them: writes, then reads; floor before logg."""
    scenarios = []
    for action in ("write", "read"):
        for system, size in (("floor", None), ("logg", small), ("logg", big)):
            for count in connections:
                scenarios.append(Scenario(system, action, size, count))
    return scenarios
