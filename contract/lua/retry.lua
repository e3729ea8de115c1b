--! KEYS: meta order res owner req queue parent
--! ARGV: start count codes id_token chunk_size now_ms result_ttl arq_job_prefix batch_id
-- Re-enqueue the failed requests of a page (optionally only some error codes), undoing
-- their counts and usage so the totals stay exact. Successes are left alone.
-- A request that depends on another is re-run only when its parent succeeded (it is
-- queued again at once) or is itself being retried (it then waits for the parent again);
-- while its parent stays failed, it stays failed.
-- KEYS: meta, order, res, owner, req, queue, parent
-- ARGV: start, count, codes ("" = all, else ",a,b,"), the random part of this retry's job
--       ids (ID.retry_job), chunk size, now_ms, result ttl (s), arq job key prefix, batch_id
local meta, res, owner, req, queue = K.meta, K.res, K.owner, K.req, K.queue
local start, codes = tonumber(A.start), A.codes
local cids = redis.call('LRANGE', K.order, start, start + tonumber(A.count) - 1)
local picked = {}
local reset = 0
for _, cid in ipairs(cids) do
  local raw = redis.call('HGET', res, cid)
  local line = raw and stored_line(raw)
  if line then
    local code = line_code(line)
    local wanted = code ~= nil and
      (codes == '' or string.find(codes, ',' .. code .. ',', 1, true) ~= nil)
    local waits = false
    local parent = wanted and redis.call('HGET', K.parent, cid)
    if parent then
      local parent_line = redis.call('HGET', res, parent)
      local parent_failed = parent_line and stored_line(parent_line)
      if not parent_line then
        waits = true
      elseif parent_failed and line_code(parent_failed) ~= nil then
        wanted = false
      end
    end
    if wanted then
      redis.call('HDEL', res, cid)
      redis.call('HINCRBY', meta, 'failed', -1)
      redis.call('HINCRBY', meta, ERR_PREFIX .. code, -1)
      local model = ''
      local body = redis.call('HGET', req, cid)
      if body then
        local ok, parsed = pcall(cjson.decode, body)
        if ok and type(parsed) == 'table' and type(parsed.model) == 'string' then model = parsed.model end
      end
      if model ~= '' and code ~= 'batch_cancelled' and code ~= 'batch_expired'
         and code ~= 'dependency_failed' then
        redis.call('HINCRBY', meta, MODEL_PREFIX .. model .. ':requests', -1)
      end
      local resp = line['response']
      if type(resp) == 'table' and type(resp.body) == 'table' and type(resp.body.usage) == 'table' then
        local u = resp.body.usage
        local d_in = type(u.input_tokens_details) == 'table' and u.input_tokens_details or {}
        local d_out = type(u.output_tokens_details) == 'table' and u.output_tokens_details or {}
        local vals = {u.input_tokens, u.output_tokens, u.total_tokens, d_in.cached_tokens,
                      d_out.reasoning_tokens}
        for i, name in ipairs(USAGE_FIELDS) do
          local n = tonumber(vals[i]) or 0
          if n ~= 0 then
            redis.call('HINCRBY', meta, USAGE_PREFIX .. name, -n)
            if model ~= '' then
              redis.call('HINCRBY', meta, MODEL_PREFIX .. model .. ':' .. name, -n)
            end
          end
        end
      end
      reset = reset + 1
      if not waits then picked[#picked + 1] = cid end
    end
  end
end
if #picked == 0 then return reset end
local chunk_size, now_ms = tonumber(A.chunk_size), A.now_ms
local job_ttl = job_ttl_ms(A.result_ttl)
local status = redis.call('HGET', meta, 'status')
if status ~= STATUS.IN_PROGRESS then
  redis.call('HSET', meta, 'status', STATUS.IN_PROGRESS)
  redis.call('HDEL', meta, 'completed_at', 'cancelled_at', 'expired_at', 'expire_requested')
end
for first = 1, #picked, chunk_size do
  local ids = {}
  local job_id = ID.retry_job(A.batch_id, A.id_token, start, first)
  for j = first, math.min(first + chunk_size - 1, #picked) do
    ids[#ids + 1] = picked[j]
    redis.call('HSET', owner, picked[j], job_id)
  end
  redis.call('SET', A.arq_job_prefix .. job_id, job_record(A.batch_id, ids, 0, now_ms), 'PX',
    job_ttl)
  redis.call('ZADD', queue, now_ms, job_id)
end
return reset
