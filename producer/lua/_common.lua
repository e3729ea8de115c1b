-- Shared by every script that ends a request. Prepended to each script by scripts.py.
-- meta field names are documented in producer/constants.py.

local function finish_batch_if_done(meta, now, ttl, batch_keys)
  local v = redis.call('HMGET', meta, 'total', 'completed', 'failed', 'sealed', 'status',
                       'expire_requested')
  local total = tonumber(v[1]) or 0
  local done = (tonumber(v[2]) or 0) + (tonumber(v[3]) or 0)
  if v[4] ~= '1' or done < total then return 0 end
  local status = v[5]
  if status == 'completed' or status == 'cancelled' or status == 'expired' then return 0 end
  local final = 'completed'
  if status == 'cancelling' then final = 'cancelled'
  elseif v[6] == '1' then final = 'expired' end
  redis.call('HSET', meta, 'status', final, final .. '_at', now)
  if final ~= 'completed' then redis.call('HSET', meta, 'completed_at', now) end
  if ttl > 0 then
    for _, k in ipairs(batch_keys) do redis.call('EXPIRE', k, ttl) end
  end
  return 1
end

local function error_line(line_id, cid, code, message)
  return '{"id":' .. cjson.encode(line_id) .. ',"custom_id":' .. cjson.encode(cid) ..
    ',"response":null,"error":{"code":' .. cjson.encode(code) .. ',"message":' ..
    cjson.encode(message) .. '}}'
end

-- The failure code of a stored output line, nil for a success: error.code, else (an HTTP
-- failure: response with a non-2xx status, error null) the body's error.code or
-- error.type, else http_<status>. producer/lines.py reads it the same way (OutputLine.code).
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

local dependency_lines = 0

-- Store one output line and count it, exactly once per custom_id.
-- Returns 0 when the request already had a result, 1 when stored, 2 when it also ended
-- the batch. A request with children (depends_on) hands them on: on success they are
-- queued with the parent's response id (k.release set by record.lua); on failure they
-- end as dependency_failed, and so on down the chain.
local function end_request(k, cid, line, ok, code, model, usage, now, ttl, batch_keys)
  if redis.call('HSETNX', k.res, cid, line) == 0 then return 0 end
  redis.call('HDEL', k.inflight, cid)
  if ok then
    redis.call('HINCRBY', k.meta, 'completed', 1)
  else
    redis.call('HINCRBY', k.meta, 'failed', 1)
    redis.call('HINCRBY', k.meta, 'err:' .. code, 1)
  end
  if model ~= '' then
    redis.call('HINCRBY', k.meta, 'model:' .. model .. ':requests', 1)
  end
  if usage then
    local names = {'input_tokens', 'output_tokens', 'total_tokens', 'cached_tokens',
                   'reasoning_tokens'}
    for i, name in ipairs(names) do
      local n = tonumber(usage[i]) or 0
      if n ~= 0 then
        redis.call('HINCRBY', k.meta, 'usage:' .. name, n)
        if model ~= '' then redis.call('HINCRBY', k.meta, 'model:' .. model .. ':' .. name, n) end
      end
    end
  end
  local kids = k.children and redis.call('HGET', k.children, cid)
  if kids then
    local list = cjson.decode(kids)
    if ok and k.release then
      local r = k.release
      for _, kid in ipairs(list) do redis.call('HSET', k.prev, kid, r.resp_id) end
      local head = '{"t":0,"f":' .. cjson.encode(r.fn) .. ',"a":[' .. cjson.encode(r.batch_id) .. ','
      for first = 1, #list, r.chunk_size do
        local ids = {}
        for j = first, math.min(first + r.chunk_size - 1, #list) do ids[#ids + 1] = list[j] end
        local job_id = r.batch_id .. ':k:' .. r.now_ms .. ':' .. cid .. ':' .. first
        redis.call('SET', r.job_prefix .. job_id,
          head .. cjson.encode(ids) .. ',0],"k":{},"et":' .. r.now_ms .. '}', 'PX', r.job_ttl)
        redis.call('ZADD', r.queue, r.now_ms, job_id)
      end
    elseif not ok then
      for _, kid in ipairs(list) do
        dependency_lines = dependency_lines + 1
        local kid_line = error_line('batch_req_dep_' .. now .. '_' .. dependency_lines, kid,
          'dependency_failed', 'The request it depends on (' .. cid .. ') did not succeed (' ..
          code .. ').')
        end_request(k, kid, kid_line, false, 'dependency_failed', '', nil, now, ttl, batch_keys)
      end
    end
  end
  return 1 + finish_batch_if_done(k.meta, now, ttl, batch_keys)
end
