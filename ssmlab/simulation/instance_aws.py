"""``curl`` and the AWS CLI on a simulated instance, as the instance profile's role session.

``curl`` reaches instance metadata (``imds.Imds``) and, for any other host, follows the
network model of the simulated agent: no route means curl's connection timeout; a route
to a host the lab does not model is said so in one line.

``aws`` is the AWS CLI v2 that Amazon Linux 2023 ships. Its credentials come from IMDS
(the instance profile's role, session name the instance id); without them it says
"Unable to locate credentials" (exit 253). ``sts get-caller-identity`` needs no
permission; every other call is judged by the role's policies through ``role_may`` (the
one place that asks the lab's policy evaluator) and refused in the service's own error
shape, or, when allowed, sent to the lab's endpoint as that call. Sources:
docs/aws-facts.md#instance-shell-and-imds.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from urllib.parse import urlsplit

import jmespath

from typing import Any

from . import agent
from .shell_result import KERNEL, Result

#: An ``instance_shell.InstanceShell`` (not imported: the shell runs this module's programs).
InstanceShell = Any

# Services the offline lab serves: allowed calls to them go to the lab's endpoint.
LAB_SERVICES = ("iam", "ec2", "ssm", "sts", "cloudformation")
# AWS CLI v2 exit codes (AWS CLI User Guide, "Return codes").
EXIT_USAGE = 252
EXIT_CONFIG = 253
EXIT_SERVICE = 254
EXIT_OTHER = 255


def role_may(account_id: str, role_name: str, action: str, resource: str, context: dict[str, str]) -> tuple[str, str]:
    """('allow'|'deny'|'neutral'|'boundary', detail) for the role calling ``action`` on
    ``resource``: the lab's policy evaluation (today ``agent.role_permission``)."""
    _, iam, _ = agent._backends(account_id, "us-east-1")
    role = next((r for r in iam.roles.values() if r.name == role_name), None)
    if role is None:
        return "neutral", ""
    return agent.role_permission(iam, role, action, resource, context)


# ---------------------------------------------------------------------------------------
# network model


def _network(shell: InstanceShell) -> tuple[bool, object, object]:
    ec2, _, _ = agent._backends(shell.state.account_id, shell.state.region)
    instance = agent._find_instance(ec2, shell.state.instance_id)
    if instance is None:
        return False, ec2, None
    table = agent._route_table_for(ec2, instance.subnet_id, instance.vpc_id)
    internet, _ = agent._internet_route(ec2, table, instance.vpc_id, bool(getattr(instance, "public_ip", None)))
    return internet, ec2, instance


def reachable(shell: InstanceShell, host: str) -> bool:
    """Can the instance open a TCP connection to ``host``? An AWS endpoint through an
    interface VPC endpoint or the internet route; any other host through the internet."""
    internet, ec2, instance = _network(shell)
    if instance is None:
        return False
    region = shell.state.region
    if host.endswith(".amazonaws.com"):
        service = host.split(".", 1)[0]
        if agent._interface_endpoint(ec2, instance.vpc_id, region, service):
            return True
    return internet


# ---------------------------------------------------------------------------------------
# curl


def _split_short(args: list[str]) -> list[str]:
    out = []
    for arg in args:
        if arg.startswith("-") and not arg.startswith("--") and len(arg) > 2 and arg[1] not in "XHomw":
            out.extend("-" + ch for ch in arg[1:])
        else:
            out.append(arg)
    return out


