-- Appended to every wrk script: one machine-readable summary line for bench/load.py.
-- With status.lua, also the 409 and 5xx answers (summed over the threads threads.lua kept).
function done(summary, latency, requests)
  local e = summary.errors
  local conflicts, server_errors = 0, 0
  if all_threads then
    for _, thread in ipairs(all_threads) do
      conflicts = conflicts + (tonumber(thread:get("answered_409")) or 0)
      server_errors = server_errors + (tonumber(thread:get("answered_5xx")) or 0)
    end
  end
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,' ..
    '"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"conflicts":%d,"server_errors":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.status, e.timeout, conflicts, server_errors))
end
