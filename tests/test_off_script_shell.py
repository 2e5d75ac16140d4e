"""Commands a learner might send to the lesson's instance that no lesson uses, through the
real ``aws ssm send-command`` and ``aws ssm get-command-invocation`` against the offline
lab. Each case asserts what bash, curl, IMDS or the AWS CLI v2 answer on an Amazon Linux
2023 instance, with its source (the anchors are in docs/aws-facts.md)."""

from __future__ import annotations

import json
import subprocess

import pytest

import ssmlab

from test_agent import launch, make_profile

IMDS = "http://169.254.169.254/latest"
TOKEN = f'TOKEN=$(curl -s -X PUT {IMDS}/api/token -H "X-aws-ec2-metadata-token-ttl-seconds: 21600")'
AUTH = '-H "X-aws-ec2-metadata-token: $TOKEN"'
FACTS = "docs/aws-facts.md#instance-shell-and-imds"

# (commands, expected status, response code, a check on stdout, a check on stderr, source)
CASES = [
    (["echo a; echo b"], "Success", 0, lambda o: o == "a\nb\n", None, "bash(1) Lists: commands separated by ;"),
    (["exit 3"], "Failed", 3, lambda o: o == "", lambda e: e.endswith("failed to run commands: exit status 3"),
     "SSM Agent runscript.go:206 (failed to run commands); docs/aws-facts.md#core-8: exit code is ResponseCode"),
    (["false"], "Failed", 1, lambda o: o == "", None, "bash(1) SHELL BUILTIN COMMANDS: false"),
    (["false || echo fallback"], "Success", 0, lambda o: o == "fallback\n", None, "bash(1) Lists: OR list"),
    (["true && echo and"], "Success", 0, lambda o: o == "and\n", None, "bash(1) Lists: AND list"),
    (["false", "echo $?"], "Success", 0, lambda o: o == "1\n", None, "bash(1) Special Parameters: ?"),
    (["X=$(hostname); echo host=$X"], "Success", 0, lambda o: o.startswith("host=ip-"), None,
     "bash(1) Command Substitution; EC2 hostname = private DNS name"),
    (["ls"], "Failed", 120, None, lambda e: "the directory /usr/bin exists on the instance but is not simulated" in e,
     "the agent's working directory /usr/bin (amazon-ssm-agent.service); its listing is not modelled"),
    (["pwd"], "Success", 0, lambda o: o == "/usr/bin\n", None, "packaging/linux/amazon-ssm-agent.service: WorkingDirectory=/usr/bin/"),
    (["whoami"], "Success", 0, lambda o: o == "root\n", None, "Run Command runs as root on Linux"),
    (["id"], "Success", 0, lambda o: o == "uid=0(root) gid=0(root) groups=0(root)\n", None, "id(1) as root"),
    (["uname -s"], "Success", 0, lambda o: o == "Linux\n", None, "uname(1)"),
    (["uptime"], "Success", 0, lambda o: " up " in o and "load average:" in o, None, "uptime(1) (procps-ng) output shape"),
    (["date +%Z"], "Success", 0, lambda o: o == "UTC\n", None, "Amazon Linux's default time zone is UTC"),
    (["cat /etc/os-release | grep ^PRETTY_NAME"], "Success", 0, lambda o: o == 'PRETTY_NAME="Amazon Linux 2023"\n', None,
     "AL2023's /etc/os-release"),
    (["ls /var/log/amazon/ssm"], "Success", 0, lambda o: o == "amazon-ssm-agent.log\nerrors.log\n", None,
     "seelog_unix.xml: amazon-ssm-agent.log and errors.log"),
    (["head -n 1 /var/log/amazon/ssm/amazon-ssm-agent.log"], "Success", 0, lambda o: "INFO [amazon-ssm-agent] amazon-ssm-agent - v" in o, None,
     "the simulated agent's log, seelog fmtinfo format"),
    (["systemctl status amazon-ssm-agent | head -1"], "Success", 0, lambda o: o == "● amazon-ssm-agent.service - amazon-ssm-agent\n", None,
     "packaging/linux/amazon-ssm-agent.service Description=amazon-ssm-agent"),
    ([TOKEN, f"curl -s {AUTH} {IMDS}/meta-data/iam/info"], "Success", 0, lambda o: json.loads(o)["Code"] == "Success", None,
     "EC2 User Guide: instance metadata categories, iam/info"),
    ([TOKEN, f"curl -s {AUTH} {IMDS}/meta-data/iam/security-credentials/role-for-ec2"], "Success", 0,
     lambda o: json.loads(o)["AccessKeyId"].startswith("ASIA") and json.loads(o)["Type"] == "AWS-HMAC", None,
     "EC2 User Guide: Retrieve security credentials from instance metadata; IAM unique id prefixes (ASIA)"),
    ([f"curl -s {IMDS}/meta-data/instance-id"], "Success", 0, lambda o: "<title>401 - Unauthorized</title>" in o, None,
     "EC2 User Guide: IMDSv2 required, a request without a token gets 401"),
    ([TOKEN, f"curl -s {AUTH} {IMDS}/meta-data/nope"], "Success", 0, lambda o: "<title>404 - Not Found</title>" in o, None,
     "AWS re:Post ec2-linux-metadata-retrieval: 404 Not Found"),
    ([TOKEN, f"curl -sf {AUTH} {IMDS}/meta-data/nope"], "Failed", 22, lambda o: o == "", None, "curl(1) --fail: exit 22"),
    (["aws iam list-roles"], "Failed", 254, None,
     lambda e: "(AccessDenied) when calling the ListRoles operation: User: arn:aws:sts::123456789012:assumed-role/role-for-ec2/" in e,
     "IAM User Guide: access denied error messages; AWS CLI v2 return code 254"),
    (["aws ssm describe-instance-information"], "Failed", 254, None,
     lambda e: "(AccessDeniedException) when calling the DescribeInstanceInformation operation" in e,
     "JSON-protocol services answer AccessDeniedException"),
    (["aws sts get-caller-identity --query Account --output text"], "Success", 0, lambda o: o == "123456789012\n", None,
     "STS GetCallerIdentity needs no permission"),
    (["ps aux"], "Failed", 120, None, lambda e: "`ps` exists on the instance but is not simulated" in e,
     "ssmlab's documented exit code for what it does not simulate (instance_shell.NOT_SIMULATED)"),
    (["nosuchtool"], "Failed", 127, None, lambda e: "line 1: nosuchtool: command not found" in e, "bash(1) COMMAND EXECUTION: 127"),
    (['echo "unclosed'], "Failed", 2, None, lambda e: "unexpected EOF while looking for matching `\"'" in e,
     "bash 5.2 parse.y: unexpected EOF while looking for matching"),
    (["echo one", "fi"], "Failed", 2, lambda o: o == "one\n", lambda e: "line 2: syntax error near unexpected token `fi'" in e,
     "bash 5.2 parse.y: syntax error near unexpected token"),
    (["cd /does/not/exist"], "Failed", 1, None, lambda e: "cd: /does/not/exist: No such file or directory" in e,
     "bash(1) cd builtin"),
    (["echo $HOME $USER"], "Success", 0, lambda o: o == "/root root\n", None, "root's environment"),
]