def curl(shell: InstanceShell, args: list[str]) -> Result:
    silent = show_error = fail = include = False
    method = None
    headers: dict[str, str] = {}
    output = None
    write_out = ""
    urls: list[str] = []
    rest = _split_short(args)
    while rest:
        arg = rest.pop(0)
        if arg in ("-s", "--silent"):
            silent = True
        elif arg in ("-S", "--show-error"):
            show_error = True
        elif arg in ("-f", "--fail"):
            fail = True
        elif arg in ("-i", "--include"):
            include = True
        elif arg in ("-L", "--location", "-k", "--insecure"):
            pass
        elif arg in ("-X", "--request") and rest:
            method = rest.pop(0).upper()
        elif arg in ("-H", "--header") and rest:
            name, _, value = rest.pop(0).partition(":")
            headers[name.strip().lower()] = value.strip()
        elif arg in ("-o", "--output") and rest:
            output = rest.pop(0)
        elif arg in ("-w", "--write-out") and rest:
            write_out = rest.pop(0)
        elif arg in ("-m", "--max-time", "--connect-timeout") and rest:
            rest.pop(0)
        elif arg.startswith("-"):
            return shell._not_simulated(f"`curl {arg}`")
        else:
            urls.append(arg)
    if not urls:
        return Result("", "curl: try 'curl --help' or 'curl --manual' for more information\n", 2)
    url = urls[0] if "://" in urls[0] else "http://" + urls[0]
    parts = urlsplit(url)
    host = parts.hostname or ""
    if host == "169.254.169.254":
        response = shell.imds.request(method or "GET", parts.path or "/", headers)
        status, body = response.status, response.body
        err = "" if silent else _progress(len(body))
        if fail and status >= 400:
            message = f"curl: (22) The requested URL returned error: {status}\n"
            return Result("", err + (message if (not silent or show_error) else ""), 22)
        if include:
            body = f"HTTP/1.1 {status} {response.reason}\r\nContent-Length: {len(body)}\r\n\r\n" + body
        # -w: curl(1) --write-out variables the lab knows; \n as a newline.
        written = write_out.replace("%{http_code}", str(status)).replace("%{response_code}", str(status))
        written = written.replace("%{size_download}", str(len(response.body))).replace("\\n", "\n")
        if output and output != "-":
            if output != "/dev/null":
                shell.files[shell._path(output)] = body
            return Result(written, err, 0)
        return Result(body + written, err, 0)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    if not reachable(shell, host):
        # No route: the SYN is never answered; curl gives up when the kernel does.
        message = f"curl: (28) Failed to connect to {host} port {port} after 133160 ms: Couldn't connect to server\n"
        head = "" if silent else _progress(0, timed_out=True)
        return Result("", head + (message if (not silent or show_error) else ""), 28)
    package = agent_package(url)
    if package is None:
        return shell._not_simulated(f"the host {host} (curl reaches only instance metadata and SSM Agent's "
                                    "download offline)")
    if output and output != "-":
        if output != "/dev/null":
            shell.files[shell._path(output)] = package
        return Result("", "" if silent else _progress(len(package)), 0)
    return Result(package, "" if silent else _progress(len(package)), 0)


# ---------------------------------------------------------------------------------------
# SSM Agent's download (docs/aws-facts.md#fleet-agent-not-installed)

#: AWS's download locations of the agent's Debian package: the global bucket and the
#: Region's own (SSM User Guide, "Manually installing SSM Agent on Debian Server instances").
_AGENT_PACKAGE = re.compile(
    r"https://(?:s3\.amazonaws\.com/ec2-downloads-windows/SSMAgent"
    r"|s3\.[a-z0-9-]+\.amazonaws\.com/amazon-ssm-[a-z0-9-]+"
    r"|amazon-ssm-[a-z0-9-]+\.s3\.[a-z0-9-]+\.amazonaws\.com)"
    r"/(?:latest|\d+\.\d+\.\d+\.\d+)/debian_amd64/amazon-ssm-agent\.deb"
)
#: What the lab stores for the downloaded package: an ar archive's magic, as every .deb
#: starts (deb(5)), then the lab's note; ``dpkg -i`` reads it back.
PACKAGE_MAGIC = "!<arch>\n"


def agent_package(url: str) -> str | None:
    """The agent's .deb as the lab stores it, when ``url`` is one of AWS's download URLs."""
    if not _AGENT_PACKAGE.fullmatch(url):
        return None
    return f"{PACKAGE_MAGIC}(ssmlab: the amazon-ssm-agent {agent.AGENT_VERSION}-1 package for Debian, amd64)\n"


def wget(shell: InstanceShell, args: list[str]) -> Result:
    """GNU Wget 1.21 (Debian 12): ``wget [-q] [-O FILE] URL`` for the agent's package."""
    quiet, output, urls = False, None, []
    rest = list(args)
    while rest:
        arg = rest.pop(0)
        if arg in ("-q", "--quiet"):
            quiet = True
        elif arg in ("-O", "--output-document") and rest:
            output = rest.pop(0)
        elif arg.startswith("-"):
            return shell._not_simulated(f"`wget {arg}`")
        else:
            urls.append(arg)
    if not urls:
        return Result("", "wget: missing URL\nUsage: wget [OPTION]... [URL]...\n\n"
                          "Try `wget --help' for more options.\n", 1)
    url = urls[0]
    host = urlsplit(url).hostname or ""
    stamp = shell.now().strftime("%Y-%m-%d %H:%M:%S")
    head = f"--{stamp}--  {url}\n"
    if not reachable(shell, host):
        return Result("", "" if quiet else head + f"Connecting to {host} ({host})|:443... failed: Connection timed out.\n", 4)
    package = agent_package(url)
    if package is None:
        return shell._not_simulated(f"the host {host} (wget reaches only SSM Agent's download offline)")
    name = output or url.rsplit("/", 1)[-1]
    if name != "-":
        shell.files[shell._path(name)] = package
    err = "" if quiet else (head + "HTTP request sent, awaiting response... 200 OK\n"
                            f"Saving to: \u2018{name}\u2019\n\n\u2018{name}\u2019 saved\n\n")
    return Result(package if name == "-" else "", err, 0)


