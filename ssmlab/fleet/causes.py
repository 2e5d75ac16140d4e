"""The fleet's causes: why an EC2 instance is not a managed node Session Manager can reach.

Each :class:`Cause` says how to break one member of the fleet (``apply`` edits the member's
:class:`Spec`, from which the fleet's CloudFormation template is written), the two hints,
and the least change that fixes it, as AWS CLI lines (``fix``, with ``{placeholders}``
filled from the member's resources). Every fact behind a cause is in
``docs/aws-facts.md`` under "The fleet's causes", at the cause's ``anchor``.

Pure data: nothing here calls AWS.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from ..i18n import _
from ..naming import TAG_KEY


def N_(message: str) -> str:
    """Marks a sentence for translation where it is defined; ``_`` translates it when shown
    (Babel extracts ``N_`` by default), so switching language later still takes effect."""
    return message

CORE = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
DHMC_POLICY = "arn:aws:iam::aws:policy/AmazonSSMManagedEC2InstanceDefaultPolicy"
DEPRECATED_POLICY = "arn:aws:iam::aws:policy/service-role/AmazonEC2RoleforSSM"
ADMIN_POLICY = "arn:aws:iam::aws:policy/AdministratorAccess"
EC2_TRUST = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}'
SSM_TRUST = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ssm.amazonaws.com"},"Action":"sts:AssumeRole"}]}'
#: The endpoints an instance without internet needs (docs/aws-facts.md#fleet-private-subnet-no-route).
ENDPOINT_SERVICES = ("ssm", "ssmmessages", "ec2messages")
DOCS = "docs/aws-facts.md"


@dataclass
class Spec:
    """One member as the template builds it. The defaults are a healthy member."""

    trust: str = "ec2.amazonaws.com"  # the role's trusted service
    managed: list[str] = field(default_factory=lambda: [CORE])
    inline_deny: bool = False  # an inline policy denying ssm:UpdateInstanceInformation
    boundary: bool = False  # a permissions boundary allowing only S3 reads
    profile: str = "role"  # "role": profile holds the role; "empty": profile without role; "none"
    subnet: str = "public"  # "public", "private" (no route out), "nacl" (public, return traffic dropped)
    security_group: str = "fleet"  # "fleet" (egress 443) or "blocked" (egress 80 only)
    imds: str = "enabled"
    refused_first: bool = False  # the role gains its policy only after the agent was refused
    endpoints: bool = False  # interface endpoints for ENDPOINT_SERVICES, PrivateDnsEnabled false
    user_data: str | None = None  # a shell script cloud-init runs once, at the first boot
    image: str = "al2023"  # "al2023" (ships SSM Agent) or "debian" (Debian 12: no agent)


@dataclass(frozen=True)
class Cause:
    key: str
    title: str
    hint1: str
    hint2: str
    fix: tuple[str, ...]  #: AWS CLI lines, least change; {placeholders} from the member
    anchor: str  #: in docs/aws-facts.md
    apply: Callable[[Spec], None] = field(repr=False, compare=False)
    #: Causes that cannot share a fleet with this one (they change the same VPC- or
    #: account-wide setting).
    group: str | None = None
    #: False: changes an account-wide setting, so never drawn on a real account.
    real_account: bool = True

    def hint(self, level: int) -> str:
        """The hint at ``level`` (1 narrows, 2 names the cause), in the lab's language."""
        return _(self.hint1 if level == 1 else self.hint2)

    @property
    def label(self) -> str:
        return _(self.title)

    @property
    def source(self) -> str:
        return f"{DOCS}#{self.anchor}"


def _set(**values):
    def apply(spec: Spec) -> None:
        for key, value in values.items():
            setattr(spec, key, value)

    return apply


_REBOOT = "aws ec2 reboot-instances --instance-ids {instance}"

#: AWS's download of SSM Agent's Debian package (docs/aws-facts.md#fleet-agent-not-installed).
AGENT_DEB = "https://s3.amazonaws.com/ec2-downloads-windows/SSMAgent/latest/debian_amd64/amazon-ssm-agent.deb"

