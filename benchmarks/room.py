"""Benchmark: N blog journeys at once, with the same names, on one `ssmlab serve --attendees`.

Starts `ssmlab serve --attendees N+1 --cards TMP`; the last attendee makes the journey alone
first (the floor: the same calls on the same server with nobody else), then attendees
1..N make it all at once, one thread each, through boto3 (`ssmlab.room.blog_journey`:
create-role, create-instance-profile, add-role-to-instance-profile, create-stack from the
lesson template, the second role's LimitExceeded, the trust detour, attach
AmazonSSMManagedInstanceCore, reboot, describe-instance-information until Online).
Reports collisions (any journey that did not see exactly its own), p50/p95 latency per
call alone and in the room, their ratio, and the server's resident memory. With
``--think S`` each attendee pauses before each call (uniformly 0 to 2*S seconds, seeded per
attendee), as people reading and typing do; without it every attendee calls back to back,
the worst case.

    .venv/bin/python benchmarks/room.py [--attendees 50] [--think 5]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ssmlab import room, templates  # noqa: E402

BIN = Path(sys.executable).parent
OWN_ROLES = {"role-for-ec2", "role-for-ssm", "OrganizationAccountAccessRole"}


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def collisions(journey: room.Journey) -> list[str]:
    problems = []
    if journey.second_role_error != "LimitExceeded: Cannot exceed quota for InstanceSessionsPerInstanceProfile: 1":
        problems.append(f"second role: {journey.second_role_error!r}")
    if journey.ping_status != "Online":
        problems.append("never Online")
    if set(journey.roles) != OWN_ROLES or len(journey.roles) != 3:
        problems.append(f"roles {journey.roles}")
    if journey.instances != (journey.instance_id,) or journey.managed != (f"{journey.instance_id}:Online",):
        problems.append(f"instances {journey.instances}, managed {journey.managed}")
    if journey.profile_arn != f"arn:aws:iam::{journey.account_id}:instance-profile/for-ec2":
        problems.append(f"profile {journey.profile_arn}")
    return problems


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--attendees", type=int, default=50)
    parser.add_argument("--think", type=float, default=0.0, help="mean pause before each call, seconds")
    args = parser.parse_args()
    template = templates.EC2_INSTANCE_PROFILE.read_text()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "cards"
        began = time.perf_counter()
        server = subprocess.Popen([str(BIN / "ssmlab"), "serve", "--port", "0", "--attendees",
                                   str(args.attendees + 1), "--cards", str(folder)],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            for line in server.stdout:
                if "Serving until" in line:
                    break
            else:
                print(server.stderr.read(), file=sys.stderr)
                return 1
            started = time.perf_counter() - began
            idle = rss_mb(server.pid)
            cards = [room.read_card(folder / room.card_name(n)) for n in range(1, args.attendees + 2)]
            alone = room.blog_journey(cards[-1], template)
            after_alone = rss_mb(server.pid)
            began = time.perf_counter()
            def journey(numbered):
                number, card = numbered
                rng = random.Random(number)
                pause = (lambda: time.sleep(rng.uniform(0, 2 * args.think))) if args.think else None
                return room.blog_journey(card, template, pause)

            with concurrent.futures.ThreadPoolExecutor(args.attendees) as pool:
                journeys = list(pool.map(journey, enumerate(cards[:-1])))
            wall = time.perf_counter() - began
            busy = rss_mb(server.pid)
            peak = rss_mb(server.pid, "VmHWM")
        finally:
            server.terminate()
            server.wait(timeout=60)
    problems = {j.account_id: collisions(j) for j in [alone, *journeys] if collisions(j)}
    accounts = {j.account_id for j in journeys}
    instances = {j.instance_id for j in journeys}
    pacing = f", each pausing 0-{2 * args.think:g} s before each call" if args.think else ", back to back"
    print(f"{args.attendees} concurrent blog journeys{pacing}, same names, one endpoint "
          f"(server started with {args.attendees + 1} accounts in {started:.1f} s)")
    print(f"collisions: {len(problems)} (distinct accounts {len(accounts)}, distinct instances {len(instances)})")
    for account, found in problems.items():
        print(f"  {account}: {'; '.join(found)}")
    print(f"room wall time: {wall:.1f} s; alone: {sum(map(sum, alone.latencies.values())):.2f} s")
    print()
    print(f"| call | n | alone p50 ms | room p50 ms | room p95 ms | p50 ratio |")
    print("|---|---|---|---|---|---|")
    every: list[float] = []
    for name in alone.latencies:
        room_values = [v for j in journeys for v in j.latencies.get(name, [])]
        every += room_values
        floor = statistics.median(alone.latencies[name])
        p50 = statistics.median(room_values)
        print(f"| {name} | {len(room_values)} | {floor * 1000:.0f} | {p50 * 1000:.0f} | "
              f"{percentile(room_values, 0.95) * 1000:.0f} | {p50 / floor:.1f} |")
    all_alone = [v for values in alone.latencies.values() for v in values]
    print(f"| every call | {len(every)} | {statistics.median(all_alone) * 1000:.0f} | "
          f"{statistics.median(every) * 1000:.0f} | {percentile(every, 0.95) * 1000:.0f} | "
          f"{statistics.median(every) / statistics.median(all_alone):.1f} |")
    print()
    print(f"server resident memory: {idle:.0f} MB idle with {args.attendees + 1} accounts, "
          f"{after_alone:.0f} MB after one journey, {busy:.0f} MB after {args.attendees + 1} (peak {peak:.0f} MB)")
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main())
