-- wrk script for the cached-read load runs (benches/RESULTS.md, issue 3): sends the bearer token
-- and paces each connection to ~100 requests/s, so `-c10` offers about 1000 requests/s.
local token = os.getenv("AUTH_TOKEN") or "bench-token-0123456789"
wrk.headers["Authorization"] = "Bearer " .. token

function delay()
  return 10
end
