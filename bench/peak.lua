-- wrk script of bench/peak.py: app traffic, each thread sending in turn GET /v1/sync?limit=50,
-- GET /v1/pump-sessions?limit=50 and PUT /v1/pump-sessions/{random uuid} (each a new record).
-- BENCH_TOKENS: access tokens separated by commas (each request picks one at random).
-- BENCH_BODY: the PUT's JSON body.
-- BENCH_DELAY_MS (optional): each connection waits a random time of this mean (exponential) before each request,
-- so that the traffic keeps a set rate instead of sending as fast as answers come.
-- done() prints the counts and the latency percentiles p90.00 to p99.99 in steps of 0.01 (PEAK_* lines), so that
-- peak.py can merge the latencies of several wrk processes.
local common = dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "wrk_common.lua")
local tokens = {}
local counter = 1
local turn = 0
local body
local mean_delay_ms = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end

function init(args)
  tokens = common.tokens()
  math.randomseed(os.time() * 1000 + id)
  body = os.getenv("BENCH_BODY")
  turn = id
  mean_delay_ms = tonumber(os.getenv("BENCH_DELAY_MS") or "0")
end

function delay()
  if mean_delay_ms <= 0 then
    return 0
  end
  return math.floor(-math.log(1 - math.random()) * mean_delay_ms)
end

function request()
  turn = turn + 1
  local headers = { ["Authorization"] = "Bearer " .. tokens[math.random(#tokens)] }
  local kind = turn % 3
  if kind == 0 then
    return wrk.format("GET", "/v1/sync?limit=50", headers)
  elseif kind == 1 then
    return wrk.format("GET", "/v1/pump-sessions?limit=50", headers)
  end
  headers["Content-Type"] = "application/json"
  return wrk.format("PUT", "/v1/pump-sessions/" .. common.uuid(), headers, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("PEAK_SUMMARY %d %d %d %d %d %d %d\n", summary.requests, summary.duration,
    e.connect, e.read, e.write, e.status, e.timeout))
  for k = 9000, 9999 do
    io.write(string.format("PEAK_Q %d %d\n", k, latency:percentile(k / 100)))
  end
end
