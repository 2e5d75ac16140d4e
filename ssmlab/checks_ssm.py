"""Exercise checkers for the Systems Manager lessons (05-07): pure functions, one verdict each.

Same contract as :mod:`ssmlab.checks`: each takes what the learner wrote and the facts it
is judged against, never touches the lab, and returns a :class:`~ssmlab.checks.Feedback`
whose message is the one hint that helps most.

Facts behind the hints: docs/aws-facts.md#core-2 (who assumes an instance's role),
#core-4 (what AmazonSSMManagedInstanceCore grants, ssm:UpdateInstanceInformation as the
registration call), and the EC2 User Guide on IMDSv2 (a PUT to /latest/api/token, then the
token in the X-aws-ec2-metadata-token header).
"""

from __future__ import annotations

import json
import re
import shlex
from typing import Any, Iterable

from .milestones import on_pass

from .checks import EC2, SSM, Feedback, check_trust_policy
from .i18n import _

__all__ = [
    "check_denied_call",
    "check_role_and_session",
    "check_imds_commands",
    "check_minimal_trust_policy",
    "check_registration_policy",
]

REGISTRATION = "ssm:UpdateInstanceInformation"
IMDS = "http://169.254.169.254"
TOKEN_PATH = "/latest/api/token"
ROLE_PATH = "/latest/meta-data/iam/security-credentials/"

#: What Run Command needs besides registration (docs/aws-facts.md#core-4): the agent receives commands
#: over the ssmmessages control channel (agent >= 3.3.40.0), or polls ec2messages.
COMMAND_CHANNEL = (
    ("ssmmessages:CreateControlChannel", "ssmmessages:OpenControlChannel"),
    ("ec2messages:GetMessages", "ec2messages:AcknowledgeMessage", "ec2messages:SendReply"),
)


def _fail(message: str) -> Feedback:
    return Feedback(False, message)


def _blank(value: Any) -> bool:
    return value is Ellipsis or value is None or str(value).strip() in ("", "...")


def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]


# ------------------------------------------------------------- lesson 05: read the log


@on_pass('denied-call')
def check_denied_call(principal: Any, action: Any, fix: Any, *, role: str, instance_id: str) -> Feedback:
    """Lesson 05: who was refused, what, and which document must change?

    ``principal`` is the ARN the AccessDeniedException names, ``action`` the action after
    "not authorized to perform:", ``fix`` either "trust policy" or "permissions policy".
    """
    if _blank(principal):
        return _fail(_("replace ... in PRINCIPAL with the ARN after 'User:' in the agent's AccessDeniedException."))
    principal = str(principal).strip().strip('"')
    session = f"assumed-role/{role}/{instance_id}"
    if principal in (EC2, SSM) or principal.endswith(".amazonaws.com"):
        return _fail(
            _("{principal} is a service, not the caller in the log. Look after 'User:': EC2 "
            "already assumed the role, and the caller is that role's session.").format(principal=principal)
        )
    if re.fullmatch(rf"arn:aws[\w-]*:iam::\d{{12}}:role/(.+/)?{re.escape(role)}", principal):
        return _fail(
            _("that is the role itself. The log names a session of it (arn:aws:sts::...:"
            "assumed-role/ROLE/SESSION): copy the whole ARN after 'User:'.")
        )
    if not re.fullmatch(rf"arn:aws[\w-]*:sts::\d{{12}}:{re.escape(session)}", principal):
        return _fail(_("copy the ARN after 'User:' exactly; it ends with {session}.").format(session=session))
    if _blank(action):
        return _fail(_("replace ... in ACTION with the action after 'not authorized to perform:'."))
    action = str(action).strip().strip('"')
    if action.lower() == "sts:assumerole":
        return _fail(
            _("AssumeRole was not refused: the caller in the log is already an assumed-role "
            "session. The refused action comes after 'not authorized to perform:'.")
        )
    if action.lower() != REGISTRATION.lower():
        return _fail(_("{action!r} is not the action the log names after 'not authorized to perform:'.").format(action=action))
    if _blank(fix):
        return _fail(_('replace ... in FIX with "trust policy" or "permissions policy".'))
    fix = str(fix).strip().lower()
    if "trust" in fix:
        return _fail(
            _("the trust policy already works: the caller is assumed-role/... because EC2 could "
            "assume the role. What the role may DO is its permissions policies' job.")
        )
    if "permission" not in fix:
        return _fail(_('answer FIX with "trust policy" or "permissions policy".'))
    return Feedback(
        True,
        _("the instance acts as {session} (the trust policy let EC2 assume the role), but no "
        "permissions policy allows {registration}, the call that registers the instance. "
        "Lesson 06 attaches one.").format(session=session, registration=REGISTRATION),
    )


