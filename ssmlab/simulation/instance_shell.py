"""The shell of a simulated instance: what AWS-RunShellScript prints in the offline lab.

Nothing runs on the lab's instances. Run Command's ``AWS-RunShellScript`` is answered here,
from the lab's state at SendCommand time, for a small documented set of commands. Every
other command fails honestly (exit status 127, "command not found", plus a note that the
offline instance does not simulate it) rather than pretending to succeed.

======================================================================  =========================================
Command (one per line of the ``commands`` parameter)                    Output, from the lab's state
======================================================================  =========================================
``aws sts get-caller-identity`` (``--query``, ``--output json|text``)   JSON: UserId ``<role id>:<instance id>``,
                                                                        Account, Arn ``arn:aws:sts::ACCOUNT:
                                                                        assumed-role/<role>/<instance id>`` — the
                                                                        instance profile's role (the aws CLI reads
                                                                        credentials from IMDS; DHMC credentials
                                                                        belong to the agent only). No usable
                                                                        profile: "Unable to locate credentials",
                                                                        exit 253.
``curl [-s] http://169.254.169.254/latest/meta-data/iam/security-credentials/``
                                                                        the role name; no profile: IMDS's 404
                                                                        page. IMDSv2 required and no token: 401.
``TOKEN=$(curl -X PUT http://169.254.169.254/latest/api/token -H ...)``  stores an IMDSv2 token in ``$TOKEN``
``curl -H "X-aws-ec2-metadata-token: $TOKEN" http://169.254.169.254/…``  as above, with the token
``curl … /latest/meta-data/instance-id``                                the instance id
``curl … /latest/meta-data/placement/region``                           the Region
``hostname``                                                            the private DNS name (ip-10-0-0-5.ec2.internal)
``cat /etc/os-release``                                                 Amazon Linux 2023 / Amazon Linux 2 content
``whoami``                                                              ``root`` (Run Command runs as root)
``echo …``                                                              its arguments, ``$VAR`` expanded
======================================================================  =========================================

Lines run in order, like a script; the invocation's exit status is the last line's (bash
without ``set -e``). Empty lines and ``#`` comments are skipped.
"""

from __future__ import annotations

import json
import re
import shlex

import jmespath
from dataclasses import dataclass

IMDS = "http://169.254.169.254"

OS_RELEASE = {
    "2023": (
        'NAME="Amazon Linux"\n'
        'VERSION="2023"\n'
        'ID="amzn"\n'
        'ID_LIKE="fedora"\n'
        'VERSION_ID="2023"\n'
        'PLATFORM_ID="platform:al2023"\n'
        'PRETTY_NAME="Amazon Linux 2023"\n'
        'ANSI_COLOR="0;33"\n'
        'CPE_NAME="cpe:2.3:o:amazon:amazon_linux:2023"\n'
        'HOME_URL="https://aws.amazon.com/linux/amazon-linux-2023/"\n'
        'DOCUMENTATION_URL="https://docs.aws.amazon.com/linux/"\n'
        'SUPPORT_URL="https://aws.amazon.com/premiumsupport/"\n'
        'BUG_REPORT_URL="https://github.com/amazonlinux/amazon-linux-2023"\n'
        'VENDOR_NAME="AWS"\n'
        'VENDOR_URL="https://aws.amazon.com/"\n'
        'SUPPORT_END="2029-06-30"\n'
    ),
    "2": (
        'NAME="Amazon Linux"\n'
        'VERSION="2"\n'
        'ID="amzn"\n'
        'ID_LIKE="centos rhel fedora"\n'
        'VERSION_ID="2"\n'
        'PRETTY_NAME="Amazon Linux 2"\n'
        'ANSI_COLOR="0;33"\n'
        'CPE_NAME="cpe:2.3:o:amazon:amazon_linux:2"\n'
        'HOME_URL="https://amazonlinux.com/"\n'
        'SUPPORT_END="2026-06-30"\n'
    ),
}

