"""The instance metadata service (IMDS) of a simulated instance, from the lab's state.

``http://169.254.169.254`` answers a process on the instance: IMDSv1 (a plain GET) and
IMDSv2 (a PUT to ``/latest/api/token`` for a session token, then GETs carrying it). What
it answers comes from moto's EC2 instance (id, AMI, type, placement, addresses, metadata
options), its instance profile association and the profile's role, and the trust policy
EC2 must pass to assume that role. The facts, with their sources, are in
``docs/aws-facts.md#instance-shell-and-imds``.

Nothing here is used against a real account: there the real IMDS answers.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from . import agent

HOST = "169.254.169.254"
TOKEN_TTL_HEADER = "x-aws-ec2-metadata-token-ttl-seconds"
TOKEN_HEADER = "x-aws-ec2-metadata-token"
MAX_TOKEN_TTL = 21600  # seconds (EC2 User Guide, "Use IMDSv2")
CREDENTIAL_LIFETIME = timedelta(hours=6)


def _page(title: str) -> str:
    # The XHTML page IMDS sends with an error status (404, 401, 403, 400, 405).
    return (
        '<?xml version="1.0" encoding="iso-8859-1"?>\n'
        '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN"\n'
        '\t"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">\n'
        '<html xmlns="http://www.w3.org/1999/xhtml" xml:lang="en" lang="en">\n'
        f" <head>\n  <title>{title}</title>\n </head>\n"
        f" <body>\n  <h1>{title}</h1>\n </body>\n</html>\n"
    )


STATUS_TEXT = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed"}


def _json(pairs: list[tuple[str, object]]) -> str:
    """IMDS's JSON layout: two-space indent and `` : `` between key and value."""

    def value(v: object) -> str:
        if v is None:
            return "null"
        return f'"{v}"'

    return "{\n" + ",\n".join(f'  "{k}" : {value(v)}' for k, v in pairs) + "\n}"


