"""The console in a real browser: Debian's Chromium, driven by Playwright, against the hotline
served the way `make run` serves it (its own process, its own SQLite database).

A dispatcher logs in and watches a simulated call appear on the live board while it rings; the
call becomes a case; the dispatcher sends it to a unit; the unit's contact accepts and resolves
it, and cannot open another unit's case. Screenshots of the main pages are saved (to
$CONSOLE_SCREENSHOTS when set, else the test's temporary directory). Needs /usr/bin/chromium
(`apt-get install chromium`); skipped without it, a failure under CI=true.
"""

from __future__ import annotations

import os
import re
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from twilio.request_validator import RequestValidator

from tools.softphone import HttpTransport, Softphone

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
#: What Chromium needs on a machine without a display, a GPU or an open network.
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DEV_TOKEN = "dev-auth-token-NOT-FOR-PRODUCTION"
ACCOUNT = "AC" + "0" * 32
CALLER = "+8613800138000"
HOTLINE = "+865996110110"
ROOT = Path(__file__).resolve().parents[2]
#: The environment the server runs with (for `hotline` commands beside it: the job worker's).
SERVER_ENV: dict[str, str] = {}


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true and the browser tests cannot run: {reason}", pytrace=False)
    pytest.skip(f"browser tests skipped: {reason}")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, prism: str) -> Iterator[str]:
    """The hotline on a free port with demo logins and the demo roster, Twilio's REST API a
    Prism mock (nothing leaves this machine); yields its base URL."""
    if not Path(CHROMIUM).exists():
        _unavailable(f"{CHROMIUM} is missing (apt-get install chromium)")
    directory = tmp_path_factory.mktemp("console")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "HOTLINE_ENV": "development",
        "DATABASE_URL": f"sqlite:///{directory / 'hotline.db'}",
        "PUBLIC_BASE_URL": base,
        "SPOOL_DIR": str(directory / "spool"),
        "RECORDINGS_DIR": str(directory / "recordings"),
        "TWILIO_API_BASE_URL": prism,
    }
    SERVER_ENV.clear()
    SERVER_ENV.update(env)
    hotline = [str(Path(sys.executable).parent / "hotline")]
    for args in (
        ["db", "upgrade"],
        ["roster", "import", str(ROOT / "config" / "roster.yaml")],
        ["users", "demo"],
    ):
        subprocess.run([*hotline, *args], env=env, check=True, capture_output=True, cwd=ROOT)  # noqa: S603
    log = (directory / "server.log").open("wb")
    process = subprocess.Popen(  # noqa: S603 (fixed arguments)
        [*hotline, "run", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=1):  # noqa: S310
                    break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    pytest.fail(
                        f"the server did not start: {(directory / 'server.log').read_text()}"
                    )
                time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


def signed_post(base: str, path: str, params: dict[str, str]) -> bytes:
    """One webhook, signed as Twilio signs it."""
    signature = RequestValidator(DEV_TOKEN).compute_signature(base + path, params)
    result = HttpTransport(base).post(path, params, {"X-Twilio-Signature": str(signature)})
    assert result.status == 200, result.body
    return result.body


def test_dispatch_and_resolve_a_phoned_in_case_in_the_browser(server: str, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    shots = Path(os.environ.get("CONSOLE_SCREENSHOTS", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 860}, locale="zh-CN")

        # A dispatcher logs in and opens the live board.
        page.goto(f"{server}/console/login")
        page.fill("input[name=username]", "dispatcher")
        page.fill("input[name=password]", "minsheng-demo")
        page.click("button[type=submit]")
        expect(page).to_have_url(f"{server}/console/board")

        # A call comes in and rings: it appears on the board without a reload.
        sid = "CA" + "7" * 32
        call = {
            "CallSid": sid,
            "AccountSid": ACCOUNT,
            "From": CALLER,
            "To": HOTLINE,
            "CallStatus": "ringing",
            "Direction": "inbound",
        }
        signed_post(server, "/voice/incoming", call)
        row = page.locator(f'#live tr[data-sid="{sid}"]')
        expect(row).to_be_visible(timeout=10_000)
        expect(row).to_contain_text(CALLER)
        page.screenshot(path=str(shots / "board.png"), full_page=True)

        # The caller asks for a service and leaves the details: a case (the softphone plays on).
        phone = Softphone(
            transport=HttpTransport(server),
            public_base_url=server,
            auth_token=DEV_TOKEN,
            account_sid=ACCOUNT,
            from_number=CALLER,
            to_number=HOTLINE,
            inputs=["2", "中山路的路灯坏了一个月，晚上一片漆黑"],
            output_func=lambda _line: None,
        )
        result = phone.run()
        assert result.exit_code == 0, "\n".join(result.transcript)
        assert any("工单号是" in line for line in result.transcript), "a case was opened"

        # The dispatcher finds the case (the newest) and sends it to the city management brigade.
        page.click("nav >> text=工单")
        link = page.locator("table.cases tbody tr a").first
        expect(link).to_be_visible()
        case_number = link.inner_text()
        page.screenshot(path=str(shots / "cases.png"), full_page=True)
        link.click()
        expect(page.locator("h1")).to_contain_text(case_number)
        page.select_option("#action", "dispatch")
        page.select_option("#unit", "city_management")
        page.fill("textarea[name=note]", "路灯属城管维护")
        page.click("form.act button[type=submit]")
        expect(page.locator(".flash.ok")).to_be_visible()
        expect(page.locator("ol.timeline")).to_contain_text("路灯属城管维护")
        page.screenshot(path=str(shots / "case-dispatched.png"), full_page=True)
        page.goto(f"{server}/console/roster")
        page.screenshot(path=str(shots / "roster.png"), full_page=True)
        page.goto(f"{server}/console/figures")
        page.screenshot(path=str(shots / "figures.png"), full_page=True)
        page.goto(f"{server}/console/figures?lang=en")
        page.screenshot(path=str(shots / "figures-en.png"), full_page=True)
        page.click("form[action$=logout] button")

        # The unit's contact accepts and resolves it.
        page.fill("input[name=username]", "unit-city")
        page.fill("input[name=password]", "minsheng-demo")
        page.click("button[type=submit]")
        expect(page).to_have_url(f"{server}/console/cases")
        page.click(f"a:text-is('{case_number}')")
        page.select_option("#action", "accept")
        page.click("form.act button[type=submit]")
        expect(page.locator(".state").first).to_have_attribute("data-state", "accepted")
        page.select_option("#action", "resolve")
        page.fill("textarea[name=note]", "已更换灯泡，恢复照明")
        page.click("form.act button[type=submit]")
        expect(page.locator(".state").first).to_have_attribute("data-state", "resolved")
        page.screenshot(path=str(shots / "case-resolved.png"), full_page=True)

        # Another unit's case is not theirs to open.
        other = f"{server}/console/cases/{case_number}"
        page.click("form[action$=logout] button")
        page.fill("input[name=username]", "unit-water")
        page.fill("input[name=password]", "minsheng-demo")
        page.click("button[type=submit]")
        response = page.goto(other)
        assert response is not None and response.status == 403
        expect(page.locator("h1")).to_contain_text("403")
        assert page.locator("a:text-is('" + case_number + "')").count() == 0
        browser.close()


#: The widths the console must hold at: a dispatcher's desk screen and a tablet.
WIDTHS = (1280, 768)


def _emergency_abandoned(base: str, sid: str, caller: str) -> None:
    """A caller reports a fire, officers' phones ring, and the caller hangs up before anyone
    accepts: the worst call of the night."""
    call = {
        "CallSid": sid,
        "AccountSid": ACCOUNT,
        "From": caller,
        "To": HOTLINE,
        "CallStatus": "ringing",
        "Direction": "inbound",
    }
    signed_post(base, "/voice/incoming", call)
    speech = {"CallStatus": "in-progress", "SpeechResult": "我家着火了", "Confidence": "0.9"}
    signed_post(base, "/voice/ivr/gather?step=0", {**call, **speech})
    ended = {**call, "CallStatus": "completed", "CallDuration": "35"}
    signature = RequestValidator(DEV_TOKEN).compute_signature(base + "/voice/status", ended)
    HttpTransport(base).post("/voice/status", ended, {"X-Twilio-Signature": str(signature)})


def test_the_board_puts_danger_first_at_both_widths(server: str, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    shots = Path(os.environ.get("CONSOLE_SCREENSHOTS", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    abandoned = "CA" + "8" * 32
    _emergency_abandoned(server, abandoned, "+8613800138008")
    in_ivr = {
        "CallSid": "CA" + "9" * 32,
        "AccountSid": ACCOUNT,
        "From": "+8613800138009",
        "To": HOTLINE,
        "CallStatus": "ringing",
        "Direction": "inbound",
    }
    signed_post(server, "/voice/incoming", in_ivr)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for width in WIDTHS:
            page = browser.new_page(viewport={"width": width, "height": 900}, locale="zh-CN")
            page.goto(f"{server}/console/login?lang=zh")
            page.fill("input[name=username]", "dispatcher")
            page.fill("input[name=password]", "minsheng-demo")
            page.click("button[type=submit]")
            expect(page).to_have_url(f"{server}/console/board")

            # The danger panel, at the top, red, with the abandoned emergency and its caller.
            panel = page.locator("#danger")
            expect(panel).to_have_class("danger-panel active", timeout=10_000)
            expect(panel).to_contain_text("紧急呼救中途挂断，需回拨")
            expect(panel).to_contain_text("+8613800138008")
            expect(panel.locator("a.call-back").first).to_have_attribute(
                "href", "/console/callbacks"
            )
            top = panel.bounding_box()
            live = page.locator("#live").bounding_box()
            assert top is not None and live is not None and top["y"] < live["y"], "danger first"

            # The call's row says what happened, in words and a shape, not only a colour.
            row = page.locator(f'#recent tr[data-sid="{abandoned}"]')
            expect(row).to_have_class(re.compile(r"\bdanger\b"))
            expect(row).to_contain_text("⚠ 紧急呼救：无人接听前已挂断")
            expect(page.locator(f'#live tr[data-sid="{in_ivr["CallSid"]}"]')).to_contain_text(
                "语音导航中"
            )
            first = page.locator("#recent tbody tr").first
            expect(first).to_have_attribute("data-sid", abandoned)

            # The layout holds: no page-wide sideways scroll, nav items on one line each.
            overflow = page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0, f"{width} px: the page scrolls sideways by {overflow} px"
            for link in page.locator("header nav a").all():
                box = link.bounding_box()
                assert box is not None and box["height"] < 40, f"{width} px: a nav item wraps"
            page.screenshot(path=str(shots / f"board-{width}.png"), full_page=True)

            # The sound switch is remembered.
            page.check("#sound")
            assert page.evaluate("localStorage.getItem('hotline.sound')") == "on"

            for name, path in (
                ("cases", "/console/cases"),
                ("callbacks", "/console/callbacks"),
                ("roster", "/console/roster"),
                ("figures-en", "/console/figures?lang=en"),
            ):
                page.goto(f"{server}{path}")
                overflow = page.evaluate(
                    "document.documentElement.scrollWidth - document.documentElement.clientWidth"
                )
                assert overflow <= 0, f"{path} at {width} px scrolls sideways by {overflow} px"
                page.screenshot(path=str(shots / f"{name}-{width}.png"), full_page=True)
            page.goto(f"{server}/console/board?lang=zh")
            page.close()

        # Acknowledging the alert takes it off the panel (the call-back task stays open).
        page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="zh-CN")
        page.goto(f"{server}/console/login")
        page.fill("input[name=username]", "supervisor")
        page.fill("input[name=password]", "minsheng-demo")
        page.click("button[type=submit]")
        item = page.locator("#danger-list li.alert").first
        expect(item).to_be_visible(timeout=10_000)
        before = page.locator("#danger-list li.alert").count()
        item.locator("form.acknowledge button").click()
        expect(page.locator(".flash.ok")).to_contain_text("已确认")
        expect(page.locator("#danger-list li.alert")).to_have_count(before - 1, timeout=10_000)
        expect(page.locator("#urgent-callbacks")).to_be_visible()
        browser.close()


def _hotline(*args: str) -> str:
    """A `hotline` command on the server's database (as the job worker would run it)."""
    done = subprocess.run(  # noqa: S603 (fixed arguments)
        [str(Path(sys.executable).parent / "hotline"), *args],
        env=SERVER_ENV,
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout


def _taker_id(username: str) -> int:
    """The call-taker's id in the server's database."""
    path = SERVER_ENV["DATABASE_URL"].removeprefix("sqlite:///")
    with sqlite3.connect(path) as connection:
        row = connection.execute("SELECT id FROM call_takers WHERE username = ?", (username,))
        (found,) = row.fetchone()
    return int(found)


def test_a_call_taker_takes_a_queued_call_and_makes_a_case_from_it(
    server: str, tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    shots = Path(os.environ.get("CONSOLE_SCREENSHOTS", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="zh-CN")
        page.goto(f"{server}/console/login?lang=zh")
        page.fill("input[name=username]", "supervisor")
        page.fill("input[name=password]", "minsheng-demo")
        page.click("button[type=submit]")

        # The call-taker signs in at the desk with a desk phone.
        page.click("nav >> text=接线台")
        expect(page.locator("#my-state")).to_contain_text("您还没有签入接线台")
        page.fill("#my-state input[name=phone]", "+8613805990604")
        page.click("#my-state button[value=available]")
        expect(page.locator("#my-state .badge")).to_have_text("可接听")

        # A caller asks for a person and waits in the queue.
        sid = "CA" + "6" * 32
        call = {
            "CallSid": sid,
            "AccountSid": ACCOUNT,
            "From": "+8613800138006",
            "To": HOTLINE,
            "CallStatus": "ringing",
            "Direction": "inbound",
        }
        signed_post(server, "/voice/incoming", call)
        speech = {"CallStatus": "in-progress", "SpeechResult": "我要转人工", "Confidence": "0.9"}
        queued = signed_post(server, "/voice/ivr/gather?step=0", {**call, **speech})
        assert b"<Enqueue" in queued
        # The page is live: the caller appears without a reload.
        expect(page.locator(f'#waiting tr[data-call="{sid}"]')).to_be_visible(timeout=10_000)

        # The offer (the job worker's) rings the desk phone; the call-taker takes it.
        _hotline("jobs", "run-due")
        taker = _taker_id("supervisor")
        leg = {**call, "CallSid": "CA" + "5" * 32, "From": HOTLINE, "To": "+8613805990604"}
        leg["Direction"] = "outbound-api"
        signed_post(server, f"/voice/desk/taker?taker={taker}&queue=desk", leg)
        signed_post(server, f"/voice/desk/accept?taker={taker}&queue=desk", {**leg, "Digits": "1"})
        signed_post(server, f"/voice/desk/connecting?taker={taker}", {**call, **speech})
        # Put through: the page shows the caller by itself.
        expect(page.locator("#my-state .badge")).to_have_text("通话中", timeout=10_000)
        pop = page.locator("#screen-pop")
        expect(pop).to_contain_text("+8613800138006")
        expect(pop).to_contain_text("我要转人工")
        page.screenshot(path=str(shots / "desk-1280.png"), full_page=True)
        page.set_viewport_size({"width": 768, "height": 900})
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"the desk page scrolls sideways by {overflow} px at 768 px"
        page.screenshot(path=str(shots / "desk-768.png"), full_page=True)
        page.set_viewport_size({"width": 1280, "height": 900})

        # A case from the call, pre-filled with what they said, corrected and dispatched.
        page.select_option("#desk-case select[name=category]", "city_management")
        page.fill("#desk-case textarea[name=transcript]", "水南街路灯不亮")
        page.click("#desk-case button[value=dispatch]")
        expect(page.locator(".flash.ok")).to_contain_text("已建工单并派单")
        expect(page.locator("#case-made a")).to_contain_text("MS-")

        # The call ends: wrap-up, then the next call.
        signed = {**leg, "CallStatus": "completed"}
        signature = RequestValidator(DEV_TOKEN).compute_signature(
            server + f"/voice/desk/taker-status?taker={taker}", signed
        )
        HttpTransport(server).post(
            f"/voice/desk/taker-status?taker={taker}",
            signed,
            {"X-Twilio-Signature": str(signature)},
        )
        page.reload()
        expect(page.locator("#my-state .badge")).to_have_text("整理中")
        page.click("text=整理完毕，接听下一通")
        expect(page.locator("#my-state .badge")).to_have_text("可接听")
        page.screenshot(path=str(shots / "desk-after.png"), full_page=True)
        browser.close()
