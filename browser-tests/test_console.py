"""The operator console in headless Chromium against a real nanopayd: the operator's day, in order.

Tests share one nanopayd and one browser session (as an operator would) and run in file order.
Requests a test provokes on purpose (a wrong token, a hold someone else resolved, a reused
reference) are listed in EXPECTED_REFUSALS; the last test fails on any other error or failed
request in the browser's log.
"""
import re
import time

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

from conftest import SELLER, TOKEN, Buyer, friendly

#: (path fragment, status) of refusals the tests provoke on purpose.
EXPECTED_REFUSALS: list[tuple[str, int]] = []
XSS = '<script>window.__pwned = 1</script><img src="/x" onerror="window.__pwned = 2">'


def wait(driver, seconds=10):
    return WebDriverWait(driver, seconds, poll_frequency=0.1)


def open_console(driver, server):
    driver.get(server.base + "/console")
    wait(driver).until(lambda d: d.execute_script("return document.readyState") == "complete")


def sign_in(driver, server, token=TOKEN):
    field = driver.find_element(By.ID, "token")
    field.clear()
    field.send_keys(token)
    driver.find_element(By.CSS_SELECTOR, "#sign-in-form button[type=submit]").click()


def ensure_signed_in(driver, server):
    if not driver.current_url.startswith(server.base + "/console"):
        open_console(driver, server)
    if driver.find_element(By.ID, "app").is_displayed():
        return
    sign_in(driver, server)
    wait(driver).until(EC.visibility_of_element_located((By.ID, "app")))


def show(driver, view):
    driver.find_element(By.CSS_SELECTOR, f".tab[data-view={view}]").click()
    wait(driver).until(EC.visibility_of_element_located((By.ID, f"view-{view}")))


def row(driver, approval_id):
    return driver.find_elements(By.CSS_SELECTOR, f'tr[data-approval-id="{approval_id}"]')


def wait_row(driver, approval_id, seconds=8):
    return wait(driver, seconds).until(lambda d: (row(d, approval_id) or [None])[0])


def held_payment(server, buyer, amount, **kwargs):
    status, body = buyer.pay(amount, **kwargs)
    assert status == 202 and body["error"] == "approval_required", body
    return body["approvalId"]


def funded_buyer(server, index, amount=1_000_000, max_amount=100):
    buyer = Buyer(server, index)
    buyer.deposit(amount, reference=f"browser-deposit-{index}")
    status, body = server.op("POST", "/policy", {"address": buyer.address, "maxAmount": str(max_amount)})
    assert status == 200, body
    return buyer


# ---------------------------------------------------------------------------------------------

def test_sign_in_with_a_wrong_token_then_the_right_one(driver, server):
    open_console(driver, server)
    assert not driver.find_element(By.ID, "app").is_displayed()
    sign_in(driver, server, token="not-the-operator-token")
    EXPECTED_REFUSALS.append(("/approvals?status=pending", 403))
    error = wait(driver).until(lambda d: d.find_element(By.ID, "sign-in-error").text)
    assert "refused" in error
    assert not driver.find_element(By.ID, "app").is_displayed()

    sign_in(driver, server)
    wait(driver).until(EC.visibility_of_element_located((By.ID, "app")))
    # The token is in this tab's sessionStorage only: not in the URL, not in a cookie.
    assert TOKEN not in driver.current_url
    assert driver.get_cookies() == []
    assert driver.execute_script("return sessionStorage.getItem('cybernanopay.operatorToken')") == TOKEN
    assert driver.execute_script("return window.localStorage.length") == 0
    # The health pill says storage is fine.
    assert "storage ok" in driver.find_element(By.ID, "health-pill").text


