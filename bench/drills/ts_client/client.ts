// A mobile developer's first steps with a client generated from openapi.yaml: register, sign in, PUT a pump
// session without the fields the server derives, list it, sync, and read a 422's field. Compiled with --strict.
import createClient from "openapi-fetch";
import type { components, paths } from "./schema.js";

type PumpSessionRequest = components["schemas"]["PumpSessionRequest"];
type StoredPumpSession = components["schemas"]["StoredPumpSession"];

const base = process.argv[2];
if (!base) throw new Error("usage: node out/client.js http://127.0.0.1:PORT");
const api = createClient<paths>({ baseUrl: base });

function check(ok: boolean, what: string): void {
  if (!ok) throw new Error(`failed: ${what}`);
  console.log(`ok: ${what}`);
}

const email = `ts.${Date.now()}@example.org`;
const password = "gentle-circles-42";
const registered = await api.POST("/v1/auth/register", { body: { email, password, timezone: "Europe/Berlin" } });
check(registered.response.status === 202 && typeof registered.data?.message === "string", "register answers 202");

const login = await api.POST("/v1/auth/login", { body: { email, password } });
const token: string | undefined = login.data?.access_token;
check(login.response.status === 200 && token !== undefined, "login gives an access token");
const headers = { Authorization: `Bearer ${token}` };

// No `side`: the server derives it, and the request schema says so.
const session: PumpSessionRequest = {
  started_at: new Date(Date.now() - 3_600_000).toISOString(),
  ended_at: new Date(Date.now() - 2_400_000).toISOString(),
  volume_left_ml: 60,
  volume_right_ml: 45,
  pump_type: "electric",
  mode: "double",
};
const id = crypto.randomUUID();
const put = await api.PUT("/v1/pump-sessions/{id}", { params: { path: { id } }, body: session, headers });
const stored: StoredPumpSession | undefined = put.data;
check(put.response.status === 201 && stored?.id === id, "PUT creates the session under her id");
// Every stored field is required in the schema, so these reads need no optional chaining on the record.
check(stored !== undefined && stored.side === "both" && stored.version === 1, "the server derived side");

const list = await api.GET("/v1/pump-sessions", { params: { query: { limit: 50 } }, headers });
const first = list.data?.items[0];
check(list.response.status === 200 && first?.id === id && first.volume_left_ml === 60, "the list holds it");

const sync = await api.GET("/v1/sync", { headers });
check(sync.response.status === 200 && (sync.data?.changes.length ?? 0) >= 1, "sync returns her change");

const bad: PumpSessionRequest = { ...session, volume_left_ml: -5 };
const refused = await api.POST("/v1/pump-sessions", { body: bad, headers });
const fields = (refused.error?.errors ?? []).map((e) => e.field);
check(refused.response.status === 422 && fields.includes("volume_left_ml"), "a negative volume is a 422 naming it");
console.log("ts client drill passed");
