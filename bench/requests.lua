-- wrk script: every request is a different, pre-built one (unique token, unique entry).
-- The file named by the first script argument holds one request a line:
--   METHOD <TAB> PATH <TAB> BEARER TOKEN or "-" <TAB> JSON BODY or "-"
-- When the list runs out it starts again and counts a wrap (the run is then reported invalid:
-- tokens would be replayed).

local requests = {}
local count = 0
local index = 0
wraps = 0
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  for line in io.lines(args[1]) do
    local method, target, token, body = line:match("^([^\t]*)\t([^\t]*)\t([^\t]*)\t(.*)$")
    local headers = {}
    if token ~= "-" then
      headers["Authorization"] = "Bearer " .. token
    end
    if body == "-" then
      body = nil
    else
      headers["Content-Type"] = "application/json"
    end
    count = count + 1
    requests[count] = wrk.format(method, target, headers, body)
  end
end

function request()
  index = index + 1
  if index > count then
    index = 1
    wraps = wraps + 1
  end
  return requests[index]
end

function done(summary, latency, _requests)
  local total_wraps = 0
  for _, thread in ipairs(threads) do
    total_wraps = total_wraps + (thread:get("wraps") or 0)
  end
  local errors = summary.errors
  io.write(string.format(
    'BENCH-RESULT {"requests": %d, "duration_us": %d, "non_2xx": %d, "socket_errors": %d, ' ..
    '"p50_us": %d, "p99_us": %d, "wraps": %d}\n',
    summary.requests, summary.duration, errors.status,
    errors.connect + errors.read + errors.write + errors.timeout,
    latency:percentile(50), latency:percentile(99), total_wraps))
end