# ------------------------------------------------------------ lesson 06: ask IMDSv2


def _commands(commands: Any) -> list[str] | None:
    """The command lines, or None when ``commands`` is neither text nor a list of lines."""
    if isinstance(commands, (bytes, bytearray)):
        commands = bytes(commands).decode("utf-8", "replace")
    if isinstance(commands, str):
        return [line for line in commands.splitlines()]
    if isinstance(commands, (list, tuple)):
        return [str(line) for line in commands]
    return None


def _curl_calls(lines: Iterable[str]) -> list[tuple[str, str, list[str]]]:
    """(method, url, headers) of each curl in ``lines``, inside $(...) too."""
    calls = []
    for line in lines:
        inner = re.match(r"^\s*\w+=\$\((.*)\)\s*$", line)
        text = inner.group(1) if inner else line
        try:
            words = shlex.split(text)
        except ValueError:
            continue
        if not words or words[0] not in ("curl", "sudo"):
            continue
        words = words[1:] if words[0] == "sudo" else words
        if not words or words[0] != "curl":
            continue
        method, url, headers, i = "GET", "", [], 1
        while i < len(words):
            word = words[i]
            if word in ("-X", "--request") and i + 1 < len(words):
                method, i = words[i + 1].upper(), i + 2
            elif word in ("-H", "--header") and i + 1 < len(words):
                headers.append(words[i + 1])
                i += 2
            elif word.startswith("-"):
                i += 1
            else:
                url, i = word, i + 1
        calls.append((method, url, headers))
    return calls


@on_pass('imds')
def check_imds_commands(commands: Any) -> Feedback:
    """Lesson 06: a Run Command script that asks IMDSv2 which role the instance has.

    The lesson's template requires IMDSv2 (HttpTokens: required): first
    ``TOKEN=$(curl -s -X PUT http://169.254.169.254/latest/api/token -H "X-aws-ec2-metadata-token-ttl-seconds: 21600")``,
    then ``curl -s -H "X-aws-ec2-metadata-token: $TOKEN" http://169.254.169.254/latest/meta-data/iam/security-credentials/``.
    """
    if _blank(commands) or (isinstance(commands, list) and all(_blank(c) for c in commands)):
        return _fail(_("replace ... with the list of command lines the instance should run."))
    lines = _commands(commands)
    if lines is None:
        return _fail(_("write the commands as a list of lines (strings), not {commands}.").format(commands=type(commands).__name__))
    calls = _curl_calls(lines)
    if not calls:
        return _fail(_("ask the instance metadata service with curl: its address is {imds}.").format(imds=IMDS))
    if any(url.startswith("https://169.254.169.254") for _, url, _ in calls):
        return _fail(_("the metadata service speaks plain http://169.254.169.254, not https."))
    token_calls = [c for c in calls if c[1].rstrip("/").endswith(TOKEN_PATH)]
    role_calls = [c for c in calls if "/latest/meta-data/iam/security-credentials" in c[1]]
    if not role_calls:
        if any("/meta-data/iam/info" in url for _, url, _ in calls):
            return _fail(_("iam/info gives the profile's ARN; the role's name is listed at {role_path}.").format(role_path=ROLE_PATH))
        return _fail(_("the role's name is listed at {imds}{role_path}.").format(imds=IMDS, role_path=ROLE_PATH))
    if not token_calls:
        return _fail(
            _("the instance requires IMDSv2 (HttpTokens: required in the template): without a "
            "token IMDS answers 401 Unauthorized. First get one with "
            "TOKEN=$(curl -s -X PUT {imds}{token_path} -H \"X-aws-ec2-metadata-token-ttl-seconds: 21600\").").format(imds=IMDS, token_path=TOKEN_PATH)
        )
    method, _path, headers = token_calls[0]
    if method != "PUT":
        return _fail(_("a token is requested with PUT (curl -X PUT), which a misused proxy or SSRF cannot easily send."))
    if not any(h.lower().replace(" ", "").startswith("x-aws-ec2-metadata-token-ttl-seconds:") for h in headers):
        return _fail(_('the token request needs its lifetime: -H "X-aws-ec2-metadata-token-ttl-seconds: 21600".'))
    if not re.search(r"^\s*\w+=\$\(", lines[[i for i, l in enumerate(lines) if TOKEN_PATH in l][0]]):
        return _fail(_("keep the token in a variable, e.g. TOKEN=$(curl -s -X PUT ...), to send it in the next call."))
    _method, _path, role_headers = role_calls[0]
    if not any(re.match(r"(?i)x-aws-ec2-metadata-token\s*:\s*\$\{?\w+\}?\s*$", h) for h in role_headers):
        return _fail(_('send the token with the request: -H "X-aws-ec2-metadata-token: $TOKEN".'))
    if calls.index(role_calls[0]) < calls.index(token_calls[0]):
        return _fail(_("the lines run in order: request the token before you use it."))
    return Feedback(True, _("IMDSv2: a PUT for a session token, then the role's name with that token."))