_HTML_404 = (
    '<?xml version="1.0" encoding="iso-8859-1"?>\n'
    '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN"\n'
    '\t"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">\n'
    '<html xmlns="http://www.w3.org/1999/xhtml" xml:lang="en" lang="en">\n'
    " <head>\n  <title>404 - Not Found</title>\n </head>\n"
    " <body>\n  <h1>404 - Not Found</h1>\n </body>\n</html>\n"
)
_HTML_401 = _HTML_404.replace("404 - Not Found", "401 - Unauthorized")

SIMULATED = (
    "aws sts get-caller-identity, curl http://169.254.169.254/..., hostname, "
    "cat /etc/os-release, whoami, echo"
)


@dataclass(frozen=True)
class Result:
    stdout: str
    stderr: str
    exit_code: int


def _script_path(instance_id: str, command_id: str) -> str:
    # Where the agent writes the script it runs (as seen in real Run Command error output).
    return (
        f"/var/lib/amazon/ssm/{instance_id}/document/orchestration/{command_id}"
        "/awsrunShellScript/0.awsrunShellScript/_script.sh"
    )


def _as_cli_text(value) -> str:
    """The AWS CLI's ``--output text`` for a flat response: values tab-separated, keys
    sorted; a scalar alone; ``None`` as ``None``."""
    if isinstance(value, dict):
        return "\t".join(_as_cli_text(value[key]) for key in sorted(value))
    if isinstance(value, list):
        return "\t".join(_as_cli_text(item) for item in value)
    return "None" if value is None else str(value)


