"""The shell of a simulated instance: Run Command's AWS-RunShellScript and Session Manager's
shell in the offline lab.

Nothing runs on the lab's instances. A script is parsed with bashlex, a well-kept parser of
bash's grammar, and interpreted here against the lab's state: sequences (``;``, newlines),
``&&``/``||``, ``!``, pipelines, ``$?``, ``if``/``for``, ``{ …; }`` and ``( … )``,
assignments, ``export``, ``$VAR``/``${VAR}``/``${VAR:-x}``, ``$(…)`` and backquotes,
quoting and word splitting, redirections to ``/dev/null``, files and ``2>&1``.

Commands are either simulated from the lab's state (``SIMULATED`` lists them, with what
they answer; docs/aws-facts.md#instance-shell-and-imds has the sources) or answered
honestly: a real Linux command the lab does not simulate prints one line saying so and
exits ``NOT_SIMULATED`` (120, a code bash itself never uses); only a name that is no
command on Amazon Linux gets bash's ``command not found`` (exit 127).

Run Command runs the script as ``root`` in ``/usr/bin`` (the agent's systemd unit's
working directory); a Session Manager shell runs as ``ssm-user``. Both are the ``user``
parameter of ``InstanceShell``.
"""

from __future__ import annotations

import re
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Callable

import importlib.util
import os
import shutil
import subprocess
import sys

from . import bashlex_fixes, shell_bounds
from . import imds as imds_module
from . import instance_state
from .shell_bounds import Budget, Stopped, TimedOut
from .shell_result import KERNEL, NOT_SIMULATED, Result


def _imported_on_first_use(name: str):
    """``name`` as a module that is executed when first read (importlib.util.LazyLoader).

    bashlex builds its parser's LR tables when imported (0.5 s of CPU): paid at the first
    script a lab instance runs rather than at every ``ssmlab.start()``."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    spec.loader = importlib.util.LazyLoader(spec.loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


bashlex = _imported_on_first_use("bashlex")

AMAZON_LINUX_PROMPT = "sh-5.2$ "

# Real commands of an Amazon Linux 2023 instance the lab does not simulate: they are
# answered "not simulated", never "command not found" (which would be false about Linux).
KNOWN_LINUX_COMMANDS = frozenset(
    """
    awk base64 basename bzip2 cal chgrp chmod chown chronyc cloud-init cmp comm cp cron
    crontab curl cut dd df diff dig dirname dmesg dnf du ec2-metadata env expand expr
    fdisk file find findmnt free fuser getent gpg groupadd groups gunzip gzip halt head
    history host hostnamectl htop ifconfig install ip iptables journalctl jq kill killall
    last less ln locale localectl loginctl logger lsblk lscpu lsof lsmod ls lsattr man md5sum
    mkdir mkfs mktemp modprobe more mount mv nc netstat nl nohup nproc nslookup openssl
    passwd paste patch perl pgrep ping pkill poweroff ps pstree python3 readlink realpath
    reboot rev rm rmdir rpm rsync sed seq service sestatus sftp sha1sum sha256sum shutdown
    sleep sort split ss ssh ssh-keygen ssm-cli stat strace stty su sudo sync sysctl tac tar
    tee telnet test time timedatectl timeout top touch tr traceroute truncate tty type
    umask umount unalias uniq unset unzip useradd userdel usermod vi vim w watch wget
    whereis which who xargs xz yes yum zip amazon-ssm-agent amazon-linux-extras
    """.split()
)

#: Amazon Linux's own package tools and utilities, which Debian 12's image does not have
#: (Debian's packages are .deb files, handled by apt and dpkg; docs/aws-facts.md#instance-machine),
#: and Debian's, which Amazon Linux does not have.
AMAZON_LINUX_ONLY = frozenset("dnf yum rpm amazon-linux-extras ec2-metadata sestatus".split())
DEBIAN_ONLY = frozenset("apt apt-get apt-cache dpkg-query".split())
DEBIAN = "Debian GNU/Linux"

SIMULATED = {
    "aws": "the AWS CLI v2 as the instance profile's role session (sts get-caller-identity; "
           "other calls judged by the role's policies)",
    "curl": "instance metadata (http://169.254.169.254/...); other hosts per the network model",
    "cat": "files a learner looks at (/etc/os-release, the agent's logs and config), or stdin",
    "ls": "the directories the lab models",
    "cd": "builtin", "pwd": "builtin", "echo": "builtin", "printf": "builtin",
    "true": "builtin", "false": "builtin", "exit": "builtin", "export": "builtin",
    "grep": "-i -v -c -q -n -E -F -o, on stdin or files", "head": "-n N, -N", "tail": "-n N, -N",
    "wc": "-l -w -c", "id": "the user's uid, gid, groups", "whoami": "the user",
    "hostname": "the private DNS name", "uname": "-a -r -s -n -m", "uptime": "since launch",
    "date": "the lab's clock (UTC)",
    "systemctl": "status, is-active, is-enabled, start, stop, restart, enable, disable amazon-ssm-agent",
    "rm": "-f -r, files in the directories the lab models",
    "wget": "-q -O FILE, SSM Agent's package from AWS's download URLs",
    "dpkg": "-i FILE (Debian), SSM Agent's package",
    "env": "the exported variables", "printenv": "the exported variables",
    "which": "/usr/bin/NAME for the commands it knows", "unset": "builtin",
    "sleep": "NUMBER[smhd]..., on the lab's clock", "sudo": "runs the command as root",
    "ssm-cli": "get-diagnostics --output table, the diagnostics of the simulated agent",
}

USERS = {
    "root": {"uid": 0, "home": "/root", "groups": "0(root)"},
    "ssm-user": {"uid": 1001, "home": "/home/ssm-user", "groups": "1001(ssm-user)"},
}

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
# Debian 12's /etc/os-release (base-files 12.4+deb12u*).
OS_RELEASE["12"] = (
    'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n'
    'NAME="Debian GNU/Linux"\n'
    'VERSION_ID="12"\n'
    'VERSION="12 (bookworm)"\n'
    'VERSION_CODENAME=bookworm\n'
    'ID=debian\n'
    'HOME_URL="https://www.debian.org/"\n'
    'SUPPORT_URL="https://www.debian.org/support"\n'
    'BUG_REPORT_URL="https://bugs.debian.org/"\n'
)


class _Exit(Exception):
    def __init__(self, code: int) -> None:
        self.code = code


def script_path(instance_id: str, command_id: str) -> str:
    """Where the agent writes the script of AWS-RunShellScript (its error lines start with it)."""
    return (
        f"/var/lib/amazon/ssm/{instance_id}/document/orchestration/{command_id}"
        "/awsrunShellScript/0.awsrunShellScript/_script.sh"
    )


def _now() -> datetime:
    """The lab's clock (one place to switch to a virtual clock)."""
    return datetime.now(timezone.utc)


@dataclass
class _Out:
    """What a list of commands writes. It holds at most ``shell_bounds.MAX_VALUE``
    characters: past them a captured output (a substitution, a pipeline's stage) stops
    the script, and the script's own output (``keep_first``) keeps its beginning, as
    GetCommandInvocation does (docs/aws-facts.md#bounds-on-what-an-instance-runs)."""

    out: list[str] = field(default_factory=list)
    err: list[str] = field(default_factory=list)
    code: int = 0
    keep_first: bool = False
    sizes: list[int] = field(default_factory=lambda: [0, 0])  # stdout, stderr
    dropped: bool = False

    def add(self, result: Result) -> None:
        self.write(result.stdout, result.stderr)
        self.code = result.exit_code

    def take(self, other: "_Out") -> None:
        """Append what ``other`` wrote (its status is not taken)."""
        self.write("".join(other.out), "".join(other.err))

    def write(self, stdout: str, stderr: str) -> None:
        kept = []
        for n, text in enumerate((stdout, stderr)):
            room = shell_bounds.MAX_VALUE - self.sizes[n]
            if len(text) > room:
                if not self.keep_first:
                    raise shell_bounds.too_big()
                self.dropped, text = True, text[: max(room, 0)]
            self.sizes[n] += len(text)
            kept.append(text)
        self.out.append(kept[0])
        self.err.append(kept[1])

    def result(self) -> Result:
        return Result("".join(self.out), "".join(self.err), self.code)