#: User data that installs the agent at every boot: the AWS Knowledge Center's MIME
#: multi-part form with ``[scripts-user, always]`` (docs/aws-facts.md#instance-machine),
#: around the install steps of "Manually installing SSM Agent on Debian Server instances".
INSTALL_AGENT_EVERY_BOOT = (
    'Content-Type: multipart/mixed; boundary="//"\n'
    "MIME-Version: 1.0\n"
    "\n"
    "--//\n"
    'Content-Type: text/cloud-config; charset="us-ascii"\n'
    "MIME-Version: 1.0\n"
    "Content-Transfer-Encoding: 7bit\n"
    'Content-Disposition: attachment; filename="cloud-config.txt"\n'
    "\n"
    "#cloud-config\n"
    "cloud_final_modules:\n"
    "- [scripts-user, always]\n"
    "\n"
    "--//\n"
    'Content-Type: text/x-shellscript; charset="us-ascii"\n'
    "MIME-Version: 1.0\n"
    "Content-Transfer-Encoding: 7bit\n"
    'Content-Disposition: attachment; filename="userdata.txt"\n'
    "\n"
    "#!/bin/bash\n"
    f"wget -q -O /tmp/amazon-ssm-agent.deb {AGENT_DEB}\n"
    "dpkg -i /tmp/amazon-ssm-agent.deb\n"
    "--//--\n"
)

