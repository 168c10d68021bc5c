-- POST /api/v1/payments between random pairs of the accounts bench000000 ..
-- bench<N-1>; N and the token come from the environment.
local n = tonumber(os.getenv("BENCH_ACCOUNTS"))
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_TOKEN")
wrk.headers["Content-Type"] = "application/json"

function setup(thread)
  thread:set("seed", math.random(1, 1000000))
end

function init(args)
  math.randomseed(seed)
end

request = function()
  local a = math.random(0, n - 1)
  local b = math.random(0, n - 2)
  if b >= a then b = b + 1 end
  local body = string.format('{"from_account":"bench%06d","to_account":"bench%06d","amount":"0.01"}', a, b)
  return wrk.format(nil, nil, nil, body)
end

done = function(summary, latency, requests)
  io.write(string.format("RESULT %d %d %d %d %d\n", summary.requests, summary.duration,
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50), latency:percentile(99)))
end
