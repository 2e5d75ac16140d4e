"""Debian 12's public AMI and its public SSM parameter, which moto does not ship.

Debian publishes its AMIs from its own account (136693071363) and the latest one's id under
the public parameter ``/aws/service/debian/release/bookworm/latest/amd64`` (Debian wiki,
"Cloud/AmazonEC2Image/Bookworm"). Its images carry no SSM Agent: AWS's list of AMIs with
SSM Agent preinstalled does not include Debian (docs/aws-facts.md#fleet-agent-not-installed).
moto 5.2's image list has no Debian image and its parameter store no Debian parameter; here
each Region's EC2 backend gets one Debian 12 image (its id derived from the Region, as AMI
ids differ per Region) and each parameter store the parameter naming it.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone

from ._moto import Ami, AmiBackend, Parameter, ParameterDict

DEBIAN_PARAMETER = "/aws/service/debian/release/bookworm/latest/amd64"
DEBIAN_OWNER = "136693071363"
#: Debian's AMI names: debian-12-amd64-YYYYMMDD-BUILD (Debian wiki, Cloud/AmazonEC2Image).
DEBIAN_NAME = "debian-12-amd64-20251006-2257"
_CREATED = datetime(2025, 10, 6, 22, 57, tzinfo=timezone.utc)
_installed = False


def debian_ami_id(region: str) -> str:
    return "ami-0" + hashlib.sha256(f"{DEBIAN_NAME}/{region}".encode()).hexdigest()[:16]


def install() -> None:
    global _installed
    if _installed:
        return
    load_amis = AmiBackend._load_amis
    check_loading = ParameterDict._check_loading_status

    def load_amis_and_debian(self) -> None:
        load_amis(self)
        ami_id = debian_ami_id(self.region_name)
        self.amis[ami_id] = Ami(
            self, ami_id, name=DEBIAN_NAME, description="Debian 12 (20251006-2257)", owner_id=DEBIAN_OWNER,
            public=True, virtualization_type="hvm", architecture="x86_64", creation_date=_CREATED,
            hypervisor="xen", root_device_type="ebs", root_device_name="/dev/xvda", region_name=self.region_name,
        )

    def check_loading_and_debian(self, key: str) -> None:
        check_loading(self, key)
        if str(key or "").startswith("/aws/service/debian") and not getattr(self, "_ssmlab_debian", False):
            self._ssmlab_debian = True
            self.setdefault(DEBIAN_PARAMETER, []).append(Parameter(
                account_id=self.account_id, name=DEBIAN_PARAMETER, value=debian_ami_id(self.region_name),
                parameter_type="String", description=None, allowed_pattern=None, keyid=None,
                last_modified_date=_CREATED, version=1, data_type="aws:ec2:image",
            ))

    load_amis_and_debian.__wrapped__ = load_amis
    check_loading_and_debian.__wrapped__ = check_loading
    AmiBackend._load_amis = load_amis_and_debian
    ParameterDict._check_loading_status = check_loading_and_debian
    _installed = True
