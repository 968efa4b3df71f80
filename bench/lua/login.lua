-- POST the sign-in body from WENZHEN_BENCH_BODY to the URL's path, each request from another origin
-- address (X-Forwarded-For, believed because the bench's gateway trusts one proxy), so that the limit of
-- 100 sign-in attempts per origin in 15 minutes is not what is measured: an address comes back only after
-- 256 requests of the same thread. Needs threads.lua (thread_no).
function init(args)
  series = tonumber(args[1] or "0")
  sent = 0
  body = os.getenv("WENZHEN_BENCH_BODY")
  headers = {["Content-Type"] = "application/json"}
end

function request()
  sent = sent + 1
  headers["X-Forwarded-For"] = string.format("10.%d.%d.%d", series % 256, thread_no % 256, sent % 256)
  return wrk.format("POST", wrk.path, headers, body)
end