def _progress(size: int, timed_out: bool = False) -> str:
    # curl's progress meter, which it writes to stderr when stdout is not a terminal.
    head = (
        "  % Total    % Received % Xferd  Average Speed   Time    Time     Time  Current\n"
        "                                 Dload  Upload   Total   Spent    Left  Speed\n"
    )
    if timed_out:
        return head + "  0     0    0     0    0     0      0      0 --:--:--  0:02:13 --:--:--     0\n"
    rate = size * 1000  # bytes a second, for a reply in about a millisecond
    speed = str(rate) if rate < 100000 else (f"{rate // 1024}k" if rate < 10240 * 1024 else f"{rate // 1048576}M")
    return head + f"100 {size:>5}  100 {size:>5}    0     0  {speed:>5}      0 --:--:-- --:--:-- --:--:-- {speed:>5}\n"


# ---------------------------------------------------------------------------------------
# The AWS CLI v2


def _usage(message: str) -> Result:
    return Result(
        "",
        "\nusage: aws [options] <command> <subcommand> [<subcommand> ...] [parameters]\n"
        "To see help text, you can run:\n\n  aws help\n  aws <command> help\n  aws <command> <subcommand> help\n\n"
        f"aws: error: {message}\n",
        EXIT_USAGE,
    )


def _service_model(name: str):
    import botocore.session
    from botocore.exceptions import UnknownServiceError

    try:
        return botocore.session.get_session().get_service_model(name)
    except UnknownServiceError:
        return None


def _operation(model, cli_name: str):
    from botocore import xform_name

    for name in model.operation_names:
        if xform_name(name, "-") == cli_name:
            return model.operation_model(name)
    return None


def _parameters(operation, words: list[str]) -> tuple[dict | None, str]:
    """The request parameters from ``--kebab-name value`` words, by the operation's input
    shape. Returns (params, problem)."""
    from botocore import xform_name

    shape = operation.input_shape
    members = {xform_name(n, "-"): (n, s) for n, s in (shape.members.items() if shape else [])}
    params: dict = {}
    i = 0
    while i < len(words):
        word = words[i]
        if not word.startswith("--"):
            return None, "Unknown options: " + ", ".join(words[i:])
        key = word[2:]
        negated = key.startswith("no-") and key[3:] in members
        if negated:
            key = key[3:]
        if key not in members:
            return None, "Unknown options: " + ", ".join(words[i:])
        name, member = members[key]
        values = []
        i += 1
        while i < len(words) and not words[i].startswith("--"):
            values.append(words[i])
            i += 1
        kind = member.type_name
        if kind == "boolean":
            params[name] = not negated
            continue
        if not values:
            return None, f"argument {word}: expected one argument"
        if kind == "list" and member.member.type_name == "string":
            params[name] = values
        elif kind in ("integer", "long"):
            params[name] = int(values[0])
        elif kind in ("structure", "list", "map"):
            try:
                params[name] = json.loads(" ".join(values))
            except ValueError:
                return None, "shorthand"
        else:
            params[name] = values[0]
    return params, ""


def _resource(shell: InstanceShell, service: str, operation: str, params: dict) -> str | None:
    """The resource AWS names in its AccessDenied message (None: the action has none)."""
    account, region = shell.state.account_id, shell.state.region
    if service == "iam":
        for key, kind in (("RoleName", "role"), ("InstanceProfileName", "instance-profile"), ("UserName", "user")):
            if key in params:
                return f"arn:aws:iam::{account}:{kind}/{params[key]}"
        if "PolicyArn" in params:
            return params["PolicyArn"]
        for word, kind in (("Role", "role"), ("InstanceProfile", "instance-profile"), ("Polic", "policy"), ("User", "user")):
            if word in operation:
                return f"arn:aws:iam::{account}:{kind}/"
        return "*"
    if service == "ssm":
        if "Name" in params:
            return f"arn:aws:ssm:{region}:{account}:parameter/{str(params['Name']).lstrip('/')}"
        return f"arn:aws:ssm:{region}:{account}:*"
    if service == "ec2":
        if operation.startswith("Describe"):
            return None
        ids = params.get("InstanceIds") or ([params["InstanceId"]] if "InstanceId" in params else [])
        return f"arn:aws:ec2:{region}:{account}:instance/{ids[0]}" if ids else "*"
    if service == "cloudformation":
        name = params.get("StackName")
        return f"arn:aws:cloudformation:{region}:{account}:stack/{name}/*" if name else "*"
    return "*"