def _stamp(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _digest(*parts: str) -> bytes:
    return hashlib.sha256("/".join(parts).encode()).digest()


def _id_chars(seed: bytes, length: int) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
    return "".join(alphabet[b % 32] for b in (seed * 4)[:length])


@dataclass(frozen=True)
class Response:
    status: int
    body: str

    @property
    def reason(self) -> str:
        return STATUS_TEXT.get(self.status, "OK")


@dataclass
class InstanceFacts:
    """What IMDS knows about one instance, read from moto's backends."""

    instance_id: str
    account_id: str
    region: str
    running: bool = False
    enabled: bool = True
    tokens_required: bool = False
    ami_id: str = ""
    instance_type: str = ""
    availability_zone: str = ""
    private_ip: str = ""
    private_dns: str = ""
    public_ip: str | None = None
    mac: str = ""
    reservation_id: str = ""
    security_groups: tuple[str, ...] = ()
    launched: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    profile_arn: str | None = None
    profile_id: str | None = None
    associated: datetime | None = None
    role_name: str | None = None
    role_id: str | None = None
    role_assumable: bool = False


def facts(account_id: str, region: str, instance_id: str) -> InstanceFacts:
    """Read the instance, its association and its role from moto (see module docstring)."""
    ec2, iam, _ = agent._backends(account_id, region)
    instance = agent._find_instance(ec2, instance_id)
    result = InstanceFacts(instance_id=instance_id, account_id=account_id, region=region)
    if instance is None:
        return result
    metadata = getattr(instance, "metadata_options", None)
    result.running = instance.state == "running"
    result.enabled = getattr(metadata, "http_endpoint", "enabled") != "disabled"
    result.tokens_required = getattr(metadata, "http_tokens", "optional") == "required"
    result.ami_id = instance.image_id
    result.instance_type = instance.instance_type
    result.availability_zone = getattr(instance.placement, "zone", None) or ""
    result.private_ip = instance.private_ip or ""
    result.private_dns = instance.private_dns_name or ""
    result.public_ip = getattr(instance, "public_ip", None) or None
    nic = next(iter(getattr(instance, "nics", {}).values()), None)
    result.mac = getattr(nic, "mac_address", "") or ""
    result.security_groups = tuple(getattr(g, "name", str(g)) for g in getattr(instance, "security_groups", []) or [])
    for reservation in ec2.reservations.values():
        if instance in reservation.instances:
            result.reservation_id = reservation.id
    try:
        launched = datetime.fromisoformat(str(instance.launch_time).replace("Z", "+00:00"))
    except ValueError:
        launched = datetime.now(timezone.utc)
    result.launched = launched if launched.tzinfo else launched.replace(tzinfo=timezone.utc)
    association = ec2.iam_instance_profile_associations.get(instance_id)
    if association is not None and getattr(association, "state", "associated") == "associated":
        profile = association.iam_instance_profile
        if any(p is profile for p in iam.instance_profiles.values()):
            result.profile_arn = profile.arn
            result.profile_id = profile.id
            result.associated = result.launched
            if profile.roles:
                role = profile.roles[0]
                result.role_name = role.name
                result.role_id = role.id
                result.role_assumable = agent.trusts_service(role, agent.EC2_SERVICE, account_id)[0]
    return result


# The session tokens each instance's IMDS issued, until their TTL ends: a token fetched by
# one command is still good in the next, as on the instance. Cleared with the lab (reset).
_issued: dict[tuple[str, str], dict[str, datetime]] = {}  # by (account id, instance id)


def reset() -> None:
    _issued.clear()


class Imds:
    """One instance's IMDS."""

    def __init__(self, facts: InstanceFacts, now=None) -> None:
        self.facts = facts
        self._now = now or (lambda: datetime.now(timezone.utc))
        self._tokens = _issued.setdefault((facts.account_id, facts.instance_id), {})

    # -- the credentials EC2 hands out ------------------------------------------------
    def credentials(self) -> dict[str, str] | None:
        """The role session's temporary keys (``ASIA…``), rotated hourly, valid 6 hours."""
        f = self.facts
        if not (f.role_name and f.role_assumable):
            return None
        now = self._now()
        hours = max(0, int((now - f.launched).total_seconds() // 3600))
        updated = f.launched + timedelta(hours=hours)
        seed = _digest(f.instance_id, f.role_id or "", str(hours))
        return {
            "Code": "Success",
            "LastUpdated": _stamp(updated),
            "Type": "AWS-HMAC",
            "AccessKeyId": "ASIA" + _id_chars(seed, 16),
            "SecretAccessKey": base64.b64encode(_digest("secret", seed.hex())).decode()[:40],
            "Token": "IQoJb3JpZ2luX2VjE" + base64.b64encode(_digest("token", seed.hex()) * 6).decode(),
            "Expiration": _stamp(updated + CREDENTIAL_LIFETIME),
        }

    # -- the tree ----------------------------------------------------------------------
    def _tree(self) -> dict:
        f = self.facts
        meta: dict = {
            "ami-id": f.ami_id,
            "ami-launch-index": "0",
            "hostname": f.private_dns,
            "instance-id": f.instance_id,
            "instance-life-cycle": "on-demand",
            "instance-type": f.instance_type,
            "local-hostname": f.private_dns,
            "local-ipv4": f.private_ip,
            "mac": f.mac,
            "placement/": {
                "availability-zone": f.availability_zone,
                "region": f.region,
            },
            "reservation-id": f.reservation_id,
            "security-groups": "\n".join(f.security_groups),
            "services/": {"domain": "amazonaws.com", "partition": "aws"},
        }
        if f.public_ip:
            meta["public-ipv4"] = f.public_ip
        if f.profile_arn:
            iam: dict = {"info": self._iam_info()}
            creds = self.credentials()
            if f.role_name and creds is not None:
                iam["security-credentials/"] = {f.role_name: _json(list(creds.items()))}
            meta["iam/"] = iam
        updated = _stamp(f.launched)
        meta["identity-credentials/"] = {
            "ec2/": {
                "info": _json([("Code", "Success"), ("LastUpdated", updated), ("AccountId", f.account_id)]),
            }
        }
        document = _json(
            [
                ("accountId", f.account_id),
                ("architecture", "x86_64"),
                ("availabilityZone", f.availability_zone),
                ("billingProducts", None),
                ("devpayProductCodes", None),
                ("marketplaceProductCodes", None),
                ("imageId", f.ami_id),
                ("instanceId", f.instance_id),
                ("instanceType", f.instance_type),
                ("kernelId", None),
                ("pendingTime", updated),
                ("privateIp", f.private_ip),
                ("ramdiskId", None),
                ("region", f.region),
                ("version", "2017-09-30"),
            ]
        )
        return {"latest/": {"meta-data/": meta, "dynamic/": {"instance-identity/": {"document": document}}}}

    def _iam_info(self) -> str:
        f = self.facts
        updated = _stamp(f.associated or f.launched)
        if f.role_name and not f.role_assumable:
            # IAM User Guide, "Troubleshoot IAM and Amazon EC2": EC2 cannot assume the role.
            return _json(
                [
                    ("Code", "AssumeRoleUnauthorizedAccess"),
                    ("Message", f"EC2 cannot assume the role {f.role_name}.  Please see documentation at "
                     "http://docs.amazonwebservices.com/IAM/latest/UserGuide/RolesTroubleshooting.html."),
                    ("LastUpdated", updated),
                ]
            )
        return _json(
            [
                ("Code", "Success"),
                ("LastUpdated", updated),
                ("InstanceProfileArn", f.profile_arn),
                ("InstanceProfileId", f.profile_id),
            ]
        )

    # -- requests ----------------------------------------------------------------------
    def _error(self, status: int) -> Response:
        return Response(status, _page(f"{status} - {STATUS_TEXT[status]}"))

    def request(self, method: str, path: str, headers: dict[str, str]) -> Response:
        """Answer one HTTP request; ``headers`` with lower-case names."""
        f = self.facts
        method = method.upper()
        path = "/" + path.lstrip("/")
        if not f.enabled:
            return self._error(403)  # IMDS turned off (HttpEndpoint=disabled)
        if path.rstrip("/") == "/latest/api/token":
            if method != "PUT":
                return self._error(405)
            ttl = headers.get(TOKEN_TTL_HEADER, "")
            if not ttl.isdigit() or not 1 <= int(ttl) <= MAX_TOKEN_TTL:
                return self._error(400)
            token = "AQAEA" + base64.b64encode(_digest(f.instance_id, str(self._now()), str(len(self._tokens)))).decode()[:51] + "=="
            self._tokens[token] = self._now() + timedelta(seconds=int(ttl))
            return Response(200, token)
        token = headers.get(TOKEN_HEADER)
        if token is not None:
            expires = self._tokens.get(token)
            if expires is None or expires < self._now():
                return self._error(401)
        elif f.tokens_required:
            return self._error(401)
        if method not in ("GET", "HEAD"):
            return self._error(405)
        node: object = self._tree()
        if path == "/":
            return Response(200, "latest")
        parts = [p for p in path.strip("/").split("/")]
        for i, part in enumerate(parts):
            if not isinstance(node, dict):
                return self._error(404)
            key = part + "/" if part + "/" in node else part
            if key not in node:
                return self._error(404)
            node = node[key]
        if isinstance(node, dict):
            return Response(200, "\n".join(sorted(k for k in node)))
        return Response(200, str(node))
