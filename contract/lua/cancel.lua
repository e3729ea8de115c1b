--! KEYS: meta order res inflight children webhooks webhook_receiver *batch_keys
--! ARGV: start count now finished_ttl id_token event_id
-- Cancel a page of a batch: every request neither finished nor in flight ends as
-- batch_cancelled; in-flight ones finish normally. The first page flips the status.
-- KEYS: meta, order, res, inflight, children, the webhook events to deliver, then every
-- batch key
-- ARGV: start, count, now_s, ttl once finished, the random part of its line ids
-- (ID.line_in_call), the id of the webhook event should the batch end here
local k = {meta = K.meta, res = K.res, inflight = K.inflight, children = K.children,
           webhooks = K.webhooks, receiver = K.webhook_receiver, event_id = A.event_id}
local batch_keys = {}
for i = MORE_KEYS, #KEYS do batch_keys[#batch_keys + 1] = KEYS[i] end
local now, ttl = A.now, tonumber(A.finished_ttl)
local status = redis.call('HGET', k.meta, 'status')
if not status then return -1 end
if status == STATUS.COMPLETED or status == STATUS.CANCELLED or status == STATUS.EXPIRED
   or status == STATUS.FAILED then return -2 end
if status ~= STATUS.CANCELLING then
  redis.call('HSET', k.meta, 'status', STATUS.CANCELLING, 'cancelling_at', now)
end
local start = tonumber(A.start)
local cids = redis.call('LRANGE', K.order, start, start + tonumber(A.count) - 1)
for i, cid in ipairs(cids) do
  if redis.call('HEXISTS', k.res, cid) == 0 and redis.call('HEXISTS', k.inflight, cid) == 0 then
    local line = error_line(ID.line_in_call(A.id_token, start + i), cid, 'batch_cancelled',
      'The batch was cancelled before this request was sent.')
    end_request(k, cid, line, false, 'batch_cancelled', '', nil, now, ttl, batch_keys)
  end
end
if #cids == 0 then finish_batch_if_done(k, now, ttl, batch_keys) end
return #cids
