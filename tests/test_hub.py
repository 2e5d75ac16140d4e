"""A workshop room on a real JupyterHub: workshop/jupyterhub_config.py on loopback.

The hub runs with configurable-http-proxy from npm (installed under ``.workshop/`` when it
is missing; without npm the test fails and says how to get it), its idle culler and the
progress board (``ssmlab board``) as services, on free ports (the OS chooses; a hub that
loses a port to another process is started again on new ones).

1. The room: ``ROOM`` attendees are created through the hub's REST API, their servers
   started at once, and lesson 06 runs in each of them at the same time, cell by cell
   through the Jupyter server's REST API and kernel websocket. Every run must pass with
   the stored notebook's outputs (the nbval sanitizers applied to both), each attendee's
   lab must hold only its own resources, no attendee's token may reach another's server,
   and each home must hold that attendee's milestones. The memory of each attendee's
   processes (from /proc) and the room's times go to ``test-artifacts/hub/room.json``.
2. The board, in Debian's Chromium (Playwright): the facilitator logs in through the hub,
   sees an attendee's milestones appear as the attendee reports and reaches more, and an
   attendee who opens the board is refused. Screenshots: ``test-artifacts/hub/``.
"""

from __future__ import annotations

import asyncio
import configparser
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "workshop" / "jupyterhub_config.py"
LESSON = ROOT / "notebooks" / "06-missing-policy.ipynb"
SANITIZE = ROOT / "notebooks" / "nbval-sanitize.cfg"
ARTIFACTS = ROOT / "test-artifacts" / "hub"
PREFIX = ROOT / ".workshop"
PROXY = PREFIX / "node_modules" / ".bin" / "configurable-http-proxy"
CHROMIUM = os.environ.get("SSMLAB_CHROMIUM", "/usr/bin/chromium")
ROOM = int(os.environ.get("SSMLAB_HUB_ROOM", "10"))  # attendees in the room test
HUB_TIMEOUT = 90  # s for the hub to answer
SPAWN_TIMEOUT = 240  # s for the whole room's servers to be ready
CELL_TIMEOUT = 300  # s for one cell while the whole room runs
ADMIN = "facilitator"


def _proxy() -> Path:
    """configurable-http-proxy from npm under .workshop/ (what `make proxy` installs)."""
    if PROXY.exists():
        return PROXY
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("npm is missing, and the hub test needs configurable-http-proxy from npm: "
                    "run `make proxy` (installs Debian's nodejs and npm), or `apt-get install -y nodejs npm`.")
    subprocess.run([npm, "install", "--silent", "--no-fund", "--no-audit", "--prefix", str(PREFIX),
                    "configurable-http-proxy@5"], check=True, timeout=600)
    return PROXY


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


