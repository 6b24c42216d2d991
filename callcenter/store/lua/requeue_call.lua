-- requeue_call: an offered call goes back to its queue with its original score (so the head
-- of its priority band); optionally records that `agent` declined it at `at`.
-- ARGV: prefix, call_id, declined agent id ('' = none), declined at.
-- Returns 1 when requeued, 0 when the call is gone (the caller hung up meanwhile).

local call_id, agent_id, at = ARGV[2], ARGV[3], ARGV[4]
local key = k_call(call_id)
local h = hash_table(redis.call('HGETALL', key))
if h.queue == nil then return 0 end
redis.call('HDEL', key, 'agent')
if agent_id ~= '' then redis.call('HSET', key, 'd:' .. agent_id, at) end
redis.call('ZADD', k_waiting(h.queue), h.score, call_id)
return 1
