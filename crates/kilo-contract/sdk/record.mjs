// What @kilocode/sdk (v1 client, createKiloClient) makes of kilo serve's answers, call by call:
// did the call *return* {data}, *return* {error} (with the HTTP status), or *throw*?
//
// Usage: node record.mjs SDK_DIR SERVER_URL
//   SDK_DIR: the @kilocode/sdk package directory (holding dist/client.js), or KILO_SDK_DIR.
// Protocol with the caller (crates/kilo-contract/tests/sdk_mapping.rs), one line each:
//   stdout "KILL"          : SIGKILL the server now, then write "killed" to my stdin;
//   stdout "RESULT <json>" : the outcome, {cases: {name: {stable, noise}}}; then I exit.
// The caller scripts the mock provider's turns in this order (main model): a quick turn for
// prompt_ok, a long turn for prompt_aborted_mid_turn, a long turn for prompt_in_flight_on_sigkill.
import path from "node:path";
import readline from "node:readline";
import { pathToFileURL } from "node:url";

const [sdkArg, url] = process.argv.slice(2);
const sdkDir = sdkArg || process.env.KILO_SDK_DIR;
if (!sdkDir || !url) {
  console.error("usage: node record.mjs SDK_DIR SERVER_URL");
  process.exit(2);
}
const { createKiloClient } = await import(pathToFileURL(path.join(sdkDir, "dist/client.js")).href);
const client = createKiloClient({ baseUrl: url });

const UNKNOWN = "ses_doesnotexist000000000000";
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const lines = readline.createInterface({ input: process.stdin });
const nextLine = () => new Promise((resolve) => lines.once("line", resolve));

// The class of a value the SDK handed back.
function shape(v) {
  if (v === undefined) return "undefined";
  if (v === null || typeof v === "boolean" || typeof v === "number") return v;
  if (typeof v === "string") return "text:" + v.slice(0, 40);
  if (Array.isArray(v)) return "array";
  if (v.info) return { role: v.info.role ?? null, error: v.info.error?.name ?? null, finish: v.info.finish ?? null };
  if (typeof v.id === "string") return { id_prefix: v.id.slice(0, 3) };
  if (typeof v.name === "string") return { name: v.name };
  if (typeof v.error === "string") return { error: v.error };
  return Object.keys(v).length === 0 ? {} : "object";
}

// Runs one SDK call (bounded) and describes what it did.
async function call(fn, boundMs = 30000) {
  const started = Date.now();
  let timer;
  const bound = new Promise((resolve) => {
    timer = setTimeout(() => resolve({ noAnswer: true }), boundMs);
  });
  let r;
  try {
    r = await Promise.race([fn(), bound]);
  } catch (e) {
    r = { thrown: e };
  }
  clearTimeout(timer);
  const noise = { took_ms: Date.now() - started };
  if (r.noAnswer) return { stable: { kind: "no-answer" }, noise };
  if (r.thrown) {
    const e = r.thrown;
    return {
      stable: {
        kind: "threw",
        name: e?.constructor?.name ?? typeof e,
        message: String(e?.message ?? e).slice(0, 80),
        code: e?.code ?? e?.cause?.code ?? null,
      },
      noise: { ...noise, cause: e?.cause ? String(e.cause.message ?? e.cause).slice(0, 120) : null },
    };
  }
  const status = r.response?.status ?? null;
  if (r.error !== undefined) return { stable: { kind: "error", status, error: shape(r.error) }, noise };
  return { stable: { kind: "data", status, data: shape(r.data) }, noise };
}

const cases = {};
const note = (name, outcome) => {
  cases[name] = outcome;
  console.error(name, JSON.stringify(outcome.stable));
};
const newId = async () => (await client.session.create({ body: {} })).data.id;
const prompt = (id, text = "hi") =>
  client.session.prompt({ path: { id }, body: { parts: [{ type: "text", text }] } });
const abort = (id) => client.session.abort({ path: { id } });

note("create_ok", await call(() => client.session.create({ body: {} })));

// Turn 1: quick.
const sid = await newId();
note("prompt_ok", await call(() => prompt(sid)));

// Turn 2: long; aborted ~1.5 s in.
const aborted = await newId();
const inFlight = call(() => prompt(aborted));
await sleep(1500);
note("abort_ok", await call(() => abort(aborted)));
note("prompt_aborted_mid_turn", await inFlight);

note("prompt_unknown_ses", await call(() => prompt(UNKNOWN)));
const idle = await newId();
note("abort_idle", await call(() => abort(idle)));
note("abort_unknown_ses", await call(() => abort(UNKNOWN)));
note("abort_empty_id", await call(() => abort("")));
note("abort_non_ses_id", await call(() => abort("nope")));
note("get_unknown", await call(() => client.session.get({ path: { id: UNKNOWN } })));
note("list", await call(() => client.session.list()));

// The event iterator: its first event, then what it does when the server is SIGKILLed.
const sseErrors = [];
const iter = { events: [], end: null };
const sub = await client.event.subscribe({
  onSseError: (e) => sseErrors.push(String(e?.cause?.code ?? e?.message ?? e)),
});
const pump = (async () => {
  try {
    for await (const e of sub.stream) iter.events.push({ type: e?.type, at: Date.now() });
    iter.end = { kind: "ended", at: Date.now() };
  } catch (e) {
    iter.end = { kind: "threw", name: e?.constructor?.name, message: String(e?.message), at: Date.now() };
  }
})();
for (let i = 0; i < 160 && iter.events.length === 0 && !iter.end; i++) await sleep(50);
note("event_subscribe_first", {
  stable: { first: iter.events[0]?.type ?? null, ended: iter.end?.kind ?? null },
  noise: {},
});

// Turn 3: long; the server is SIGKILLed ~1.5 s in.
const doomed = await newId();
const doomedPrompt = call(() => prompt(doomed));
await sleep(1500);
console.log("KILL");
const reply = await nextLine();
// Split by place in the stream, not by a millisecond clock (an event in the reply's millisecond
// arrived before it).
const eventsAtKill = iter.events.length;
const killedAt = Date.now();
if (reply.trim() !== "killed") throw new Error(`expected "killed", got ${reply}`);
note("prompt_in_flight_on_sigkill", await doomedPrompt);
note("dead_server_create", await call(() => client.session.create({ body: {} })));
note("dead_server_prompt", await call(() => prompt(doomed)));
note("dead_server_abort", await call(() => abort(doomed)));
note("dead_server_list", await call(() => client.session.list()));
while (Date.now() - killedAt < 8000 && !iter.end) await sleep(100);
note("event_iterator_on_sigkill", {
  stable: {
    within_8s: iter.end ? iter.end.kind : "stalls",
    events_after_kill: iter.events.length - eventsAtKill,
  },
  noise: { sse_errors: sseErrors, end: iter.end },
});
void pump;
console.log("RESULT " + JSON.stringify({ cases }));
process.exit(0);
