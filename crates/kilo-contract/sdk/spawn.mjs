// What @kilocode/sdk's createKilo / server.close() do to the real `kilo` processes (docs/real-system.md
// §7, §10 rows 1–4): one scenario per run.
//
// Usage: node spawn.mjs SDK_DIR SCENARIO PORT CONFIG_JSON
//   SCENARIO: ready_close | port_in_use | timeout_short
//   PORT:     the explicit port createKilo is given (free, except that port_in_use occupies it);
//   CONFIG_JSON: createKilo's `config` (the manager passes its config the same way).
// The caller (crates/kilo-contract/tests/spawn_and_close.rs) runs me with PATH starting with a
// directory whose `kilo` is the launcher or the native binary, cwd a fresh git workdir, and
// KILO_CONTRACT_SPAWN_MARKER set: every process createKilo starts inherits it, so I find them in
// /proc by it (and the caller kills them all afterwards). I never kill anything myself.
// Output: one line "RESULT <json>", {stable, noise}; then I exit.
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { pathToFileURL } from "node:url";

const [sdkDir, scenario, portArg, configJson] = process.argv.slice(2);
const marker = process.env.KILO_CONTRACT_SPAWN_MARKER;
if (!sdkDir || !scenario || !portArg || !configJson || !marker) {
  console.error("usage: KILO_CONTRACT_SPAWN_MARKER=… node spawn.mjs SDK_DIR SCENARIO PORT CONFIG_JSON");
  process.exit(2);
}
const port = Number(portArg);
const config = JSON.parse(configJson);
const { createKilo } = await import(pathToFileURL(path.join(sdkDir, "dist/index.js")).href);

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const t0 = Date.now();
const log = (...a) => console.error(`[${Date.now() - t0} ms]`, ...a);

const ppidOf = (pid) => {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, "latin1");
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
};
// Me and my ancestors (a wrapper such as `timeout` carries the marker too).
const mine = new Set();
for (let pid = process.pid; pid > 1 && !mine.has(pid); pid = ppidOf(pid)) mine.add(pid);

// The processes createKilo started: the live processes carrying the marker, me and my ancestors
// excluded, and the native server's own children excluded too (kilo runs git & co.; caught
// between fork and exec they look like a second `kilo`): pid, ppid, role.
function marked() {
  const all = markedAll();
  const natives = new Set(all.filter((p) => p.role === "native").map((p) => p.pid));
  return all.filter((p) => !natives.has(p.ppid));
}
function markedAll() {
  const found = [];
  for (const name of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(name) || mine.has(Number(name))) continue;
    try {
      const environ = fs.readFileSync(`/proc/${name}/environ`, "latin1");
      if (!environ.split("\0").includes(`KILO_CONTRACT_SPAWN_MARKER=${marker}`)) continue;
      const stat = fs.readFileSync(`/proc/${name}/stat`, "latin1");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (fields[0] === "Z") continue;
      const exe = path.basename(fs.readlinkSync(`/proc/${name}/exe`));
      const role = exe === "node" ? "launcher" : exe === "kilo" ? "native" : exe;
      found.push({ pid: Number(name), ppid: Number(fields[1]), role });
    } catch {
      // gone, or not ours
    }
  }
  return found.sort((a, b) => a.pid - b.pid);
}
const roles = (procs) => procs.map((p) => p.role).sort();
// Who a process's parent is, in words.
function parentOf(proc, procs) {
  if (proc.ppid === process.pid) return "sdk";
  const parent = procs.find((p) => p.pid === proc.ppid);
  // Otherwise reparented: to pid 1 or a subreaper (the raw ppid is in the noise).
  return parent ? parent.role : "orphan";
}

// Whether 127.0.0.1:port accepts a TCP connection (no request is sent: a request sent before the
// listening line can hang for minutes: seen when this harness was first run against kilo).
function listening(ms = 500) {
  return new Promise((resolve) => {
    const socket = net.connect({ host: "127.0.0.1", port });
    const done = (v) => {
      socket.destroy();
      resolve(v);
    };
    socket.setTimeout(ms, () => done(false));
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
  });
}

