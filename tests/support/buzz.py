"""How a test judges a Python watch's buzz: aimed at its cue, then fired on time.

The two claims are held apart so that neither depends on how busy the machine is. The aim
(when the watch meant to buzz, mapped to the server's clock) may be wrong only by the clock
estimate's error: at most half the quickest of its loopback round trips. The firing may be
late only by what the watch itself allows (`LATE_TOLERANCE_S`; later cues are skipped, which
the tests' "every cue buzzed once" then catches). How late a starved thread wakes is a figure
for the benchmarks (bench_cue_timing), not a pass mark.
"""

from __future__ import annotations

from typing import Any

from wearable.client.buzz_scheduler import LATE_TOLERANCE_S, Buzz

#: The most a watch's offset estimate may be off on loopback: half a 100 ms round trip,
#: the quickest of eight, which even two busy cores keep well under.
AIM_TOLERANCE_S = 0.050
#: A thread's clock reading and a condition's wake-up may disagree by this much.
CLOCK_READ_EARLY_S = 0.001


def assert_buzzed_on_cue(buzz: Buzz[Any], to_server_clock: float) -> None:
    """`to_server_clock` is what to add to a watch time to read the server's clock."""
    cue_at_s = buzz.cue.at_ms / 1000
    aimed = buzz.due + to_server_clock
    assert abs(aimed - cue_at_s) <= AIM_TOLERANCE_S, (buzz, f"aimed {aimed - cue_at_s:+.3f} s")
    late = buzz.fired - buzz.due
    assert -CLOCK_READ_EARLY_S <= late <= LATE_TOLERANCE_S, (buzz, f"fired {late:+.3f} s late")