class InstanceShell:
    """Runs a list of command lines against one instance's simulated state.

    ``state`` is an ``agent.AgentState``.
    """

    def __init__(self, state, command_id: str) -> None:
        self.state = state
        self.command_id = command_id
        self.variables: dict[str, str] = {}
        self.token_issued = False

    # -- helpers -----------------------------------------------------------------
    def _expand(self, text: str) -> str:
        def sub(match: re.Match) -> str:
            return self.variables.get(match.group(1) or match.group(2), "")

        return re.sub(r"\$\{(\w+)\}|\$(\w+)", sub, text)

    def _not_found(self, line_no: int, word: str) -> Result:
        return Result(
            "",
            f"{_script_path(self.state.instance_id, self.command_id)}: line {line_no}: {word}: command not found\n"
            f"(ssmlab: the offline instance only simulates: {SIMULATED})\n",
            127,
        )

    # -- commands ----------------------------------------------------------------
    def _aws(self, args: list[str]) -> Result:
        """``aws [--region R] [--query Q] [--output json|text] sts get-caller-identity``."""
        options: dict[str, str] = {}
        words: list[str] = []
        i = 0
        while i < len(args):
            arg = args[i]
            if arg == "--no-cli-pager":
                i += 1
            elif arg in ("--region", "--query", "--output") and i + 1 < len(args):
                options[arg] = args[i + 1]
                i += 2
            elif arg.startswith(("--region=", "--query=", "--output=")):
                key, value = arg.split("=", 1)
                options[key] = value
                i += 1
            else:
                words.append(arg)
                i += 1
        output = options.get("--output", "json")
        if words != ["sts", "get-caller-identity"] or output not in ("json", "text"):
            return Result("", "", -1)
        state = self.state
        if not state.instance_role_name:
            # AWS CLI v2: no credentials in the chain (the instance profile gives none).
            return Result(
                "",
                '\nUnable to locate credentials. You can configure credentials by running "aws configure".\n',
                253,
            )
        body = {
            "UserId": f"{state.instance_role_id}:{state.instance_id}",
            "Account": state.account_id,
            "Arn": f"arn:aws:sts::{state.account_id}:assumed-role/{state.instance_role_name}/{state.instance_id}",
        }
        if "--query" in options:
            # The AWS CLI's --query is JMESPath, evaluated client-side on the response.
            body = jmespath.search(options["--query"], body)
        if output == "json":
            return Result(json.dumps(body, indent=4) + "\n", "", 0)
        return Result(_as_cli_text(body) + "\n", "", 0)

    def _curl(self, args: list[str]) -> Result:
        url = None
        method = "GET"
        headers: list[str] = []
        i = 0
        while i < len(args):
            arg = args[i]
            if arg in ("-X", "--request"):
                method = args[i + 1].upper() if i + 1 < len(args) else method
                i += 2
                continue
            if arg in ("-H", "--header"):
                if i + 1 < len(args):
                    headers.append(args[i + 1])
                i += 2
                continue
            if arg.startswith("-"):
                i += 1
                continue
            url = arg
            i += 1
        if not url or not url.startswith(IMDS):
            return Result("", "", -1)
        state = self.state
        if not state.imds_enabled:
            return Result("", f"curl: (7) Failed to connect to 169.254.169.254 port 80 after 0 ms: Couldn't connect to server\n", 7)
        path = url[len(IMDS):]
        if path.rstrip("/") == "/latest/api/token" and method == "PUT":
            self.token_issued = True
            return Result("AQAEAssmlabSimulatedImdsV2Token==", "", 0)
        has_token = any(h.lower().startswith("x-aws-ec2-metadata-token:") and h.split(":", 1)[1].strip() for h in headers)
        if state.imdsv2_required and not (has_token and self.token_issued):
            # IMDSv2 required: a request without a valid session token gets 401 (EC2 doc
            # "Use the Instance Metadata Service to access instance metadata").
            return Result(_HTML_401, "", 0)
        if path in ("/latest/meta-data/iam/security-credentials/", "/latest/meta-data/iam/security-credentials"):
            if state.instance_role_name:
                return Result(state.instance_role_name, "", 0)
            return Result(_HTML_404, "", 0)
        if path == "/latest/meta-data/instance-id":
            return Result(state.instance_id, "", 0)
        if path == "/latest/meta-data/placement/region":
            return Result(state.region, "", 0)
        if path in ("/latest/meta-data/local-hostname", "/latest/meta-data/hostname"):
            return Result(state.computer_name or "", "", 0)
        return Result("", "", -1)

    def _one(self, line_no: int, line: str) -> Result:
        assignment = re.match(r"^(\w+)=\$\((.*)\)\s*$", line)
        if assignment:
            inner = self._one(line_no, assignment.group(2))
            if inner.exit_code == 0:
                self.variables[assignment.group(1)] = inner.stdout.strip()
                return Result("", inner.stderr, 0)
            return inner
        plain_assignment = re.match(r"^(\w+)=(\S*)$", line)
        if plain_assignment:
            self.variables[plain_assignment.group(1)] = self._expand(plain_assignment.group(2)).strip("'\"")
            return Result("", "", 0)
        try:
            words = shlex.split(self._expand(line))
        except ValueError:
            return Result("", f"{_script_path(self.state.instance_id, self.command_id)}: line {line_no}: syntax error\n", 2)
        if words and words[0] == "sudo":
            words = words[1:]
        if not words:
            return Result("", "", 0)
        command, args = words[0], words[1:]
        result = Result("", "", -1)
        if command == "aws":
            result = self._aws(args)
        elif command == "curl":
            result = self._curl(args)
        elif command == "hostname" and not args:
            result = Result((self.state.computer_name or "") + "\n", "", 0)
        elif command == "whoami" and not args:
            result = Result("root\n", "", 0)
        elif command == "echo":
            result = Result(" ".join(args) + "\n", "", 0)
        elif command == "cat" and args == ["/etc/os-release"]:
            text = OS_RELEASE.get(self.state.platform_version or "")
            if text:
                result = Result(text, "", 0)
        if result.exit_code == -1:
            return self._not_found(line_no, line.strip() if command in ("aws", "curl", "cat") else command)
        return result

    def run(self, lines: list[str]) -> Result:
        stdout, stderr, code = [], [], 0
        script = [part for raw in lines for part in str(raw).split("\n")]
        for line_no, part in enumerate(script, start=1):
            line = part.strip()
            if not line or line.startswith("#"):
                continue
            result = self._one(line_no, line)
            stdout.append(result.stdout)
            stderr.append(result.stderr)
            code = result.exit_code
        err = "".join(stderr)
        if code != 0:
            err += f"failed to run commands: exit status {code}"
        return Result("".join(stdout), err, code)
