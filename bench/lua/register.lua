-- POST /v1/patients with a fresh mainland mobile number on every request.
-- Number: "13" .. series (2 digits, one per wrk run, from argv) .. thread (1) .. counter (6).
local threads = 0

function setup(thread)
  thread:set("thread_no", threads)
  threads = threads + 1
end

function init(args)
  series = tonumber(args[1] or "0")
  sent = 0
  headers = {["Content-Type"] = "application/json"}
end

function request()
  sent = sent + 1
  local phone = string.format("13%02d%d%06d", series % 100, thread_no % 10, sent % 1000000)
  local body = '{"name":"压测患者","sex":"female","birth_date":"1990-03-04","phone":"' .. phone .. '"}'
  return wrk.format("POST", "/v1/patients", headers, body)
end