def _denied(service: str, operation: str, arn: str, action: str, resource: str | None, verdict: str, protocol: str) -> Result:
    why = {
        "deny": "with an explicit deny in an identity-based policy",
        "boundary": f"because no permissions boundary allows the {action} action",
    }.get(verdict, f"because no identity-based policy allows the {action} action")
    on = f" on resource: {resource}" if resource else ""
    message = f"User: {arn} is not authorized to perform: {action}{on} {why}"
    if service == "ec2":
        code, message = "UnauthorizedOperation", "You are not authorized to perform this operation. " + message
    elif protocol == "json":
        code = "AccessDeniedException"
    else:
        code = "AccessDenied"
    return Result("", f"\nAn error occurred ({code}) when calling the {operation} operation: {message}\n", EXIT_SERVICE)


def _render(body, output: str, query: str | None) -> Result:
    if query:
        body = jmespath.search(query, body)
    if output == "json":
        if body is None:
            return Result("", "", 0)
        return Result(json.dumps(body, indent=4, default=_iso, ensure_ascii=False) + "\n", "", 0)
    if output == "text" and _flat(body):
        return Result(_as_cli_text(body) + "\n", "", 0)
    return None


def _iso(value):
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _flat(value) -> bool:
    if isinstance(value, dict):
        return all(not isinstance(v, (dict, list)) for v in value.values())
    if isinstance(value, list):
        return all(not isinstance(v, (dict, list)) for v in value)
    return True


def _as_cli_text(value) -> str:
    """The AWS CLI's ``--output text`` for a flat response: values tab-separated, keys
    sorted; a scalar alone; ``None`` as ``None``."""
    if isinstance(value, dict):
        return "\t".join(_as_cli_text(value[key]) for key in sorted(value))
    if isinstance(value, list):
        return "\t".join(_as_cli_text(item) for item in value)
    return "None" if value is None else str(value)


