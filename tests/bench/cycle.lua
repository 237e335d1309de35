-- SPDX-License-Identifier: Apache-2.0
-- wrk script: GET /jobs/{prefix}{i}, cycling i over 0..count-1 so the
-- server answers for every job, as jobwatchd polls them.
-- Settings come from the environment: BENCH_PREFIX, BENCH_COUNT, BENCH_KEY.
local prefix = os.getenv("BENCH_PREFIX") or "bench-"
local count = tonumber(os.getenv("BENCH_COUNT") or "10000")
local key = os.getenv("BENCH_KEY") or "bench-key"
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("offset", counter * 7919)
end

function init(args)
  i = offset or 0
end

function request()
  i = (i + 1) % count
  return wrk.format("GET", "/jobs/" .. prefix .. i,
                    {["X-API-Key"] = key, ["Accept"] = "application/json"})
end