CAUSES: tuple[Cause, ...] = (
    Cause(
        key="no-instance-profile",
        title=N_("No instance profile, and no Default Host Management Configuration"),
        hint1=N_("Ask EC2 what identity the instance runs with: describe-instances, IamInstanceProfile."),
        hint2=N_("The instance has no instance profile and the Region has no Default Host Management "
                "Configuration: the agent has no credentials at all. Give it a profile whose role trusts "
                "EC2 and holds AmazonSSMManagedInstanceCore."),
        fix=(
            "aws iam create-role --role-name {role} --assume-role-policy-document '" + EC2_TRUST + "'",
            "aws iam attach-role-policy --role-name {role} --policy-arn " + CORE,
            "aws iam create-instance-profile --instance-profile-name {profile}",
            "aws iam add-role-to-instance-profile --instance-profile-name {profile} --role-name {role}",
            "aws ec2 associate-iam-instance-profile --instance-id {instance} --iam-instance-profile Name={profile}",
        ),
        anchor="fleet-no-instance-profile",
        apply=_set(profile="none", managed=[]),
        group="dhmc",
    ),
    Cause(
        key="role-without-policy",
        title=N_("The role holds no policy that lets the agent register"),
        hint1=N_("The instance has a profile and a role. What may that role do?"),
        hint2=N_("The role has no policy allowing ssm:UpdateInstanceInformation: attach "
                "AmazonSSMManagedInstanceCore (not AdministratorAccess)."),
        fix=("aws iam attach-role-policy --role-name {role} --policy-arn " + CORE,),
        anchor="fleet-role-without-policy",
        apply=_set(managed=[]),
    ),
    Cause(
        key="explicit-deny",
        title=N_("An inline policy explicitly denies the agent's call"),
        hint1=N_("The role has AmazonSSMManagedInstanceCore. Does anything else on the role say no?"),
        hint2=N_("An inline policy on the role denies ssm:UpdateInstanceInformation, and an explicit Deny "
                "beats every Allow: list-role-policies, then delete that policy."),
        fix=("aws iam delete-role-policy --role-name {role} --policy-name {deny_policy}",),
        anchor="fleet-explicit-deny",
        apply=_set(inline_deny=True),
    ),
    Cause(
        key="permissions-boundary",
        title=N_("A permissions boundary leaves the agent's calls out"),
        hint1=N_("The role's policies allow the agent. Is there a limit on what they can grant?"),
        hint2=N_("The role has a permissions boundary that allows only S3 reads: nothing outside it is "
                "allowed, whatever the policies say. Remove the boundary (or widen it to the agent's calls)."),
        fix=("aws iam delete-role-permissions-boundary --role-name {role}",),
        anchor="fleet-permissions-boundary",
        apply=_set(boundary=True),
    ),
    Cause(
        key="trust-only-ssm",
        title=N_("The role trusts ssm.amazonaws.com, not ec2.amazonaws.com"),
        hint1=N_("The role has the right policy. Who may assume it?"),
        hint2=N_("The instance profile's role must trust ec2.amazonaws.com: EC2 assumes it and hands its "
                "credentials to the instance. This one trusts only ssm.amazonaws.com."),
        fix=("aws iam update-assume-role-policy --role-name {role} --policy-document '" + EC2_TRUST + "'",),
        anchor="fleet-trust-only-ssm",
        apply=_set(trust="ssm.amazonaws.com"),
    ),
    Cause(
        key="profile-without-role",
        title=N_("The instance profile holds no role"),
        hint1=N_("The instance has an instance profile. What is inside it?"),
        hint2=N_("get-instance-profile shows Roles: []: the profile holds no role, so instance metadata has "
                "no credentials. Add the member's role (it exists, with the right policy) to the profile."),
        fix=("aws iam add-role-to-instance-profile --instance-profile-name {profile} --role-name {role}",),
        anchor="fleet-profile-without-role",
        apply=_set(profile="empty"),
    ),
    Cause(
        key="imds-disabled",
        title=N_("Instance metadata is turned off"),
        hint1=N_("IAM looks right. How does the agent learn who it is and get its credentials?"),
        hint2=N_("MetadataOptions HttpEndpoint is disabled: the agent cannot read its identity or the "
                "role's credentials from instance metadata. Turn the endpoint on."),
        fix=("aws ec2 modify-instance-metadata-options --instance-id {instance} --http-endpoint enabled",),
        anchor="fleet-imds-disabled",
        apply=_set(imds="disabled"),
    ),
    Cause(
        key="private-subnet-no-route",
        title=N_("A private subnet with no way out: no NAT, no internet gateway, no endpoints"),
        hint1=N_("IAM looks right. How would the instance's HTTPS requests reach Systems Manager?"),
        hint2=N_("The subnet's route table has no 0.0.0.0/0 route and the VPC has no interface endpoints: "
                "create endpoints for ssm, ssmmessages and ec2messages with private DNS (a NAT gateway "
                "works too, at a higher cost)."),
        # Tagged and named as the lab's (docs/aws-facts.md#the-fleet-on-cloudformation): clean-up
        # may delete them before the stack, whose VPC they would keep from being deleted.
        fix=tuple(
            f"aws ec2 create-vpc-endpoint --vpc-id {{vpc}} --vpc-endpoint-type Interface --service-name "
            f"com.amazonaws.{{region}}.{service} --subnet-ids {{subnet}} --security-group-ids {{endpoint_sg}} "
            f"--private-dns-enabled --tag-specifications 'ResourceType=vpc-endpoint,Tags=[{{Key={TAG_KEY},"
            f"Value={{lab_tag}}}},{{Key=Name,Value={{endpoint_name_{service}}}}}]'"
            for service in ENDPOINT_SERVICES
        ),
        anchor="fleet-private-subnet-no-route",
        apply=_set(subnet="private"),
        group="private-subnet",
    ),
    Cause(
        key="endpoints-without-private-dns",
        title=N_("Interface endpoints exist, but without private DNS"),
        hint1=N_("The subnet has no route out, yet the VPC has endpoints. Which address does "
                "ssm.REGION.amazonaws.com resolve to inside the VPC?"),
        hint2=N_("The endpoints have PrivateDnsEnabled false, so the service's public name still resolves to "
                "public addresses the subnet cannot reach. Turn private DNS on for each endpoint."),
        fix=tuple(
            f"aws ec2 modify-vpc-endpoint --vpc-endpoint-id {{endpoint_{service}}} --private-dns-enabled"
            for service in ENDPOINT_SERVICES
        ),
        anchor="fleet-endpoints-without-private-dns",
        apply=_set(subnet="private", endpoints=True),
        group="private-subnet",
    ),
    Cause(
        key="security-group-egress",
        title=N_("The security group's egress does not allow HTTPS"),
        hint1=N_("The route table is fine. What may leave the instance?"),
        hint2=N_("The instance's security group allows outbound TCP 80 only; the agent needs TCP 443 out. "
                "Add that one egress rule (not all ports)."),
        fix=("aws ec2 authorize-security-group-egress --group-id {security_group} --protocol tcp --port 443 "
             "--cidr 0.0.0.0/0",),
        anchor="fleet-security-group-egress",
        apply=_set(security_group="blocked"),
    ),
    Cause(
        key="network-acl-return-traffic",
        title=N_("The subnet's network ACL drops the return traffic"),
        hint1=N_("Security group and routes allow HTTPS out. Is anything stateless in the way?"),
        hint2=N_("The network ACL allows TCP 443 in and out, but the replies come back to the instance's "
                "ephemeral port (32768-61000 on Amazon Linux), which no inbound rule allows. Add an inbound rule "
                "for TCP 1024-65535."),
        fix=("aws ec2 create-network-acl-entry --network-acl-id {network_acl} --ingress --rule-number 110 "
             "--protocol tcp --port-range From=1024,To=65535 --cidr-block 0.0.0.0/0 --rule-action allow",),
        anchor="fleet-network-acl-return-traffic",
        apply=_set(subnet="nacl"),
    ),
    Cause(
        key="agent-stopped",
        title=N_("The agent's service was stopped"),
        hint1=N_("IAM and the network look right, and the image ships the agent. Is the agent running at all?"),
        hint2=N_("The instance's user data ran `systemctl stop amazon-ssm-agent` at its first boot. User data "
                 "runs once per instance and the service is still enabled: a reboot starts the agent again."),
        fix=(_REBOOT,),
        anchor="fleet-agent-stopped",
        apply=_set(user_data="#!/bin/bash\nsystemctl stop amazon-ssm-agent\n"),
    ),
    Cause(
        key="refused-then-fixed",
        title=N_("Fixed already, but the agent is waiting out its back-off"),
        hint1=N_("Everything checks out now. What did the agent's log say when it last tried?"),
        hint2=N_("The role got its policy after the agent was refused; the agent sleeps 25-30 minutes "
                "after an AccessDeniedException before it retries. Reboot the instance to retry now (or wait)."),
        fix=(_REBOOT,),
        anchor="fleet-refused-then-fixed",
        apply=_set(managed=[], refused_first=True),
    ),
    Cause(
        key="dhmc-role-without-policy",
        title=N_("Default Host Management Configuration's role lacks its policy"),
        hint1=N_("No instance profile, but the Region's Default Host Management Configuration is on. "
                "Which role does it name, and what may that role do?"),
        hint2=N_("The role in /ssm/managed-instance/default-ec2-instance-management-role has no policy: "
                "attach AmazonSSMManagedEC2InstanceDefaultPolicy to it."),
        fix=("aws iam attach-role-policy --role-name {dhmc_role} --policy-arn " + DHMC_POLICY,),
        anchor="fleet-dhmc-role-without-policy",
        apply=_set(profile="none", managed=[]),
        group="dhmc",
        real_account=False,
    ),
)

