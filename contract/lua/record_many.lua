--! KEYS: meta res inflight children prev queue req webhooks webhook_receiver timeline *batch_keys
--! ARGV: now finished_ttl batch_id job_prefix chunk_size now_ms event_id latencies timeline_buckets timeline_base_ms *results
--! INCLUDE: timeline_lib.lua
-- Store the output lines of one or more requests of one batch in one atomic step (the
-- only write-back): exactly once per custom_id (a request that already has a result
-- changes nothing), children handed on as end_request does, each meta counter written
-- once per call and the batch's end checked once. A succeeded request's body in `req` is emptied
-- (only failed requests are ever sent again, by `respq retry`); the field stays, so a
-- resubmit of the same batch still finds its custom_id taken.
-- KEYS and ARGV are named above (K.name, A.name); after them come every batch key and,
-- per request, 11 fields: custom_id, line, ok (1, or 2 for a success whose response is
-- incomplete; 0 for a failure), error code, model, input, output, total, cached,
-- reasoning tokens, response id. `latencies` holds one byte per request: its upstream
-- latency bin + 1, or 0 (contract/timeline.py); the requests stored here are counted in
-- the batch's timeline in the same call.
-- Returns {ended (1 when this call ended the batch), stored (0|1) per request...}
local k = {meta = K.meta, res = K.res, inflight = K.inflight, children = K.children,
           prev = K.prev, webhooks = K.webhooks, receiver = K.webhook_receiver, event_id = A.event_id}
local req = K.req
local now, ttl = A.now, tonumber(A.finished_ttl)
k.release = {queue = K.queue, resp_id = '', batch_id = A.batch_id, job_prefix = A.job_prefix,
             chunk_size = tonumber(A.chunk_size), now_ms = A.now_ms,
             job_ttl = job_ttl_ms(A.finished_ttl)}
local batch_keys = {}
for i = MORE_KEYS, #KEYS do batch_keys[#batch_keys + 1] = KEYS[i] end
-- each request's fields (worker/results.py Result.args): 11 of them, from MORE_ARGS on
local FIELDS, FIRST = 11, MORE_ARGS
-- Most batches have no depends_on: then nobody's children need looking up.
local has_children = redis.call('EXISTS', k.children) == 1
local acc = {}
local out = {0}
local parents = {}
local done = {}
local dropped = {}
local latency = {}
for base = FIRST, #ARGV, FIELDS do
  local cid = ARGV[base]
  local stored = redis.call('HSETNX', k.res, cid, ARGV[base + 1])
  out[#out + 1] = stored
  if stored == 1 then
    done[#done + 1] = cid
    local bin = string.byte(A.latencies, (base - FIRST) / FIELDS + 1) or 0
    if bin > 0 then
      local name = tostring(bin - 1)
      latency[name] = (latency[name] or 0) + 1
    end
    local ok = ARGV[base + 2] ~= '0'
    count_result(acc, ok, ARGV[base + 3], ARGV[base + 4],
      {ARGV[base + 5], ARGV[base + 6], ARGV[base + 7], ARGV[base + 8], ARGV[base + 9]})
    if ARGV[base + 2] == '2' then acc[INCOMPLETE_FIELD] = (acc[INCOMPLETE_FIELD] or 0) + 1 end
    if ok then dropped[#dropped + 1] = cid end
    if has_children then parents[#parents + 1] = base end
  end
end
if #done > 0 then redis.call('HDEL', k.inflight, unpack(done)) end
if #dropped > 0 then
  -- emptied, not deleted: submit's HSETNX must still see the custom_id as taken
  local emptied = {}
  for _, cid in ipairs(dropped) do
    emptied[#emptied + 1] = cid
    emptied[#emptied + 1] = ''
  end
  redis.call('HSET', req, unpack(emptied))
end
flush_counts(k.meta, acc)
if #done > 0 then
  local codes = {}
  for field, n in pairs(acc) do
    if string.sub(field, 1, #ERR_PREFIX) == ERR_PREFIX then
      codes[string.sub(field, #ERR_PREFIX + 1)] = n
    end
  end
  timeline_add(K.timeline, tonumber(A.now_ms), tonumber(A.timeline_buckets),
    tonumber(A.timeline_base_ms), {s = acc['completed'], f = acc['failed'],
    i = acc[USAGE_PREFIX .. 'input_tokens'], o = acc[USAGE_PREFIX .. 'output_tokens'],
    e = codes, l = latency})
end
for _, base in ipairs(parents) do
  k.release.resp_id = ARGV[base + 10]
  hand_on_children(k, ARGV[base], ARGV[base + 2] ~= '0', ARGV[base + 3], now, ttl, batch_keys)
end
out[1] = finish_batch_if_done(k, now, ttl, batch_keys)
return out