class InstanceShell:
    """bash on one simulated instance. ``state`` is an ``agent.AgentState``.

    ``user`` is ``root`` (Run Command) or ``ssm-user`` (Session Manager). ``command_id``
    set: error lines carry the script's path and line, as under Run Command; unset: they
    start ``sh:``, as in an interactive Session Manager shell. ``aws`` answers the
    instance's AWS CLI (``instance_aws.run`` by default).
    """

    def __init__(
        self,
        state,
        command_id: str | None = None,
        *,
        user: str = "root",
        endpoint: str | None = None,
        facts: imds_module.InstanceFacts | None = None,
        now: Callable[[], datetime] = _now,
        execution_timeout: float | None = None,
        idle_timeout: float | None = None,
    ) -> None:
        if user not in USERS:
            raise ValueError(f"user must be one of {sorted(USERS)}")
        self.state = state
        self.command_id = command_id
        self.user = user
        self.endpoint = endpoint
        self._started = now  # when the script (or line) starts: see now()
        self.facts = facts or imds_module.facts(state.account_id, state.region, state.instance_id)
        self.imds = imds_module.Imds(self.facts, now=now)
        home = USERS[user]["home"]
        # Both Run Command and Session Manager start in the agent's working directory
        # (packaging/linux/amazon-ssm-agent.service: WorkingDirectory=/usr/bin/).
        self.cwd = "/usr/bin"
        self.ended = False
        self.variables: dict[str, str] = {
            "HOME": home, "USER": user, "PATH": "/usr/local/bin:/usr/bin:/usr/local/sbin:/usr/sbin",
            "SHELL": "/bin/bash" if user == "root" else "/bin/sh", "PWD": self.cwd,
        }
        self.exported: set[str] = set(self.variables)
        self.last_code = 0
        # The image's files as the lab builds them now, under what scripts wrote or removed:
        # that layer is the instance's own (instance_state), kept across shells and boots.
        self.machine = instance_state.get(state.account_id, state.region, state.instance_id)
        self.files = _FileSystem(_files(state, self.facts), self.machine.files)
        self._source = ""
        self._pending_stderr: list[str] = []
        self._pos = 0
        # What one script (Run Command's executionTimeout) or one typed line (Session
        # Manager's idle session timeout) may spend on the lab's clock (shell_bounds).
        self.budget = Budget(execution_timeout if execution_timeout is not None else idle_timeout)
        self.timed_out = False

    def now(self) -> datetime:
        """The time as the script sees it: its start plus what its commands have spent so far
        (``date; sleep 5; date`` is five seconds apart)."""
        return self._started() + timedelta(seconds=self.budget.seconds)

    # -- entry points ------------------------------------------------------------------
    def run(self, lines: list[str]) -> Result:
        """AWS-RunShellScript: the ``commands`` entries, one line each, as one script.
        The result's exit code is the script's; non-zero appends the agent's
        ``failed to run commands: exit status N`` to stderr."""
        script = "\n".join(str(line) for line in lines)
        result = self.run_script(script)
        err = result.stderr
        # A script stopped at its executionTimeout gets no such line: the agent marks it
        # TimedOut instead (agent/plugins/runscript/runscript.go:201-207).
        if result.exit_code != 0 and not self.timed_out:
            err += f"failed to run commands: exit status {result.exit_code}"
        return Result(result.stdout, err, result.exit_code, result.duration)

    def run_script(self, script: str) -> Result:
        out = _Out(keep_first=True)
        self.budget.reset()
        self.timed_out = False
        try:
            try:
                self._run_text(script, out)
            except RecursionError:
                raise shell_bounds.too_deep() from None
        except TimedOut:
            # The agent kills the script at its executionTimeout and keeps what it wrote
            # (agent/executers/executers.go:325-335): exit code 137. In a session, the idle
            # timeout ends the session, and its shell with it.
            self.timed_out = self.ended = True
            out.code = shell_bounds.STOPPED_PREEMPTIVELY
            if not self.command_id:
                out.err.append(shell_bounds.idle_line())
        except Stopped as stop:
            out.add(stop.result)
            self.ended = bool(self.command_id)
        except _Exit as stop:
            if isinstance(stop, _ExitWith):
                out.add(stop.result)
            out.code = stop.code
            # A syntax error ends a script; an interactive shell reads the next line, and
            # says "exit" when the exit builtin ends it (bash(1), exit).
            self.ended = bool(self.command_id) or not isinstance(stop, _SyntaxStop)
            if self.ended and not self.command_id:
                out.err.append("exit\n")
        self.last_code = out.code
        if out.dropped and not self.command_id:
            out.err.append(shell_bounds.dropped_line())
        result = out.result()
        return Result(result.stdout, result.stderr, result.exit_code, self.budget.seconds)

    # -- parsing -----------------------------------------------------------------------
    def _prefix(self) -> str:
        if not self.command_id:
            return "sh: "
        line = self._source.count("\n", 0, self._pos) + 1
        return f"{script_path(self.state.instance_id, self.command_id)}: line {line}: "

    def _syntax_error(self, lines: list[str], line_no: int, message: str) -> Result:
        # bash's messages for the shapes bashlex reports (bash 5.2, parse.y).
        if self.command_id:
            path = script_path(self.state.instance_id, self.command_id)

            def where(n: int) -> str:
                return f"{path}: line {n}: "
        else:

            def where(n: int) -> str:
                return "sh: "

        if "matching" in message:
            quote = message.split("matching '", 1)[-1][:1] if "matching '" in message else '"'
            text = f"{where(line_no)}unexpected EOF while looking for matching `{quote}'\n"
            text += f"{where(len(lines) + 1)}syntax error: unexpected end of file\n" if self.command_id else ""
        elif message.startswith("unexpected token"):
            token = message.split("'", 2)[1] if "'" in message else message.split()[-1]
            bad_line = lines[line_no - 1] if line_no - 1 < len(lines) else ""
            text = f"{where(line_no)}syntax error near unexpected token `{token}'\n{where(line_no)}`{bad_line}'\n"
        else:
            text = f"{where(len(lines) + 1)}syntax error: unexpected end of file\n"
        return Result("", text, 2)

    def _run_text(self, script: str, out: _Out) -> None:
        self._source = script
        if len(script) > shell_bounds.MAX_SCRIPT:
            raise shell_bounds.too_long()
        try:
            trees = _parse(script) if script.strip() else []
        except _Unparsable:
            out.add(self._unreadable())
            return
        except bashlex.errors.ParsingError as error:
            if bash_reads(script):
                # bashlex's grammar lacks it ([[ … ]], arrays, …), bash's has it: not a
                # syntax error, which would be a plausible lie.
                out.add(self._unreadable())
                return
            # bash runs the complete commands before the one it cannot parse: find the
            # last line up to which the script parses, and the line of the error. Lines
            # after a complete part are parsed on their own (the search stays linear in
            # the script but for an unfinished construct, whose search is bounded).
            lines = script.split("\n")
            complete, start, line_no, message = 0, 0, len(lines), error.message
            searched = 0
            for k in range(1, len(lines) + 1):
                chunk = "\n".join(lines[start:k])
                searched += len(chunk)
                if searched > shell_bounds.MAX_SEARCH:
                    raise shell_bounds.too_long_to_search() from None
                try:
                    if chunk.strip():
                        _parse(chunk)
                    complete = start = k
                except bashlex.errors.ParsingError as partial:
                    if partial.message.startswith("unexpected token"):
                        line_no, message = k, partial.message
                        break
                except (NotImplementedError, _Unparsable):
                    break
            else:
                line_no = script.count("\n", 0, min(error.position, len(script))) + 1
            head = "\n".join(lines[:complete])
            if head.strip():
                self._source = head
                for tree in _parse(head):
                    self._node(tree, "", out)
            self._source = script
            out.add(self._syntax_error(lines, line_no, message))
            raise _SyntaxStop(2) from None
        except NotImplementedError as missing:
            out.add(self._not_simulated(_construct(missing)))
            return
        for tree in trees:
            self._node(tree, "", out)

    # -- the tree ------------------------------------------------------------------------
    def _node(self, node, stdin: str, out: _Out) -> None:
        kind = node.kind
        if kind == "list":
            skip = False
            for part in node.parts:
                if part.kind == "operator":
                    if part.op == "&&":
                        skip = out.code != 0
                    elif part.op == "||":
                        skip = out.code == 0
                    else:
                        skip = False
                    continue
                if skip:
                    continue
                self._node(part, stdin, out)
        elif kind == "pipeline":
            negate = any(p.kind == "reservedword" and p.word == "!" for p in node.parts)
            commands = [p for p in node.parts if p.kind not in ("pipe", "reservedword")]
            data = stdin
            err: list[str] = []
            code = 0
            for i, command in enumerate(commands):
                step = _Out()
                try:
                    self._node(command, data, step)
                except _Exit as stop:  # exit in a pipeline ends only its subshell
                    step.code = stop.code
                result = step.result()
                err.append(result.stderr)
                data, code = result.stdout, result.exit_code
            if negate:
                code = 0 if code else 1
            out.add(Result(data, "".join(err), code))
            self._set_code(code)
        elif kind == "command":
            result = self._command(node, stdin)
            out.add(result)
            self._set_code(result.exit_code)
        elif kind == "compound":
            subshell = node.list and node.list[0].kind == "reservedword" and node.list[0].word == "("
            saved = (dict(self.variables), self.cwd) if subshell else None
            try:
                for part in node.list:
                    if part.kind != "reservedword":
                        self._node(part, stdin, out)
            except _Exit as stop:
                if not subshell:
                    raise
                out.code = stop.code
            finally:  # also when a bound stops the line (shell_bounds)
                if saved:
                    self.variables, self.cwd = saved
            self._set_code(out.code)
        elif kind == "if":
            self._if(node, stdin, out)
        elif kind == "for":
            self._for(node, stdin, out)
        elif kind in ("reservedword", "operator"):
            pass
        else:
            out.add(self._not_simulated(f"bash's {kind} construct"))
            self._set_code(NOT_SIMULATED)

    def _set_code(self, code: int) -> None:
        self.last_code = code

    def _if(self, node, stdin: str, out: _Out) -> None:
        parts = node.parts
        i = 0
        while i < len(parts):
            word = parts[i].word if parts[i].kind == "reservedword" else None
            if word in ("if", "elif"):
                condition = _Out()
                self._node(parts[i + 1], stdin, condition)
                out.take(condition)
                if condition.code == 0:
                    self._node(parts[i + 3], stdin, out)
                    return
                i += 4
            elif word == "else":
                self._node(parts[i + 1], stdin, out)
                return
            else:
                i += 1
        out.code = 0

    def _for(self, node, stdin: str, out: _Out) -> None:
        parts = node.parts
        name = parts[1].word
        words: list[str] = []
        total = 0
        body = None
        in_words = False
        for part in parts[2:]:
            if part.kind == "reservedword":
                if part.word == "in":
                    in_words = True
                elif part.word in (";", "do"):
                    in_words = False
                continue
            if in_words and part.kind == "word":
                expanded = self._expand(part)
                total = shell_bounds.grow(total, expanded)
                words.extend(expanded)
            elif part.kind != "word":
                body = part
        out.code = 0
        for value in words:
            self.variables[name] = value
            if body is not None:
                self._node(body, stdin, out)

    # -- words -----------------------------------------------------------------------------
    def _substitute(self, command) -> str:
        sub = _Out()
        saved = (dict(self.variables), self.cwd)
        try:
            self._node(command, "", sub)
        except _Exit as stop:
            sub.code = stop.code
        finally:  # also when a bound stops the line (shell_bounds)
            self.variables, self.cwd = saved
        self.last_code = sub.code
        self._pending_stderr.append("".join(sub.err))
        return "".join(sub.out).rstrip("\n")

    def _parameter(self, expr: str) -> str:
        if expr == "?":
            return str(self.last_code)
        if expr == "$":
            return "4242"
        if expr == "#":
            return "0"
        for op in (":-", ":=", ":+", "-"):
            if op in expr:
                name, default = expr.split(op, 1)
                value = self.variables.get(name, "")
                if op == ":+":
                    return default if value else ""
                if op == "-":
                    return self.variables.get(name, default)
                if not value and op == ":=":
                    self.variables[name] = default
                return value or default
        return self.variables.get(expr, "")

    def _expand(self, word_node, split: bool = True) -> list[str]:
        """Expand one bashlex word: quotes removed, parameters and command substitutions
        replaced (from bashlex's own positions), unquoted expansions split on blanks."""
        source = self._source
        start, end = word_node.pos
        subs = {p.pos[0]: p for p in getattr(word_node, "parts", []) if p.kind == "commandsubstitution"}
        fields: list[str] = [""]
        has_field = [False]
        size = [end - start]  # the word's own text, then what its expansions add
        quote = None
        i = start

        def emit(text: str, quoted: bool) -> None:
            size[0] += len(text)
            if size[0] > shell_bounds.MAX_VALUE:
                raise shell_bounds.too_big()
            if quoted or not split:
                fields[-1] += text
                has_field[-1] = True
                return
            pieces = re.split(r"[ \t\n]+", text)
            for n, piece in enumerate(pieces):
                if n > 0 and (fields[-1] or has_field[-1]):
                    fields.append("")
                    has_field.append(False)
                fields[-1] += piece
                if piece:
                    has_field[-1] = True

        while i < end:
            ch = source[i]
            if i in subs:
                node = subs[i]
                emit(self._substitute(node.command), quote == '"')
                i = node.pos[1]
                continue
            if quote == "'":
                if ch == "'":
                    quote = None
                else:
                    fields[-1] += ch
                i += 1
                continue
            if ch == "\\" and i + 1 < end:
                nxt = source[i + 1]
                if quote == '"' and nxt not in '$`"\\\n':
                    fields[-1] += ch + nxt  # inside double quotes only these are escaped
                else:
                    fields[-1] += nxt
                has_field[-1] = True
                i += 2
                continue
            if ch in "'\"" and quote is None:
                quote = ch
                has_field[-1] = True
                i += 1
                continue
            if ch == '"' and quote == '"':
                quote = None
                i += 1
                continue
            if ch == "$" and quote is None and source[i + 1 : i + 2] == "'":
                text, after = ansi_c(source, i + 2, end)
                if after is not None:  # bash(1), QUOTING: $'…' decodes its backslash escapes
                    emit(text, True)
                    i = after
                    continue
            if ch == "$" and i + 1 < end:
                nxt = source[i + 1]
                close = source.find("}", i, end) if nxt == "{" else -1
                if close >= 0:  # no closing brace in the word: the $ is a character (never a loop)
                    emit(self._parameter(source[i + 2 : close]), quote == '"')
                    i = close + 1
                    continue
                match = re.match(r"[A-Za-z_][A-Za-z0-9_]*|[?$#0-9]", source[i + 1 : end])
                if match:
                    emit(self._parameter(match.group(0)), quote == '"')
                    i += 1 + len(match.group(0))
                    continue
            fields[-1] += ch
            has_field[-1] = True
            i += 1
        return [f for f, used in zip(fields, has_field) if used or f]

    # -- one simple command ----------------------------------------------------------------
    def _command(self, node, stdin: str) -> Result:
        self._pending_stderr = []
        self._pos = node.pos[0]
        self.budget.command()
        assignments: list[tuple[str, str]] = []
        words: list[str] = []
        total = 0  # characters in words
        redirects = []
        for part in node.parts:
            if part.kind == "assignment" and not words:
                name, _ = part.word.split("=", 1)
                value_node = _Shifted(part, len(name) + 1)
                assignments.append((name, "".join(self._expand(value_node, split=False))))
            elif part.kind == "redirect":
                redirects.append(part)
            elif part.kind in ("word", "assignment"):
                expanded = self._expand(part)
                total = shell_bounds.grow(total, expanded)
                words.extend(expanded)
        pre_err = shell_bounds.check_size("".join(self._pending_stderr))
        if any(r.type not in ("<", "<<", ">", ">>", ">&", "&>") for r in redirects):
            kinds = ", ".join(sorted({r.type for r in redirects}))
            return self._not_simulated(f"bash's {kinds} redirection")
        if not words:
            for name, value in assignments:
                self.variables[name] = value
            # An assignment alone exits with its last command substitution's status, else 0.
            return Result("", pre_err, self.last_code if self._had_sub(node) else 0)
        saved = {name: self.variables.get(name) for name, _ in assignments}
        for name, value in assignments:
            self.variables[name] = value
        stdin, problem = self._input_redirect(redirects, stdin)
        problem = problem or self._output_target_problem(redirects)
        if problem:
            # bash opens the redirections first: the command does not run (bash(1), REDIRECTION).
            for name, old in saved.items():
                if old is None:
                    self.variables.pop(name, None)
                else:
                    self.variables[name] = old
            return Result("", pre_err + problem, 1)
        try:
            result = self._dispatch(words, stdin)
        finally:
            for name, old in saved.items():
                if old is None:
                    self.variables.pop(name, None)
                else:
                    self.variables[name] = old
        result = self._output_redirect(redirects, result)
        return Result(result.stdout, pre_err + result.stderr, result.exit_code)

    @staticmethod
    def _had_sub(node) -> bool:
        return any(
            p.kind == "commandsubstitution"
            for part in node.parts
            for p in getattr(part, "parts", [])
        )

    def _input_redirect(self, redirects, stdin: str) -> tuple[str, str]:
        for redirect in redirects:
            if redirect.type == "<<":
                # A here-document: its lines up to the delimiter; an unquoted delimiter
                # expands parameters in it (bash(1), "Here Documents").
                body = redirect.heredoc.value.rsplit("\n", 1)[0] + "\n" if "\n" in redirect.heredoc.value else ""
                delimiter = self._source[redirect.output.pos[0]:redirect.output.pos[1]]
                if not any(q in delimiter for q in "'\"\\"):
                    grown = [len(body)]

                    def value(m: re.Match) -> str:
                        text = self._parameter(m.group(1) or m.group(2))
                        grown[0] += len(text)
                        if grown[0] > shell_bounds.MAX_VALUE:
                            raise shell_bounds.too_big()
                        return text

                    body = re.sub(r"\$\{([^}]*)\}|\$([A-Za-z_][A-Za-z0-9_]*|\?)", value, body)
                stdin = body
                continue
            if redirect.type == "<":
                path = self._path("".join(self._expand(redirect.output, split=False)))
                content = self.files.get(path)
                if content is None:
                    return stdin, f"{self._prefix()}{path}: No such file or directory\n"
                stdin = content
        return stdin, ""

    def _output_targets(self, redirects) -> list[tuple[str, str]]:
        """(as written, absolute path) of each file an output redirection writes."""
        targets = []
        for redirect in redirects:
            if redirect.type in ("<", "<<") or isinstance(redirect.output, int):
                continue
            target = "".join(self._expand(redirect.output, split=False))
            if target != "/dev/null":
                targets.append((target, self._path(target)))
        return targets

    def _output_target_problem(self, redirects) -> str:
        for target, path in self._output_targets(redirects):
            if not instance_state.writable_by(self.user, path):
                return f"{self._prefix()}{target}: Permission denied\n"
        return ""

    def _output_redirect(self, redirects, result: Result) -> Result:
        stdout, stderr = result.stdout, result.stderr
        for redirect in redirects:
            if redirect.type in ("<", "<<"):
                continue
            source = redirect.input if isinstance(getattr(redirect, "input", None), int) else 1
            target_node = redirect.output
            if redirect.type == ">&" and isinstance(target_node, int):
                if source == 2 and target_node == 1:
                    stdout, stderr = stdout + stderr, ""
                elif source == 1 and target_node == 2:
                    stdout, stderr = "", stderr + stdout
                continue
            target = "".join(self._expand(target_node, split=False)) if not isinstance(target_node, int) else str(target_node)
            if redirect.type in (">&", "&>"):
                text, stdout, stderr = stdout + stderr, "", ""
            elif source == 2:
                text, stderr = stderr, ""
            else:
                text, stdout = stdout, ""
            if target == "/dev/null":
                continue
            path = self._path(target)
            if redirect.type == ">>":
                self.files[path] = shell_bounds.check_size(self.files.get(path, "") + text)
            else:
                self.files[path] = text
        return Result(stdout, stderr, result.exit_code)

    def _path(self, path: str) -> str:
        if path.startswith("~"):
            path = self.variables.get("HOME", "/") + path[1:]
        if not path.startswith("/"):
            path = self.cwd.rstrip("/") + "/" + path
        parts: list[str] = []
        for piece in path.split("/"):
            if piece in ("", "."):
                continue
            if piece == "..":
                if parts:
                    parts.pop()
            else:
                parts.append(piece)
        return "/" + "/".join(parts)

    def _not_found(self, name: str) -> Result:
        return Result("", f"{self._prefix()}{name}: command not found\n", 127)

    def _unreadable(self) -> Result:
        return Result(
            "",
            "ssmlab: bashlex, the parser of bash's grammar the offline lab uses, cannot read this "
            f"script; bash may well run it (not simulated, exit {NOT_SIMULATED})\n",
            NOT_SIMULATED,
        )

    def _not_simulated(self, what: str) -> Result:
        return Result(
            "",
            f"ssmlab: {what} exists on the instance but is not simulated by ssmlab's offline lab "
            f"(exit {NOT_SIMULATED}); simulated: {', '.join(sorted(SIMULATED))}\n",
            NOT_SIMULATED,
        )

    def _known(self, name: str) -> bool:
        """Whether ``name`` is a real command on this instance's image the lab does not
        simulate (answered "not simulated"; any other unknown name: "command not found")."""
        if getattr(self.state, "platform_name", None) == DEBIAN:
            return (name in KNOWN_LINUX_COMMANDS and name not in AMAZON_LINUX_ONLY) or name in DEBIAN_ONLY
        return name in KNOWN_LINUX_COMMANDS

    def _dispatch(self, words: list[str], stdin: str) -> Result:
        name, args = words[0], words[1:]
        if name == "sudo":
            return self._sudo(args, stdin)
        handler = getattr(self, "_cmd_" + name.replace("-", "_"), None) if re.fullmatch(r"[a-z][a-z0-9-]*", name) else None
        if handler is not None:
            return handler(args, stdin)
        if name.startswith(("/", "./")):
            base = name.rsplit("/", 1)[-1]
            if self._known(base) or hasattr(self, "_cmd_" + base):
                return self._dispatch([base, *args], stdin)
            return Result("", f"{self._prefix()}{name}: No such file or directory\n", 127)
        if self._known(name):
            return self._not_simulated(f"`{name}`")
        return self._not_found(name)

    # -- builtins ------------------------------------------------------------------------
    def _cmd_true(self, args, stdin):
        return Result("", "", 0)

    def _cmd_false(self, args, stdin):
        return Result("", "", 1)

    def _cmd_exit(self, args, stdin):
        if not args:
            raise _Exit(self.last_code)
        if not re.fullmatch(r"-?\d+", args[0]):
            # bash: "exit: foo: numeric argument required", status 2.
            raise _ExitWith(Result("", f"{self._prefix()}exit: {args[0]}: numeric argument required\n", 2))
        raise _Exit(int(args[0]) % 256)

    def _cmd_cd(self, args, stdin):
        target = args[0] if args else self.variables.get("HOME", "/")
        if target == "-":
            target = self.variables.get("OLDPWD", self.cwd)
        path = self._path(target)
        if path not in _directories(self.files) and not _is_modelled_dir(path):
            if path in self.files:
                return Result("", f"{self._prefix()}cd: {target}: Not a directory\n", 1)
            return Result("", f"{self._prefix()}cd: {target}: No such file or directory\n", 1)
        self.variables["OLDPWD"] = self.cwd
        self.cwd = path
        self.variables["PWD"] = path
        return Result("", "", 0)

    def _cmd_pwd(self, args, stdin):
        return Result(self.cwd + "\n", "", 0)

    def _cmd_export(self, args, stdin):
        if not args or args == ["-p"]:
            lines = [f'declare -x {k}="{self.variables[k]}"' for k in sorted(self.exported) if k in self.variables]
            return Result("\n".join(lines) + ("\n" if lines else ""), "", 0)
        for arg in args:
            name, eq, value = arg.partition("=")
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                return Result("", f"{self._prefix()}export: `{arg}': not a valid identifier\n", 1)
            if eq:
                self.variables[name] = value
            self.exported.add(name)
        return Result("", "", 0)

    def _cmd_unset(self, args, stdin):
        for name in args:
            self.variables.pop(name, None)
            self.exported.discard(name)
        return Result("", "", 0)

    def _cmd_echo(self, args, stdin):
        newline = True
        while args and args[0] in ("-n", "-e", "-E"):
            newline = newline and args[0] != "-n"
            args = args[1:]
        return Result(" ".join(args) + ("\n" if newline else ""), "", 0)

    def _cmd_printf(self, args, stdin):
        if not args:
            return Result("", f"{self._prefix()}printf: usage: printf [-v var] format [arguments]\n", 2)
        fmt, values = args[0], list(args[1:])
        fmt = fmt.replace("\\n", "\n").replace("\\t", "\t")
        out = []
        written = 0
        while True:
            consumed = [0]

            def fill(match: re.Match) -> str:
                spec = match.group(0)
                if spec == "%%":
                    return "%"
                value = values.pop(0) if values else ""
                consumed[0] += 1
                if spec.endswith("d"):
                    return str(int(value or 0))
                return value

            out.append(re.sub(r"%%|%[-0-9.]*[sdq]", fill, fmt))
            written = shell_bounds.grow(written, out[-1])
            if not values or not consumed[0]:
                break
        return Result("".join(out), "", 0)

    def _cmd_printenv(self, args, stdin):
        names = args or sorted(self.exported)
        values = [(n, self.variables[n]) for n in names if n in self.variables and n in self.exported]
        if args:
            return Result("".join(v + "\n" for _, v in values), "", 0 if len(values) == len(args) else 1)
        return Result("".join(f"{n}={v}\n" for n, v in values), "", 0)

    def _cmd_env(self, args, stdin):
        if args:
            return self._not_simulated("`env " + " ".join(args) + "`")
        return self._cmd_printenv([], stdin)

    def _cmd_which(self, args, stdin):
        out, code = [], 0
        for name in args:
            if self._known(name) or hasattr(self, "_cmd_" + name.replace("-", "_")):
                out.append(f"/usr/bin/{name}\n")
            else:
                code = 1
                out.append("")
        missing = [n for n in args if not (self._known(n) or hasattr(self, "_cmd_" + n.replace("-", "_")))]
        err = "".join(f"/usr/bin/which: no {n} in ({self.variables.get('PATH', '')})\n" for n in missing)
        return Result("".join(out), err, code)

    def _cmd_sleep(self, args, stdin):
        # GNU sleep: the sum of its NUMBER[smhd] arguments, spent on the lab's clock.
        seconds = shell_bounds.sleep_seconds(args)
        if seconds is None:
            return self._not_simulated("`sleep " + " ".join(args) + "`")
        self.budget.spend(seconds)
        return Result("", "", 0)

    def _sudo(self, args, stdin):
        if not args or args[0].startswith("-"):
            return self._not_simulated("`sudo " + " ".join(args) + "`")
        user, self.user = self.user, "root"
        try:
            return self._dispatch(args, stdin)
        finally:
            self.user = user

    # -- identity, system --------------------------------------------------------------------
    def _cmd_whoami(self, args, stdin):
        return Result(self.user + "\n", "", 0)

    def _cmd_id(self, args, stdin):
        info = USERS[self.user]
        uid = info["uid"]
        if args in (["-u"],):
            return Result(f"{uid}\n", "", 0)
        if args in (["-un"], ["-u", "-n"], ["-nu"]):
            return Result(f"{self.user}\n", "", 0)
        if args:
            return self._not_simulated("`id " + " ".join(args) + "`")
        return Result(f"uid={uid}({self.user}) gid={uid}({self.user}) groups={info['groups']}\n", "", 0)

    def _cmd_hostname(self, args, stdin):
        if args:
            return self._not_simulated("`hostname " + " ".join(args) + "`")
        return Result((self.state.computer_name or self.facts.private_dns) + "\n", "", 0)

    def _cmd_uname(self, args, stdin):
        kernel = KERNEL.get(self.state.platform_version or "", KERNEL["2023"])
        host = self.state.computer_name or self.facts.private_dns
        values = {"s": "Linux", "n": host, "r": kernel, "m": "x86_64"}
        flags = "".join(a.lstrip("-") for a in args) or "s"
        if "a" in flags:
            built = "#1 SMP PREEMPT_DYNAMIC Mon Nov 10 00:00:00 UTC 2025"
            return Result(f"Linux {host} {kernel} {built} x86_64 x86_64 x86_64 GNU/Linux\n", "", 0)
        if any(f not in values for f in flags):
            return self._not_simulated("`uname " + " ".join(args) + "`")
        return Result(" ".join(values[f] for f in "snrm" if f in flags) + "\n", "", 0)

    def _cmd_date(self, args, stdin):
        now = self.now()
        if args and args[0].startswith("+"):
            fmt = args[0][1:]
            return Result(now.strftime(fmt.replace("%N", "000000000")) + "\n", "", 0)
        if args in (["-u"], ["--utc"]) or not args:
            day = f"{now.day:2d}"
            return Result(now.strftime(f"%a %b {day} %H:%M:%S UTC %Y") + "\n", "", 0)
        return self._not_simulated("`date " + " ".join(args) + "`")

    def _cmd_uptime(self, args, stdin):
        now = self.now()
        seconds = max(60, int((now - self.facts.launched).total_seconds()))
        days, rest = divmod(seconds, 86400)
        hours, rest = divmod(rest, 3600)
        minutes = rest // 60
        if args in (["-p"],):
            pieces = [f"{n} {u}{'s' if n != 1 else ''}" for n, u in ((days, "day"), (hours, "hour"), (minutes, "minute")) if n]
            return Result("up " + ", ".join(pieces) + "\n", "", 0)
        if args:
            return self._not_simulated("`uptime " + " ".join(args) + "`")
        since = f"{days} day{'s' if days != 1 else ''}, " if days else ""
        since += f"{hours:2d}:{minutes:02d}" if hours else f"{minutes} min"
        users = 1 if self.command_id is None else 0
        return Result(
            f" {now:%H:%M:%S} up {since},  {users} user{'s' if users != 1 else ''},  load average: 0.00, 0.00, 0.00\n", "", 0
        )

    # -- the agent's service (docs/aws-facts.md#instance-machine) ----------------------------
    _UNITS = ("amazon-ssm-agent", "amazon-ssm-agent.service")
    _UNIT = "amazon-ssm-agent.service"

    def _agent_machine(self):
        from . import agent

        return agent.WORLD.machine(self.state.account_id, self.state.region, self.state.instance_id)

    def _service_time(self) -> datetime:
        """When a service change happens: the shell's clock when given one (cloud-init at a
        boot), else the lab clock the agent runs on."""
        if self.now is not _now:
            return self.now()
        from . import clock

        return clock.now()

    def _agent_installed(self) -> bool:
        if self.machine.agent_installed is not None:
            return self.machine.agent_installed
        return bool(self.state.agent_installed)

    def _agent_active(self) -> bool:
        from . import agent

        return self._agent_installed() and self._agent_machine().phase not in (
            agent.AgentPhase.OFF, agent.AgentPhase.STOPPED, agent.AgentPhase.NOT_INSTALLED)

    def _cmd_systemctl(self, args, stdin):
        now_flag = "--now" in args
        words = [a for a in args if not a.startswith("-")]
        if len(words) != 2 or words[1] not in self._UNITS:
            return self._not_simulated("`systemctl " + " ".join(args) + "`")
        verb, unit = words[0], self._UNIT
        installed = self._agent_installed()
        if verb in ("status", "is-active"):
            running = self._agent_active()
            if verb == "is-active":
                return Result("active\n" if running else "inactive\n", "", 0 if running else 3)
            if not installed:
                return Result("", f"Unit {unit} could not be found.\n", 4)
            text = _systemctl_status(self.state, self.facts, self.now(), self.user == "root",
                                     running=running, enabled=self.machine.service_enabled)
            return Result(text, "", 0 if running else 3)
        if verb == "is-enabled":
            if not installed:
                return Result("", f"Failed to get unit file state for {unit}: No such file or directory\n", 1)
            enabled = self.machine.service_enabled
            return Result("enabled\n" if enabled else "disabled\n", "", 0 if enabled else 1)
        if verb not in ("start", "stop", "restart", "enable", "disable"):
            return self._not_simulated("`systemctl " + " ".join(args) + "`")
        unit_verb = verb in ("enable", "disable")
        if self.user != "root":
            # systemd asks polkit; a script has no agent to answer it (systemctl(1), --no-ask-password).
            if unit_verb:
                return Result("", f"Failed to {verb} unit: Interactive authentication required.\n", 1)
            return Result("", f"Failed to {verb} {unit}: Interactive authentication required.\n"
                              f"See system logs and 'systemctl status {unit}' for details.\n", 1)
        if not installed:
            if unit_verb:
                return Result("", f"Failed to {verb} unit: Unit file {unit} does not exist.\n", 1)
            return Result("", f"Failed to {verb} {unit}: Unit {unit} not found.\n", 5)
        machine, at = self._agent_machine(), self._service_time()
        wants = f"/etc/systemd/system/multi-user.target.wants/{unit}"
        err = ""
        if verb == "enable":
            if not self.machine.service_enabled:
                err = f"Created symlink {wants} \u2192 {_unit_file(self.state)}.\n"
            self.machine.service_enabled = True
        elif verb == "disable":
            if self.machine.service_enabled:
                err = f'Removed "{wants}".\n'
            self.machine.service_enabled = False
        if verb in ("stop", "restart") or (verb == "disable" and now_flag):
            machine.stop_service(at)
        if verb in ("start", "restart") or (verb == "enable" and now_flag):
            machine.start_service(at)
        return Result("", err, 0)

    # -- files ----------------------------------------------------------------------------------
    def _read(self, name: str, path: str) -> tuple[str | None, Result | None]:
        if path in self.files:
            return self.files[path], None
        if path in _directories(self.files) or _is_modelled_dir(path):
            return None, Result("", f"{name}: {path}: Is a directory\n", 1)
        if _under_modelled_dir(path):
            return None, Result("", f"{name}: {path}: No such file or directory\n", 1)
        return None, self._not_simulated(f"the file {path}")

    def _cmd_cat(self, args, stdin):
        paths = [a for a in args if a != "-"]
        if not paths:
            return Result(stdin, "", 0)
        out, err, code = [], [], 0
        written = 0
        for arg in paths:
            content, problem = self._read("cat", self._path(arg))
            if problem is not None:
                err.append(problem.stderr.replace(self._path(arg), arg, 1))
                code = problem.exit_code
            else:
                out.append(content)
                written = shell_bounds.grow(written, content)
        return Result("".join(out), "".join(err), code)

    def _cmd_rm(self, args, stdin):
        flags, paths = set(), []
        for arg in args:
            if arg.startswith("-") and len(arg) > 1:
                flags |= set(arg[1:])
            else:
                paths.append(arg)
        if flags - set("frv"):
            return self._not_simulated("`rm " + " ".join(args) + "`")
        if not paths:
            if "f" in flags:
                return Result("", "", 0)
            return Result("", "rm: missing operand\nTry 'rm --help' for more information.\n", 1)
        out, err, code = [], [], 0
        for arg in paths:
            path = self._path(arg)
            parent = path.rsplit("/", 1)[0] or "/"
            if path in self.files:
                if not instance_state.writable_by(self.user, path):
                    err.append(f"rm: cannot remove '{arg}': Permission denied\n")
                    code = 1
                    continue
                del self.files[path]
                if "v" in flags:
                    out.append(f"removed '{arg}'\n")
            elif path in _directories(self.files) or _is_modelled_dir(path):
                if "r" not in flags:
                    err.append(f"rm: cannot remove '{arg}': Is a directory\n")
                    code = 1
                else:
                    return self._not_simulated(f"removing the directory {path}")
            elif _under_modelled_dir(path) or _is_modelled_dir(parent) or parent in _directories(self.files):
                if "f" not in flags:
                    err.append(f"rm: cannot remove '{arg}': No such file or directory\n")
                    code = 1
            else:
                return self._not_simulated(f"the file {path}")
        return Result("".join(out), "".join(err), code)

    def _cmd_ls(self, args, stdin):
        flags = "".join(a.lstrip("-") for a in args if a.startswith("-"))
        targets = [a for a in args if not a.startswith("-")] or ["."]
        out, err, code = [], [], 0
        dirs = _directories(self.files)
        for target in targets:
            path = self._path(target)
            if path in self.files:
                out.append(target + "\n")
                continue
            entries = _listing(self.files, path)
            if entries is None:
                if _under_modelled_dir(path) or path in dirs:
                    err.append(f"ls: cannot access '{target}': No such file or directory\n")
                    code = 2
                    continue
                return self._not_simulated(f"the directory {path}")
            if "a" not in flags:
                entries = [e for e in entries if not e.startswith(".")]
            if len(targets) > 1:
                out.append(f"{target}:\n")
            if "l" in flags:
                rows = []
                for entry in entries:
                    full = path.rstrip("/") + "/" + entry
                    is_dir = full in dirs or _is_modelled_dir(full)
                    size = 0 if is_dir else len(self.files.get(full, "").encode())
                    mode = "drwxr-xr-x." if is_dir else "-rw-r--r--."
                    stamp = self.facts.launched.strftime("%b %e %H:%M")
                    rows.append(f"{mode} 1 root root {size:>6} {stamp} {entry}")
                out.append(f"total {len(rows) * 4}\n" + "".join(r + "\n" for r in rows))
            else:
                out.append("".join(e + "\n" for e in entries))
        return Result("".join(out), "".join(err), code)

    # -- text tools -----------------------------------------------------------------------------
    def _inputs(self, name: str, files: list[str], stdin: str) -> tuple[list[tuple[str, str]], list[str], int]:
        if not files:
            return [("", stdin)], [], 0
        texts, err, code = [], [], 0
        read = 0
        for arg in files:
            content, problem = self._read(name, self._path(arg))
            if problem is not None:
                err.append(problem.stderr.replace(self._path(arg), arg, 1))
                code = problem.exit_code if problem.exit_code == NOT_SIMULATED else 2
            else:
                texts.append((arg, content))
                read = shell_bounds.grow(read, content)
        return texts, err, code

    def _cmd_grep(self, args, stdin):
        flags, pattern, files = set(), None, []
        rest = list(args)
        while rest:
            arg = rest.pop(0)
            if arg == "-e" and rest:
                pattern = rest.pop(0)
            elif arg.startswith("-") and len(arg) > 1 and pattern is None:
                unknown = set(arg[1:]) - set("ivcqnEFoHhw")
                if unknown:
                    return self._not_simulated("`grep " + " ".join(args) + "`")
                flags |= set(arg[1:])
            elif pattern is None:
                pattern = arg
            else:
                files.append(arg)
        if pattern is None:
            return Result("", "Usage: grep [OPTION]... PATTERNS [FILE]...\nTry 'grep --help' for more information.\n", 2)
        regex_text = re.escape(pattern) if "F" in flags else _posix_regex(pattern, "E" in flags)
        if "w" in flags:
            regex_text = rf"\b(?:{regex_text})\b"
        try:
            regex = re.compile(regex_text, re.IGNORECASE if "i" in flags else 0)
        except re.error:
            return self._not_simulated(f"the regular expression {pattern!r}")
        texts, err, code = self._inputs("grep", files, stdin)
        show_name = (len(files) > 1 or "H" in flags) and "h" not in flags
        out, count_total = [], 0
        for name, text in texts:
            count = 0
            for n, line in enumerate(text.splitlines(), start=1):
                hit = bool(regex.search(line)) != ("v" in flags)
                if not hit:
                    continue
                count += 1
                if "c" in flags or "q" in flags:
                    continue
                prefix = (f"{name}:" if show_name else "") + (f"{n}:" if "n" in flags else "")
                if "o" in flags and "v" not in flags:
                    out.extend(prefix + m.group(0) + "\n" for m in regex.finditer(line))
                else:
                    out.append(prefix + line + "\n")
            if "c" in flags:
                out.append((f"{name}:" if show_name else "") + f"{count}\n")
            count_total += count
        if "q" in flags:
            return Result("", "", 0 if count_total else 1)
        return Result("".join(out), "".join(err), code or (0 if count_total else 1))

    def _count_arg(self, name: str, args: list[str]) -> tuple[int | None, list[str], bool]:
        count, files, from_start = 10, [], False
        rest = list(args)
        while rest:
            arg = rest.pop(0)
            if arg in ("-n", "--lines") and rest:
                value = rest.pop(0)
            elif arg.startswith("-n"):
                value = arg[2:]
            elif re.fullmatch(r"-\d+", arg):
                value = arg[1:]
            elif arg.startswith("-") and arg != "-":
                return None, [], False
            else:
                files.append(arg)
                continue
            from_start = value.startswith("+")
            if not value.lstrip("+").isdigit():
                return None, [], False
            count = int(value.lstrip("+"))
        return count, files, from_start

    def _cmd_head(self, args, stdin):
        count, files, _ = self._count_arg("head", args)
        if count is None:
            return self._not_simulated("`head " + " ".join(args) + "`")
        texts, err, code = self._inputs("head", files, stdin)
        out = "".join("".join(line for line in text.splitlines(keepends=True)[:count]) for _, text in texts)
        return Result(out, "".join(err), code)

    def _cmd_tail(self, args, stdin):
        count, files, from_start = self._count_arg("tail", args)
        if count is None:
            return self._not_simulated("`tail " + " ".join(args) + "`")
        texts, err, code = self._inputs("tail", files, stdin)
        out = []
        for _, text in texts:
            lines = text.splitlines(keepends=True)
            out.extend(lines[count - 1 :] if from_start else (lines[-count:] if count else []))
        return Result("".join(out), "".join(err), code)

    def _cmd_wc(self, args, stdin):
        flags = "".join(a.lstrip("-") for a in args if a.startswith("-")) or "lwc"
        files = [a for a in args if not a.startswith("-")]
        if set(flags) - set("lwc"):
            return self._not_simulated("`wc " + " ".join(args) + "`")
        texts, err, code = self._inputs("wc", files, stdin)
        out = []
        for name, text in texts:
            numbers = {"l": text.count("\n"), "w": len(text.split()), "c": len(text.encode())}
            values = [numbers[f] for f in "lwc" if f in flags]
            if len(values) == 1 and not name:
                out.append(f"{values[0]}\n")
            else:
                width = 7 if not name else max(len(str(v)) for v in values)
                out.append(" ".join(f"{v:>{width}}" for v in values) + (f" {name}" if name else "") + "\n")
        return Result("".join(out), "".join(err), code)

    def _cmd_ssm_cli(self, args, stdin):
        # ssm-cli ships with the agent (aws/amazon-ssm-agent agent/cli/diagnostics); the
        # table is the one ``lab.diagnose`` prints (simulation/diagnostics.py).
        if not self._agent_installed():
            return self._not_found("ssm-cli")
        if args == ["get-diagnostics", "--output", "table"]:
            from .diagnostics import render_table, rows

            return Result(render_table(rows(self.state)) + "\n", "", 0)
        return self._not_simulated("`ssm-cli " + " ".join(args) + "` (simulated: ssm-cli get-diagnostics --output table)")

    # -- network --------------------------------------------------------------------------------
    def _cmd_curl(self, args, stdin):
        from . import instance_aws

        return instance_aws.curl(self, args)

    def _cmd_wget(self, args, stdin):
        from . import instance_aws

        return instance_aws.wget(self, args)

    # -- packages (Debian) ----------------------------------------------------------------------
    def _cmd_dpkg(self, args, stdin):
        """``dpkg -i FILE`` of the agent's package, with its maintainer scripts
        (packaging/ubuntu/preinst, postinst: the unit is enabled and started)."""
        from . import agent, instance_aws

        if self.state.platform_name != DEBIAN:
            return self._not_found("dpkg")
        if len(args) != 2 or args[0] not in ("-i", "--install"):
            return self._not_simulated("`dpkg " + " ".join(args) + "` (simulated: dpkg -i FILE.deb)")
        if self.user != "root":
            return Result("", "dpkg: error: requested operation requires superuser privilege\n", 2)
        arg = args[1]
        content = self.files.get(self._path(arg))
        if content is None:
            return Result("", f"dpkg: error: cannot access archive '{arg}': No such file or directory\n", 2)
        if not content.startswith(instance_aws.PACKAGE_MAGIC) or "amazon-ssm-agent" not in content:
            return Result("", f"dpkg-deb: error: '{arg}' is not a Debian format archive\n"
                              f"dpkg: error processing archive {arg} (--install):\n"
                              " dpkg-deb --control subprocess returned error exit status 2\n"
                              f"Errors were encountered while processing:\n {arg}\n", 1)
        version = f"{agent.AGENT_VERSION}-1"
        again = self._agent_installed()
        out = [] if again else ["Selecting previously unselected package amazon-ssm-agent.\n"]
        out += [f"Preparing to unpack {arg} ...\n", "Preparing for install\n", "-> Systemd detected\n",
                f"Unpacking amazon-ssm-agent ({version}) {'over (' + version + ') ' if again else ''}...\n",
                f"Setting up amazon-ssm-agent ({version}) ...\n", "Starting agent\n"]
        if not again:
            self.machine.service_enabled = False  # the unit arrives with the package
        self.machine.agent_installed = True
        enable = self._cmd_systemctl(["enable", "amazon-ssm-agent"], "")
        self._cmd_systemctl(["start", "amazon-ssm-agent"], "")
        return Result("".join(out), enable.stderr, 0)

    def _cmd_aws(self, args, stdin):
        from . import instance_aws

        self.budget.aws_call()  # each call is a request the lab answers (shell_bounds)
        return instance_aws.aws(self, args, stdin)