# -------------------------------------------------------- lesson 07: the clean recipe


@on_pass('minimal-trust')
def check_minimal_trust_policy(document: Any) -> Feedback:
    """Lesson 07: the trust policy an instance's role needs, and nothing more."""
    verdict = check_trust_policy(document, for_service=EC2)
    if not verdict.ok:
        return verdict
    policy = json.loads(bytes(document).decode("utf-8") if isinstance(document, (bytes, bytearray)) else document) \
        if isinstance(document, (str, bytes, bytearray)) else document
    services = set()
    for statement in _as_list(policy.get("Statement", [])):
        principal = statement.get("Principal")
        if isinstance(principal, dict):
            services.update(str(s) for s in _as_list(principal.get("Service", [])))
    extra = sorted(services - {EC2})
    if extra:
        return _fail(
            _("remove {extra}: only EC2 assumes an instance's role (the agent reads the "
            "role's credentials from instance metadata). The experiments above show it.").format(extra=', '.join(extra))
        )
    if len(_as_list(policy["Statement"])) > 1:
        return _fail(_("one statement is enough: Allow, Principal {\"Service\": \"ec2.amazonaws.com\"}, sts:AssumeRole."))
    return Feedback(True, _("EC2, and only EC2, may assume the role: the whole trust an instance's role needs."))


def _allows(statements: list[dict], action: str) -> str:
    """'allow', 'deny' or 'neutral' for ``action`` (Resource not judged), by the lab's one
    policy evaluator (docs/aws-facts.md#policy-evaluation)."""
    from .simulation import policy

    return policy.evaluate([{"Statement": statements}], action, None).verdict


@on_pass('registration-policy')
def check_registration_policy(document: Any, *, run_command: bool = True) -> Feedback:
    """Lesson 07: a custom permissions policy smaller than AmazonSSMManagedInstanceCore.

    It must let the agent register (ssm:UpdateInstanceInformation) and, when
    ``run_command``, receive commands (the ssmmessages control channel or ec2messages);
    it must not grant whole services ("ssm:*", "*").
    """
    if _blank(document):
        return _fail(_('the policy is empty: write {"Version": "2012-10-17", "Statement": [...]}.'))
    if isinstance(document, (bytes, bytearray)):
        try:
            document = bytes(document).decode("utf-8")
        except UnicodeDecodeError as error:
            return _fail(_("these bytes are not UTF-8 text (byte {start}); save the policy as UTF-8.").format(start=error.start))
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except RecursionError:
            return _fail(_("this JSON is nested too deeply to be a policy: Version and a list of statements."))
        except json.JSONDecodeError as error:
            return _fail(_("this is not valid JSON ({msg}, line {lineno} column {colno}).").format(msg=error.msg, lineno=error.lineno, colno=error.colno))
    if not isinstance(document, dict):
        return _fail(_('a policy is one JSON object: {"Version": ..., "Statement": [...]}.'))
    if document.get("Version") != "2012-10-17":
        return _fail(_('"Version" must be exactly "2012-10-17", the policy language version.'))
    statements = _as_list(document.get("Statement") or [])
    if not statements or not all(isinstance(s, dict) for s in statements):
        return _fail(_('add "Statement": a list of objects with Effect, Action and Resource.'))
    for statement in statements:
        if "Principal" in statement or "NotPrincipal" in statement:
            return _fail(
                _("a permissions policy has no Principal: it applies to whoever it is attached to "
                "(the role). Principal belongs in the trust policy.")
            )
        if statement.get("Effect") not in ("Allow", "Deny"):
            return _fail(_('"Effect" is "Allow" or "Deny", spelled exactly so.'))
        if "Action" not in statement:
            return _fail(_('each statement lists its "Action"s, e.g. "ssm:UpdateInstanceInformation".'))
        if "Resource" not in statement:
            return _fail(_('a permissions policy statement needs "Resource" ("*" for these actions).'))
        if statement["Effect"] == "Allow":
            for action in _as_list(statement["Action"]):
                if str(action).strip() in ("*", "*:*") or re.fullmatch(r"(?i)(ssm|ssmmessages|ec2messages):\*", str(action)):
                    return _fail(
                        _("{action!r} grants a whole service: least privilege lists the actions the "
                        "agent calls (AmazonSSMManagedInstanceCore names them one by one).").format(action=action)
                    )
    if _allows(statements, REGISTRATION) != "allow":
        return _fail(
            _("allow {registration}: it is the call that registers the instance and keeps it Online. "
            "Without it the agent is refused and backs off for 25 to 30 minutes.").format(registration=REGISTRATION)
        )
    if run_command:
        for group in COMMAND_CHANNEL:
            if all(_allows(statements, action) == "allow" for action in group):
                break
        else:
            return _fail(
                _("the instance registers, but Run Command cannot reach it: allow "
                "ssmmessages:CreateControlChannel and ssmmessages:OpenControlChannel (the channel "
                "agent 3.3.40.0 and later use), or ec2messages:GetMessages, AcknowledgeMessage and SendReply.")
            )
    return Feedback(True, _("registration and a command channel, nothing else: smaller than the managed policy."))


