-- wrk script for benchmarks/serving.py: POST one JSON body (read from $WRK_BODY_FILE) on every request, and
-- print the run's figures as one JSON line (after "WRK_JSON ") for the benchmark to parse.

local path = os.getenv("WRK_BODY_FILE")
if path == nil then
  error("set WRK_BODY_FILE to the file holding the request body")
end
local file = assert(io.open(path, "rb"))
local body = file:read("*a")
file:close()

wrk.method = "POST"
wrk.body = body
wrk.headers["Content-Type"] = "application/json"

function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests": %d, "duration_us": %d, "bytes": %d, '
      .. '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, '
      .. '"latency_us": {"min": %d, "mean": %.1f, "stdev": %.1f, "max": %d, '
      .. '"p50": %d, "p90": %d, "p99": %d, "p999": %d}}\n',
    summary.requests, summary.duration, summary.bytes,
    errors.connect, errors.read, errors.write, errors.status, errors.timeout,
    latency.min, latency.mean, latency.stdev, latency.max,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9)
  ))
end