def cloud_init(machine, at: datetime) -> None:
    """cloud-init at the end of a boot: its ``scripts-user`` module runs the user data's
    scripts as root through the instance's shell, once per instance (at the first boot),
    or at every boot when the user data's cloud-config says ``[scripts-user, always]``.
    What they print goes to /var/log/cloud-init-output.log (docs/aws-facts.md#instance-machine)."""
    from . import agent

    ec2, _, _ = agent._backends(machine.account_id, machine.region)
    instance = agent._find_instance(ec2, machine.instance_id)
    if instance is None:
        return
    lasting = instance_state.get(machine.account_id, machine.region, machine.instance_id)
    data = instance_state.user_data_parts(getattr(instance, "user_data", None))
    first = not lasting.user_data_ran
    lasting.user_data_ran = True
    if not (first or data.every_boot):
        return
    output = []
    if data.unmodelled:
        output.append(f"ssmlab: cloud-init here does not model {data.unmodelled}; it is not run\n")
    for script in data.scripts:
        shell = InstanceShell(agent._state_of(machine, machine.attempt, at), user="root", now=lambda: at)
        result = shell.run_script(script)
        output.append(result.stdout + result.stderr)
    if output:
        log = "/var/log/cloud-init-output.log"
        lasting.files[log] = (lasting.files.get(log) or "") + "".join(output)



