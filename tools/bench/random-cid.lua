-- wrk script of tools/bench/gateway-vs-nginx.sh: every request is the one loadgen sends,
-- GET /ipfs/<cid>?format=raw with Accept: application/vnd.ipld.raw, for a CID drawn at random
-- from the file named by the CIDS environment variable (one per line).
local cids = {}

function init(args)
  for line in io.lines(os.getenv("CIDS")) do cids[#cids + 1] = line end
  -- Each thread has its own Lua state; seed them apart so they do not draw the same sequence.
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
end

function request()
  return wrk.format("GET", "/ipfs/" .. cids[math.random(#cids)] .. "?format=raw",
                    {["Accept"] = "application/vnd.ipld.raw"})
end
