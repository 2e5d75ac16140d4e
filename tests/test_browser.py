"""The widgets in a real browser: JupyterLab on loopback, Debian's Chromium driven by Playwright.

The test copies lesson 02 (``notebooks/02-trust-policy-and-instance-profile.ipynb``) to a
temporary folder (so JupyterLab's autosave never touches the repository), starts JupyterLab
there on 127.0.0.1, on a port the server chooses (port 0), with a token and settings of its own, opens the lesson
in Chromium, runs all its cells as a learner would (JupyterLab runs on past the cell tagged
``raises-exception``) and then uses the lesson's widgets:

1. the lab map draws six links; after step 3 of the lesson the permissions link is red with
   "role lacks ssm:UpdateInstanceInformation";
2. in the trust-policy builder, unticking ec2.amazonaws.com and ticking ssm.amazonaws.com
   changes the JSON at once and the lesson verdict turns red; ticking ``ssm:*`` makes IAM's
   verdict "MalformedPolicyDocument";
3. "Apply" sends UpdateAssumeRolePolicy: AWS's answer (HTTP 200) is shown and the map's trust
   link turns red; applying EC2 again turns it green;
4. the check box's "Check" gives the checker's specific hint, then "Correct" for a fixed answer.

A second test opens the Japanese edition of the lesson (``notebooks/ja/``) in JupyterLab's
Japanese interface (the language pack) and checks that the menus, the lab map and the check
box speak Japanese while AWS's names stay as AWS writes them.

Screenshots go to ``test-artifacts/browser/`` and ``test-artifacts/browser-ja/`` (gitignored). The browser is
``/usr/bin/chromium`` (``make test`` installs it; Playwright never downloads one).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "notebooks" / "02-trust-policy-and-instance-profile.ipynb"
DEMO_JA = ROOT / "notebooks" / "ja" / DEMO.name
ARTIFACTS = ROOT / "test-artifacts" / "browser"
ARTIFACTS_JA = ROOT / "test-artifacts" / "browser-ja"
#: JupyterLab's interface language (the jupyterlab-language-pack-ja-JP package), as `make lab-ja` sets it.
JAPANESE_UI = {"@jupyterlab/translation-extension/plugin.jupyterlab-settings": {"locale": "ja_JP"}}
CHROMIUM = os.environ.get("SSMLAB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SERVER_TIMEOUT = 60  # s for JupyterLab to answer
CELLS_TIMEOUT = 90_000  # ms for all cells to run (start(lesson=4) launches a stack)
STEP_TIMEOUT = 20_000  # ms for one widget to respond

#: JupyterLab settings for the test's server: no news pop-up, every cell rendered (with
#: windowing, cells out of view are not in the page).
SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}


#: The answer the check box accepts for lesson 02's trust policy.
FIXED_TRUST_POLICY = (
    '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", '
    '"Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}'
)


def _wait_for_server(runtime: Path, token: str, proc: subprocess.Popen, log: Path) -> str:
    """The base URL of the JupyterLab started with port 0: the port it bound is in the
    server's info file (``jpserver-PID.json`` in its runtime folder), so no port is picked
    by the test and bound later by another process (a race)."""
    deadline = time.monotonic() + SERVER_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"JupyterLab exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            info = json.loads(next(runtime.glob("jpserver-*.json")).read_text())
            base = f"http://127.0.0.1:{info['port']}"
            with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2) as response:
                if response.status == 200:
                    return base
        except (StopIteration, ValueError, KeyError, OSError):
            pass
        time.sleep(0.5)
    pytest.fail(f"JupyterLab did not answer within {SERVER_TIMEOUT} s:\n{log.read_text()[-3000:]}")


@pytest.fixture
def jupyterlab(tmp_path, request):
    """(base URL, token) of a JupyterLab serving a copy of lesson 02 (or the edition the test
    passes as the fixture's param); stopped after."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make browser` (installs Debian's chromium with apt-get).")
    demo = getattr(request, "param", DEMO)
    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(demo, work / demo.name)
    settings = tmp_path / "settings"
    for name, values in {**SETTINGS, **(JAPANESE_UI if demo == DEMO_JA else {})}.items():
        path = settings / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    env = dict(os.environ)
    env.update(
        JUPYTERLAB_SETTINGS_DIR=str(settings),
        JUPYTERLAB_WORKSPACES_DIR=str(tmp_path / "workspaces"),
        JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
    )
    token = secrets.token_hex(16)
    log = tmp_path / "jupyterlab.log"
    command = [
        sys.executable, "-m", "jupyter", "lab", "--no-browser",
        "--ServerApp.ip=127.0.0.1", "--ServerApp.port=0", "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={work}",
        "--LabApp.expose_app_in_browser=True", "--LabApp.news_url=",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabServerApp.extension_manager=readonly",
    ]
    if os.geteuid() == 0:  # CI containers run as root
        command.append("--allow-root")
    with log.open("w") as out:
        proc = subprocess.Popen(command, cwd=work, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        yield _wait_for_server(tmp_path / "runtime", token, proc, log), token
    finally:
        # JupyterLab and its kernels are in the session started above: stop that group only.
        for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
            if proc.poll() is not None:
                break
            try:
                os.killpg(proc.pid, sig)
                proc.wait(timeout=wait)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
        artifacts = ARTIFACTS_JA if demo == DEMO_JA else ARTIFACTS
        shutil.copy(log, artifacts / "jupyterlab.log") if artifacts.is_dir() else None


def _link(page, name: str):
    return page.locator(f'.ssmlab-lab-map [data-link="{name}"]')


@contextlib.contextmanager
def _lesson_in_chromium(base: str, token: str, name: str, artifacts: Path, **page_options):
    """A Chromium page on lesson ``name`` with all its cells run, and the list of the
    page's JavaScript errors; a failure leaves ``failure.png`` in ``artifacts``."""
    from playwright.sync_api import sync_playwright

    artifacts.mkdir(parents=True, exist_ok=True)
    for old in artifacts.glob("*.png"):
        old.unlink()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=60_000)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000}, **page_options)
            page.set_default_timeout(STEP_TIMEOUT)
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            try:
                _open_and_run_all(page, base, token, name)
                yield page, errors
            except Exception:
                page.screenshot(path=artifacts / "failure.png")
                raise
        finally:
            browser.close()


