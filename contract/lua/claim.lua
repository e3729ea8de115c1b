--! KEYS: meta res req owner inflight progress children prev parked active paused dispatched webhooks webhook_receiver *batch_keys
--! ARGV: job_id now id_token finished_ttl lease_ms lease_value attempts now_ms batch_id audit_due_ms event_id *custom_ids
-- Claim the requests of one job run: skip those already finished or owned by another
-- job; end them at once when the batch is cancelled or past its completion window; park
-- them when the batch is paused.
-- KEYS (named above, read as K.name): progress is the arq in-progress key of this job,
-- active the reconciler's zset, paused the set of batches with parked jobs, dispatched
-- the capped batch's jobs not yet claimed. ARGV: now in s, id_token the random part of the
-- ids this call makes (its lines: ID.line_in_call, its parked job: ID.parked_job),
-- finished_ttl the keys' ttl once the batch ends, attempts those already used.
-- The in-progress key is cut to the lease (arq set it to job_timeout + 10 s) so a
-- killed worker's job is retaken within the lease, whatever job_timeout is, and holds
-- lease_value ('<token>:<overdue at ms>', worker/job_lease.py; '' leaves arq's value):
-- the token tells this run from a later one, the time tells the audit when it is overdue.
-- Returns {mode, endpoint, cid, body, previous_response_id, has_children, ...}; mode is
-- run | cancel | expire | paused | missing, endpoint the batch's ('' for a batch made
-- before batches had one: Responses). Only in run mode are requests returned (and marked
-- in flight). previous_response_id is '' unless the request waited on a parent.
-- Paused: the requests this job may run move to one parked job record (owner = its id)
-- that `resume` queues again, so a paused batch costs nothing until then.
local k = {meta = K.meta, res = K.res, inflight = K.inflight, children = K.children,
           webhooks = K.webhooks, receiver = K.webhook_receiver, event_id = A.event_id}
local prev, parked, active, paused_set = K.prev, K.parked, K.active, K.paused
local req, owner = K.req, K.owner
local batch_keys = {}
for i = MORE_KEYS, #KEYS do batch_keys[#batch_keys + 1] = KEYS[i] end
local job_id, now, id_token, ttl = A.job_id, A.now, A.id_token, tonumber(A.finished_ttl)
local attempts, now_ms, batch_id = A.attempts, A.now_ms, A.batch_id
local first_cid = MORE_ARGS
local v = redis.call('HMGET', k.meta, 'status', 'expires_at', 'endpoint')
redis.call('PEXPIRE', K.progress, tonumber(A.lease_ms))
if A.lease_value ~= '' then redis.call('SET', K.progress, A.lease_value, 'XX', 'KEEPTTL') end
-- Claimed: its requests now count as in flight, not as dispatched (max_in_flight).
redis.call('HDEL', K.dispatched, job_id)
if not v[1] then return {'missing', ''} end
-- The reconciler watches every batch a worker has touched (NX: never delays its turn).
redis.call('ZADD', active, 'NX', A.audit_due_ms, batch_id)
local mode = 'run'
local expires_at = tonumber(v[2]) or 0
if v[1] == STATUS.CANCELLING or v[1] == STATUS.CANCELLED then
  mode = 'cancel'
elseif expires_at > 0 and tonumber(now) > expires_at then
  mode = 'expire'
  redis.call('HSET', k.meta, 'expire_requested', 1)
elseif v[1] == STATUS.PAUSED then
  mode = 'paused'
end
local out = {mode, v[3] or ''}
local park = {}
-- Most batches have no depends_on and no re-queued requests: then no request has a
-- previous response id, children or an owner to look up (three commands per request).
local chained = mode == 'run' and redis.call('EXISTS', prev, k.children) > 0
local owned = redis.call('EXISTS', owner) == 1
local claimed = {}
for i = first_cid, #ARGV do
  local cid = ARGV[i]
  if redis.call('HEXISTS', k.res, cid) == 0 then
    local who = owned and redis.call('HGET', owner, cid)
    if not who or who == job_id then
      if mode == 'run' then
        claimed[#claimed + 1] = cid
        claimed[#claimed + 1] = job_id
        out[#out + 1] = cid
        out[#out + 1] = redis.call('HGET', req, cid)
        out[#out + 1] = chained and redis.call('HGET', prev, cid) or ''
        out[#out + 1] = chained and redis.call('HEXISTS', k.children, cid) or 0
      elseif mode == 'cancel' then
        end_request(k, cid, error_line(ID.line_in_call(id_token, i), cid, 'batch_cancelled',
          'The batch was cancelled before this request was sent.'),
          false, 'batch_cancelled', '', nil, now, ttl, batch_keys)
      elseif mode == 'expire' then
        end_request(k, cid, error_line(ID.line_in_call(id_token, i), cid, 'batch_expired',
          'This request could not be executed before the completion window expired.'),
          false, 'batch_expired', '', nil, now, ttl, batch_keys)
      elseif mode == 'paused' then
        park[#park + 1] = cid
      end
    end
  end
end
if #claimed > 0 then redis.call('HSET', k.inflight, unpack(claimed)) end
if #park > 0 then
  local park_id = ID.parked_job(batch_id, id_token)
  for _, cid in ipairs(park) do
    redis.call('HSET', owner, cid, park_id)
    redis.call('HDEL', k.inflight, cid)
  end
  redis.call('HSET', parked, park_id, job_record(batch_id, park, attempts, now_ms))
  redis.call('SADD', paused_set, batch_id)
end
return out
