-- wrk script: authenticated PUT /v1/pump-sessions/{random uuid}, each a new record.
-- BENCH_TOKENS: one access token, or several separated by commas (each request picks one at random).
-- BENCH_BODY: the JSON body.
local tokens = {}
local counter = 1
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end

function init(args)
  for t in string.gmatch(os.getenv("BENCH_TOKENS"), "[^,]+") do
    table.insert(tokens, t)
  end
  math.randomseed(os.time() * 1000 + id)
  wrk.method = "PUT"
  wrk.headers["Content-Type"] = "application/json"
  wrk.body = os.getenv("BENCH_BODY")
end

local function uuid()
  local template = "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx"
  return (string.gsub(template, "[xy]", function(c)
    local v = (c == "x") and math.random(0, 0xf) or math.random(8, 0xb)
    return string.format("%x", v)
  end))
end

function request()
  wrk.headers["Authorization"] = "Bearer " .. tokens[math.random(#tokens)]
  return wrk.format(nil, "/v1/pump-sessions/" .. uuid())
end
