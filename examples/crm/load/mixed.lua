-- Mixed load: four reads (GET /api/leads) for every write (POST /api/calls).
-- Host and Cookie come from wrk's -H flags (wrk.headers); a request with its
-- own header table must carry them too, or wrk sends only that table.
local post_headers = {}
for k, v in pairs(wrk.headers) do post_headers[k] = v end
post_headers["Content-Type"] = "application/json"

local n = 0
request = function()
  n = n + 1
  if n % 5 == 0 then
    return wrk.format("POST", "/api/calls", post_headers,
      '{"lead_id":1,"disposition":"no_answer","duration_s":5,"outcome":"load"}')
  end
  return wrk.format("GET", "/api/leads")
end