def test_widgets_render_and_respond_in_chromium(jupyterlab):
    from playwright.sync_api import expect

    base, token = jupyterlab
    with _lesson_in_chromium(base, token, DEMO.name, ARTIFACTS) as (page, errors):
        # 1. The lab map: six links; lesson 02 ends with no permissions policy yet.
        expect(page.locator(".ssmlab-lab-map .ssmlab-link")).to_have_count(6)
        expect(_link(page, "trust policy")).to_have_attribute("data-ok", "true")
        expect(_link(page, "permissions policies")).to_have_attribute("data-ok", "false")
        expect(_link(page, "permissions policies")).to_contain_text("role lacks ssm:UpdateInstanceInformation")
        expect(_link(page, "Systems Manager")).to_have_attribute("data-ok", "false")
        builder = page.locator(".ssmlab-trust-builder")
        json_view = builder.locator(".ssmlab-json")
        expect(json_view).to_contain_text('"Service": "ec2.amazonaws.com"')
        page.screenshot(path=ARTIFACTS / "1-rendered.png")
        page.locator(".ssmlab-lab-map").screenshot(path=ARTIFACTS / "1-lab-map.png")

        # 2. The builder: the JSON and the verdicts follow the controls at once.
        builder.locator(".ssmlab-service-ec2-amazonaws-com input").uncheck()
        builder.locator(".ssmlab-service-ssm-amazonaws-com input").check()
        expect(json_view).to_contain_text('"Service": "ssm.amazonaws.com"')
        expect(json_view).not_to_contain_text("ec2.amazonaws.com")
        expect(builder).to_contain_text("For an EC2 instance's role: ✗")
        builder.locator(".ssmlab-action-ssm-- input").check()
        expect(json_view).to_contain_text('"ssm:*"')
        expect(builder).to_contain_text("refused: MalformedPolicyDocument: Trust Policy statement actions")
        builder.locator(".ssmlab-action-ssm-- input").uncheck()
        expect(builder).to_contain_text("IAM (CreateRole's rules): ✓ accepted")
        builder.screenshot(path=ARTIFACTS / "2-builder-ssm-only.png")

        # 3. Apply: AWS's answer, and the map redrawn: EC2 may no longer assume the role.
        builder.locator(".ssmlab-apply").click()
        answer = builder.locator(".ssmlab-aws-answer")
        expect(answer).to_contain_text("UpdateAssumeRolePolicy on role-for-ec2: HTTP 200")
        expect(answer).to_contain_text('"Service": "ssm.amazonaws.com"')
        expect(_link(page, "trust policy")).to_have_attribute("data-ok", "false")
        expect(_link(page, "trust policy")).to_contain_text("ec2.amazonaws.com may not assume role-for-ec2")
        page.locator(".ssmlab-lab-map").screenshot(path=ARTIFACTS / "3-lab-map-after-apply.png")
        builder.locator(".ssmlab-service-ec2-amazonaws-com input").check()
        builder.locator(".ssmlab-apply").click()
        expect(_link(page, "trust policy")).to_have_attribute("data-ok", "true")
        expect(_link(page, "trust policy")).to_contain_text("also trusts ssm.amazonaws.com")

        # 4. The check box: the checker's specific hint, then "Correct".
        check_box = page.locator(".ssmlab-check-box")
        check_box.locator(".ssmlab-check").click()
        expect(check_box.locator(".ssmlab-feedback")).to_contain_text("remove Resource")
        check_box.locator("textarea").fill(FIXED_TRUST_POLICY)
        check_box.locator(".ssmlab-check").click()
        expect(check_box.locator(".ssmlab-feedback")).to_contain_text("Correct:")
        check_box.screenshot(path=ARTIFACTS / "4-check-box.png")
        page.screenshot(path=ARTIFACTS / "5-final.png")
        assert not errors, f"JavaScript errors in the page: {errors}"


