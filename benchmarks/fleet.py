"""Benchmark: building a fleet offline against a floor measured in the same run.

The floor launches the same number of plain instances (one ``run-instances`` each, no
network or IAM resources) in a fresh lab; the fleet build makes the template's VPC,
subnets, groups, ACLs, endpoints, roles, profiles and instances, then tags. Interleaved
runs, medians; the ratio (build / floor) is what matters on a shared machine.

    .venv/bin/python benchmarks/fleet.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

import ssmlab
from ssmlab import fleet
from ssmlab.fleet import template


def _floor() -> float:
    lab = ssmlab.start(quiet=True)
    ec2 = lab.client("ec2")
    image = lab.client("ssm").get_parameter(Name=template.AMI_PARAMETER)["Parameter"]["Value"]
    began = time.perf_counter()
    for _ in range(fleet.SIZE):
        ec2.run_instances(ImageId=image, InstanceType=template.INSTANCE_TYPE, MinCount=1, MaxCount=1)
    return time.perf_counter() - began


def _build(seed: int) -> float:
    lab = ssmlab.start(quiet=True)
    began = time.perf_counter()
    fleet.build(lab, seed)
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    os.environ.setdefault("SSMLAB_PROGRESS", os.path.join(tempfile.mkdtemp(), "progress.json"))
    ssmlab.start(quiet=True)  # imports and the server, outside the timings
    builds, floors = [], []
    for n in range(args.repeat):
        floors.append(_floor())
        builds.append(_build(seed=n))
    ssmlab.stop()
    build, floor = statistics.median(builds), statistics.median(floors)
    print(f"fleet.build, median of {args.repeat} seeds: {build:.2f} s")
    print(f"floor ({fleet.SIZE} run-instances): {floor:.2f} s")
    print(f"ratio: {build / floor:.1f}")


if __name__ == "__main__":
    main()
