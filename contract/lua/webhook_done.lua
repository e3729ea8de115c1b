--! KEYS: webhooks meta
--! ARGV: member stamp field outcome next_ms now attempts error status_code
-- Record one delivery attempt of a claimed webhook event in the batch's meta (field
-- webhook:<event id>, JSON), unless the claim lapsed and another worker has claimed the
-- event since: then this attempt was one more at-least-once send, and the other
-- worker's attempt is the one recorded.
-- outcome: delivered (a 2xx) | retry (due again at next_ms) | failed (given up: past
-- RESPQ_WEBHOOK_MAX_AGE) | dropped (no receiver configured: the event is forgotten).
-- An event whose batch has expired (no meta field) just leaves the set.
-- Returns 1 when recorded, 0 when the claim had lapsed.
local score = redis.call('ZSCORE', K.webhooks, A.member)
if not score or tonumber(score) ~= tonumber(A.stamp) then return 0 end
local raw = redis.call('HGET', K.meta, A.field)
if not raw or A.outcome == 'dropped' then
  redis.call('ZREM', K.webhooks, A.member)
  if raw then redis.call('HDEL', K.meta, A.field) end
  return 1
end
local event = cjson.decode(raw)
local now = tonumber(A.now)
event.attempts = tonumber(A.attempts)
event.last_attempt_at = now
if A.error ~= '' then event.last_error = A.error end
if A.status_code ~= '' then event.last_status_code = tonumber(A.status_code) end
event.next_attempt_at = nil
if A.outcome == 'delivered' then
  event.state = 'delivered'
  event.delivered_at = now
  redis.call('ZREM', K.webhooks, A.member)
elseif A.outcome == 'retry' then
  event.state = 'retrying'
  event.next_attempt_at = math.floor(tonumber(A.next_ms) / 1000)
  redis.call('ZADD', K.webhooks, 'XX', tonumber(A.next_ms), A.member)
else
  event.state = 'failed'
  redis.call('ZREM', K.webhooks, A.member)
end
redis.call('HSET', K.meta, A.field, cjson.encode(event))
return 1