instance_state.set_boot_scripts(cloud_init)


#: What bashlex 0.18 names in the NotImplementedError of a construct it does not read
#: (its ``parser.py``), as the construct is written.
_CONSTRUCTS = (("type = {pattern}", "`case … esac`"), ("select command", "`select … do … done`"),
               ("arithmetic expansion", "`$(( … ))` arithmetic expansion"),
               ("arithmetic substitution", "`$[ … ]` arithmetic substitution"),
               ("coproc", "`coproc`"))


def _construct(missing: NotImplementedError) -> str:
    text = str(missing)
    return "bash's " + next((name for key, name in _CONSTRUCTS if key in text), "construct here")


_ESCAPES = {"a": "\a", "b": "\b", "e": "\x1b", "E": "\x1b", "f": "\f", "n": "\n", "r": "\r",
            "t": "\t", "v": "\v", "\\": "\\", "'": "'", '"': '"', "?": "?"}


def ansi_c(source: str, i: int, end: int) -> tuple[str, int | None]:
    """The text of an ANSI-C quoted string whose inside starts at ``source[i]`` (just after
    ``$'``), and the index after its closing quote; None when it does not close before
    ``end``. The escapes are bash(1)'s, QUOTING: \\a \\b \\e \\E \\f \\n \\r \\t \\v \\\\ \\' \\" \\?,
    \\nnn (octal), \\xHH, \\uHHHH, \\UHHHHHHHH and \\cx (a control character)."""
    out: list[str] = []
    while i < end:
        ch = source[i]
        if ch == "'":  # a NUL ends bash's string: what follows it is dropped
            return "".join(out).split("\0", 1)[0], i + 1
        if ch != "\\" or i + 1 >= end:
            out.append(ch)
            i += 1
            continue
        nxt = source[i + 1]
        if nxt in _ESCAPES:
            out.append(_ESCAPES[nxt])
            i += 2
        elif nxt in "01234567":
            digits = re.match(r"[0-7]{1,3}", source[i + 1 : min(i + 4, end)]).group(0)
            out.append(chr(int(digits, 8) & 0xFF))
            i += 1 + len(digits)
        elif nxt in "xuU":
            width = {"x": 2, "u": 4, "U": 8}[nxt]
            digits = re.match(r"[0-9A-Fa-f]{0,%d}" % width, source[i + 2 : min(i + 2 + width, end)]).group(0)
            if digits:
                code = int(digits, 16)
                out.append(chr(code) if code <= 0x10FFFF else "\ufffd")
            else:
                out.append("\\" + nxt)  # bash keeps \\x with no hex digit as it is
            i += 2 + len(digits)
        elif nxt == "c" and i + 2 < end:
            out.append(chr(ord(source[i + 2]) & 0x1F))
            i += 3
        else:
            out.append("\\" + nxt)  # an unknown escape stays, backslash and all
            i += 2
    return "".join(out), None


