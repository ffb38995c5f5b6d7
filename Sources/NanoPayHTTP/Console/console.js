// CyberNanoPay operator console. No framework, no build step, no external requests.
//
// Rules this file keeps:
// - Every value from the server is rendered as text (textContent), never as HTML: an address,
//   a reason or an error message cannot inject markup or script.
// - The operator token lives in sessionStorage for this tab only and leaves the page only as
//   an `Authorization: Bearer` header to this origin: never in a URL, a cookie or a log.
// - The page uses nanopayd's public JSON API, the same one curl uses.
"use strict";

const TOKEN_KEY = "cybernanopay.operatorToken";
const APPROVALS_REFRESH_MS = 3000;
const SERVICE_REFRESH_MS = 5000;
/// Decimals of the assets we know; others are shown in atomic units only.
const ASSET_DECIMALS = { USDT: 6, USDC: 6, JUSDT: 6, TON: 9 };
const AMOUNT_PATTERN = /^(0|[1-9][0-9]{0,38})$/;
const AMOUNT_MAX = (1n << 128n) - 1n;

const state = {
  token: null,
  asset: null,
  view: "approvals",
  approvalsTimer: null,
  serviceTimer: null,
  countdownTimer: null,
  /// Rows of the approvals table by approval id: { tr, approval, phase } where phase is
  /// "listed" | "confirming" | "sending" | "done" | "fading".
  rows: new Map(),
  filter: "pending",
};

// ---------------------------------------------------------------- DOM helpers

function $(id) { return document.getElementById(id); }

/// Builds an element; string children become text nodes (never parsed as HTML).
function el(tag, props, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }

function facts(node, pairs) {
  clear(node);
  for (const [name, value, title] of pairs) {
    node.append(el("dt", { text: name }), el("dd", { text: value === undefined || value === null ? "—" : String(value), title }));
  }
}

// ---------------------------------------------------------------- Addresses

