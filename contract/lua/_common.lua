--! KEYS:
--! ARGV:
-- A library (it reads no KEYS or ARGV: its functions take what they touch as arguments),
-- used by every script that ends a request. Prepended to each script of contract/lua/ by
-- contract/scripts.py, after the generated prelude (STATUS, USAGE_FIELDS, the meta field
-- prefixes and JOB_FUNCTION, from contract/constants.py and status.py) and the script's
-- named K and A tables. Meta fields are documented in contract/constants.py.

-- The record of one respq job in arq's layout, as JSON: run_requests(batch_id, ids,
-- attempts). contract/serializer.py's job_record writes the same bytes in Python.
local function job_record(batch_id, ids, attempts, enqueued_ms, tries)
  return '{"t":' .. (tries or 0) .. ',"f":' .. cjson.encode(JOB_FUNCTION) .. ',"a":[' ..
    cjson.encode(batch_id) .. ',' .. cjson.encode(ids) .. ',' .. (attempts or 0) ..
    '],"k":{},"et":' .. enqueued_ms .. '}'
end

-- The batch has just ended as `final` (completed, failed, expired or cancelled): its
-- webhook event (OpenAI's batch.<status>) is written by the same script call, so no
-- ended batch lacks one, whatever crashes next. k.meta is the batch's meta, k.webhooks
-- the global set of events to deliver (respq:webhooks), k.event_id a fresh id from the
-- caller (contract/webhooks.py new_event_id). The delivery state lives in the meta
-- (webhook:<event id>, JSON) and so expires with the batch; worker/webhooks.py delivers.
-- No event is written when there is nobody to send it to: the batch has no receiver of
-- its own and k.receiver (respq:webhook-receiver, kept alive by every worker whose
-- RESPQ_WEBHOOK_URL is set) does not exist; as OpenAI's, an event goes to the endpoints
-- configured when it happens.
local function emit_batch_event(k, final, now)
  if not redis.call('HGET', k.meta, WEBHOOK_URL_FIELD)
     and redis.call('EXISTS', k.receiver) == 0 then
    return
  end
  local batch_id = redis.call('HGET', k.meta, 'id') or ''
  local event = {type = 'batch.' .. final, created_at = tonumber(now), state = 'pending',
                 attempts = 0}
  redis.call('HSET', k.meta, WEBHOOK_PREFIX .. k.event_id, cjson.encode(event))
  redis.call('ZADD', k.webhooks, tonumber(now) * 1000, k.event_id .. ':' .. batch_id)
end

-- k: meta, plus webhooks, receiver and event_id for the event (emit_batch_event).
local function finish_batch_if_done(k, now, ttl, batch_keys)
  local meta = k.meta
  local v = redis.call('HMGET', meta, 'total', 'completed', 'failed', 'sealed', 'status',
                       'expire_requested')
  local total = tonumber(v[1]) or 0
  local done = (tonumber(v[2]) or 0) + (tonumber(v[3]) or 0)
  if v[4] ~= '1' or done < total then return 0 end
  local status = v[5]
  if status == STATUS.COMPLETED or status == STATUS.CANCELLED or status == STATUS.EXPIRED
     or status == STATUS.FAILED then
    return 0
  end
  local final = STATUS.COMPLETED
  if status == STATUS.CANCELLING then final = STATUS.CANCELLED
  elseif v[6] == '1' then final = STATUS.EXPIRED end
  redis.call('HSET', meta, 'status', final, final .. '_at', now)
  -- completed_at is also when any ending happened, for respq's own readers; the batch
  -- object shows it only for completed batches, as OpenAI's does (batch_info.py).
  -- Outputs are ready the moment the last result is stored: finalizing takes no time.
  if final ~= STATUS.COMPLETED then redis.call('HSET', meta, 'completed_at', now)
  else redis.call('HSET', meta, 'finalizing_at', now) end
  emit_batch_event(k, final, now)
  -- output_expires_after (POST /v1/batches): the output files are views of the
  -- results, so they expire with the batch's keys, that long after its end.
  local outputs_ttl = tonumber(redis.call('HGET', meta, OUTPUT_EXPIRES_FIELD))
  if outputs_ttl then ttl = outputs_ttl end
  if ttl > 0 then
    for _, k in ipairs(batch_keys) do redis.call('EXPIRE', k, ttl) end
  end
  return 1
end

-- The output line of a request that ends without an HTTP answer (batch_cancelled,
-- batch_expired, dependency_failed): `error`, `response: null`. The same bytes as
-- contract/lines.py's error_line(cid, code, message, line_id=line_id), which builds every
-- other line (tests/integration/test_core_path_lines.py): Redis' cjson escapes '/' and
-- orjson does not, so an escaped '/' (one after an odd run of backslashes) is written plain.
local function error_line(line_id, cid, code, message)
  local line = '{"id":' .. cjson.encode(line_id) .. ',"custom_id":' .. cjson.encode(cid) ..
    ',"response":null,"error":{"code":' .. cjson.encode(code) .. ',"message":' ..
    cjson.encode(message) .. '}}'
  return (string.gsub(line, '(\\+)/', function(run)
    if #run % 2 == 1 then return string.sub(run, 2) .. '/' end
  end))
end

-- The failure code of a stored output line, nil for a success: error.code, else (an HTTP
-- failure: response with a non-2xx status, error null) the body's error.code or
-- error.type, else http_<status>. contract/lines.py reads it the same way (OutputLine.code).
local function line_code(line)
  local err = line['error']
  if type(err) == 'table' then return err.code end
  local resp = line['response']
  if type(resp) ~= 'table' then return nil end
  local status = tonumber(resp.status_code) or 0
  if status >= 200 and status < 300 then return nil end
  local body = resp.body
  if type(body) == 'table' and type(body.error) == 'table' then
    local c = body.error.code
    if c == nil or c == cjson.null or c == '' then c = body.error.type end
    if type(c) == 'string' and c ~= '' then return c end
    if type(c) == 'number' then return tostring(c) end
  end
  return 'http_' .. status
end

-- A stored output line as a table, or nil for a success kept packed (contract/stored.py:
-- only successes are compressed, so a first byte other than '{' says it succeeded).
local function stored_line(raw)
  if string.byte(raw, 1) ~= JSON_LINE_START then return nil end
  return cjson.decode(raw)
end

local dependency_lines = 0

-- Field names of a model's counters, built once per script call.
local model_fields = {}
local function fields_of(model)
  local f = model_fields[model]
  if not f then
    local prefix = MODEL_PREFIX .. model .. ':'
    f = {requests = prefix .. 'requests'}
    for i, name in ipairs(USAGE_FIELDS) do f[i] = prefix .. name end
    model_fields[model] = f
  end
  return f
end

-- Add one ended request's counts to `acc` (meta field -> increment). Requests ended in
-- one script call sum their counts here, so each meta field costs one HINCRBY per call.
local function count_result(acc, ok, code, model, usage)
  if ok then
    acc['completed'] = (acc['completed'] or 0) + 1
  else
    acc['failed'] = (acc['failed'] or 0) + 1
    local field = ERR_PREFIX .. code
    acc[field] = (acc[field] or 0) + 1
  end
  local mf = model ~= '' and fields_of(model)
  if mf then acc[mf.requests] = (acc[mf.requests] or 0) + 1 end
  if usage then
    for i, name in ipairs(USAGE_FIELDS) do
      local n = tonumber(usage[i]) or 0
      if n ~= 0 then
        local field = USAGE_PREFIX .. name
        acc[field] = (acc[field] or 0) + n
        if mf then acc[mf[i]] = (acc[mf[i]] or 0) + n end
      end
    end
  end
end

local function flush_counts(meta, acc)
  for field, n in pairs(acc) do
    if n ~= 0 then redis.call('HINCRBY', meta, field, n) end
  end
end

local end_request

-- A request with children (depends_on) hands them on: on success they are queued with
-- the parent's response id (k.release, set by the record scripts); on failure they end as
-- dependency_failed, and so on down the chain.
local function hand_on_children(k, cid, ok, code, now, ttl, batch_keys)
  local kids = k.children and redis.call('HGET', k.children, cid)
  if not kids then return end
  local list = cjson.decode(kids)
  if ok and k.release then
    local r = k.release
    for _, kid in ipairs(list) do redis.call('HSET', k.prev, kid, r.resp_id) end
    for first = 1, #list, r.chunk_size do
      local ids = {}
      for j = first, math.min(first + r.chunk_size - 1, #list) do ids[#ids + 1] = list[j] end
      local job_id = ID.child_job(r.batch_id, r.now_ms, cid, first)
      redis.call('SET', r.job_prefix .. job_id, job_record(r.batch_id, ids, 0, r.now_ms), 'PX',
        r.job_ttl)
      redis.call('ZADD', r.queue, r.now_ms, job_id)
    end
  elseif not ok then
    for _, kid in ipairs(list) do
      dependency_lines = dependency_lines + 1
      local kid_line = error_line(ID.dependency_line(now, dependency_lines), kid,
        'dependency_failed', 'The request it depends on (' .. cid .. ') did not succeed (' ..
        code .. ').')
      end_request(k, kid, kid_line, false, 'dependency_failed', '', nil, now, ttl, batch_keys)
    end
  end
end

-- Store one output line and count it, exactly once per custom_id.
-- Returns 0 when the request already had a result, 1 when stored, 2 when it also ended
-- the batch. Its children are handed on (hand_on_children).
end_request = function(k, cid, line, ok, code, model, usage, now, ttl, batch_keys)
  if redis.call('HSETNX', k.res, cid, line) == 0 then return 0 end
  redis.call('HDEL', k.inflight, cid)
  local acc = {}
  count_result(acc, ok, code, model, usage)
  flush_counts(k.meta, acc)
  hand_on_children(k, cid, ok, code, now, ttl, batch_keys)
  return 1 + finish_batch_if_done(k, now, ttl, batch_keys)
end