def test_a_payment_held_by_max_amount_appears_within_the_refresh_interval(driver, server):
    ensure_signed_in(driver, server)
    show(driver, "approvals")
    buyer = funded_buyer(server, 1)
    approval_id = held_payment(server, buyer, 2_500_000 // 10)  # 250000 units > maxAmount 100
    started = time.monotonic()
    tr = wait_row(driver, approval_id, seconds=6)
    assert time.monotonic() - started < 6
    cells = tr.find_elements(By.TAG_NAME, "td")
    assert cells[2].text == "0.25 USDT (250000 units)"
    assert "maxAmount 100" in cells[3].text
    assert re.search(r"pending, expires in [0-9]+ min [0-9]{2} s", cells[5].text), cells[5].text
    # Payer and payee: raw (shortened) with both forms on hover.
    payer_title = cells[0].find_element(By.TAG_NAME, "span").get_attribute("title")
    assert buyer.address in payer_title and friendly(buyer.address, bounceable=True) in payer_title
    assert SELLER in cells[1].find_element(By.TAG_NAME, "span").get_attribute("title")


def test_approve_in_the_page_and_check_balance_and_receipt_through_the_api(driver, server):
    ensure_signed_in(driver, server)
    show(driver, "approvals")
    buyer = funded_buyer(server, 2)
    approval_id = held_payment(server, buyer, 400)
    tr = wait_row(driver, approval_id)
    tr.find_element(By.CSS_SELECTOR, "button.approve").click()
    confirm = wait(driver).until(lambda d: row(d, approval_id)[0].find_element(By.CSS_SELECTOR, "button.confirm-approve"))
    assert "Approve 0.0004 USDT (400 units)" in row(driver, approval_id)[0].text
    confirm.click()
    result = wait(driver).until(lambda d: re.search(r"approved · receipt ([0-9a-f]{32})", row(d, approval_id)[0].text))
    confirmation_id = result.group(1)

    status, approval = server.op("GET", f"/approvals/{approval_id}")
    assert status == 200 and approval["status"] == "approved" and approval["confirmationId"] == confirmation_id
    assert approval["decidedBy"] == "operator"
    balance = server.get(f"/balance/{buyer.address}")
    assert balance["available"] == str(1_000_000 - 400) and balance["held"] == "0" and balance["totalSpent"] == "400"
    receipt = server.get(f"/receipts/{confirmation_id}")
    assert receipt["amount"] == "400" and receipt["from"] == buyer.address and receipt["to"] == SELLER
    assert receipt["remainingBalance"] == str(1_000_000 - 400)


def test_reject_another(driver, server):
    ensure_signed_in(driver, server)
    show(driver, "approvals")
    buyer = funded_buyer(server, 3)
    approval_id = held_payment(server, buyer, 300)
    assert server.get(f"/balance/{buyer.address}")["held"] == "300"
    wait_row(driver, approval_id).find_element(By.CSS_SELECTOR, "button.reject").click()
    tr = row(driver, approval_id)[0]
    tr.find_element(By.CSS_SELECTOR, "input.reason").send_keys("unknown merchant")
    tr.find_element(By.CSS_SELECTOR, "button.confirm-reject").click()
    wait(driver).until(lambda d: "rejected · funds returned" in row(d, approval_id)[0].text)
    status, approval = server.op("GET", f"/approvals/{approval_id}")
    assert approval["status"] == "rejected" and approval["decisionReason"] == "unknown merchant"
    balance = server.get(f"/balance/{buyer.address}")
    assert balance["available"] == "1000000" and balance["held"] == "0"


def test_a_third_expires_while_watched(driver, server):
    ensure_signed_in(driver, server)
    show(driver, "approvals")
    buyer = funded_buyer(server, 4)
    # A hold expires at the authorization's validBefore when that comes first.
    approval_id = held_payment(server, buyer, 200, valid_for=7)
    tr = wait_row(driver, approval_id)
    assert "pending, expires in" in tr.text
    wait(driver, 12).until(lambda d: "fading" in (row(d, approval_id)[0].get_attribute("class") or "") if row(d, approval_id) else True)
    wait(driver, 8).until(lambda d: not row(d, approval_id))
    status, approval = server.op("GET", f"/approvals/{approval_id}")
    assert approval["status"] == "expired"
    assert server.get(f"/balance/{buyer.address}")["available"] == "1000000"
    # And it is listed under the expired filter.
    Select(driver.find_element(By.ID, "approval-filter")).select_by_value("expired")
    wait_row(driver, approval_id)
    assert "expired" in row(driver, approval_id)[0].text
    Select(driver.find_element(By.ID, "approval-filter")).select_by_value("pending")


def test_a_hold_approved_through_the_api_meanwhile_shows_as_already_resolved(driver, server):
    ensure_signed_in(driver, server)
    show(driver, "approvals")
    auto = driver.find_element(By.ID, "auto-refresh")
    if auto.is_selected():
        auto.click()  # the operator pauses refreshing while reading
    buyer = funded_buyer(server, 5)
    approval_id = held_payment(server, buyer, 500)
    driver.find_element(By.ID, "refresh-approvals").click()
    tr = wait_row(driver, approval_id)
    status, _ = server.op("POST", f"/approvals/{approval_id}/approve", {"reason": "second operator"})
    assert status == 200
    tr.find_element(By.CSS_SELECTOR, "button.approve").click()
    wait(driver).until(lambda d: row(d, approval_id)[0].find_element(By.CSS_SELECTOR, "button.confirm-approve")).click()
    EXPECTED_REFUSALS.append((f"/approvals/{approval_id}/approve", 409))
    wait(driver).until(lambda d: "already approved" in row(d, approval_id)[0].text)
    assert "already_approved" in row(driver, approval_id)[0].text
    # Paid once: by the other operator's approval.
    assert server.get(f"/balance/{buyer.address}")["totalSpent"] == "500"
    driver.find_element(By.ID, "auto-refresh").click()


def test_account_lookup_in_the_friendly_form(driver, server):
    ensure_signed_in(driver, server)
    show(driver, "accounts")
    buyer = Buyer(server, 2)  # paid 400 through an approval above
    field = driver.find_element(By.ID, "lookup-address")
    field.clear()
    field.send_keys(friendly(buyer.address, bounceable=False))
    driver.find_element(By.CSS_SELECTOR, "#lookup-form button[type=submit]").click()
    wait(driver).until(EC.visibility_of_element_located((By.ID, "lookup-result")))
    identity = driver.find_element(By.ID, "lookup-identity").text
    assert buyer.address in identity and friendly(buyer.address, bounceable=True) in identity
    balances = driver.find_element(By.ID, "lookup-balance").text
    assert "0.9996 USDT (999600 units)" in balances and "0.0004 USDT (400 units)" in balances
    assert "0.0001 USDT (100 units)" in driver.find_element(By.ID, "lookup-policy").text  # maxAmount
    history = driver.find_elements(By.CSS_SELECTOR, "#lookup-payments tr")
    assert len(history) == 1 and "approved" in history[0].text and "paid" in history[0].text
    # A typo in a friendly address is caught before any request.
    field.clear()
    field.send_keys(friendly(buyer.address)[:-1] + ("A" if friendly(buyer.address)[-1] != "A" else "B"))
    driver.find_element(By.CSS_SELECTOR, "#lookup-form button[type=submit]").click()
    assert "checksum" in wait(driver).until(lambda d: d.find_element(By.ID, "lookup-error").text)


def test_a_deposit_through_the_form(driver, server):
    ensure_signed_in(driver, server)
    show(driver, "actions")
    newcomer = Buyer(server, 6)
    form = driver.find_element(By.ID, "deposit-form")

    def fill(amount, reference):
        for name, value in (("address", newcomer.address), ("amount", amount), ("reference", reference)):
            field = form.find_element(By.NAME, name)
            field.clear()
            field.send_keys(value)
        form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()

    # Invalid input is refused in the page; nothing is sent.
    fill("0100", "browser-form-1")
    assert "whole number" in form.find_element(By.CSS_SELECTOR, ".result").text
    assert server.get(f"/balance/{newcomer.address}")["totalDeposited"] == "0"

    fill("2500000", "browser-form-1")
    confirm = wait(driver).until(lambda d: form.find_element(By.CSS_SELECTOR, "button.confirm-action"))
    assert "Deposit 2.5 USDT (2500000 units)" in form.find_element(By.CSS_SELECTOR, ".confirm").text
    confirm.click()
    wait(driver).until(lambda d: "Done" in form.find_element(By.CSS_SELECTOR, ".result").text)
    assert server.get(f"/balance/{newcomer.address}")["available"] == "2500000"

    # The same reference for another amount: the server's code is shown.
    fill("7", "browser-form-1")
    wait(driver).until(lambda d: form.find_element(By.CSS_SELECTOR, "button.confirm-action")).click()
    EXPECTED_REFUSALS.append(("/deposits", 409))
    wait(driver).until(lambda d: "reference_conflict" in form.find_element(By.CSS_SELECTOR, ".result").text)
    assert server.get(f"/balance/{newcomer.address}")["available"] == "2500000"


def test_policy_and_withdrawal_forms_from_the_keyboard(driver, server):
    ensure_signed_in(driver, server)
    show(driver, "actions")
    buyer = funded_buyer(server, 8, amount=1000, max_amount=100)
    server.op("POST", "/policy", {"address": buyer.address, "dailyCap": "5000"})
    form = driver.find_element(By.ID, "policy-form")
    form.find_element(By.NAME, "address").send_keys(friendly(buyer.address, bounceable=True))
    form.find_element(By.NAME, "maxAmount").send_keys("50")
    form.find_element(By.NAME, "clear-dailyCap").click()
    form.find_element(By.NAME, "rateLimit").send_keys("60", Keys.ENTER)  # Enter submits the form
    wait(driver).until(lambda d: form.find_element(By.CSS_SELECTOR, ".confirm").is_displayed())
    assert "maxAmount 0.00005 USDT (50 units), rateLimit 60, remove dailyCap?" in form.find_element(By.CSS_SELECTOR, ".confirm").text
    driver.switch_to.active_element.send_keys(Keys.ENTER)  # focus is on Confirm
    wait(driver).until(lambda d: "Policy set" in form.find_element(By.CSS_SELECTOR, ".result").text)
    status, policy = server.call("GET", f"/policy/{buyer.address}")
    assert policy["maxAmount"] == "50" and policy["rateLimit"] == 60 and "dailyCap" not in policy

    withdrawal = driver.find_element(By.ID, "withdrawal-form")
    withdrawal.find_element(By.NAME, "address").send_keys(buyer.address)
    withdrawal.find_element(By.NAME, "amount").send_keys("5000")
    withdrawal.find_element(By.NAME, "reference").send_keys("browser-withdrawal-1", Keys.ENTER)
    wait(driver).until(lambda d: withdrawal.find_element(By.CSS_SELECTOR, ".confirm").is_displayed())
    driver.switch_to.active_element.send_keys(Keys.ENTER)
    EXPECTED_REFUSALS.append(("/withdrawals", 402))
    wait(driver).until(lambda d: "insufficient_balance" in withdrawal.find_element(By.CSS_SELECTOR, ".result").text)
    assert server.get(f"/balance/{buyer.address}")["available"] == "1000"


def test_every_control_has_a_label(driver, server):
    ensure_signed_in(driver, server)
    unlabeled = driver.execute_script("""
        return Array.from(document.querySelectorAll("input, select, button")).filter((c) => {
          if (c.tagName === "BUTTON") return !c.textContent.trim() && !c.getAttribute("aria-label");
          return !(c.labels && c.labels.length) && !c.getAttribute("aria-label");
        }).map((c) => c.outerHTML);
    """)
    assert unlabeled == []


def test_text_from_outside_renders_as_text(driver, server):
    ensure_signed_in(driver, server)
    # A decision reason and a deposit reference are text that reaches the page from outside.
    buyer = funded_buyer(server, 7)
    approval_id = held_payment(server, buyer, 150)
    status, _ = server.op("POST", f"/approvals/{approval_id}/reject", {"reason": XSS})
    assert status == 200
    show(driver, "approvals")
    Select(driver.find_element(By.ID, "approval-filter")).select_by_value("rejected")
    tr = wait_row(driver, approval_id)
    assert XSS in tr.text
    assert tr.find_elements(By.TAG_NAME, "script") == [] and tr.find_elements(By.TAG_NAME, "img") == []
    Select(driver.find_element(By.ID, "approval-filter")).select_by_value("pending")

    show(driver, "actions")
    form = driver.find_element(By.ID, "deposit-form")
    Buyer(server, 7).deposit(5, reference=XSS)  # the reference is taken by another deposit
    for name, value in (("address", buyer.address), ("amount", "6"), ("reference", XSS)):
        field = form.find_element(By.NAME, name)
        field.clear()
        field.send_keys(value)
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait(driver).until(lambda d: form.find_element(By.CSS_SELECTOR, "button.confirm-action")).click()
    EXPECTED_REFUSALS.append(("/deposits", 409))
    result = wait(driver).until(lambda d: form.find_element(By.CSS_SELECTOR, ".result.bad"))
    assert "reference_conflict" in result.text and XSS in result.text
    assert form.find_elements(By.TAG_NAME, "script") == [] and form.find_elements(By.TAG_NAME, "img") == []
    assert driver.execute_script("return window.__pwned === undefined")


def test_service_view_shows_stats_attestation_and_health(driver, server):
    ensure_signed_in(driver, server)
    show(driver, "service")
    wait(driver).until(lambda d: "Enclave key" in d.find_element(By.ID, "service-attestation").text)
    attestation = driver.find_element(By.ID, "service-attestation").text
    assert server.health["enclavePublicKey"] in attestation and "software" in attestation and "Nonce matches\nyes" in attestation
    stats = wait(driver).until(lambda d: d.find_element(By.ID, "service-stats").text)
    assert "p99" in stats and "Pending approvals" in stats
    assert "ok" in driver.find_element(By.ID, "service-health").text


def test_sign_out_forgets_the_token(driver, server):
    ensure_signed_in(driver, server)
    driver.find_element(By.ID, "sign-out").click()
    wait(driver).until(EC.visibility_of_element_located((By.ID, "sign-in")))
    assert driver.execute_script("return sessionStorage.getItem('cybernanopay.operatorToken')") is None
    driver.refresh()
    wait(driver).until(EC.visibility_of_element_located((By.ID, "sign-in")))
    assert not driver.find_element(By.ID, "app").is_displayed()


def test_no_console_error_and_no_failed_request_all_session(driver, browser_log):
    browser_log.drain(driver)
    unexpected = []
    for entry in browser_log.entries:
        if entry["level"] not in ("SEVERE", "WARNING"):
            continue
        message = entry["message"]
        status = re.search(r"status of (\d{3})", message)
        if entry.get("source") == "network" and status:
            if any(path in message and int(status.group(1)) == code for path, code in EXPECTED_REFUSALS):
                continue
        unexpected.append(entry)
    assert unexpected == [], unexpected