def bash_reads(script: str) -> bool:
    """Whether bash itself reads ``script`` without a syntax error: ``bash -n`` reads
    commands and runs none (bash(1), OPTIONS), so nothing in the script is executed. The
    judge of grammar where bashlex, a partial copy of it, refuses. False when there is no
    bash on this machine or it does not answer in time (the lab's own reading stands).
    docs/aws-facts.md#bash-grammar."""
    bash = shutil.which("bash")
    if bash is None:
        return False
    try:
        done = subprocess.run([bash, "--norc", "--noprofile", "-n"], input=script, capture_output=True,
                              text=True, timeout=10, env={"PATH": os.defpath, "LC_ALL": "C"})
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


class _Unparsable(Exception):
    """bashlex 0.18 fails with an internal error on some scripts (a backquote inside the
    quotes of an assignment, a lone backslash), found by tests/test_instance_shell_properties.py."""


def _parse(text: str):
    bashlex_fixes.install(bashlex)
    try:
        return bashlex.parse(text)
    except (TypeError, AttributeError, IndexError, KeyError, ValueError, RecursionError):
        raise _Unparsable() from None
    except bashlex.errors.ParsingError as error:
        # bashlex 0.18 reads a quoted here-document delimiter ('EOF') literally, quotes and all.
        if error.message.startswith("here-document"):
            raise _Unparsable() from None
        raise


