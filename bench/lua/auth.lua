-- First in every wrk script: "Authorization: Bearer <token>" on every request when bench/load.py
-- put a token in WENZHEN_BENCH_TOKEN (the environment, not wrk's command line that `ps` shows).
-- wrk.headers make the default request; register.lua and login.lua copy it into their own headers.
local token = os.getenv("WENZHEN_BENCH_TOKEN")
if token and token ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. token
end
