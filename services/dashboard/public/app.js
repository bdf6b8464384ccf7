// The dashboard's pages. Everything shown comes from the dashboard process (its views, pushed as
// server-sent events); nothing is fetched from anywhere else. Text is always set with
// textContent: job names, repos and console output are data, never markup.

const state = { snapshot: undefined, job: undefined, receivedAt: 0, signedIn: false, signInEnabled: false };
let views; // EventSource of /api/stream
let consoleStream; // EventSource of a job's console
let consoleJob; // the job whose console is open

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) if (c !== undefined && c !== null) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

const route = () => {
  const [, page = "queue", id] = location.hash.split("/");
  return { page: page || "queue", id: id ? decodeURIComponent(id) : undefined };
};

/** Seconds since the view was computed, added to its ages: ages tick without asking the server. */
const since = () => Math.floor((performance.now() - state.receivedAt) / 1000);
function age(sec) {
  const s = sec + since();
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
}
/** An age that ticks in place (see the interval below) without redrawing the page. */
const ageSpan = (sec) => el("span", { "data-age": sec }, age(sec));
const time = (iso) => (iso ? iso.replace("T", " ").replace(/\.\d+Z$/, "Z") : "-");
const jobLink = (jobId) => el("a", { href: `#/jobs/${encodeURIComponent(jobId)}`, "data-job-id": jobId }, jobId);

function notice(text, error = false) {
  const n = document.getElementById("notice");
  n.textContent = text;
  n.className = error ? "error" : "";
  n.hidden = !text;
}

function table(headers, rows, emptyText) {
  if (!rows.length) return el("p", { class: "empty" }, emptyText);
  return el(
    "table",
    {},
    el(
      "thead",
      {},
      el(
        "tr",
        {},
        headers.map((h) => el("th", {}, h)),
      ),
    ),
    el("tbody", {}, rows),
  );
}

function queuePage(s) {
  const rows = (list) =>
    list.map((j) =>
      el(
        "tr",
        { "data-job-id": j.jobId },
        el("td", { class: "mono" }, jobLink(j.jobId)),
        el("td", {}, j.state),
        el("td", {}, `${j.provider}:${j.repo}`),
        el("td", {}, j.arch ?? "-"),
        el("td", {}, j.hostId ?? "-"),
        el("td", { class: "mono" }, j.vmId ?? "-"),
        el("td", { class: "age" }, ageSpan(j.ageSec)),
        el("td", {}, j.reason ?? ""),
        el(
          "td",
          {},
          state.signedIn ? el("button", { onclick: () => act(`/api/jobs/${encodeURIComponent(j.jobId)}/cancel`), "data-action": "cancel" }, "Cancel") : "",
        ),
      ),
    );
  const head = ["job", "state", "repo", "arch", "host", "vm", "age", "reason", ""];
  return [
    el("h2", {}, `Waiting (${s.queue.waiting.length})`),
    table(head, rows(s.queue.waiting), "nothing waiting"),
    el("h2", {}, `Placed (${s.queue.placed.length})`),
    table(head, rows(s.queue.placed), "nothing placed"),
    el("h2", {}, `Running (${s.queue.running.length})`),
    table(head, rows(s.queue.running), "nothing running"),
  ];
}

function bar(pct, label) {
  const fill = el("span");
  fill.style.width = `${pct}%`; // through the CSSOM: the page's CSP allows no inline style attribute
  return el("span", {}, el("span", { class: `bar${pct >= 100 ? " full" : ""}` }, fill), label);
}

