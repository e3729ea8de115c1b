--! KEYS: meta
--! ARGV: op estimate actual now
-- A batch's budget (USD), kept in its meta hash: reserve a request's estimated cost
-- before it is sent, settle it to the actual cost after. One call each.
-- KEYS: meta. ARGV: op ('reserve' | 'settle'), estimate, actual, now.
-- reserve returns {'none'} (no max_cost: nothing reserved), {'ok'} (reserved), or
--   {'paused', reason} (over budget or already paused: nothing reserved; the batch is
--   paused when it was running).
-- settle returns {'ok'}: cost_reserved -= estimate, cost_spent += actual.
local meta = K.meta
local op = A.op
local estimate = tonumber(A.estimate) or 0

local function usd(x)
  if x >= 1 then return string.format('%.2f', x) end
  return string.format('%.4g', x)
end

if op == 'settle' then
  if estimate ~= 0 then redis.call('HINCRBYFLOAT', meta, 'cost_reserved', -estimate) end
  local actual = tonumber(A.actual) or 0
  if actual ~= 0 then redis.call('HINCRBYFLOAT', meta, 'cost_spent', actual) end
  return {'ok'}
end

local v = redis.call('HMGET', meta, 'status', 'max_cost', 'cost_spent', 'cost_reserved',
                     'pause_reason')
local max_cost = tonumber(v[2])
if not max_cost then return {'none'} end
if v[1] == STATUS.PAUSED then return {'paused', v[5] or 'paused'} end
local spent = tonumber(v[3]) or 0
local reserved = tonumber(v[4]) or 0
if spent + reserved + estimate > max_cost then
  local reason = 'budget of $' .. usd(max_cost) .. ' reached: $' .. usd(spent) ..
    ' spent, $' .. usd(math.max(reserved, 0)) .. ' in flight'
  if v[1] == STATUS.IN_PROGRESS or v[1] == STATUS.VALIDATING then
    redis.call('HSET', meta, 'status', STATUS.PAUSED, 'paused_at', A.now, 'pause_reason', reason)
  end
  return {'paused', reason}
end
redis.call('HINCRBYFLOAT', meta, 'cost_reserved', estimate)
return {'ok'}
