"""The memory of tokens checked lately (`models.recently_checked`): each is
remembered for a few seconds, and forgotten once stale, so a process that
has seen a million customer tokens keeps only those used lately."""

from __future__ import annotations

from models.recently_checked import RecentlyChecked


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_value_is_remembered_for_its_seconds_then_not():
    clock = Clock()
    memory: RecentlyChecked[str] = RecentlyChecked(5.0, clock)
    memory.remember("a", "token a")
    clock.now += 4.9
    assert memory.get("a") == "token a"
    clock.now += 0.2
    assert memory.get("a") is None


def test_stale_values_are_let_go_as_new_ones_come_so_memory_stays_bounded():
    clock = Clock()
    memory: RecentlyChecked[int] = RecentlyChecked(5.0, clock)
    for n in range(100_000):
        memory.remember(f"token {n}", n)
        clock.now += 0.001  # a thousand distinct tokens a second
    assert len(memory) <= 5_001
    assert memory.get("token 99999") == 99_999 and memory.get("token 0") is None


def test_remembering_again_keeps_a_value_for_its_whole_time_again():
    clock = Clock()
    memory: RecentlyChecked[str] = RecentlyChecked(5.0, clock)
    memory.remember("a", "first")
    clock.now += 4
    memory.remember("a", "again")
    memory.remember("b", "other")
    clock.now += 4
    memory.remember("c", "newest")  # lets go of what is stale, and only that
    assert memory.get("a") == "again" and memory.get("b") == "other"


def test_a_forgotten_value_is_gone_at_once():
    memory: RecentlyChecked[str] = RecentlyChecked(5.0, Clock())
    memory.remember("a", "token a")
    memory.forget("a")
    memory.forget("never there")
    assert memory.get("a") is None and len(memory) == 0