function hostsPage(s) {
  const action = (h, name, allowed) =>
    el(
      "button",
      {
        "data-action": name,
        disabled: !state.signedIn || !allowed,
        title: state.signedIn ? undefined : "sign in with the admin token to change hosts",
        onclick: () => act(`/api/hosts/${encodeURIComponent(h.hostId)}/${name}`),
      },
      name,
    );
  const rows = s.hosts.map((h) =>
    el(
      "tr",
      { "data-host-id": h.hostId },
      el("td", { class: "mono" }, h.hostId),
      el("td", {}, h.arch),
      el("td", {}, `${h.vmm}/${h.accel}${h.emulated ? " (emulated)" : ""}`),
      el("td", { class: `status-${h.status}`, "data-status": h.status }, h.status),
      el("td", { class: "cpu" }, bar(h.cpuPct, `${h.used.vcpus}/${h.capacity.vcpus} vCPU`)),
      el("td", { class: "mem" }, bar(h.memPct, `${h.used.memMiB}/${h.capacity.memMiB} MiB`)),
      el("td", {}, String(h.vms)),
      el(
        "td",
        {
          class: "warm",
          title: h.warm
            ? Object.entries(h.warm.shapes)
                .map(([k, n]) => `${n} × ${k}`)
                .join("\n")
            : undefined,
        },
        h.warm
          ? `${h.warm.ready} ready (${Object.entries(h.warm.shapes)
              .map(([k, n]) => `${n} × ${k}`)
              .join(", ")})`
          : "none",
      ),
      el("td", {}, h.heartbeat ? [ageSpan(h.heartbeat.ageSec), ` ago, up ${Math.round(h.heartbeat.uptimeSec)}s`] : "none yet"),
      el(
        "td",
        { class: "actions" },
        action(h, "cordon", h.status === "ready"),
        action(h, "uncordon", h.status === "cordoned" || h.status === "draining"),
        action(h, "drain", h.status === "ready" || h.status === "cordoned"),
      ),
    ),
  );
  return [
    el("h2", {}, `Hosts (${s.hosts.length})`),
    table(["host", "arch", "vmm/accel", "state", "cpu", "memory", "vms", "warm pool", "heartbeat", ""], rows, "no host registered"),
  ];
}

function jobsPage(s) {
  const rows = s.recent.map((j) =>
    el(
      "tr",
      { "data-job-id": j.jobId },
      el("td", { class: "mono" }, jobLink(j.jobId)),
      el("td", { class: `outcome-${j.outcome.replace(" ", "-")}`, "data-outcome": j.outcome }, j.outcome),
      el("td", {}, j.exitCode ?? "-"),
      el("td", {}, `${j.provider}:${j.repo}`),
      el("td", {}, j.hostId ?? "-"),
      el("td", {}, time(j.queuedAt)),
      el("td", {}, time(j.updatedAt)),
      el("td", {}, j.reason ?? ""),
    ),
  );
  return [el("h2", {}, "Recent jobs"), table(["job", "outcome", "exit", "repo", "host", "queued", "last change", "reason"], rows, "no jobs yet")];
}

function eventsTable(events, withCorrelation) {
  const rows = events.map((e) =>
    el(
      "tr",
      { "data-type": e.type, "data-seq": e.seq },
      el("td", { class: "mono" }, e.seq),
      el("td", { class: "mono" }, time(e.time)),
      el("td", {}, e.type),
      el("td", { class: "mono" }, e.summary),
      withCorrelation ? el("td", { class: "mono" }, e.correlationId) : undefined,
    ),
  );
  return table(["seq", "time", "type", "what", ...(withCorrelation ? ["correlation"] : [])], rows, "no events");
}

function eventsPage(s) {
  return [el("h2", {}, `Event log (last ${s.events.length}, newest first)`), eventsTable(s.events, true)];
}

/** The job page keeps its console element across updates: only its facts and timeline are redrawn. */
function jobPage(id) {
  const v = state.job;
  let shell = document.getElementById("job-shell");
  if (!shell || shell.dataset.jobId !== id) {
    shell = el(
      "div",
      { id: "job-shell", "data-job-id": id },
      el("div", { id: "job-facts" }),
      el("h2", {}, "Timeline (every event of its correlation id)"),
      el("div", { id: "timeline" }),
      el("h2", {}, "Guest console ", el("span", { id: "console-vm", class: "mono" })),
      el("pre", { id: "console", class: "console" }),
    );
    document.getElementById("page").replaceChildren(shell);
  }
  const facts = document.getElementById("job-facts");
  if (!v || v.job.jobId !== id) {
    facts.replaceChildren(el("p", { class: "empty" }, `job ${id}: not in the log (yet)`));
    return;
  }
  const j = v.job;
  facts.replaceChildren(
    el("h2", {}, "Job ", el("span", { class: "mono" }, j.jobId)),
    el(
      "dl",
      { class: "meta" },
      el("dt", {}, "state"),
      el("dd", { id: "job-state", "data-state": j.state }, j.state),
      el("dt", {}, "outcome"),
      el(
        "dd",
        { class: `outcome-${j.outcome.replace(" ", "-")}`, id: "job-outcome" },
        j.outcome,
        j.exitCode === undefined || j.exitCode === null ? "" : ` (exit ${j.exitCode})`,
      ),
      el("dt", {}, "repo"),
      el("dd", {}, `${j.provider}:${j.repo}`),
      el("dt", {}, "host / vm"),
      el("dd", { class: "mono" }, `${j.hostId ?? "-"} / ${j.vmId ?? "-"}`),
      el("dt", {}, "queued"),
      el("dd", {}, time(j.queuedAt), j.finished ? "" : [" (", ageSpan(j.ageSec), " ago)"]),
      el("dt", {}, "correlation"),
      el("dd", { class: "mono" }, v.correlationId ?? "-"),
      j.reason ? [el("dt", {}, "reason"), el("dd", {}, j.reason)] : [],
    ),
    state.signedIn && !j.finished
      ? el("button", { "data-action": "cancel", onclick: () => act(`/api/jobs/${encodeURIComponent(j.jobId)}/cancel`) }, "Cancel job")
      : "",
  );
  document.getElementById("timeline").replaceChildren(eventsTable(v.timeline, false));
}

