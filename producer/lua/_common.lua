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

-- Store one output line and count it, exactly once per custom_id.
-- Returns 0 when the request already had a result, 1 when stored, 2 when it also ended
-- the batch.
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
  return 1 + finish_batch_if_done(k.meta, now, ttl, batch_keys)
end

local function error_line(line_id, cid, code, message)
  return '{"id":' .. cjson.encode(line_id) .. ',"custom_id":' .. cjson.encode(cid) ..
    ',"response":null,"error":{"code":' .. cjson.encode(code) .. ',"message":' ..
    cjson.encode(message) .. '}}'
end
