-- enqueue: put a call in its queue (or move it there from another queue), replacing its hash.
-- ARGV: prefix, call_id, queue, score (exact decimal string), then field, value pairs.

local call_id, queue, score = ARGV[2], ARGV[3], ARGV[4]
local key = k_call(call_id)
local old = redis.call('HGET', key, 'queue')
if old then redis.call('ZREM', k_waiting(old), call_id) end
redis.call('DEL', key)
local fields = {}
for i = 5, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', key, unpack(fields))
redis.call('ZADD', k_waiting(queue), score, call_id)
return 1