def aws(shell: InstanceShell, args: list[str], stdin: str) -> Result:
    options: dict[str, str] = {}
    words: list[str] = []
    rest = list(args)
    while rest:
        arg = rest.pop(0)
        if arg in ("--no-cli-pager", "--no-paginate", "--no-verify-ssl", "--no-sign-request"):
            continue
        key, eq, value = arg.partition("=")
        if key in ("--region", "--query", "--output", "--profile", "--endpoint-url"):
            if eq:
                options[key] = value
            elif rest:
                options[key] = rest.pop(0)
            else:
                return _usage(f"argument {key}: expected one argument")
            continue
        if arg == "--debug":
            return shell._not_simulated("`aws --debug`")
        words.append(arg)
    if not words:
        return _usage("the following arguments are required: command")
    if words[0] in ("--version", "version"):
        # The lab's chosen release of Amazon Linux 2023's awscli-2 package.
        return Result(f"aws-cli/2.15.30 Python/3.9.16 Linux/{KERNEL['2023']} source/x86_64.amzn.2023\n", "", 0)
    if words[0] in ("configure", "s3", "s3api", "ssm-cli", "help") or words[-1] == "help":
        return shell._not_simulated(f"`aws {' '.join(words[:2])}`")
    output = options.get("--output", "json")
    if output not in ("json", "text", "table", "yaml", "yaml-stream"):
        return _usage(f"argument --output: Invalid choice, valid choices are:\n\njson                                     | text\ntable                                    | yaml\nyaml-stream")
    if "--profile" in options:
        return Result("", f"\nThe config profile ({options['--profile']}) could not be found\n", EXIT_OTHER)
    if "--endpoint-url" in options:
        return shell._not_simulated("`aws --endpoint-url`")
    service_name = words[0]
    model = _service_model(service_name)
    if model is None:
        return _usage(f"argument command: Invalid choice: '{words[0]}' (ssmlab: the list of valid choices is not reproduced)")
    if len(words) < 2:
        return _usage("the following arguments are required: operation")
    operation = _operation(model, words[1])
    if operation is None:
        return _usage(f"argument operation: Invalid choice: '{words[1]}' (ssmlab: the list of valid choices is not reproduced)")
    params, problem = _parameters(operation, words[2:])
    if params is None:
        if problem == "shorthand":
            return shell._not_simulated(f"the AWS CLI's shorthand syntax in `aws {' '.join(words)}` (write the value as JSON)")
        return _usage(problem)

    facts = shell.facts
    creds = shell.imds.credentials() if facts.enabled else None
    if creds is None:
        # The credential chain finds nothing: no profile, no role, EC2 cannot assume it,
        # or IMDS is turned off (DHMC credentials belong to the agent alone).
        return Result("", '\nUnable to locate credentials. You can configure credentials by running "aws configure".\n', EXIT_CONFIG)
    region = options.get("--region", shell.state.region)
    prefix = model.endpoint_prefix
    host = f"{prefix}.amazonaws.com" if prefix == "iam" else f"{prefix}.{region}.amazonaws.com"
    if not reachable(shell, host):
        return Result("", f'\nConnect timeout on endpoint URL: "https://{host}/"\n', EXIT_OTHER)
    account = shell.state.account_id
    arn = f"arn:aws:sts::{account}:assumed-role/{facts.role_name}/{facts.instance_id}"
    if (service_name, operation.name) == ("sts", "GetCallerIdentity"):
        # GetCallerIdentity needs no permission (STS API reference).
        body = {"UserId": f"{facts.role_id}:{facts.instance_id}", "Account": account, "Arn": arn}
        return _render(body, output, options.get("--query")) or shell._not_simulated(f"`--output {output}`")
    signing = model.signing_name or prefix
    action = f"{signing}:{operation.name}"
    resource = _resource(shell, service_name, operation.name, params)
    context = {
        "aws:SourceAccount": account,
        "aws:RequestedRegion": region,
        "aws:PrincipalAccount": account,
        "ec2:SourceInstanceARN": f"arn:aws:ec2:{shell.state.region}:{account}:instance/{facts.instance_id}",
    }
    verdict, _ = role_may(account, facts.role_name, action, resource or "*", context)
    if verdict != "allow":
        return _denied(service_name, operation.name, arn, action, resource, verdict, model.metadata.get("protocol", "query"))
    endpoint = shell.endpoint or _request_endpoint()
    if service_name not in LAB_SERVICES or not endpoint:
        return shell._not_simulated(f"`aws {words[0]} {words[1]}` (allowed for {facts.role_name}; the offline lab does not serve it here)")
    return _call(shell, endpoint, service_name, operation.name, params, region, output, options.get("--query"))


def _request_endpoint() -> str | None:
    """The lab endpoint serving the request being answered (moto's server runs on Flask)."""
    import flask

    if not flask.has_request_context():  # work falling due while a request moves the clock
        from .clock import SERVING

        return SERVING.get()
    return flask.request.host_url.rstrip("/")


def _call(shell: InstanceShell, endpoint: str, service: str, operation: str, params: dict, region: str, output: str, query: str | None) -> Result:
    import boto3
    from botocore import xform_name
    from botocore.exceptions import ClientError, HTTPClientError, ParamValidationError

    from botocore.config import Config

    from .clock import INSTANCE_TOKEN, INSTANCE_USER_AGENT

    client = boto3.session.Session(
        aws_access_key_id="ASIAINSTANCEROLEKEY0", aws_secret_access_key="instance", region_name=region
    ).client(service, endpoint_url=endpoint, config=Config(user_agent_extra=INSTANCE_USER_AGENT))
    # The instance's calls act in the instance's own account (moto reads the account from
    # this header before the key), also on a room's endpoint (room_guard keeps it only
    # with the process's token).
    account = shell.state.account_id

    def in_the_instances_account(request, **_):
        request.headers["x-moto-account-id"] = account
        request.headers["x-ssmlab-instance"] = INSTANCE_TOKEN

    client.meta.events.register("before-send", in_the_instances_account)
    try:
        body = getattr(client, xform_name(operation))(**params)
    except ClientError as error:
        info = error.response.get("Error", {})
        return Result(
            "", f"\nAn error occurred ({info.get('Code')}) when calling the {operation} operation: {info.get('Message')}\n",
            EXIT_SERVICE,
        )
    except ParamValidationError as error:
        return Result("", f"\n{error}\n", EXIT_OTHER)
    except HTTPClientError as error:  # the lab did not answer: as the CLI prints a transport error
        return Result("", f"\n{error}\n", EXIT_OTHER)
    body.pop("ResponseMetadata", None)
    return _render(body, output, query) or shell._not_simulated(f"`--output {output}` for this response")