# The second pass (docs/aws-facts.md, "The fleet's causes, second pass"), appended so the
# causes above keep their places.
CAUSES += (
    Cause(
        key="agent-not-installed",
        title=N_("The image has no SSM Agent"),
        hint1=N_("IAM and the network check out, yet Systems Manager has never heard of the instance and the "
                 "runbook finds nothing wrong. Which image was it launched from, and does that image ship the agent?"),
        hint2=N_("The instance runs Debian 12, and Debian's AMIs do not ship SSM Agent: nothing on it can register. "
                 "Install the agent without relaunching: stop the instance, set user data that downloads and installs "
                 "the agent's .deb at every boot (MIME multi-part with [scripts-user, always]), start it."),
        fix=(
            "aws ec2 stop-instances --instance-ids {instance}",
            "aws ec2 wait instance-stopped --instance-ids {instance}",
            "aws ec2 modify-instance-attribute --instance-id {instance} --attribute userData --value "
            "\"$(base64 -w0 <<'EOF'\n" + INSTALL_AGENT_EVERY_BOOT + "EOF\n)\"",
            "aws ec2 start-instances --instance-ids {instance}",
        ),
        anchor="fleet-agent-not-installed",
        apply=_set(image="debian"),
    ),
)

BY_KEY = {cause.key: cause for cause in CAUSES}