class _SyntaxStop(_Exit):
    pass


class _ExitWith(_Exit):
    def __init__(self, result: Result) -> None:
        super().__init__(result.exit_code)
        self.result = result


class _Shifted:
    """The value part of an assignment word, as a word node of its own."""

    kind = "word"

    def __init__(self, node, offset: int) -> None:
        self.pos = (node.pos[0] + offset, node.pos[1])
        self.parts = getattr(node, "parts", [])


def _posix_regex(pattern: str, extended: bool) -> str:
    if extended:
        return pattern
    # Basic regular expressions: \| \+ \? \( \) are the operators; bare ones are literal.
    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern) and pattern[i + 1] in "|+?(){}":
            out.append(pattern[i + 1])
            i += 2
            continue
        out.append("\\" + ch if ch in "|+?(){}" else ch)
        i += 1
    return "".join(out)


# ---------------------------------------------------------------------------------------
# The file system a learner looks at

# Directories whose whole content the lab models (anything else in them does not exist).
_MODELLED_DIRS = ("/etc/amazon/ssm", "/var/log/amazon/ssm", "/home/ssm-user", "/root", "/tmp")
_ROOT = ("bin", "boot", "dev", "etc", "home", "local", "lib", "lib64", "media", "mnt", "opt",
         "proc", "root", "run", "sbin", "srv", "sys", "tmp", "usr", "var")


