--! KEYS: *progress
--! ARGV: lease_ms *runs
-- Renew the leases of the job runs of one worker, all in one call.
-- KEYS: the arq in-progress key of each run. ARGV: the lease in ms, then per run its
-- token and the value to write (``<token>:<overdue at ms>``, worker/job_lease.py).
-- Returns one state per run:
--   held     the key holds the run's token: its ttl is set to the lease again (PEXPIRE
--            first: it is allowed while Redis refuses writes at maxmemory, so a worker
--            keeps the leases of outcomes it cannot write yet), then its value
--   restored the key was gone (it lapsed while this worker or Redis stalled, or Redis
--            lost it): written again, unless another worker took it meanwhile; the run
--            must confirm its requests before sending more (another run may have sent them)
--   refused  the key was gone and Redis refused to write it (maxmemory): nothing known
--   lost     another run of the job holds the key: this run sends nothing more
local lease_ms = tonumber(A.lease_ms)
local out = {}
for i, key in ipairs(KEYS) do
  local token, value = ARGV[MORE_ARGS + 2 * (i - 1)], ARGV[MORE_ARGS + 2 * (i - 1) + 1]
  local current = redis.call('GET', key)
  if current and string.sub(current, 1, #token + 1) == token .. ':' then
    redis.call('PEXPIRE', key, lease_ms)
    if current ~= value then redis.pcall('SET', key, value, 'XX', 'KEEPTTL') end
    out[i] = 'held'
  elseif not current then
    local written = redis.pcall('SET', key, value, 'NX', 'PX', lease_ms)
    out[i] = (type(written) == 'table' and written.err) and 'refused' or 'restored'
  else
    out[i] = 'lost'
  end
end
return out
