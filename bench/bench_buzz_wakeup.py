"""How late the watch's buzz scheduler wakes for a cue, with the interpreter quiet and busy.

Run from the repository root:

    python -m bench.bench_buzz_wakeup [rounds=6] [schedulers=12] [busy-threads=2]

Each round starts `schedulers` BuzzSchedulers on `time.monotonic` (bench_cue_timing runs one
per watch, 24 watches in one process) with 8 cues each, 40-600 ms apart, and records, for
each buzz, how long after its due time the scheduler read the clock to fire it. The rounds
take turns: a quiet interpreter, then one where `busy-threads` Python threads keep the GIL
wanted (as the watches' HTTP parsing and the jitter proxy do in bench_cue_timing), so the
machine's other load falls on both alike. The CPU column is the scheduler threads' own CPU
time (time.thread_time at each thread's last buzz), per buzz.
"""

from __future__ import annotations

import os
import random
import statistics
import threading
import time

from bench.support import int_arg, machine, percentile
from wearable.client.buzz_scheduler import Buzz, BuzzScheduler

CUES = 8


def busy(stop: threading.Event) -> None:
    """Keep the GIL wanted, as Python code parsing answers does."""
    while not stop.is_set():
        sum(range(2000))


def one_round(schedulers: int, busy_threads: int, seed: int) -> tuple[list[float], float]:
    """Lateness of every buzz (ms) and the schedulers' CPU seconds, for one round."""
    rng = random.Random(seed)
    late: list[float] = []
    cpu: dict[int, float] = {}
    lock = threading.Lock()
    done = threading.Semaphore(0)

    def fired(buzz: Buzz[int]) -> None:
        with lock:
            late.append((buzz.fired - buzz.due) * 1000)
            cpu[threading.get_ident()] = time.thread_time()  # this thread's CPU so far
        done.release()

    stop = threading.Event()
    load = [threading.Thread(target=busy, args=(stop,), daemon=True) for _ in range(busy_threads)]
    running = [BuzzScheduler(time.monotonic, fired) for _ in range(schedulers)]
    for thread in load:
        thread.start()
    for scheduler in running:
        scheduler.start()
    start = time.monotonic() + 0.2
    for number, scheduler in enumerate(running):
        due, cues = start, []
        for cue in range(CUES):
            due += rng.uniform(0.04, 0.6)
            cues.append((due, number * CUES + cue))
        scheduler.replace(cues)
    for _ in range(schedulers * CUES):
        done.acquire(timeout=30)
    stop.set()
    for scheduler in running:
        scheduler.stop()
    for thread in load:
        thread.join()
    return late, sum(cpu.values())


def main(rounds: int = 6, schedulers: int = 12, busy_threads: int = 2) -> None:
    results: dict[int, tuple[list[float], float]] = {0: ([], 0.0), busy_threads: ([], 0.0)}
    for number in range(rounds):
        for threads, (late, cpu) in results.items():
            more, spent = one_round(schedulers, threads, seed=number)
            results[threads] = (late + more, cpu + spent)
    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.1f}")
    print(f"{rounds} rounds each, taking turns; {schedulers} schedulers x {CUES} cues")
    print("\nbuzz read the clock this long after its due time, ms")
    print(f"  {'interpreter':22}  {'buzzes':>6}  {'median':>6}  {'p95':>6}  {'max':>6}  CPU/buzz")
    for threads, (late, cpu) in results.items():
        mode = f"{threads} busy Python threads" if threads else "quiet"
        print(
            f"  {mode:22}  {len(late):>6}  {statistics.median(late):6.2f}"
            f"  {percentile(late, 0.95):6.2f}  {max(late):6.2f}  {cpu / len(late) * 1000:5.2f} ms"
        )


if __name__ == "__main__":
    main(int_arg(1, 6), int_arg(2, 12), int_arg(3, 2))
