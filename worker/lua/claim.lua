-- Claim the requests of one job run: skip those already finished or owned by another
-- job; end them at once when the batch is cancelled or past its completion window.
-- KEYS: meta, res, req, owner, inflight, arq in-progress key of this job, children,
--       prev, then every batch key
-- ARGV: job_id, now_s, line id prefix, ttl once finished, lease ms, custom_ids...
-- The in-progress key is cut to the lease (arq set it to job_timeout + 10 s) so a
-- killed worker's job is retaken within the lease, whatever job_timeout is.
-- Returns {mode, cid, body, previous_response_id, has_children, ...}; mode is run |
-- cancel | expire | paused | missing. Only in run mode are requests returned (and marked
-- in flight). previous_response_id is '' unless the request waited on a parent.
local k = {meta = KEYS[1], res = KEYS[2], inflight = KEYS[5], children = KEYS[7]}
local prev = KEYS[8]
local req, owner = KEYS[3], KEYS[4]
local batch_keys = {}
for i = 9, #KEYS do batch_keys[#batch_keys + 1] = KEYS[i] end
local job_id, now, prefix, ttl = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local v = redis.call('HMGET', k.meta, 'status', 'expires_at')
redis.call('PEXPIRE', KEYS[6], tonumber(ARGV[5]))
if not v[1] then return {'missing'} end
local mode = 'run'
local expires_at = tonumber(v[2]) or 0
if v[1] == 'cancelling' or v[1] == 'cancelled' then
  mode = 'cancel'
elseif expires_at > 0 and tonumber(now) > expires_at then
  mode = 'expire'
  redis.call('HSET', k.meta, 'expire_requested', 1)
elseif v[1] == 'paused' then
  mode = 'paused'
end
local out = {mode}
for i = 6, #ARGV do
  local cid = ARGV[i]
  if redis.call('HEXISTS', k.res, cid) == 0 then
    local who = redis.call('HGET', owner, cid)
    if not who or who == job_id then
      if mode == 'run' then
        redis.call('HSET', k.inflight, cid, job_id)
        out[#out + 1] = cid
        out[#out + 1] = redis.call('HGET', req, cid)
        out[#out + 1] = redis.call('HGET', prev, cid) or ''
        out[#out + 1] = redis.call('HEXISTS', k.children, cid)
      elseif mode == 'cancel' then
        end_request(k, cid, error_line(prefix .. i, cid, 'batch_cancelled',
          'The batch was cancelled before this request was sent.'),
          false, 'batch_cancelled', '', nil, now, ttl, batch_keys)
      elseif mode == 'expire' then
        end_request(k, cid, error_line(prefix .. i, cid, 'batch_expired',
          'This request could not be executed before the completion window expired.'),
          false, 'batch_expired', '', nil, now, ttl, batch_keys)
      end
    end
  end
end
return out
