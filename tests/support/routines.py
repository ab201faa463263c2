"""Small routines for the tests that run a whole routine against real time: one stretch.

Their words are few (a hold starts a moment after "start") and each is held on the left,
then the right, so a test picks only how long a hold is: seconds for a whole run, minutes
for a crash and a restart inside one hold.
"""

from __future__ import annotations


def one_stretch(
    routine_id: str, title: str, hold_s: float, step_title: str = "Quick stretch, {side} side"
) -> str:
    """A routine file's TOML: tests name it apart, since runs and faces show id and title."""
    return f'''
id = "{routine_id}"
title = "{title}"
safety_note = "Move gently."

[[steps]]
id = "stretch"
title = "{step_title}"
say = "Hold it."
hold = {{ seconds = {hold_s:g}, side = "both" }}
'''
