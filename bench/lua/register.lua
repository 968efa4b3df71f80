-- POST /v1/patients with a fresh mainland mobile number on every request (a consultant registering
-- patients on their behalf: no relationship). Needs threads.lua (thread_no) and auth.lua (the token).
-- Number: "13" .. series (2 digits, one per wrk run, from argv) .. thread (1) .. counter (6).
function init(args)
  series = tonumber(args[1] or "0")
  sent = 0
  headers = {["Content-Type"] = "application/json", ["Authorization"] = wrk.headers["Authorization"]}
end

function request()
  sent = sent + 1
  local phone = string.format("13%02d%d%06d", series % 100, thread_no % 10, sent % 1000000)
  local body = '{"name":"压测患者","sex":"female","birth_date":"1990-03-04","phone":"' .. phone .. '"}'
  return wrk.format("POST", "/v1/patients", headers, body)
end
