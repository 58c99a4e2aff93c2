-- wrk script: authenticated PUT /v1/pump-sessions/{random uuid}, each a new record.
-- BENCH_TOKENS: one access token, or several separated by commas (each request picks one at random).
-- BENCH_BODY: the JSON body.
local common = dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "wrk_common.lua")
local tokens = {}
local counter = 1
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end

function init(args)
  tokens = common.tokens()
  math.randomseed(os.time() * 1000 + id)
  wrk.method = "PUT"
  wrk.headers["Content-Type"] = "application/json"
  wrk.body = os.getenv("BENCH_BODY")
end

function request()
  wrk.headers["Authorization"] = "Bearer " .. tokens[math.random(#tokens)]
  return wrk.format(nil, "/v1/pump-sessions/" .. common.uuid())
end