def _open_and_run_all(page, base: str, token: str, name: str) -> None:
    page.goto(f"{base}/lab/tree/{name}?token={token}", timeout=60_000)
    page.wait_for_function("window.jupyterapp !== undefined", timeout=60_000)
    page.wait_for_selector(".jp-NotebookPanel .jp-Notebook", timeout=60_000)
    page.evaluate(
        """async () => {
            const app = window.jupyterapp;
            await app.restored;
            const panel = app.shell.currentWidget;
            await panel.context.ready;
            await panel.sessionContext.ready;
            await app.commands.execute('notebook:clear-all-cell-outputs');
            await app.commands.execute('notebook:run-all-cells');
        }"""
    )
    page.wait_for_selector(".ssmlab-check-box", timeout=CELLS_TIMEOUT)


@pytest.mark.parametrize("jupyterlab", [DEMO_JA], indirect=True, ids=["ja"])
def test_the_japanese_edition_in_japanese_jupyterlab(jupyterlab):
    from playwright.sync_api import expect

    fonts = subprocess.run(["fc-list", ":lang=ja", "file"], capture_output=True, text=True).stdout
    assert fonts.strip(), "no Japanese font (the screenshots would show boxes): run `make browser`"
    base, token = jupyterlab
    with _lesson_in_chromium(base, token, DEMO_JA.name, ARTIFACTS_JA, locale="ja-JP") as (page, errors):
        # JupyterLab's own menus, from the language pack.
        expect(page.locator("#jp-MainMenu")).to_contain_text("ファイル")
        # The lesson's prose, and the library's words in the lab map: the names AWS uses
        # (the action, the data-link keys the English test reads) stay as they are.
        expect(page.locator(".jp-MarkdownOutput").first).to_contain_text("信頼ポリシーとインスタンスプロファイル")
        permissions = _link(page, "permissions policies")
        expect(permissions).to_have_attribute("data-ok", "false")
        expect(permissions).to_contain_text("許可ポリシー")
        expect(permissions).to_contain_text("ロールに ssm:UpdateInstanceInformation がありません")
        expect(_link(page, "trust policy")).to_contain_text("ec2.amazonaws.com は sts:AssumeRole を呼び出せます")
        page.locator(".ssmlab-lab-map").screenshot(path=ARTIFACTS_JA / "1-lab-map.png")

        # The check box: the checker's hint in Japanese, AWS's error text inside it in English.
        check_box = page.locator(".ssmlab-check-box")
        check_box.locator(".ssmlab-check").click()
        feedback = check_box.locator(".ssmlab-feedback")
        expect(feedback).to_contain_text("Resource を削除してください")
        expect(feedback).to_contain_text("MalformedPolicyDocument: Has prohibited field Resource")
        check_box.locator("textarea").fill(FIXED_TRUST_POLICY)
        check_box.locator(".ssmlab-check").click()
        expect(feedback).to_contain_text("正解:")
        check_box.screenshot(path=ARTIFACTS_JA / "2-check-box.png")
        page.screenshot(path=ARTIFACTS_JA / "3-lesson-02-ja.png")
        assert not errors, f"JavaScript errors in the page: {errors}"
