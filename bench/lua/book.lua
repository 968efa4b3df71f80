-- POST /v1/appointments: the consultant books the bench's patients into the bench doctor's slots, every request
-- with its own Idempotency-Key. WENZHEN_BENCH_BODY holds "patient,patient,…;slot,slot,…" (bench/booking.py).
-- Request k books patient (k // #slots) % #patients into slot k % #slots; k = half + thread block + n, the half
-- alternating with wrk's run number (argv), so that no run sends a patient to a slot twice (k < #slots × #patients).
-- Needs threads.lua (thread_no) and auth.lua (the token).
local function split(text, sep)
  local items = {}
  for item in string.gmatch(text, "[^" .. sep .. "]+") do
    items[#items + 1] = item
  end
  return items
end

function init(args)
  local series = tonumber(args[1] or "0")
  local spec = os.getenv("WENZHEN_BENCH_BODY") or ""
  local cut = string.find(spec, ";", 1, true)
  patients = split(string.sub(spec, 1, cut - 1), ",")
  slots = split(string.sub(spec, cut + 1), ",")
  local span = math.floor(#slots * #patients / 2)
  first = (series % 2) * span + thread_no * math.floor(span / 8)
  sent = 0
  headers = {["Content-Type"] = "application/json", ["Authorization"] = wrk.headers["Authorization"]}
end

function request()
  local k = first + sent
  sent = sent + 1
  local slot = slots[k % #slots + 1]
  local patient = patients[math.floor(k / #slots) % #patients + 1]
  headers["Idempotency-Key"] = string.format("bench-%d", k)
  local body = '{"patient_id":"' .. patient .. '","slot_id":"' .. slot .. '"}'
  return wrk.format("POST", "/v1/appointments", headers, body)
end
