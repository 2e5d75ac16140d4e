"""CloudFormation templates the lessons launch, shipped inside the package.

    from ssmlab import templates
    templates.EC2_INSTANCE_PROFILE.read_text()   # the YAML lesson 03 shows and launches
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent

#: One EC2 instance launched with an existing instance profile (parameter
#: InstanceProfileName); IMDSv2 required, no key pair, no inbound rule, latest AL2023 AMI.
EC2_INSTANCE_PROFILE = HERE / "ec2-instance-profile.yaml"
