-- POST /v1/appointments: the consultant books the bench's patients into the bench doctor's slots, every request
-- with its own Idempotency-Key. WENZHEN_BENCH_BODY holds "patient,patient,…;slot,slot,…" (bench/booking.py).
-- Request k books patient (k // #slots) % #patients into slot k % #slots; k = run block + thread block + n: the
-- k-space (#slots × #patients) is cut into argv[3] blocks (8: one clinic measured by up to 8 runs; 1: a clinic of
-- its own for the run), one per wrk run of this workload (its run number, argv[1]), each cut into one block per wrk
-- thread (argv[2]), so that no run sends a patient to a slot twice. The Idempotency-Key names the run too
-- ("bench-<run>-<k>"): keys are the consultant's, across clinics. Needs threads.lua (thread_no) and auth.lua.
local function split(text, sep)
  local items = {}
  for item in string.gmatch(text, "[^" .. sep .. "]+") do
    items[#items + 1] = item
  end
  return items
end

function init(args)
  series = tonumber(args[1] or "0")
  local threads = tonumber(args[2] or "1")
  local runs = tonumber(args[3] or "8")
  local spec = os.getenv("WENZHEN_BENCH_BODY") or ""
  local cut = string.find(spec, ";", 1, true)
  patients = split(string.sub(spec, 1, cut - 1), ",")
  slots = split(string.sub(spec, cut + 1), ",")
  local span = math.floor(#slots * #patients / runs)
  first = (series % runs) * span + thread_no * math.floor(span / threads)
  sent = 0
  headers = {["Content-Type"] = "application/json", ["Authorization"] = wrk.headers["Authorization"]}
end

function request()
  local k = first + sent
  sent = sent + 1
  local slot = slots[k % #slots + 1]
  local patient = patients[math.floor(k / #slots) % #patients + 1]
  headers["Idempotency-Key"] = string.format("bench-%d-%d", series, k)
  local body = '{"patient_id":"' .. patient .. '","slot_id":"' .. slot .. '"}'
  return wrk.format("POST", "/v1/appointments", headers, body)
end