class Hub:
    """A running hub: its URL, the admin token, the passwords, and the REST API."""

    def __init__(self, url: str, token: str, password: str, admin_password: str, state: Path, proc):
        self.url, self.token, self.password, self.admin_password = url, token, password, admin_password
        self.state, self.proc = state, proc

    def api(self, method: str, path: str, body=None, token: str | None = None):
        request = urllib.request.Request(
            f"{self.url}/hub/api{path}", method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"token {token or self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            text = response.read()
            return json.loads(text) if text else None

    def start_servers(self, names: list[str]) -> dict[str, str]:
        """Create the attendees, start their servers at once, wait until all are ready;
        returns each attendee's own token (made through the API, for their server only)."""
        from concurrent.futures import ThreadPoolExecutor

        self.api("POST", "/users", {"usernames": names})
        # All at once: each POST waits for its spawn up to the hub's slow_spawn_timeout (10 s).
        with ThreadPoolExecutor(len(names)) as pool:
            list(pool.map(lambda name: self.api("POST", f"/users/{name}/server"), names))
        deadline = time.monotonic() + SPAWN_TIMEOUT
        waiting = set(names)
        while waiting and time.monotonic() < deadline:
            for name in sorted(waiting):
                server = self.api("GET", f"/users/{name}")["servers"].get("")
                if server and server.get("ready"):
                    waiting.discard(name)
            time.sleep(0.5)
        assert not waiting, f"servers not ready after {SPAWN_TIMEOUT} s: {sorted(waiting)}\n{self.log()}"
        return {name: self.api("POST", f"/users/{name}/tokens", {"note": "hub test", "expires_in": 3600})["token"]
                for name in names}

    def log(self) -> str:
        return (self.state / "hub.log").read_text(errors="replace")[-4000:]


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _start_hub(state: Path) -> Hub:
    token, password, admin_password = secrets.token_hex(16), secrets.token_urlsafe(12), secrets.token_urlsafe(32)
    for attempt in range(3):
        port, api_port, proxy_port, board_port = _free_ports(4)
        env = dict(os.environ)
        env.update(
            SSMLAB_HUB_DIR=str(state), SSMLAB_HUB_PASSWORD=password, SSMLAB_HUB_ADMIN_PASSWORD=admin_password,
            SSMLAB_HUB_ADMIN=ADMIN, SSMLAB_HUB_API_TOKEN=token, SSMLAB_HUB_PORT=str(port),
            SSMLAB_HUB_API_PORT=str(api_port), SSMLAB_HUB_PROXY_API_PORT=str(proxy_port),
            SSMLAB_BOARD_PORT=str(board_port), NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost",
        )
        env.pop("SSMLAB_PROGRESS", None)  # each attendee's progress lives in their own home
        log = (state / "hub.log").open("w")
        proc = subprocess.Popen([sys.executable, "-m", "jupyterhub", "-f", str(CONFIG)], cwd=state, env=env,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        hub = Hub(f"http://127.0.0.1:{port}", token, password, admin_password, state, proc)
        deadline = time.monotonic() + HUB_TIMEOUT
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                hub.api("GET", "/")
                return hub
            except (OSError, ValueError):
                time.sleep(0.5)
        _stop_hub(hub)
        if "already in use" not in hub.log():  # only a port taken meanwhile is worth a retry
            break
    pytest.fail(f"JupyterHub did not start:\n{hub.log()}")


def _stop_hub(hub: Hub) -> None:
    servers = _descendants(hub.proc.pid)
    for sig, wait in ((signal.SIGTERM, 30), (signal.SIGKILL, 5)):
        if hub.proc.poll() is not None:
            break
        try:
            os.killpg(hub.proc.pid, sig)
            hub.proc.wait(timeout=wait)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
    for pid in servers:  # the hub stops its servers on exit; anything left goes now
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    _proxy()
    state = tmp_path_factory.mktemp("hub")
    running = _start_hub(state)
    try:
        yield running
    finally:
        _stop_hub(running)
        if ARTIFACTS.is_dir():
            shutil.copy(state / "hub.log", ARTIFACTS / "hub.log")


# --- A kernel through the Jupyter server's API: REST to start it, its websocket to run cells.

class Kernel:
    def __init__(self, hub: Hub, user: str, token: str):
        self.hub, self.user, self.token = hub, user, token
        self.ws = None

    async def start(self) -> None:
        from jupyter_client.session import Session
        from tornado.httpclient import AsyncHTTPClient, HTTPRequest
        from tornado.websocket import websocket_connect

        headers = {"Authorization": f"token {self.token}"}
        response = await AsyncHTTPClient().fetch(HTTPRequest(
            f"{self.hub.url}/user/{self.user}/api/kernels", method="POST", headers=headers,
            body=json.dumps({"name": "python3"}), request_timeout=CELL_TIMEOUT))
        kernel_id = json.loads(response.body)["id"]
        self.session = Session(username=self.user)
        self.ws = await websocket_connect(HTTPRequest(
            f"{self.hub.url.replace('http', 'ws', 1)}/user/{self.user}/api/kernels/{kernel_id}/channels",
            headers=headers, request_timeout=CELL_TIMEOUT))

    async def run(self, code: str) -> tuple[list[dict], str]:
        """Execute ``code``: its outputs (nbformat's shapes) and the reply's status."""
        from jupyter_client.jsonutil import json_default

        message = self.session.msg("execute_request", {
            "code": code, "silent": False, "store_history": True, "user_expressions": {},
            "allow_stdin": False, "stop_on_error": True,
        })
        message["channel"] = "shell"
        await self.ws.write_message(json.dumps(message, default=json_default))
        msg_id, outputs, status, idle = message["header"]["msg_id"], [], None, False
        while status is None or not idle:
            raw = await asyncio.wait_for(self.ws.read_message(), CELL_TIMEOUT)
            assert raw is not None, f"{self.user}'s kernel websocket closed"
            reply = json.loads(raw)
            if reply.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, content = reply["msg_type"], reply["content"]
            if kind == "stream":
                outputs.append({"output_type": "stream", "name": content["name"], "text": content["text"]})
            elif kind in ("execute_result", "display_data"):
                outputs.append({"output_type": kind, "data": content["data"]})
            elif kind == "error":
                outputs.append({"output_type": "error", "ename": content["ename"], "evalue": content["evalue"]})
            elif kind == "status" and content["execution_state"] == "idle":
                idle = True
            elif kind == "execute_reply":
                status = content["status"]
        return outputs, status


def _sanitizers() -> list[tuple[re.Pattern, str]]:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(SANITIZE)
    return [(re.compile(parser[section]["regex"]), parser[section]["replace"]) for section in parser.sections()]


def _comparable(outputs: list[dict], rules) -> list[tuple]:
    """Outputs as nbval compares them: streams of one name merged, text sanitized."""
    def clean(text):
        text = "".join(text) if isinstance(text, list) else text
        for pattern, replacement in rules:
            text = pattern.sub(replacement, text)
        return text

    merged: list[tuple] = []
    for out in outputs:
        if out["output_type"] == "stream":
            if merged and merged[-1][0] == "stream" and merged[-1][1] == out["name"]:
                merged[-1] = ("stream", out["name"], merged[-1][2] + clean(out["text"]))
            else:
                merged.append(("stream", out["name"], clean(out["text"])))
        elif out["output_type"] == "error":
            merged.append(("error", out["ename"]))
        else:
            merged.append((out["output_type"], clean(out["data"].get("text/plain", ""))))
    return merged


def _memory(hub: Hub) -> dict[str, dict]:
    """Each attendee's processes: its single-user server and all it started (kernel, the
    kernel's AWS CLI helper), by /proc: VmRSS and Pss (shared pages counted once)."""
    def kib(path: Path, key: str) -> int:
        for line in path.read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
        return 0

    room = {}
    for pid in _descendants(hub.proc.pid):
        proc = Path(f"/proc/{pid}")
        try:
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
            if not any(b"jupyterhub-singleuser" in part for part in cmdline):
                continue
            env = dict(item.split(b"=", 1) for item in (proc / "environ").read_bytes().split(b"\0") if b"=" in item)
            user = env[b"JUPYTERHUB_USER"].decode()
            parts = []
            for member in [pid, *_descendants(pid)]:
                mproc = Path(f"/proc/{member}")
                name = b" ".join((mproc / "cmdline").read_bytes().split(b"\0")[:3]).decode(errors="replace")
                parts.append({"pid": member, "command": name[:120],
                              "rss_kib": kib(mproc / "status", "VmRSS"), "pss_kib": kib(mproc / "smaps_rollup", "Pss")})
        except (OSError, KeyError):
            continue
        room[user] = {"processes": parts, "rss_mib": sum(p["rss_kib"] for p in parts) / 1024,
                      "pss_mib": sum(p["pss_kib"] for p in parts) / 1024}
    return room


MARKER_CELL = """_marker = "marker-" + {user!r}
iam.create_role(RoleName=_marker, AssumeRolePolicyDocument=json.dumps({{"Version": "2012-10-17", "Statement": [
    {{"Effect": "Allow", "Principal": {{"Service": "ec2.amazonaws.com"}}, "Action": "sts:AssumeRole"}}]}}))"""
LOOK_CELL = """print(json.dumps({
    "endpoint": lab.endpoint,
    "markers": sorted(r["RoleName"] for r in iam.list_roles()["Roles"] if r["RoleName"].startswith("marker-")),
    "instances": [i["InstanceId"] for r in lab.client("ec2").describe_instances()["Reservations"] for i in r["Instances"]],
}))"""


def test_a_room_runs_lesson_06_at_once_each_in_its_own_lab(hub):
    lesson = json.loads(LESSON.read_text())
    cells = [c for c in lesson["cells"] if c["cell_type"] == "code"]
    rules = _sanitizers()
    names = [f"attendee-{n:02d}" for n in range(1, ROOM + 1)]

    started = time.monotonic()
    tokens = hub.start_servers(names)
    spawned = time.monotonic() - started

    # No attendee's token reaches another attendee's server.
    for name, other in zip(names, names[1:] + names[:1]):
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(urllib.request.Request(
                f"{hub.url}/user/{other}/api/kernels", headers={"Authorization": f"token {tokens[name]}"}), timeout=30)
        assert refused.value.code == 403, (name, other, refused.value.code)

    # The lessons were copied into each home on first start.
    homes = hub.state / "home"
    for name in names:
        assert (homes / name / "notebooks" / LESSON.name).read_bytes() == LESSON.read_bytes()

    kernels = {name: Kernel(hub, name, tokens[name]) for name in names}
    failures: list[str] = []

    async def lesson_in(name: str) -> None:
        kernel = kernels[name]
        await kernel.start()
        for index, cell in enumerate(cells):
            outputs, status = await kernel.run("".join(cell["source"]))
            raises = "raises-exception" in cell.get("metadata", {}).get("tags", [])
            if status != "ok" and not raises:
                failures.append(f"{name}, code cell {index}: {status}: {outputs}")
            if _comparable(outputs, rules) != _comparable(cell["outputs"], rules):
                failures.append(f"{name}, code cell {index}: outputs differ from the stored ones:\n"
                                f"  stored: {_comparable(cell['outputs'], rules)}\n  here:   {_comparable(outputs, rules)}")
        outputs, status = await kernel.run(MARKER_CELL.format(user=name))
        assert status == "ok", (name, outputs)

    async def look(name: str) -> dict:
        outputs, status = await kernels[name].run(LOOK_CELL)
        assert status == "ok", (name, outputs)
        return json.loads(_comparable(outputs, [])[0][2])

    async def room() -> tuple[float, dict]:
        began = time.monotonic()
        await asyncio.gather(*(lesson_in(name) for name in names))
        took = time.monotonic() - began
        # Every attendee has made their marker role: each lab lists its own alone.
        return took, dict(zip(names, await asyncio.gather(*(look(name) for name in names))))

    lesson_time, seen = asyncio.run(room())
    assert not failures, "\n".join(failures[:10])
    for name, view in seen.items():
        assert view["markers"] == [f"marker-{name}"], (name, view)
        assert len(view["instances"]) == 1, (name, view)  # the lesson's one instance, its own
    assert len({view["endpoint"] for view in seen.values()}) == ROOM, "two attendees share a lab endpoint"

    # Each home holds its own attendee's milestones, lesson 06's exercises included.
    for name in names:
        reached = json.loads((homes / name / ".ssmlab" / "progress.json").read_text())["milestones"]
        assert {"lesson-06-started", "lesson-06-online", "lesson-06-role-session", "lesson-06-imds"} <= set(reached), (
            name, reached)

    memory = _memory(hub)
    assert sorted(memory) == names, sorted(memory)
    for name, used in memory.items():  # a server and its kernel, at least, for everyone
        assert len(used["processes"]) >= 2, (name, used)
    rss = sorted(m["rss_mib"] for m in memory.values())
    pss = sorted(m["pss_mib"] for m in memory.values())
    figures = {
        "attendees": ROOM, "cpus": os.cpu_count(),
        "servers_ready_s": round(spawned, 1), "lesson_06_for_all_s": round(lesson_time, 1),
        "rss_mib_per_attendee": {"min": round(rss[0]), "median": round(rss[len(rss) // 2]), "max": round(rss[-1])},
        "pss_mib_per_attendee": {"min": round(pss[0]), "median": round(pss[len(pss) // 2]), "max": round(pss[-1])},
        "per_attendee": memory,
    }
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "room.json").write_text(json.dumps(figures, indent=1))
    print(f"\nroom of {ROOM}: servers ready in {spawned:.1f} s, lesson 06 in all at once {lesson_time:.1f} s; "
          f"per attendee RSS {figures['rss_mib_per_attendee']} MiB, PSS {figures['pss_mib_per_attendee']} MiB")
    for name in names:  # free the machine for the board test
        hub.api("DELETE", f"/users/{name}/server")


# --- The board, in a real browser.

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
STEP_TIMEOUT = 30_000  # ms for the board to show a change


class Loop:
    """One event loop in a thread, for the kernels while Playwright's sync API runs here."""

    def __init__(self):
        import threading

        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()

    def __call__(self, coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(CELL_TIMEOUT)

    def close(self):
        self.loop.call_soon_threadsafe(self.loop.stop)


def _log_in(page, hub: Hub, name: str, password: str, target: str):
    """Open ``target``; the hub asks for a login first, then sends the browser on."""
    page.goto(target)
    page.wait_for_selector("#username_input")
    page.fill("#username_input", name)
    page.fill("#password_input", password)
    with page.expect_navigation():
        page.click("#login_submit")
    page.wait_for_load_state()


def _post(url: str, token: str | None, body: dict) -> int:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"token {token}"
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                                           headers=headers), timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_the_facilitator_sees_milestones_appear_and_an_attendee_is_refused(hub):
    from playwright.sync_api import expect, sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make browser` (installs Debian's chromium with apt-get).")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS.glob("*.png"):
        old.unlink()
    board = f"{hub.url}/services/board/"
    tokens = hub.start_servers(["ada", "bob"])
    run = Loop()
    ada, bob = Kernel(hub, "ada", tokens["ada"]), Kernel(hub, "bob", tokens["bob"])
    run(ada.start())
    run(bob.start())
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=60_000)
        try:
            page = browser.new_page(viewport={"width": 1300, "height": 700})
            page.set_default_timeout(STEP_TIMEOUT)
            _log_in(page, hub, ADMIN, hub.admin_password, board)
            expect(page.locator("h1")).to_have_text("ssmlab workshop board")
            expect(page.locator('th[data-milestone="lesson-06-online"]')).to_have_text("06 · instance Online")
            expect(page.locator("tr[data-attendee]")).to_have_count(0)
            page.screenshot(path=ARTIFACTS / "1-board-before.png")

            # Bob starts a lesson without opting in: nothing reaches the board.
            outputs, status = run(bob.run("import ssmlab\nlab = ssmlab.start(lesson=0, quiet=True)"))
            assert status == "ok", outputs
            # Ada opts in: what she reached so far appears, without reloading the page.
            outputs, status = run(ada.run("import ssmlab\nlab = ssmlab.start(lesson=0, quiet=True)\n"
                                          "ssmlab.reporting.report()"))
            assert status == "ok", outputs
            assert "Sent 1 milestone to the workshop board" in _comparable(outputs, [])[0][2], outputs
            row = page.locator('tr[data-attendee="ada"]')
            expect(row.locator('td[data-milestone="lesson-00-started"]')).to_have_class("done")
            expect(row.locator('td[data-milestone="lesson-00-identity"]')).not_to_have_class("done")
            page.screenshot(path=ARTIFACTS / "2-board-ada-reports.png")

            # Ada passes lesson 00's exercise: the checker records it, and it is sent at once.
            outputs, status = run(ada.run(
                "from ssmlab import checks\nmy_arn = lab.client('sts').get_caller_identity()['Arn']\n"
                "print(checks.check_identity_arn(my_arn, expected=my_arn))"))
            assert status == "ok" and "Correct" in _comparable(outputs, [])[0][2], outputs
            expect(row.locator('td[data-milestone="lesson-00-identity"]')).to_have_class("done")
            page.screenshot(path=ARTIFACTS / "3-board-ada-passes-a-check.png")
            table = page.request.get(board + "api/board").json()
            assert [a["name"] for a in table["attendees"]] == ["ada"], table

            # The report endpoint takes an attendee's own name only, with their own token.
            report = board + "api/report"
            assert _post(report, tokens["bob"], {"name": "ada", "milestones": {}}) == 403
            assert _post(report, None, {"name": "bob", "milestones": {}}) == 401
            assert _post(report, tokens["bob"], {"name": "bob", "milestones": {"x": "yesterday"}}) == 400

            # An attendee who opens the board is refused, after logging in.
            attendee = browser.new_context().new_page()
            statuses = []
            attendee.on("response", lambda response: statuses.append((response.url, response.status)))
            _log_in(attendee, hub, "bob", hub.password, board)
            assert any(status == 403 for _, status in statuses), statuses
            expect(attendee.locator("body")).to_contain_text("403")
            expect(attendee.locator("#board")).to_have_count(0)
            attendee.screenshot(path=ARTIFACTS / "4-board-refuses-an-attendee.png")
        except Exception:
            page.screenshot(path=ARTIFACTS / "failure.png")
            raise
        finally:
            browser.close()
            run.close()
