-- remove_call: the call leaves routing for good (abandoned, answered, overflowed away).
-- ARGV: prefix, call_id. Returns the call's hash as a flat list (empty when it was gone).

local call_id = ARGV[2]
local key = k_call(call_id)
local flat = redis.call('HGETALL', key)
local h = hash_table(flat)
if h.queue ~= nil then redis.call('ZREM', k_waiting(h.queue), call_id) end
redis.call('DEL', key)
return flat
