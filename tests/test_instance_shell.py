"""The simulated instance's shell: bash's grammar (bashlex), exit codes, the IMDS tree
(v1, v2, required, disabled), the AWS CLI on the instance, Session Manager's shell.

Expected answers are bash's, curl's, IMDS's and the AWS CLI v2's
(docs/aws-facts.md#instance-shell-and-imds)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from ssmlab.session import SessionError
from ssmlab.simulation import agent
from ssmlab.simulation.instance_shell import NOT_SIMULATED, InstanceShell
from test_agent import CORE, launch, make_profile, private_subnet

IMDS = "http://169.254.169.254/latest"
TOKEN = f'TOKEN=$(curl -s -X PUT {IMDS}/api/token -H "X-aws-ec2-metadata-token-ttl-seconds: 21600")'
WITH_TOKEN = 'curl -s -H "X-aws-ec2-metadata-token: $TOKEN"'


def shell(lab, instance, user="root", command_id="c0ffee00-0000-4000-8000-000000000000"):
    state = agent.observe(lab.account_id, lab.region, instance)
    return InstanceShell(state, command_id, user=user)


@pytest.fixture
def instance(lab):
    # IMDSv1 allowed, as a learner may launch it: an Amazon Linux 2023 image alone would
    # require IMDSv2 (ImdsSupport v2.0, ec2_corrections); the v2-only cases launch their own.
    return launch(lab, make_profile(lab), MetadataOptions={"HttpTokens": "optional"})


def run(lab, instance, script, **kw):
    return shell(lab, instance, **kw).run_script(script)


# --- grammar ---------------------------------------------------------------------------


def test_sequence_runs_each_command(lab, instance):
    assert run(lab, instance, "echo a; echo b").stdout == "a\nb\n"


@pytest.mark.parametrize(
    "script, out, code",
    [
        ("exit 3", "", 3),
        ("false", "", 1),
        ("true", "", 0),
        ("false; echo $?", "1\n", 0),
        ("false && echo no", "", 1),
        ("false || echo yes", "yes\n", 0),
        ("true && echo yes || echo no", "yes\n", 0),
        ("! true; echo $?", "1\n", 0),
        ("(exit 4); echo $?", "4\n", 0),
        ("echo a; exit 5; echo b", "a\n", 5),
        ("exit 256", "", 0),
    ],
)
def test_exit_codes_and_lists(lab, instance, script, out, code):
    result = run(lab, instance, script)
    assert (result.stdout, result.exit_code) == (out, code)


def test_variables_quoting_and_substitution(lab, instance):
    result = run(
        lab, instance,
        "A=one; export B=two; echo \"$A ${B}\" '$A' ${C:-three}; X=$(echo sub); echo `echo back` $X",
    )
    assert result.stdout == "one two $A three\nback sub\n"


def test_unquoted_expansion_splits_into_words(lab, instance):
    assert run(lab, instance, 'A="x   y"; printf "%s|" $A; echo; printf "%s|" "$A"').stdout == "x|y|\nx   y|"


def test_cd_and_pwd_start_in_the_agents_working_directory(lab, instance):
    result = run(lab, instance, "pwd; cd /tmp && pwd; cd ..; pwd; cd /nope")
    assert result.stdout == "/usr/bin\n/tmp\n/\n"
    assert result.stderr.endswith("line 1: cd: /nope: No such file or directory\n")
    assert result.exit_code == 1


def test_pipes_between_simulated_commands(lab, instance):
    result = run(lab, instance, "cat /etc/os-release | grep -i pretty | wc -l; ls /etc/amazon/ssm | head -n 2")
    # ls sorts in the C locale (byte order): capitals first.
    assert result.stdout == "1\nNOTICE.md\nREADME.md\n"


def test_a_pipeline_is_judged_command_by_command(lab, instance):
    result = run(lab, instance, "echo hi | nosuch | wc -l")
    assert result.stdout == "0\n"
    assert "line 1: nosuch: command not found" in result.stderr
    assert result.exit_code == 0  # a pipeline's status is its last command's


def test_redirections(lab, instance):
    result = run(lab, instance, "echo saved > /tmp/f; cat /tmp/f; nosuch 2>/dev/null; echo $?; nosuch 2>&1 | wc -l")
    assert result.stdout == "saved\n127\n1\n"
    assert result.stderr == ""


def test_here_document(lab, instance):
    script = "A=x\ncat <<EOF > /tmp/conf\nvalue=$A\nEOF\ncat /tmp/conf"
    assert run(lab, instance, script).stdout == "value=x\n"
    # bashlex cannot read a quoted delimiter: said so, not a false syntax error.
    quoted = run(lab, instance, "cat <<'RAW'\n$A\nRAW")
    assert quoted.exit_code == 120 and "bashlex" in quoted.stderr


def test_if_and_for(lab, instance):
    assert run(lab, instance, "for i in 1 2; do echo $i; done; if false; then echo a; else echo b; fi").stdout == "1\n2\nb\n"


def test_syntax_error_is_bashs_line_and_exit_2_after_the_lines_before(lab, instance):
    sh = shell(lab, instance)
    result = sh.run(["echo before", "if; fi", "echo after"])
    assert result.stdout == "before\n"
    assert "_script.sh: line 2: syntax error near unexpected token `;'\n" in result.stderr
    assert "_script.sh: line 2: `if; fi'\n" in result.stderr
    assert result.exit_code == 2
    assert result.stderr.endswith("failed to run commands: exit status 2")


def test_unterminated_quote(lab, instance):
    result = run(lab, instance, 'echo "open')
    assert "line 1: unexpected EOF while looking for matching `\"'" in result.stderr
    assert "line 2: syntax error: unexpected end of file" in result.stderr
    assert result.exit_code == 2


def test_real_commands_not_simulated_say_so_with_their_own_exit_code(lab, instance):
    result = run(lab, instance, "ps aux")
    assert result.exit_code == NOT_SIMULATED
    assert "`ps` exists on the instance but is not simulated by ssmlab's offline lab" in result.stderr
    assert "command not found" not in result.stderr
    unknown = run(lab, instance, "frobnicate")
    assert unknown.exit_code == 127 and unknown.stderr.endswith("line 1: frobnicate: command not found\n")


# --- the documented commands ------------------------------------------------------------


def test_identity_and_system_commands(lab, instance):
    details = lab.client("ec2").describe_instances(InstanceIds=[instance])["Reservations"][0]["Instances"][0]
    result = run(lab, instance, "whoami; id; hostname; uname -r; uname -s")
    assert result.stdout.splitlines() == [
        "root", "uid=0(root) gid=0(root) groups=0(root)", details["PrivateDnsName"],
        "6.1.158-180.294.amzn2023.x86_64", "Linux",
    ]
    as_ssm_user = run(lab, instance, "whoami; id -u", user="ssm-user")
    assert as_ssm_user.stdout == "ssm-user\n1001\n"


def test_environment_and_which(lab, instance):
    result = run(lab, instance, "export GREETING=hi; printenv GREETING HOME; which aws nosuch")
    assert result.stdout == "hi\n/root\n/usr/bin/aws\n"
    assert result.stderr == "/usr/bin/which: no nosuch in (/usr/local/bin:/usr/bin:/usr/local/sbin:/usr/sbin)\n"
    assert result.exit_code == 1


def test_date_and_uptime_shapes(lab, instance):
    result = run(lab, instance, "date; uptime")
    date, uptime = result.stdout.splitlines()
    assert date.endswith(" UTC 2026") or " UTC " in date
    assert " up " in uptime and "load average: 0.00, 0.00, 0.00" in uptime


def test_agent_log_file_is_the_simulated_agents_log(lab, instance):
    state = agent.observe(lab.account_id, lab.region, instance)
    result = run(lab, instance, "cat /var/log/amazon/ssm/amazon-ssm-agent.log")
    assert result.stdout == "".join(line + "\n" for line in state.log)
    errors = run(lab, instance, "tail -n 1 /var/log/amazon/ssm/errors.log; cat /var/log/amazon/ssm/nope")
    assert errors.stderr.startswith("cat: /var/log/amazon/ssm/nope: No such file or directory")


def test_missing_policy_shows_in_errors_log_and_systemctl(lab):
    instance = launch(lab, make_profile(lab, policies=()))
    result = run(lab, instance, "grep -c AccessDenied /var/log/amazon/ssm/amazon-ssm-agent.log; systemctl status amazon-ssm-agent")
    lines = result.stdout.splitlines()
    assert int(lines[0]) >= 1
    assert lines[1] == "● amazon-ssm-agent.service - amazon-ssm-agent"
    assert "Loaded: loaded (/etc/systemd/system/amazon-ssm-agent.service; enabled;" in lines[2]
    assert "Active: active (running) since " in lines[3]


def test_ssm_cli_diagnostics_on_the_instance(lab):
    from ssmlab.simulation.diagnostics import render_table, rows

    instance = launch(lab, make_profile(lab, policies=()))
    result = run(lab, instance, "sudo ssm-cli get-diagnostics --output table")
    assert result.stdout == render_table(rows(agent.observe(lab.account_id, lab.region, instance))) + "\n"
    assert "AWS Credentials" in result.stdout and result.exit_code == 0


# --- IMDS ---------------------------------------------------------------------------------


def test_imds_v1_tree(lab, instance):
    ec2 = lab.client("ec2").describe_instances(InstanceIds=[instance])["Reservations"][0]["Instances"][0]
    sh = shell(lab, instance)
    get = lambda path: sh.run_script(f"curl -s {IMDS}/meta-data/{path}").stdout  # noqa: E731
    assert get("instance-id") == instance
    assert get("ami-id") == ec2["ImageId"]
    assert get("instance-type") == ec2["InstanceType"]
    assert get("placement/availability-zone") == ec2["Placement"]["AvailabilityZone"]
    assert get("placement/region") == lab.region
    assert get("local-ipv4") == ec2["PrivateIpAddress"]
    assert "iam/" in get("").splitlines() and "instance-id" in get("").splitlines()
    assert get("iam/security-credentials/") == "role-for-ec2"
    info = json.loads(get("iam/info"))
    profile = lab.client("iam").get_instance_profile(InstanceProfileName="for-ec2")["InstanceProfile"]
    assert info["Code"] == "Success"
    assert (info["InstanceProfileArn"], info["InstanceProfileId"]) == (profile["Arn"], profile["InstanceProfileId"])
    creds = json.loads(get("iam/security-credentials/role-for-ec2"))
    assert creds["Type"] == "AWS-HMAC" and creds["Code"] == "Success"
    assert creds["AccessKeyId"].startswith("ASIA") and len(creds["AccessKeyId"]) == 20
    assert set(creds) == {"Code", "LastUpdated", "Type", "AccessKeyId", "SecretAccessKey", "Token", "Expiration"}
    assert '"Code" : "Success"' in get("iam/info")  # IMDS's own layout
    document = json.loads(sh.run_script(f"curl -s {IMDS}/dynamic/instance-identity/document").stdout)
    assert (document["instanceId"], document["accountId"], document["region"]) == (instance, lab.account_id, lab.region)
    assert json.loads(get("identity-credentials/ec2/info"))["AccountId"] == lab.account_id
    assert "<title>404 - Not Found</title>" in get("no/such/path")


def test_imds_v2_token_and_required(lab):
    instance = launch(lab, make_profile(lab), MetadataOptions={"HttpTokens": "required"})
    sh = shell(lab, instance)
    assert "<title>401 - Unauthorized</title>" in sh.run_script(f"curl -s {IMDS}/meta-data/instance-id").stdout
    assert sh.run_script(f"{TOKEN}; {WITH_TOKEN} {IMDS}/meta-data/instance-id").stdout == instance
    wrong = sh.run_script(f'curl -s -H "X-aws-ec2-metadata-token: forged" {IMDS}/meta-data/instance-id')
    assert "401 - Unauthorized" in wrong.stdout
    no_ttl = sh.run_script(f"curl -s -X PUT {IMDS}/api/token")
    assert "400 - Bad Request" in no_ttl.stdout
    failing = sh.run_script(f"curl -sSf {IMDS}/meta-data/instance-id")
    assert failing.exit_code == 22 and failing.stderr == "curl: (22) The requested URL returned error: 401\n"


def test_a_token_from_one_command_is_good_in_the_next(lab):
    instance = launch(lab, make_profile(lab), MetadataOptions={"HttpTokens": "required"})
    token = shell(lab, instance).run_script(TOKEN + '; echo "$TOKEN"').stdout.strip()
    later = shell(lab, instance).run_script(f'curl -s -H "X-aws-ec2-metadata-token: {token}" {IMDS}/meta-data/instance-id')
    assert later.stdout == instance


def test_imds_turned_off_answers_403(lab):
    instance = launch(lab, make_profile(lab), MetadataOptions={"HttpEndpoint": "disabled"})
    result = run(lab, instance, f"curl -s {IMDS}/meta-data/instance-id")
    assert "<title>403 - Forbidden</title>" in result.stdout and result.exit_code == 0
    code = run(lab, instance, f'curl -s -o /dev/null -w "%{{http_code}}\\n" {IMDS}/meta-data/instance-id')
    assert code.stdout == "403\n"


def test_role_ec2_cannot_assume_is_reported_by_iam_info(lab):
    instance = launch(lab, make_profile(lab, services=("ssm.amazonaws.com",)), MetadataOptions={"HttpTokens": "optional"})
    sh = shell(lab, instance)
    info = json.loads(sh.run_script(f"curl -s {IMDS}/meta-data/iam/info").stdout)
    assert info["Code"] == "AssumeRoleUnauthorizedAccess"
    assert "404 - Not Found" in sh.run_script(f"curl -s {IMDS}/meta-data/iam/security-credentials/").stdout


def test_no_profile_has_no_iam_branch(lab):
    from test_agent import enable_dhmc

    enable_dhmc(lab)
    instance = launch(lab, None, MetadataOptions={"HttpTokens": "required"})
    sh = shell(lab, instance)
    listing = sh.run_script(f"{TOKEN}; {WITH_TOKEN} {IMDS}/meta-data/").stdout.splitlines()
    assert "iam/" not in listing and "instance-id" in listing


def test_other_hosts_follow_the_network_model(lab):
    vpc, subnet, _ = private_subnet(lab)
    instance = launch(lab, make_profile(lab), SubnetId=subnet)
    result = run(lab, instance, "curl -s https://example.com")
    assert result.exit_code == 28 and result.stderr == ""
    loud = run(lab, instance, "curl -sS https://example.com")
    assert loud.stderr.startswith("curl: (28) Failed to connect to example.com port 443 after ")


def test_aws_cli_without_a_route_times_out(lab):
    vpc, subnet, _ = private_subnet(lab)
    instance = launch(lab, make_profile(lab), SubnetId=subnet)
    result = run(lab, instance, "aws sts get-caller-identity")
    assert result.exit_code == 255
    assert result.stderr == '\nConnect timeout on endpoint URL: "https://sts.us-east-1.amazonaws.com/"\n'


# --- the AWS CLI on the instance -----------------------------------------------------------


def test_aws_cli_is_the_role_session(lab, instance):
    result = run(lab, instance, "aws sts get-caller-identity --query Arn --output text")
    assert result.stdout == f"arn:aws:sts::{lab.account_id}:assumed-role/role-for-ec2/{instance}\n"


def test_aws_cli_call_the_role_may_not_make_is_access_denied(lab, instance):
    result = run(lab, instance, "aws iam list-roles")
    assert result.exit_code == 254
    assert result.stderr == (
        "\nAn error occurred (AccessDenied) when calling the ListRoles operation: User: "
        f"arn:aws:sts::{lab.account_id}:assumed-role/role-for-ec2/{instance} is not authorized to perform: "
        f"iam:ListRoles on resource: arn:aws:iam::{lab.account_id}:role/ because no identity-based policy "
        "allows the iam:ListRoles action\n"
    )
    ec2 = run(lab, instance, "aws ec2 describe-instances")
    assert "(UnauthorizedOperation) when calling the DescribeInstances operation: You are not authorized" in ec2.stderr


def test_aws_cli_call_the_role_may_make_is_answered_from_the_lab(lab):
    instance = launch(lab, make_profile(lab, policies=(CORE, "arn:aws:iam::aws:policy/IAMReadOnlyAccess")))
    ssm = lab.client("ssm")
    command = ssm.send_command(InstanceIds=[instance], DocumentName="AWS-RunShellScript",
                               Parameters={"commands": ["aws iam get-role --role-name role-for-ec2 --query Role.RoleName --output text"]})
    invocation = ssm.get_command_invocation(CommandId=command["Command"]["CommandId"], InstanceId=instance)
    assert invocation["StandardOutputContent"] == "role-for-ec2\n", invocation["StandardErrorContent"]


def test_aws_cli_without_a_role_cannot_locate_credentials(lab):
    from test_agent import enable_dhmc

    enable_dhmc(lab)
    instance = launch(lab, None, MetadataOptions={"HttpTokens": "required"})
    result = run(lab, instance, "aws sts get-caller-identity")
    assert result.exit_code == 253
    assert result.stderr == '\nUnable to locate credentials. You can configure credentials by running "aws configure".\n'


# --- Session Manager -------------------------------------------------------------------------


def test_session_keeps_state_runs_as_ssm_user_and_ends_with_exit(lab, instance):
    session = lab.start_session(instance)
    assert session.run("whoami") == "ssm-user\n"
    assert session.run("cd ~; A=7") == ""
    assert session.run("pwd; echo $A") == "/home/ssm-user\n7\n"
    assert session.run("nosuch") == "sh: nosuch: command not found\n"
    session.run("exit")
    assert session.ended


def test_session_refused_when_not_managed(lab):
    instance = launch(lab, make_profile(lab, policies=()))
    with pytest.raises(SessionError) as refused:
        lab.start_session(instance)
    assert refused.value.code == "TargetNotConnected"
    assert str(refused.value) == (
        f"An error occurred (TargetNotConnected) when calling the StartSession operation: {instance} is not connected."
    )


def test_ssmlab_session_in_a_terminal(lab, instance):
    done = subprocess.run(
        [sys.executable, "-m", "ssmlab.cli", "session", instance], input="whoami\nexit\n",
        env=lab.env, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "Starting session with SessionId: learner-" in done.stdout
    assert "ssm-user\n" in done.stdout
    assert "Exiting session with sessionId: learner-" in done.stdout