def _is_modelled_dir(path: str) -> bool:
    return path in _MODELLED_DIRS or path == "/" or path == "/home"


def _under_modelled_dir(path: str) -> bool:
    return any(path.startswith(d + "/") for d in _MODELLED_DIRS)


def _directories(files: dict[str, str]) -> set[str]:
    dirs = {"/"}
    for path in files:
        parts = path.split("/")[1:-1]
        for i in range(1, len(parts) + 1):
            dirs.add("/" + "/".join(parts[:i]))
    return dirs


def _listing(files: dict[str, str], path: str) -> list[str] | None:
    if path == "/":
        return list(_ROOT)
    if path == "/home":
        return ["ssm-user"]
    prefix = path.rstrip("/") + "/"
    entries = {p[len(prefix):].split("/", 1)[0] for p in files if p.startswith(prefix)}
    if not entries and not _is_modelled_dir(path):
        return None
    return sorted(entries)


class _FileSystem(MutableMapping):
    """The files a shell sees: the instance's own layer (written text, or None where a file
    was removed) over the image's files as the lab builds them for this shell."""

    def __init__(self, base: dict[str, str], layer: dict[str, str | None]) -> None:
        self.base, self.layer = base, layer

    def __getitem__(self, path: str) -> str:
        if path in self.layer:
            value = self.layer[path]
            if value is None:
                raise KeyError(path)
            return value
        return self.base[path]

    def __setitem__(self, path: str, text: str) -> None:
        self.layer[path] = text

    def __delitem__(self, path: str) -> None:
        if path not in self:
            raise KeyError(path)
        self.layer[path] = None

    def __iter__(self):
        seen = set()
        for path in list(self.layer) + list(self.base):
            if path not in seen:
                seen.add(path)
                if path in self:
                    yield path

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __contains__(self, path) -> bool:
        if path in self.layer:
            return self.layer[path] is not None
        return path in self.base