@pytest.fixture(scope="module")
def world(_offline_lab):
    """One fresh lab and the lesson's instance (IMDSv2 required, as lesson 03's template),
    shared by the cases: none of them changes the lab's state."""
    lab = ssmlab.start(quiet=True)
    instance = launch(lab, make_profile(lab), MetadataOptions={"HttpTokens": "required"})

    def aws(*args, check=False):
        done = subprocess.run(["aws", *args], env=lab.env, capture_output=True, text=True, timeout=120)
        if check and done.returncode != 0:
            raise AssertionError(f"aws {' '.join(args)} failed: {done.stderr}")
        return done

    return aws, instance


@pytest.mark.parametrize("commands, status, code, out_ok, err_ok, source", CASES, ids=[" / ".join(c[0])[:60] for c in CASES])
def test_off_script_command(world, commands, status, code, out_ok, err_ok, source):
    aws, managed_instance = world
    sent = aws(
        "ssm", "send-command", "--document-name", "AWS-RunShellScript", "--instance-ids", managed_instance,
        "--parameters", json.dumps({"commands": commands}), "--query", "Command.CommandId", "--output", "text",
        check=True,
    )
    command_id = sent.stdout.strip()
    shown = aws("ssm", "get-command-invocation", "--command-id", command_id, "--instance-id", managed_instance, check=True)
    invocation = json.loads(shown.stdout)
    assert (invocation["Status"], invocation["ResponseCode"]) == (status, code), (source, invocation)
    if out_ok is not None:
        assert out_ok(invocation["StandardOutputContent"]), (source, invocation["StandardOutputContent"])
    if err_ok is not None:
        assert err_ok(invocation["StandardErrorContent"]), (source, invocation["StandardErrorContent"])
