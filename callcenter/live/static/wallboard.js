// The wallboard page: signs in once, follows /api/wallboard/events, renders tiles and agents.
// Plain browser JavaScript, no build step, nothing loaded from elsewhere.
//
// Messages (Server-Sent Events): "snapshot" (the whole board), "update" (rows that changed),
// "tick" (server time, nothing changed), "stale" (the server cannot read live data). Rows hold
// entry and state times, not durations: this page advances "longest wait" and "time in state"
// every second from the server's clock, so no message is needed for time passing.
"use strict";

(() => {
  const STATUS_NAMES = {
    "available": "Available", "reserved": "Ringing", "on-call": "On call",
    "wrap-up": "Wrap-up", "paused": "Paused", "offline": "Offline",
  };
  const SILENCE_MS = 15000; // no message for this long: the stream is dead, reconnect
  const SESSION_REFRESH_MS = 3600 * 1000;

  const state = {
    queues: new Map(), agents: new Map(), offsetMs: 0, lastMessageAt: 0,
    source: null, token: null, retryMs: 1000, staleSince: null, mode: "connecting",
  };
  // What tests and curious people can read: window.wallboard.
  const stats = { snapshots: 0, updates: 0, ticks: 0, stale: 0, lastRenderMs: 0, lastBytes: 0,
                  connects: 0, get mode() { return state.mode; } };
  window.wallboard = stats;

  const $ = (id) => document.getElementById(id);
  const serverNow = () => Date.now() + state.offsetMs;

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function duration(seconds) {
    if (seconds === null || seconds === undefined || !isFinite(seconds)) return "—";
    const s = Math.max(0, Math.floor(seconds));
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    const pad = (n) => String(n).padStart(2, "0");
    return h > 0 ? `${h}:${pad(m)}:${pad(r)}` : `${m}:${pad(r)}`;
  }

  const figure = (value, suffix = "") =>
    value === null || value === undefined ? "—" : `${Math.round(value)}${suffix}`;

  // --- status line ------------------------------------------------------------------------

  function setMode(mode, text) {
    state.mode = mode;
    document.body.className = mode;
    $("status").textContent = text;
  }

  function clockText(ms) {
    return new Date(ms).toLocaleTimeString([], { hour12: false });
  }

  // --- queues -----------------------------------------------------------------------------

  function queueTile(name) {
    const tile = el("article", "tile ok");
    tile.dataset.queue = name;
    tile.append(el("h3", "name", name));
    const main = el("div", "main");
    const waiting = el("span", "waiting", "0");
    const longest = el("span", "longest", "—");
    main.append(waiting, el("span", "label", "waiting"), longest);
    const figs = el("div", "figs");
    const cells = {};
    for (const [key, label] of [["available", "available"], ["busy", "busy"],
                                ["paused", "paused"], ["service_level", "service level"],
                                ["answered", "answered"], ["abandoned", "abandoned"]]) {
      const value = el("span", `v ${key}`, "—");
      cells[key] = value;
      const fig = el("div", "fig");
      fig.append(value, el("span", "k", label));
      figs.append(fig);
    }
    const why = el("div", "why");
    tile.append(main, figs, why);
    return { tile, waiting, longest, cells, why, row: null };
  }

  function renderQueue(name, row) {
    let view = state.queues.get(name);
    if (!view) {
      view = queueTile(name);
      state.queues.set(name, view);
      placeSorted($("queues"), view.tile, name, "queue");
    }
    view.row = row;
    view.tile.className = `tile ${row.level}`;
    view.tile.dataset.updated = String(Date.now());
    view.tile.dataset.waiting = String(row.waiting);
    view.waiting.textContent = String(row.waiting);
    view.cells.available.textContent = String(row.available);
    view.cells.busy.textContent = String(row.busy);
    view.cells.paused.textContent = String(row.paused);
    view.cells.service_level.textContent = figure(row.service_level, "%");
    view.cells.answered.textContent = figure(row.answered);
    view.cells.abandoned.textContent = figure(row.abandoned);
    view.why.textContent = row.reasons.join(" · ");
    tickQueue(view);
  }

  function tickQueue(view) {
    const row = view.row;
    const wait = row.oldest_entered_at === null ? null : serverNow() / 1000 - row.oldest_entered_at;
    view.longest.textContent = wait === null ? "" : `longest ${duration(wait)}`;
  }

  // --- agents -----------------------------------------------------------------------------

  function agentCard(id) {
    const card = el("article", "agent");
    card.dataset.agent = id;
    const name = el("div", "name");
    const line = el("div", "state");
    const status = el("span", "status");
    const since = el("span", "since");
    line.append(status, since);
    const reason = el("div", "reason");
    const call = el("div", "call");
    card.append(name, line, reason, call);
    return { card, name, status, since, reason, call, row: null };
  }

  function renderAgent(id, row) {
    let view = state.agents.get(id);
    if (!view) {
      view = agentCard(id);
      state.agents.set(id, view);
      placeSorted($("agents"), view.card, id, "agent");
    }
    view.row = row;
    view.card.className = `agent st-${row.status}${row.registered ? "" : " unregistered"}`;
    view.card.dataset.status = row.status;
    view.card.dataset.updated = String(Date.now());
    view.name.textContent = row.name;
    view.status.textContent = STATUS_NAMES[row.status] || row.status;
    view.reason.textContent = row.reason ? `reason: ${row.reason}` : "";
    view.call.textContent = row.call_id ? `${row.queue} · call ${row.call_id.slice(-8)}` : "";
    tickAgent(view);
  }

  function tickAgent(view) {
    view.since.textContent = duration(serverNow() / 1000 - view.row.since);
  }

  function agentCounts() {
    const counts = {};
    for (const view of state.agents.values()) {
      counts[view.row.status] = (counts[view.row.status] || 0) + 1;
    }
    $("agent-counts").textContent = Object.keys(STATUS_NAMES)
      .filter((s) => counts[s]).map((s) => `${STATUS_NAMES[s]} ${counts[s]}`).join(" · ");
  }

  // Keeps tiles and cards in name/id order without re-sorting the whole container.
  function placeSorted(container, node, key, attr) {
    for (const child of container.children) {
      if (child.dataset[attr] > key) { container.insertBefore(node, child); return; }
    }
    container.append(node);
  }

  function remove(map, key) {
    const view = map.get(key);
    if (view) { (view.tile || view.card).remove(); map.delete(key); }
  }

  // --- messages ---------------------------------------------------------------------------

  function received(event) {
    state.lastMessageAt = Date.now();
    stats.lastBytes = event.data.length;
    const body = JSON.parse(event.data);
    if (typeof body.now === "number") state.offsetMs = body.now * 1000 - Date.now();
    return body;
  }

  function live() {
    state.staleSince = null;
    setMode("live", "LIVE");
  }

  function onSnapshot(event) {
    const started = performance.now();
    const body = received(event);
    for (const name of [...state.queues.keys()]) if (!(name in body.queues)) remove(state.queues, name);
    for (const id of [...state.agents.keys()]) if (!(id in body.agents)) remove(state.agents, id);
    for (const [name, row] of Object.entries(body.queues)) renderQueue(name, row);
    for (const [id, row] of Object.entries(body.agents)) renderAgent(id, row);
    agentCounts();
    // A big board (a hundred queues, hundreds of agents) switches to smaller tiles and cards.
    $("queues").classList.toggle("dense", state.queues.size > 24);
    $("agents").classList.toggle("dense", state.agents.size > 120);
    stats.snapshots += 1;
    stats.lastRenderMs = performance.now() - started;
    live();
  }

  function onUpdate(event) {
    const started = performance.now();
    const body = received(event);
    for (const [name, row] of Object.entries(body.queues)) renderQueue(name, row);
    for (const [id, row] of Object.entries(body.agents)) renderAgent(id, row);
    for (const name of body.removed.queues) remove(state.queues, name);
    for (const id of body.removed.agents) remove(state.agents, id);
    agentCounts();
    stats.updates += 1;
    stats.lastRenderMs = performance.now() - started;
    live();
  }

  function onTick(event) {
    received(event);
    stats.ticks += 1;
    if (state.staleSince === null && state.mode !== "live" && state.queues.size) live();
  }

  function onStale(event) {
    const body = received(event);
    stats.stale += 1;
    state.staleSince = body.since;
    const since = body.since ? ` — figures from ${clockText(body.since * 1000)}` : "";
    setMode("stale", `NOT LIVE: live data unavailable${since}`);
  }

  // --- connection -------------------------------------------------------------------------

  function connect() {
    if (state.source) state.source.close();
    stats.connects += 1;
    const source = new EventSource("/api/wallboard/events");
    state.source = source;
    source.addEventListener("snapshot", onSnapshot);
    source.addEventListener("update", onUpdate);
    source.addEventListener("tick", onTick);
    source.addEventListener("stale", onStale);
    source.onopen = () => { state.retryMs = 1000; state.lastMessageAt = Date.now(); };
    source.onerror = () => {
      if (state.source !== source) return;
      if (source.readyState === EventSource.CLOSED) {
        recover(); // refused (401/403/5xx): the browser gave up, find out why
      } else {
        setMode("connecting", "Reconnecting…"); // the browser retries by itself
      }
    };
  }

  async function recover() {
    setMode("connecting", "Reconnecting…");
    let status = 0;
    try {
      status = (await fetch("/api/wallboard", { credentials: "same-origin" })).status;
    } catch (_) { /* the service is down: try again below */ }
    if (status === 401) {
      if (!state.token || !(await signIn())) { askForToken(); return; }
    } else if (status === 403) {
      setMode("denied", "This token may not see the wallboard (supervisor needed)");
      askForToken();
      return;
    }
    const wait = state.retryMs;
    state.retryMs = Math.min(state.retryMs * 2, 10000);
    setTimeout(connect, wait);
  }

  async function signIn() {
    if (!state.token) return false;
    try {
      const reply = await fetch("/api/wallboard/session", {
        method: "POST", credentials: "same-origin",
        headers: { "Authorization": `Bearer ${state.token}` },
      });
      if (reply.ok) return true;
      const body = await reply.json().catch(() => ({}));
      $("signin-error").textContent = body.message || `sign-in refused (${reply.status})`;
      if (reply.status === 401 || reply.status === 403) {
        state.token = null;
        sessionStorage.removeItem("wallboard-token");
      }
    } catch (_) { /* service down; the caller retries */ }
    return false;
  }

  function askForToken() {
    if (state.mode !== "denied") setMode("denied", "Sign-in needed");
    $("signin").hidden = false;
    $("token").focus();
  }

  $("signin").addEventListener("submit", async (event) => {
    event.preventDefault();
    state.token = $("token").value.trim();
    sessionStorage.setItem("wallboard-token", state.token);
    if (await signIn()) {
      $("signin").hidden = true;
      $("signin-error").textContent = "";
      connect();
    } else {
      askForToken();
    }
  });

  function tokenFromFragment() {
    const params = new URLSearchParams(location.hash.slice(1));
    const token = params.get("token");
    if (token) {
      sessionStorage.setItem("wallboard-token", token);
      history.replaceState(null, "", location.pathname + location.search); // out of sight
    }
    return token || sessionStorage.getItem("wallboard-token");
  }

  // Every second: advance the clocks, and notice a stream that went silent.
  setInterval(() => {
    $("clock").textContent = clockText(serverNow());
    for (const view of state.queues.values()) tickQueue(view);
    for (const view of state.agents.values()) tickAgent(view);
    if (state.mode === "live" && Date.now() - state.lastMessageAt > SILENCE_MS) {
      setMode("connecting", "Reconnecting…");
      connect();
    }
  }, 1000);
  setInterval(signIn, SESSION_REFRESH_MS);

  (async () => {
    state.token = tokenFromFragment();
    if (state.token) await signIn();
    connect();
  })();
})();