def _files(state, facts) -> dict[str, str]:
    log = "".join(line + "\n" for line in getattr(state, "log", ()))
    errors = "".join(
        line + "\n" for line in getattr(state, "log", ()) if " ERROR " in line or " CRITICAL " in line
    )
    files = {
        "/var/log/amazon/ssm/amazon-ssm-agent.log": log,
        "/var/log/amazon/ssm/errors.log": errors,
        "/etc/amazon/ssm/amazon-ssm-agent.json.template": _AGENT_JSON_TEMPLATE,
        "/etc/amazon/ssm/seelog.xml.template": _SEELOG_TEMPLATE,
        "/etc/amazon/ssm/README.md": "# Amazon SSM Agent\n\nSee https://github.com/aws/amazon-ssm-agent\n",
        "/etc/amazon/ssm/RELEASENOTES.md": f"Latest\n===============\n(ssmlab: agent {getattr(state, 'agent_version', None) or 'not installed'})\n",
        "/etc/amazon/ssm/NOTICE.md": "Amazon SSM Agent\nCopyright Amazon.com, Inc. or its affiliates. All Rights Reserved.\n",
        "/etc/hostname": (state.computer_name or facts.private_dns or "localhost") + "\n",
        "/home/ssm-user/.bashrc": "# .bashrc\n",
        "/root/.bashrc": "# .bashrc\n",
    }
    if not getattr(state, "agent_installed", False):
        files = {k: v for k, v in files.items() if "/amazon/ssm/" not in k}
    text = OS_RELEASE.get(getattr(state, "platform_version", None) or "")
    if text:
        files["/etc/os-release"] = text
        if getattr(state, "platform_name", None) == "Amazon Linux":  # Debian has no /etc/system-release
            files["/etc/system-release"] = text.split('PRETTY_NAME="', 1)[1].split('"', 1)[0] + " release\n"
    return files


# The agent's shipped configuration templates (aws/amazon-ssm-agent,
# amazon-ssm-agent.json.template and seelog_unix.xml), shortened to the parts a learner reads.
_AGENT_JSON_TEMPLATE = """{
    "Profile":{
        "ShareCreds" : true,
        "ShareProfile" : "",
        "ForceUpdateCreds" : false,
        "KeyAutoRotateDays": 0
    },
    "Mds": {
        "CommandWorkersLimit" : 5,
        "StopTimeoutMillis" : 20000,
        "Endpoint": "",
        "CommandRetryLimit": 15
    },
    "Ssm": {
        "Endpoint": "",
        "HealthFrequencyMinutes": 5,
        "CustomInventoryDefaultLocation" : "",
        "AssociationLogsRetentionDurationHours" : 24,
        "RunCommandLogsRetentionDurationHours" : 336,
        "SessionLogsRetentionDurationHours" : 336,
        "PluginLocalOutputCleanup": "",
        "OrchestrationDirectoryCleanup": ""
    },
    "Mgs": {
        "Region": "",
        "Endpoint": "",
        "StopTimeoutMillis" : 20000,
        "SessionWorkersLimit" : 1000,
        "DeniedPortForwardingRemoteIPs" : [
            "169.254.169.254",
            "fd00:ec2::254",
            "169.254.169.253",
            "fd00:ec2::253"
        ]
    }
}
"""

_SEELOG_TEMPLATE = """<seelog type="adaptive" mininterval="2000000" maxinterval="100000000" critmsgcount="500" minlevel="info">
    <exceptions>
        <exception filepattern="test*" minlevel="error"/>
    </exceptions>
    <outputs formatid="fmtinfo">
        <console formatid="fmtinfo"/>
        <rollingfile type="size" filename="/var/log/amazon/ssm/amazon-ssm-agent.log" maxsize="30000000" maxrolls="5"/>
        <filter levels="error,critical" formatid="fmterror">
            <rollingfile type="size" filename="/var/log/amazon/ssm/errors.log" maxsize="10000000" maxrolls="5"/>
        </filter>
    </outputs>
    <formats>
        <format id="fmterror" format="%Date(2006-01-02 15:04:05.0000) %LEVEL [%FuncShort @ %File.%Line] %Msg%n"/>
        <format id="fmtdebug" format="%Date(2006-01-02 15:04:05.0000) %LEVEL [%FuncShort @ %File.%Line] %Msg%n"/>
        <format id="fmtinfo" format="%Date(2006-01-02 15:04:05.0000) %LEVEL %Msg%n"/>
    </formats>
</seelog>
"""


def _unit_file(state) -> str:
    """Where the package puts the unit: the rpm in /etc/systemd/system
    (packaging/linux/amazon-ssm-agent.spec), the .deb in /lib/systemd/system
    (Tools/src/create_deb.sh:28,41)."""
    if getattr(state, "platform_name", None) == "Debian GNU/Linux":
        return "/lib/systemd/system/amazon-ssm-agent.service"
    return "/etc/systemd/system/amazon-ssm-agent.service"


def _systemctl_status(state, facts, now: datetime, with_journal: bool, *, running: bool = True,
                      enabled: bool = True) -> str:
    """systemd 252's ``systemctl status`` for the rpm's unit (/etc/systemd/system, from
    packaging/linux/amazon-ssm-agent.spec), running since the instance booted; stopped,
    ``inactive (dead)``."""
    since = facts.launched
    elapsed = max(0, int((now - since).total_seconds()))
    ago = f"{elapsed // 60}min ago" if elapsed >= 60 else f"{elapsed}s ago"
    host = state.computer_name or facts.private_dns
    preset = "enabled" if _unit_file(state).startswith("/lib/") else "disabled"  # Debian enables by default
    loaded = f"     Loaded: loaded ({_unit_file(state)}; {'enabled' if enabled else 'disabled'}; preset: {preset})"
    if not running:
        return "\n".join(["\u25cb amazon-ssm-agent.service - amazon-ssm-agent", loaded,
                          "     Active: inactive (dead)"]) + "\n"
    lines = [
        "● amazon-ssm-agent.service - amazon-ssm-agent",
        loaded,
        f"     Active: active (running) since {since:%a %Y-%m-%d %H:%M:%S} UTC; {ago}",
        "   Main PID: 1854 (amazon-ssm-agen)",
        "      Tasks: 18 (limit: 1057)",
        "     Memory: 23.1M",
        "        CPU: 318ms",
        "     CGroup: /system.slice/amazon-ssm-agent.service",
        "             ├─1854 /usr/bin/amazon-ssm-agent",
        "             └─1990 /usr/bin/ssm-agent-worker",
    ]
    if with_journal and state.log:
        lines.append("")
        for entry in state.log[-10:]:
            lines.append(f"{since:%b %d %H:%M:%S} {host.split('.')[0]} amazon-ssm-agent[1854]: {entry}")
    return "\n".join(lines) + "\n"

