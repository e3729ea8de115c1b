--! KEYS: webhooks
--! ARGV: now_ms lease_ms limit
-- Claim up to `limit` webhook events whose next attempt is due: each one's score moves a
-- lease ahead, so no other worker takes it while this one tries, and the event of a
-- worker that dies mid-attempt is due again once the lease has passed. The new score is
-- the claim's stamp: webhook_done.lua records an attempt only while it is unchanged.
-- Returns {stamp, member...}; a member is "<event id>:<batch id>".
local until_ms = tonumber(A.now_ms) + tonumber(A.lease_ms)
local due = redis.call('ZRANGEBYSCORE', K.webhooks, '-inf', A.now_ms, 'LIMIT', 0,
  tonumber(A.limit))
local out = {tostring(until_ms)}
for _, member in ipairs(due) do
  redis.call('ZADD', K.webhooks, 'XX', until_ms, member)
  out[#out + 1] = member
end
return out