function crc16(bytes) {
  let crc = 0;
  for (const b of bytes) {
    crc ^= b << 8;
    for (let i = 0; i < 8; i++) crc = (crc & 0x8000) ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

function base64UrlEncode(bytes) {
  let text = "";
  for (const b of bytes) text += String.fromCharCode(b);
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_");
}

function base64Decode(text) {
  const standard = text.replace(/-/g, "+").replace(/_/g, "/");
  const binary = atob(standard);
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

function hexToBytes(hex) {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.substr(i * 2, 2), 16);
  return out;
}

function bytesToHex(bytes) { return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join(""); }

/// Parses a TON address in raw (`wc:hex`) or user-friendly form (CRC checked); returns
/// { raw } or throws an Error saying why. The server parses again; this only catches typos early.
function parseAddress(text) {
  const t = text.trim();
  const raw = /^(-?[0-9]{1,10}):([0-9a-fA-F]{64})$/.exec(t);
  if (raw) {
    const wc = Number(raw[1]);
    if (wc < -2147483648 || wc > 2147483647) throw new Error("workchain out of range");
    return { raw: `${wc}:${raw[2].toLowerCase()}` };
  }
  if (!/^[A-Za-z0-9+/_-]{48}$/.test(t)) throw new Error("expected workchain:64-hex or a 48-character user-friendly address");
  const bytes = base64Decode(t);
  if (bytes.length !== 36) throw new Error("a user-friendly address is 36 bytes");
  const expected = crc16(bytes.slice(0, 34));
  if (((bytes[34] << 8) | bytes[35]) !== expected) throw new Error("checksum (CRC16) does not match: a typo?");
  const flags = bytes[0] & 0x7f;
  if (flags !== 0x11 && flags !== 0x51) throw new Error("unknown address flags");
  const wc = bytes[1] > 127 ? bytes[1] - 256 : bytes[1];
  return { raw: `${wc}:${bytesToHex(bytes.slice(2, 34))}` };
}

/// The user-friendly form of a raw address (bounceable or not), or null for workchains that
/// do not fit its one-byte field.
function friendly(raw, bounceable = true) {
  const m = /^(-?[0-9]+):([0-9a-f]{64})$/.exec(raw || "");
  if (!m) return null;
  const wc = Number(m[1]);
  if (wc < -128 || wc > 127) return null;
  const bytes = new Uint8Array(36);
  bytes[0] = bounceable ? 0x11 : 0x51;
  bytes[1] = wc & 0xff;
  bytes.set(hexToBytes(m[2]), 2);
  const crc = crc16(bytes.slice(0, 34));
  bytes[34] = crc >> 8; bytes[35] = crc & 0xff;
  return base64UrlEncode(bytes);
}

function shortAddress(raw) {
  const m = /^(-?[0-9]+):([0-9a-f]{64})$/.exec(raw || "");
  return m ? `${m[1]}:${m[2].slice(0, 6)}…${m[2].slice(-6)}` : String(raw);
}

/// An address cell: the raw form, shortened, with the full raw and user-friendly forms on hover.
function addressNode(raw) {
  const f = friendly(raw);
  return el("span", { class: "mono", title: f ? `${raw}\n${f}` : raw, text: shortAddress(raw) });
}

// ---------------------------------------------------------------- Amounts and times

function checkAmount(text, name, { allowZero = false } = {}) {
  const t = text.trim();
  if (!AMOUNT_PATTERN.test(t)) throw new Error(`${name} must be a whole number of atomic units, without sign, spaces or leading zeros`);
  const v = BigInt(t);
  if (v > AMOUNT_MAX) throw new Error(`${name} is larger than 2^128 - 1`);
  if (!allowZero && v === 0n) throw new Error(`${name} must be more than zero`);
  return t;
}

/// "1.5 USDT (1500000 units)" when the asset's decimals are known, else "1500000 units".
function formatAmount(atomic) {
  const text = String(atomic);
  if (!AMOUNT_PATTERN.test(text)) return text;
  const decimals = ASSET_DECIMALS[(state.asset || "").toUpperCase()];
  if (decimals === undefined) return `${text} units${state.asset ? " of " + state.asset : ""}`;
  const padded = text.padStart(decimals + 1, "0");
  const whole = padded.slice(0, padded.length - decimals);
  const fraction = padded.slice(padded.length - decimals).replace(/0+$/, "");
  return `${whole}${fraction ? "." + fraction : ""} ${state.asset} (${text} units)`;
}

function formatTime(seconds) {
  if (!seconds) return "—";
  return new Date(seconds * 1000).toLocaleString();
}

function formatDuration(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  if (h > 0) return `${h} h ${m} min`;
  if (m > 0) return `${m} min ${String(r).padStart(2, "0")} s`;
  return `${r} s`;
}

// ---------------------------------------------------------------- API

class ApiError extends Error {
  constructor(status, code, message) {
    super(message || code);
    this.status = status; this.code = code;
  }
}

/// Calls the JSON API. Operator calls carry the token; any non-2xx answer becomes an ApiError
/// with the server's stable error code.
async function api(method, path, body, { operator = true } = {}) {
  const headers = { Accept: "application/json" };
  if (operator && state.token) headers.Authorization = `Bearer ${state.token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body),
                                    cache: "no-store", credentials: "omit", referrerPolicy: "no-referrer" });
  } catch (e) {
    throw new ApiError(0, "network_error", "nanopayd did not answer (network error)");
  }
  let json = null;
  try { json = await response.json(); } catch (e) { json = null; }
  if (!response.ok) {
    const code = json && typeof json.error === "string" ? json.error : `http_${response.status}`;
    const message = json && typeof json.message === "string" ? json.message : response.statusText;
    throw new ApiError(response.status, code, message);
  }
  return json;
}

function describe(error) {
  if (error instanceof ApiError) return `${error.code}: ${error.message}`;
  return String(error && error.message ? error.message : error);
}

/// A refused token mid-session sends the operator back to sign-in.
function handleAuthFailure(error) {
  if (error instanceof ApiError && (error.status === 401 || error.status === 403)) {
    signOut("The operator token was refused; sign in again.");
    return true;
  }
  return false;
}

// ---------------------------------------------------------------- Sign-in

async function signIn(token) {
  state.token = token;
  try {
    await api("GET", "/approvals?status=pending");
  } catch (error) {
    state.token = null;
    if (error instanceof ApiError && (error.status === 401 || error.status === 403)) {
      throw new Error("That token was refused by nanopayd. Check it and try again.");
    }
    throw new Error(`Could not sign in: ${describe(error)}`);
  }
  sessionStorage.setItem(TOKEN_KEY, token);
  $("sign-in").hidden = true;
  $("app").hidden = false;
  $("sign-out").hidden = false;
  showView(state.view);
}

function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  state.token = null;
  stopTimers();
  state.rows.clear();
  clear($("approvals-body"));
  clear($("lookup-payments"));
  $("lookup-result").hidden = true;
  $("app").hidden = true;
  $("sign-out").hidden = true;
  $("sign-in").hidden = false;
  $("token").value = "";
  $("sign-in-error").textContent = message || "";
  $("token").focus();
}

function stopTimers() {
  for (const key of ["approvalsTimer", "serviceTimer", "countdownTimer"]) {
    if (state[key]) { clearInterval(state[key]); state[key] = null; }
  }
}

// ---------------------------------------------------------------- Views

function showView(view) {
  state.view = view;
  for (const tab of document.querySelectorAll(".tab")) tab.setAttribute("aria-pressed", String(tab.dataset.view === view));
  for (const section of document.querySelectorAll(".view")) section.hidden = section.id !== `view-${view}`;
  stopTimers();
  if (view === "approvals") {
    refreshApprovals();
    scheduleApprovals();
    state.countdownTimer = setInterval(tickCountdowns, 1000);
  } else if (view === "service") {
    refreshService();
    refreshAttestation();
    state.serviceTimer = setInterval(refreshService, SERVICE_REFRESH_MS);
  }
}

function scheduleApprovals() {
  if (state.approvalsTimer) { clearInterval(state.approvalsTimer); state.approvalsTimer = null; }
  if ($("auto-refresh").checked) state.approvalsTimer = setInterval(refreshApprovals, APPROVALS_REFRESH_MS);
}

// ---------------------------------------------------------------- Approvals

let approvalsInFlight = false;

async function refreshApprovals() {
  if (approvalsInFlight || !state.token) return;
  approvalsInFlight = true;
  const filter = state.filter;
  try {
    const answer = await api("GET", `/approvals?status=${encodeURIComponent(filter)}`);
    if (filter !== state.filter) return;
    renderApprovals(Array.isArray(answer.approvals) ? answer.approvals : []);
    $("approvals-error").textContent = "";
    $("approvals-updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
  } catch (error) {
    if (!handleAuthFailure(error)) $("approvals-error").textContent = `Could not load approvals: ${describe(error)}`;
  } finally {
    approvalsInFlight = false;
  }
}

/// Merges a fresh list into the table: new holds are added (the server lists pending ones
/// oldest first), rows the operator is working on keep their state, and pending rows that left
/// the list (resolved elsewhere, or expired) say so and fade out.
function renderApprovals(list) {
  const body = $("approvals-body");
  if (state.filter !== "pending") {
    // Decided holds do not change: the list is redrawn as the server orders it (newest first).
    state.rows.clear();
    clear(body);
  }
  const seen = new Set();
  for (const approval of list) {
    seen.add(approval.id);
    const row = state.rows.get(approval.id);
    if (!row) {
      const tr = approvalRow(approval);
      state.rows.set(approval.id, { tr, approval, phase: "listed" });
      body.append(tr);
    } else if (row.phase === "listed") {
      row.approval = approval;
    }
  }
  if (state.filter === "pending") {
    for (const [id, row] of state.rows) {
      if (seen.has(id) || row.phase !== "listed") continue;
      const expired = row.approval.expiresAt * 1000 <= Date.now();
      if (expired) fadeOut(id, "expired");
      else resolvedElsewhere(id);
    }
  }
  $("approvals-empty").hidden = state.rows.size > 0;
}

function approvalRow(a) {
  const statusCell = el("td", { class: `status-${a.status}` });
  const decision = el("td", { class: "decision" });
  const tr = el("tr", { dataset: { approvalId: a.id } },
    el("td", {}, addressNode(a.from)),
    el("td", {}, addressNode(a.to)),
    el("td", { class: "amount", text: formatAmount(a.amount) }),
    el("td", { text: a.reason }),
    el("td", { text: formatTime(a.requestedAt) }),
    statusCell,
    decision);
  if (a.status === "pending") {
    statusCell.append(el("span", { text: "pending, expires in " }), el("span", { class: "countdown", text: formatDuration(a.expiresAt - Date.now() / 1000) }));
    decision.append(
      el("button", { type: "button", class: "approve", onclick: () => confirmDecision(a.id, true) }, "Approve"),
      el("button", { type: "button", class: "reject danger", onclick: () => confirmDecision(a.id, false) }, "Reject"));
  } else {
    statusCell.textContent = a.status;
    const parts = [];
    if (a.decidedBy) parts.push(`by ${a.decidedBy}`);
    if (a.decidedAt) parts.push(formatTime(a.decidedAt));
    if (a.decisionReason) parts.push(`“${a.decisionReason}”`);
    if (a.confirmationId) parts.push(`receipt ${a.confirmationId}`);
    decision.append(el("span", { class: "note", text: parts.join(" · ") || "—" }));
  }
  return tr;
}

function tickCountdowns() {
  const now = Date.now() / 1000;
  for (const [id, row] of state.rows) {
    if (row.approval.status !== "pending" || row.phase === "done" || row.phase === "fading") continue;
    const left = row.approval.expiresAt - now;
    const countdown = row.tr.querySelector(".countdown");
    if (countdown) countdown.textContent = formatDuration(left);
    if (left <= 0 && row.phase !== "sending") fadeOut(id, "expired");
  }
}

/// Marks a row final and fades it out of the pending view.
function fadeOut(id, status) {
  const row = state.rows.get(id);
  if (!row || row.phase === "fading") return;
  row.phase = "fading";
  const statusCell = row.tr.children[5];
  statusCell.className = `status-${status}`;
  statusCell.textContent = status;
  const decision = row.tr.children[6];
  clear(decision);
  decision.append(el("span", { class: "note", text: status === "expired" ? "expired before a decision" : status }));
  row.tr.classList.add("fading");
  setTimeout(() => {
    row.tr.remove();
    if (state.rows.get(id) === row) state.rows.delete(id);
    $("approvals-empty").hidden = state.rows.size > 0;
  }, 2500);
}

/// A pending row that left the pending list while nobody here touched it: show what became of it.
async function resolvedElsewhere(id) {
  const row = state.rows.get(id);
  if (!row) return;
  row.phase = "done";
  try {
    const a = await api("GET", `/approvals/${encodeURIComponent(id)}`);
    showDecision(row, "note", `${a.status} elsewhere${a.decidedBy ? " by " + a.decidedBy : ""}`, a.status);
  } catch (error) {
    if (!handleAuthFailure(error)) showDecision(row, "bad", `no longer pending (${describe(error)})`, "unknown");
  }
  setTimeout(() => fadeOut(id, row.tr.children[5].textContent || "resolved"), 4000);
}

function showDecision(row, kind, text, status) {
  row.tr.classList.add("resolved");
  const statusCell = row.tr.children[5];
  statusCell.className = `status-${status}`;
  statusCell.textContent = status;
  const decision = row.tr.children[6];
  clear(decision);
  decision.append(el("span", { class: `note result ${kind}`, role: "status", text }));
}

function confirmDecision(id, approve) {
  const row = state.rows.get(id);
  if (!row || row.phase !== "listed") return;
  row.phase = "confirming";
  const a = row.approval;
  const decision = row.tr.children[6];
  clear(decision);
  const verb = approve ? "Approve" : "Reject";
  const reasonInput = el("input", { type: "text", class: "reason", "aria-label": `Reason (optional) for ${verb.toLowerCase()}`, placeholder: "reason (optional)" });
  const confirmButton = el("button", { type: "button", class: `confirm-${approve ? "approve" : "reject"}${approve ? "" : " danger"}`,
    onclick: () => decide(id, approve, reasonInput.value.trim()) }, `Confirm ${verb.toLowerCase()}`);
  decision.append(
    el("span", { class: "note", text: `${verb} ${formatAmount(a.amount)} from ${shortAddress(a.from)}?` }),
    reasonInput, confirmButton,
    el("button", { type: "button", class: "secondary cancel", onclick: () => cancelDecision(id) }, "Cancel"));
  confirmButton.focus();
}

function cancelDecision(id) {
  const row = state.rows.get(id);
  if (!row || row.phase !== "confirming") return;
  const fresh = approvalRow(row.approval);
  row.tr.replaceWith(fresh);
  row.tr = fresh;
  row.phase = "listed";
  tickCountdowns();
}

async function decide(id, approve, reason) {
  const row = state.rows.get(id);
  if (!row || row.phase !== "confirming") return;
  row.phase = "sending";
  for (const b of row.tr.querySelectorAll("button")) b.disabled = true;
  try {
    const body = reason ? { reason } : undefined;
    const a = await api("POST", `/approvals/${encodeURIComponent(id)}/${approve ? "approve" : "reject"}`, body);
    row.phase = "done";
    if (a.status === "approved") showDecision(row, "ok", `approved · receipt ${a.confirmationId || (a.receipt && a.receipt.confirmationId) || "?"}`, "approved");
    else showDecision(row, "ok", "rejected · funds returned to the payer", a.status);
  } catch (error) {
    row.phase = "done";
    if (handleAuthFailure(error)) return;
    if (error instanceof ApiError && error.status === 409) {
      const what = { already_approved: "approved", already_rejected: "rejected", approval_expired: "expired" }[error.code] || "resolved";
      showDecision(row, "bad", `already ${what}: someone else resolved this hold (${error.code})`, what);
    } else {
      showDecision(row, "bad", `not done: ${describe(error)}`, "pending");
    }
  }
}

// ---------------------------------------------------------------- Accounts

/// Addresses go into paths as their canonical raw form, which is URL-safe as it is.
async function lookUp(text) {
  $("lookup-error").textContent = "";
  let address;
  try { address = parseAddress(text); } catch (e) { $("lookup-error").textContent = `Not an address: ${e.message}`; return; }
  try {
    const [balance, history, policy] = await Promise.all([
      api("GET", `/balance/${address.raw}`, undefined, { operator: false }),
      api("GET", `/accounts/${address.raw}/payments?limit=50`),
      api("GET", `/policy/${address.raw}`, undefined, { operator: false }).catch((e) => {
        if (e instanceof ApiError && e.code === "policy_not_found") return null;
        throw e;
      }),
    ]);
    facts($("lookup-identity"), [
      ["Raw", balance.address],
      ["Bounceable", friendly(balance.address, true)],
      ["Non-bounceable", friendly(balance.address, false)],
    ]);
    facts($("lookup-balance"), [
      ["Available", formatAmount(balance.available)],
      ["Held (awaiting approval)", formatAmount(balance.held)],
      ["Spent", formatAmount(balance.totalSpent)],
      ["Received", formatAmount(balance.totalReceived)],
      ["Deposited", formatAmount(balance.totalDeposited)],
      ["Withdrawn", formatAmount(balance.totalWithdrawn)],
    ]);
    if (policy) {
      facts($("lookup-policy"), [
        ["maxAmount", policy.maxAmount ? formatAmount(policy.maxAmount) : "none"],
        ["rateLimit", policy.rateLimit ? `${policy.rateLimit} per minute` : "none"],
        ["rateBurst", policy.rateBurst ?? "none"],
        ["dailyCap", policy.dailyCap ? formatAmount(policy.dailyCap) : "none"],
        ["Version", policy.version],
        ["Updated", `${formatTime(policy.updatedAt)} by ${policy.updatedBy}`],
      ]);
    } else {
      facts($("lookup-policy"), [["Policy", "none set: no limits"]]);
    }
    const tbody = $("lookup-payments");
    clear(tbody);
    for (const p of history.payments || []) {
      const outgoing = p.from === balance.address;
      tbody.append(el("tr", {},
        el("td", { text: formatTime(p.createdAt) }),
        el("td", { text: outgoing ? "paid" : "received" }),
        el("td", {}, addressNode(outgoing ? p.to : p.from)),
        el("td", { class: "amount", text: formatAmount(p.amount) }),
        el("td", { class: `status-${p.status}`, text: p.status }),
        el("td", { class: "mono", text: p.confirmationId || p.approvalId || "—" })));
    }
    if (!(history.payments || []).length) tbody.append(el("tr", {}, el("td", { colspan: 6, class: "muted", text: "No payments yet." })));
    $("lookup-result").hidden = false;
  } catch (error) {
    if (!handleAuthFailure(error)) $("lookup-error").textContent = `Lookup failed: ${describe(error)}`;
  }
}

// ---------------------------------------------------------------- Service

async function refreshHealthPill() {
  try {
    const health = await fetch("/health", { cache: "no-store", credentials: "omit" }).then((r) => r.json());
    state.asset = health.asset || state.asset;
    const ok = health.storage === "ok";
    $("health-pill").textContent = ok ? `storage ok · ${health.network} · ${health.asset}` : "storage unavailable";
    $("health-pill").className = `pill ${ok ? "ok" : "bad"}`;
    return health;
  } catch (e) {
    $("health-pill").textContent = "nanopayd unreachable";
    $("health-pill").className = "pill bad";
    return null;
  }
}

async function refreshService() {
  const health = await refreshHealthPill();
  if (health) {
    facts($("service-health"), [
      ["Status", health.status], ["Storage", health.storage], ["Network", health.network], ["Asset", health.asset],
      ["Enclave key", health.enclavePublicKey],
    ]);
  }
  try {
    const s = await api("GET", "/stats", undefined, { operator: false });
    const latency = s.verifyLatencyMs || {};
    facts($("service-stats"), [
      ["Settled", s.payments && s.payments.settled], ["Held", s.payments && s.payments.held],
      ["Approved", s.payments && s.payments.approved], ["Rejected", s.payments && s.payments.rejected],
      ["Expired", s.payments && s.payments.expired], ["Pending approvals", s.pendingApprovals],
      ["Volume", formatAmount(s.volume)], ["Deposited", formatAmount(s.deposited)], ["Withdrawn", formatAmount(s.withdrawn)],
      ["Accounts", s.accounts], ["Uptime", formatDuration(s.uptimeSeconds)],
      ["/verify latency", ["p50", "p90", "p99", "p999"].map((q) => `${q} ${latency[q] ?? "—"} ms`).join(" · ")],
      ["Mean commit batch", typeof s.meanCommitBatch === "number" ? s.meanCommitBatch.toFixed(1) : "—"],
    ]);
    $("service-error").textContent = "";
  } catch (error) {
    $("service-error").textContent = `Could not load stats: ${describe(error)}`;
  }
}

async function refreshAttestation() {
  const nonce = bytesToHex(crypto.getRandomValues(new Uint8Array(32)));
  try {
    const q = await api("GET", `/attestation?nonce=${nonce}`, undefined, { operator: false });
    const c = q.claims || {};
    facts($("service-attestation"), [
      ["Platform", q.platform || c.platform],
      ["Measurement", c.measurement],
      ["Enclave key", c.enclavePublicKey],
      ["Network / asset", `${c.network} / ${c.asset}`],
      ["Issued", formatTime(c.issuedAt)],
      ["Quote expires", formatTime(c.expiresAt)],
      ["Nonce matches", c.nonce === nonce ? "yes" : "NO"],
      ["Note", (q.platform || c.platform) === "software" ? "software attestation: no hardware isolation" : "hardware platform: verify the quote with attestation/verify.py"],
    ]);
  } catch (error) {
    $("service-error").textContent = `Could not fetch a quote: ${describe(error)}`;
  }
}

// ---------------------------------------------------------------- Operator actions

/// Reads and checks a form; returns { body, summary, path } or throws an Error naming the field.
function readAction(form) {
  const value = (name) => (form.elements[name] ? form.elements[name].value.trim() : "");
  const address = parseAddressField(value("address"));
  switch (form.dataset.action) {
    case "deposit": {
      const amount = checkAmount(value("amount"), "Amount");
      const reference = requireText(value("reference"), "Reference");
      const body = { address: address.raw, amount, reference };
      const key = value("publicKey");
      if (key) {
        if (!/^[0-9a-fA-F]{64}$/.test(key)) throw new Error("Public key must be 64 hex characters");
        body.publicKey = key.toLowerCase();
      }
      return { path: "/deposits", body, summary: `Deposit ${formatAmount(amount)} to ${address.raw} (reference ${reference})?` };
    }
    case "withdrawal": {
      const amount = checkAmount(value("amount"), "Amount");
      const reference = requireText(value("reference"), "Reference");
      return { path: "/withdrawals", body: { address: address.raw, amount, reference },
               summary: `Withdraw ${formatAmount(amount)} from ${address.raw} (reference ${reference})?` };
    }
    case "policy": {
      const body = { address: address.raw };
      const changes = [];
      for (const [name, kind] of [["maxAmount", "amount"], ["rateLimit", "count"], ["rateBurst", "count"], ["dailyCap", "amount"]]) {
        const cleared = form.elements[`clear-${name}`].checked;
        const text = value(name);
        if (cleared && text) throw new Error(`${name}: either a value or “remove”, not both`);
        if (cleared) { body[name] = null; changes.push(`remove ${name}`); continue; }
        if (!text) continue;
        if (kind === "amount") { body[name] = checkAmount(text, name); changes.push(`${name} ${formatAmount(text)}`); }
        else {
          if (!/^[1-9][0-9]{0,9}$/.test(text) || Number(text) > 4294967295) throw new Error(`${name} must be a whole number from 1 to 4294967295`);
          body[name] = Number(text); changes.push(`${name} ${text}`);
        }
      }
      if (!changes.length) throw new Error("Nothing to change: fill in a limit or tick “remove”");
      return { path: "/policy", body, summary: `Set the policy of ${address.raw}: ${changes.join(", ")}?` };
    }
  }
  throw new Error("unknown action");
}

function parseAddressField(text) {
  if (!text) throw new Error("Address is required");
  try { return parseAddress(text); } catch (e) { throw new Error(`Address: ${e.message}`); }
}

function requireText(text, name) {
  if (!text) throw new Error(`${name} is required`);
  return text;
}

function onActionSubmit(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const result = form.querySelector(".result");
  const confirmBox = form.querySelector(".confirm");
  result.textContent = ""; result.className = "result";
  let action;
  try { action = readAction(form); } catch (e) {
    result.textContent = e.message; result.className = "result bad";
    confirmBox.hidden = true;
    return;
  }
  clear(confirmBox);
  const confirmButton = el("button", { type: "button", class: "confirm-action", onclick: () => sendAction(form, action) }, "Confirm");
  confirmBox.append(el("p", { text: action.summary }), confirmButton,
    el("button", { type: "button", class: "secondary", onclick: () => { confirmBox.hidden = true; clear(confirmBox); } }, "Cancel"));
  confirmBox.hidden = false;
  confirmButton.focus();
}

async function sendAction(form, action) {
  const result = form.querySelector(".result");
  const confirmBox = form.querySelector(".confirm");
  for (const b of confirmBox.querySelectorAll("button")) b.disabled = true;
  try {
    const answer = await api("POST", action.path, action.body);
    result.className = "result ok";
    if (form.dataset.action === "policy") result.textContent = `Policy set (version ${answer.version}).`;
    else result.textContent = `Done. ${shortAddress(answer.address)} now has ${formatAmount(answer.available)} available.`;
  } catch (error) {
    if (handleAuthFailure(error)) return;
    result.className = "result bad";
    result.textContent = `Refused: ${describe(error)}`;
  } finally {
    confirmBox.hidden = true;
    clear(confirmBox);
  }
}

// ---------------------------------------------------------------- Start

document.addEventListener("DOMContentLoaded", () => {
  $("sign-in-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const token = $("token").value.trim();
    $("sign-in-error").textContent = "";
    if (!token) { $("sign-in-error").textContent = "Paste the operator token first."; return; }
    try { await signIn(token); } catch (e) { $("sign-in-error").textContent = e.message; }
  });
  $("sign-out").addEventListener("click", () => signOut("Signed out."));
  for (const tab of document.querySelectorAll(".tab")) tab.addEventListener("click", () => showView(tab.dataset.view));
  $("approval-filter").addEventListener("change", (event) => {
    state.filter = event.target.value;
    state.rows.clear();
    clear($("approvals-body"));
    refreshApprovals();
  });
  $("auto-refresh").addEventListener("change", scheduleApprovals);
  $("refresh-approvals").addEventListener("click", refreshApprovals);
  $("refresh-attestation").addEventListener("click", refreshAttestation);
  $("lookup-form").addEventListener("submit", (event) => { event.preventDefault(); lookUp($("lookup-address").value); });
  for (const form of document.querySelectorAll("form.action")) form.addEventListener("submit", onActionSubmit);

  refreshHealthPill();
  const saved = sessionStorage.getItem(TOKEN_KEY);
  if (saved) signIn(saved).catch(() => signOut("The saved token was refused; sign in again."));
  else $("token").focus();
});
