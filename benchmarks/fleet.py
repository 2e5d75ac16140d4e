"""Benchmark: building a fleet offline against a floor measured in the same run.

The floor launches the same number of plain instances (one ``run-instances`` each, no
network or IAM resources) in a fresh lab; the fleet build makes the template's VPC,
subnets, groups, ACLs, endpoints, roles, profiles and instances, then tags. Interleaved
runs, medians; the ratio (build / floor) is what matters on a shared machine.

The two ways the same template becomes resources are timed too, each in a fresh lab on
the same seed: ``template.create_offline`` (the EC2 and IAM calls, offline's way) and the
CloudFormation stack (``fleet._create_stack``, a real account's way, which moto's
CloudFormation hosts as ssmlab corrects it); everything else ``build`` does is the same
for both.

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


def _create(seed: int, how: str) -> float:
    lab = ssmlab.start(quiet=True)
    for member, spec in fleet._specs(fleet.draw(seed)):
        if spec.profile == "empty":  # made before the stack by build, outside the timing
            lab.client("iam").create_instance_profile(InstanceProfileName=template.names(lab.name, member)["profile"])
    body = fleet.template_for(lab, seed)
    began = time.perf_counter()
    if how == "stack":
        fleet._create_stack(lab, body, seed)
    else:
        template.create_offline(lab, body)
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    os.environ.setdefault("SSMLAB_PROGRESS", os.path.join(tempfile.mkdtemp(), "progress.json"))
    ssmlab.start(quiet=True)  # imports and the server, outside the timings
    builds, floors, calls, stacks = [], [], [], []
    for n in range(args.repeat):
        floors.append(_floor())
        builds.append(_build(seed=n))
        calls.append(_create(n, "calls"))
        stacks.append(_create(n, "stack"))
    ssmlab.stop()
    build, floor = statistics.median(builds), statistics.median(floors)
    print(f"fleet.build, median of {args.repeat} seeds: {build:.2f} s")
    print(f"floor ({fleet.SIZE} run-instances): {floor:.2f} s")
    print(f"ratio: {build / floor:.1f}")
    by_calls, by_stack = statistics.median(calls), statistics.median(stacks)
    print(f"the template by EC2 and IAM calls: {by_calls:.2f} s; as a CloudFormation stack: {by_stack:.2f} s")
    print(f"ratio stack / calls: {by_stack / by_calls:.2f}")


if __name__ == "__main__":
    main()