function render() {
  const { page, id } = route();
  for (const a of document.querySelectorAll("nav a")) a.classList.toggle("active", a.dataset.page === page);
  if (page === "jobs" && id) return jobPage(id);
  const s = state.snapshot;
  const main = document.getElementById("page");
  if (!s) return main.replaceChildren(el("p", { class: "empty" }, "loading…"));
  const pages = { queue: queuePage, hosts: hostsPage, jobs: jobsPage, events: eventsPage };
  main.replaceChildren(...(pages[page] ?? queuePage)(s));
  document.body.dataset.page = page;
}

function connect() {
  const { page, id } = route();
  const job = page === "jobs" && id ? id : undefined;
  views?.close();
  views = new EventSource(`/api/stream${job ? `?job=${encodeURIComponent(job)}` : ""}`);
  const live = document.getElementById("live");
  views.addEventListener("open", () => ((live.textContent = "live"), live.classList.add("on")));
  views.addEventListener("error", () => ((live.textContent = "reconnecting…"), live.classList.remove("on")));
  views.addEventListener("snapshot", (m) => {
    state.snapshot = JSON.parse(m.data);
    state.receivedAt = performance.now();
    live.textContent = state.snapshot.caughtUp ? `live · seq ${state.snapshot.lastSeq}` : "catching up…";
    if (!job) render();
  });
  views.addEventListener("job", (m) => {
    state.job = JSON.parse(m.data) ?? undefined;
    render();
  });
  if (consoleJob !== job) {
    consoleStream?.close();
    consoleStream = undefined;
    consoleJob = job;
    if (job) {
      consoleStream = new EventSource(`/api/jobs/${encodeURIComponent(job)}/console`);
      consoleStream.addEventListener("vm", (m) => {
        const where = JSON.parse(m.data);
        document.getElementById("console-vm").textContent = `(${where.hostId} / ${where.vmId})`;
        document.getElementById("console").textContent = ""; // a new VM's console starts from its first byte
      });
      consoleStream.addEventListener("console", (m) => {
        const pre = document.getElementById("console");
        const atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
        pre.append(document.createTextNode(JSON.parse(m.data).text));
        if (atEnd) pre.scrollTop = pre.scrollHeight;
      });
    }
  }
}

async function act(path) {
  const r = await fetch(path, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
  const body = await r.json().catch(() => ({}));
  if (r.ok) notice(`${body.type} appended (seq ${body.seq})`);
  else notice(`refused (${r.status}): ${body.error ?? r.statusText}`, true);
}

async function refreshSession() {
  const s = await (await fetch("/api/session")).json();
  state.signedIn = s.signedIn;
  state.signInEnabled = s.signInEnabled;
  const who = document.getElementById("who");
  who.textContent = s.signedIn ? "operator" : s.signInEnabled ? "read-only" : "read-only (no admin token configured)";
  who.className = s.signedIn ? "admin" : "";
  document.getElementById("token").hidden = s.signedIn || !s.signInEnabled;
  document.getElementById("signin-button").hidden = s.signedIn || !s.signInEnabled;
  document.getElementById("signout-button").hidden = !s.signedIn;
  render();
}

document.getElementById("signin").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const input = document.getElementById("token");
  const r = await fetch("/api/session", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ token: input.value }) });
  input.value = "";
  notice(r.ok ? "signed in" : `sign-in refused (${r.status})`, !r.ok);
  await refreshSession();
});
document.getElementById("signout-button").addEventListener("click", async () => {
  await fetch("/api/session", { method: "DELETE" });
  notice("signed out");
  await refreshSession();
});

window.addEventListener("hashchange", () => {
  notice("");
  connect();
  render();
});
// Ages tick locally between pushes; nothing else is redrawn (a button under the pointer stays put).
setInterval(() => {
  for (const a of document.querySelectorAll("[data-age]")) a.textContent = age(Number(a.dataset.age));
}, 1000);
connect();
void refreshSession();
