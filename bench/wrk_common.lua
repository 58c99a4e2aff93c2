-- What bench's wrk scripts share: the access tokens of BENCH_TOKENS (one, or several separated by commas) and
-- random record ids. Loaded with `dofile` from the script's own directory.
local common = {}

function common.tokens()
  local tokens = {}
  for t in string.gmatch(os.getenv("BENCH_TOKENS"), "[^,]+") do
    table.insert(tokens, t)
  end
  return tokens
end

function common.uuid()
  local template = "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx"
  return (string.gsub(template, "[xy]", function(c)
    local v = (c == "x") and math.random(0, 0xf) or math.random(8, 0xb)
    return string.format("%x", v)
  end))
end

return common