// GET /session with a bound: the status, "refused", or "no-answer".
async function httpGet(route = "/session", ms = 3000) {
  try {
    const r = await fetch(`http://127.0.0.1:${port}${route}`, { signal: AbortSignal.timeout(ms) });
    await r.arrayBuffer();
    return r.status;
  } catch (e) {
    if (e?.name === "TimeoutError" || e?.name === "AbortError") return "no-answer";
    return e?.cause?.code === "ECONNREFUSED" ? "refused" : `threw:${e?.cause?.code ?? e?.message}`;
  }
}

// Reads the raw /event stream in the background: the event types with their times.
function watchEvents() {
  const w = { events: [], end: null, controller: new AbortController() };
  (async () => {
    try {
      const r = await fetch(`http://127.0.0.1:${port}/event`, { signal: w.controller.signal });
      const decoder = new TextDecoder();
      let buffer = "";
      for await (const chunk of r.body) {
        buffer += decoder.decode(chunk, { stream: true });
        let cut;
        while ((cut = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          for (const line of block.split("\n")) {
            if (!line.startsWith("data:")) continue;
            try {
              w.events.push({ type: JSON.parse(line.slice(5)).type, at: Date.now() });
            } catch {
              w.events.push({ type: "unparsable", at: Date.now() });
            }
          }
        }
      }
      w.end = { kind: "ended", at: Date.now() };
    } catch (e) {
      if (!w.controller.signal.aborted) w.end = { kind: "threw", code: e?.cause?.code ?? e?.name, at: Date.now() };
    }
  })();
  return w;
}

const firstLine = (e) => String(e?.message ?? e).split("\n")[0];

async function readyClose() {
  const stable = {};
  const noise = {};
  let server, client;
  try {
    ({ client, server } = await createKilo({ hostname: "127.0.0.1", port, timeout: 90000, config }));
  } catch (e) {
    return { stable: { resolved: false, message: firstLine(e) }, noise: { took_ms: Date.now() - t0, error: String(e).slice(0, 600) } };
  }
  noise.ready_ms = Date.now() - t0;
  stable.resolved = true;
  stable.url = server.url === `http://127.0.0.1:${port}` ? "http://127.0.0.1:PORT" : server.url;
  stable.server_keys = Object.keys(server).sort();
  const atReady = marked();
  stable.processes_when_ready = atReady.map((p) => `${p.role}<-${parentOf(p, atReady)}`).sort();
  noise.processes_when_ready = atReady;
  const list = await client.session.list();
  stable.list_before_close = list.response?.status ?? null;
  const events = watchEvents();
  for (let i = 0; i < 100 && events.events.length === 0; i++) await sleep(50);
  stable.event_first = events.events[0]?.type ?? null;

  // Events are split at close by their place in the stream, not by a millisecond clock: an event
  // that arrived in the same millisecond as the close call would otherwise count as after it.
  const eventsAtClose = events.events.length;
  const before = performance.now();
  const returned = server.close();
  noise.close_call_ms = +(performance.now() - before).toFixed(3);
  const closedAt = Date.now();
  stable.close_returned = returned === undefined ? "undefined" : typeof returned;
  log("closed");

  // Watch for 20 s (two heartbeat periods): which marked processes remain, and when each role went.
  const gone = {};
  let last = atReady;
  while (Date.now() - closedAt < 20000) {
    await sleep(200);
    last = marked();
    for (const role of new Set(roles(atReady))) {
      if (!(role in gone) && !last.some((p) => p.role === role)) gone[role] = Date.now() - closedAt;
    }
    if (last.length === 0 && events.end) break;
  }
  noise.gone_after_ms = gone;
  stable.gone_within_20s = Object.keys(gone).sort();
  stable.running_after_20s = last.map((p) => `${p.role}<-${parentOf(p, last)}`).sort();
  noise.running_after_20s = last;
  const nativeBefore = atReady.find((p) => p.role === "native");
  const nativeAfter = last.find((p) => p.pid === nativeBefore?.pid);
  stable.native_reparented = nativeAfter ? nativeAfter.ppid !== nativeBefore.ppid : null;
  stable.port_after_close = await listening() ? "listening" : "closed";
  stable.http_after_close = await httpGet();
  const after = events.events.slice(eventsAtClose);
  stable.events_after_close = [...new Set(after.map((e) => e.type))].sort();
  stable.event_stream = events.end ? events.end.kind : "open";
  noise.events_after_close = after.map((e) => ({ type: e.type, ms: e.at - closedAt }));
  noise.event_end_ms = events.end ? events.end.at - closedAt : null;
  events.controller.abort();
  return { stable, noise };
}

async function portInUse() {
  const blocker = net.createServer((s) => s.destroy());
  await new Promise((resolve, reject) => blocker.listen(port, "127.0.0.1", resolve).once("error", reject));
  const timeout = 60000;
  let outcome;
  try {
    const { server } = await createKilo({ hostname: "127.0.0.1", port, timeout, config });
    server.close();
    outcome = { resolved: true };
  } catch (e) {
    outcome = { error: e };
  }
  const took = Date.now() - t0;
  await sleep(1000);
  const left = marked();
  blocker.close();
  if (outcome.resolved) return { stable: { resolved: true }, noise: { took_ms: took } };
  return {
    stable: {
      resolved: false,
      message: firstLine(outcome.error),
      has_server_output: String(outcome.error?.message).includes("\nServer output: "),
      before_timeout: took < timeout,
      running_1s_after: roles(left),
    },
    noise: { took_ms: took, error: String(outcome.error?.message).slice(0, 800) },
  };
}

async function timeoutShort() {
  // Shorter than any startup seen (7.0.33's native binary: 0.9 s at best), and longer than the
  // launcher takes to spawn the native server (65–110 ms).
  const timeout = 500;
  let outcome;
  try {
    const { server } = await createKilo({ hostname: "127.0.0.1", port, timeout, config });
    server.close();
    outcome = { resolved: true };
  } catch (e) {
    outcome = { error: e };
  }
  const rejectedAt = Date.now();
  const took = rejectedAt - t0;
  const atReject = marked();
  if (outcome.resolved) return { stable: { resolved: true }, noise: { took_ms: took } };
  log("rejected:", firstLine(outcome.error));
  // Up to 20 s: does anything come up on the port?
  let listenAt = null;
  let last = atReject;
  while (Date.now() - rejectedAt < 20000) {
    last = marked();
    if (await listening()) {
      listenAt = Date.now() - rejectedAt;
      break;
    }
    if (last.length === 0) break;
    await sleep(250);
  }
  // Then: does it answer HTTP (bounded; retried, the first request may hang: recipe S2)?
  let http = null;
  if (listenAt !== null) {
    const until = Date.now() + 15000;
    do {
      http = await httpGet("/session", 3000);
      if (http === 200) break;
      await sleep(500);
    } while (Date.now() < until);
  }
  last = marked();
  return {
    stable: {
      resolved: false,
      message: firstLine(outcome.error),
      listening_within_20s: listenAt !== null,
      http_after_listening: http,
      running_at_end: last.map((p) => `${p.role}<-${parentOf(p, last)}`).sort(),
    },
    noise: {
      took_ms: took,
      running_at_reject: atReject,
      listening_after_ms: listenAt,
      running_at_end: last,
      error: String(outcome.error?.message).slice(0, 400),
    },
  };
}

const scenarios = { ready_close: readyClose, port_in_use: portInUse, timeout_short: timeoutShort };
if (!scenarios[scenario]) {
  console.error(`unknown scenario ${scenario}`);
  process.exit(2);
}
const result = await scenarios[scenario]();
log(scenario, JSON.stringify(result.stable));
console.log("RESULT " + JSON.stringify(result));
process.exit(0);
