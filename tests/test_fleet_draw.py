"""A fleet's draw survives new causes: appending a cause to the catalogue changes only the
draws it enters, and there only from the slot it takes on (ssmlab.fleet.draw's docstring).

The catalogue grows (a cause is one ``Cause`` appended to ``CAUSES``); a lesson or a
workshop names a seed and expects its fleet. A whole-catalogue shuffle re-drew every seed
on each addition; these properties would have failed for it.
"""

from __future__ import annotations

import dataclasses
from unittest import mock

from hypothesis import given
from hypothesis import strategies as st

from ssmlab import fleet
from ssmlab.fleet import causes as catalogue

#: A new cause as another branch might append it: a fresh key, maybe a group of its own or
#: one already in the catalogue, maybe offline only.
GROUPS = sorted({c.group for c in catalogue.CAUSES if c.group}) + [None, "a-new-group"]
new_causes = st.builds(
    lambda key, group, real: dataclasses.replace(catalogue.CAUSES[0], key=key, group=group, real_account=real),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz-", min_size=1, max_size=30).filter(
        lambda key: key not in catalogue.BY_KEY),
    st.sampled_from(GROUPS),
    st.booleans(),
)


def keys(drawn) -> list[tuple[str, str]]:
    return [(member, cause.key) for member, cause in drawn]


def drawn_from(causes: tuple, seed: int, real_account: bool = False) -> list[tuple[str, str]]:
    with mock.patch.object(fleet, "CAUSES", causes):
        return keys(fleet.draw(seed, real_account=real_account))


def drawn_with(extra: tuple, seed: int, real_account: bool = False) -> list[tuple[str, str]]:
    return drawn_from(catalogue.CAUSES + extra, seed, real_account)


@given(seed=st.integers(min_value=0, max_value=10**6), new=new_causes, real_account=st.booleans(),
       position=st.integers(min_value=0, max_value=len(catalogue.CAUSES)))
def test_a_new_cause_changes_a_draw_only_from_where_it_entered(seed, new, real_account, position):
    """Appended (the usual way), or put anywhere in the catalogue: the ranks do not depend
    on the catalogue's order."""
    before = keys(fleet.draw(seed, real_account=real_account))
    causes = catalogue.CAUSES[:position] + (new,) + catalogue.CAUSES[position:]
    after = drawn_from(causes, seed, real_account)
    assert after == drawn_with((new,), seed, real_account)
    entered = [slot for slot, (_, key) in enumerate(after) if key == new.key]
    if not entered:
        assert after == before  # a seed it does not enter keeps every member's cause
    else:
        assert new.real_account or not real_account
        assert after[:entered[0]] == before[:entered[0]]  # the members before its slot keep theirs
    assert len(after) == fleet.SIZE


def test_a_new_cause_enters_some_draws_and_leaves_most_members_as_they_were():
    """A control for the property above: the new cause does enter draws (it would pass
    vacuously if it never did), and the changes stay local."""
    new = dataclasses.replace(catalogue.CAUSES[0], key="agent-not-installed", group=None, real_account=True)
    seeds = range(300)
    changed_members = entered = 0
    for seed in seeds:
        before, after = keys(fleet.draw(seed)), drawn_with((new,), seed, False)
        entered += any(key == new.key for _, key in after)
        changed_members += sum(b != a for b, a in zip(before, after))
    assert 0 < entered < len(seeds)
    assert changed_members < len(seeds) * fleet.SIZE / 4


def test_lesson_08s_fleet_is_the_same_with_the_two_causes_being_added():
    """The seed lesson 08 builds draws the same fleet once agent-region-override and
    agent-not-installed are appended (offline and on a real account)."""
    import re
    from pathlib import Path

    lesson = (Path(__file__).resolve().parents[1] / "notebooks" / "08-fix-the-fleet.ipynb").read_text()
    seed = int(re.search(r"fleet\.build\(lab, seed=(\d+)\)", lesson).group(1))
    coming = ("agent-region-override", "agent-not-installed")
    without = tuple(c for c in catalogue.CAUSES if c.key not in coming)  # as before they land
    extra = tuple(dataclasses.replace(catalogue.CAUSES[0], key=key, group=None, real_account=True) for key in coming)
    for real_account in (False, True):
        assert drawn_from(without + extra, seed, real_account) == drawn_from(without, seed, real_account)
