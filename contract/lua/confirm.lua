--! KEYS: progress res owner
--! ARGV: token value lease_ms job_id *custom_ids
-- Before a send, from a job run whose own clock says its lease may have lapsed (a frozen
-- or starved process, or renewals failing): does it still hold the lease, and which of
-- its requests are still its own? Renews the lease (or takes it again when nobody holds
-- it) in the same step.
-- KEYS: the job's arq in-progress key, the batch's res and owner hashes.
-- ARGV: the run's token, the key's value to write, lease ms, job id, the run's unfinished
-- custom_ids.
-- Returns {'lost'} when another run holds the key, else {'held' | 'restored', custom_ids
-- that are no longer the run's (recorded, or moved to another job)...}.
local token, lease_ms = A.token, tonumber(A.lease_ms)
local current = redis.call('GET', K.progress)
local state = 'held'
if current and string.sub(current, 1, #token + 1) == token .. ':' then
  redis.call('PEXPIRE', K.progress, lease_ms)
elseif not current then
  redis.call('SET', K.progress, A.value, 'NX', 'PX', lease_ms)
  state = 'restored'
else
  return {'lost'}
end
local out = {state}
local owned = redis.call('EXISTS', K.owner) == 1
for i = MORE_ARGS, #ARGV do
  local cid = ARGV[i]
  if redis.call('HEXISTS', K.res, cid) == 1 then
    out[#out + 1] = cid
  elseif owned then
    local who = redis.call('HGET', K.owner, cid)
    if who and who ~= A.job_id then out[#out + 1] = cid end
  end
end
return out