# ------------------------------------------------------ lesson 06: role vs role session

_ROLE_ARN = re.compile(r"arn:aws[\w-]*:iam::(?P<account>\d{12}):role/(?:[\w+=,.@-]+/)*(?P<role>[\w+=,.@-]+)")
_SESSION_ARN = re.compile(
    r"arn:aws[\w-]*:sts::(?P<account>\d{12}):assumed-role/(?P<role>[\w+=,.@-]+)/(?P<session>[\w+=,.@-]+)"
)


@on_pass('role-session')
def check_role_and_session(role_arn: Any, session_arn: Any, *, role: str, instance_id: str, account_id: str) -> Feedback:
    """Lesson 06: which ARN names the role (an IAM resource) and which the role session?

    The role: ``arn:aws:iam::ACCOUNT:role/NAME``, permanent, holds the policies. A session of
    it: ``arn:aws:sts::ACCOUNT:assumed-role/NAME/SESSION``, what ``get-caller-identity``
    answers while acting with temporary credentials; on an instance EC2 names the session
    after the instance (IAM User Guide, "IAM identifiers"; docs/aws-facts.md#lessons-passrole).
    """
    if _blank(role_arn) or _blank(session_arn):
        return _fail(_("fill in both: ROLE_ARN (the role) and SESSION_ARN (who the instance acts as)."))
    role_arn, session_arn = str(role_arn).strip().strip('"'), str(session_arn).strip().strip('"')
    role_match, session_match = _ROLE_ARN.fullmatch(role_arn), _SESSION_ARN.fullmatch(session_arn)
    if role_arn == session_arn:
        return _fail(_("the two are different things with different ARNs: one in iam (the role), one in sts (a session of it)."))
    if _SESSION_ARN.fullmatch(role_arn) and _ROLE_ARN.fullmatch(session_arn):
        return _fail(
            _("swapped: the role lives in IAM (arn:aws:iam::...:role/...); the session is issued by "
            "STS (arn:aws:sts::...:assumed-role/...).")
        )
    if role_match is None:
        if _SESSION_ARN.fullmatch(role_arn):
            return _fail(
                _("ROLE_ARN is a session (sts, assumed-role/...). The role itself is an IAM resource: "
                "arn:aws:iam::{account_id}:role/{role}, as iam get-role prints it.").format(account_id=account_id, role=role)
            )
        if ":instance-profile/" in role_arn:
            return _fail(_("that is the instance profile, the container; the role is arn:aws:iam::...:role/...."))
        return _fail(_("a role's ARN has the form arn:aws:iam::{account_id}:role/<name>.").format(account_id=account_id))
    if session_match is None:
        if _ROLE_ARN.fullmatch(session_arn):
            return _fail(
                _("SESSION_ARN names the role, not a session of it: get-caller-identity on the instance "
                "answered with arn:aws:sts::...:assumed-role/<role>/<session name>.")
            )
        return _fail(_("a role session's ARN has the form arn:aws:sts::<account>:assumed-role/<role>/<session>."))
    for match, which in ((role_match, "ROLE_ARN"), (session_match, "SESSION_ARN")):
        if match["account"] != account_id:
            return _fail(_("{which} names account {match}; this lab's is {account_id}.").format(which=which, match=match['account'], account_id=account_id))
    if role_match["role"] != role:
        return _fail(_("ROLE_ARN names {role_match}; the instance's role is {role}.").format(role_match=role_match['role'], role=role))
    if session_match["role"] != role:
        return _fail(_("SESSION_ARN is a session of {session_match}; the instance acts as {role}.").format(session_match=session_match['role'], role=role))
    if session_match["session"] != instance_id:
        return _fail(
            _("the session name is {session_match}; EC2 names an instance's session after "
            "the instance, {instance_id}.").format(session_match=session_match['session'], instance_id=instance_id)
        )
    return Feedback(
        True,
        _("{role} is the IAM role (permanent, it holds the policies); assumed-role/{role}/{instance_id} "
        "is the session EC2 started for the instance (temporary keys, which EC2 renews before "
        "they expire). Policies are attached to the role; calls are made by the session.").format(role=role, instance_id=instance_id),
    )
