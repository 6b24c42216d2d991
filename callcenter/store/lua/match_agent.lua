-- match_agent: the most urgent call a just-freed agent is eligible for, claimed atomically.
-- ARGV: prefix, agent_id, now (exact decimal string), walk limit per queue.
-- Returns {call_id, queue}, or nil when the agent cannot take a call or none fits.
--
-- Each of the agent's queues is walked from the head (queue_score order, which within one
-- queue is call_rank order); its first eligible call is that queue's candidate, and the
-- candidates compare by (call_rank, call_id). At most `limit` calls are read per queue, so a
-- head of more than `limit` calls the agent cannot take hides the rest until they move up.
-- A queue whose least requirement (its own skills after every escalation step) the agent
-- misses is skipped without reading its calls.

local agent_id, now_s, limit = ARGV[2], ARGV[3], tonumber(ARGV[4])
local now = tonumber(now_s)

if redis.call('HGET', k_agent(agent_id), 'status') ~= 'available' then return false end
if not registered(agent_id, now) then return false end
local have = {}
local flat = redis.call('HGETALL', k_skills(agent_id))
for i = 1, #flat, 2 do have[flat[i]] = tonumber(flat[i + 1]) end

local best_id, best_queue, best_rank
for _, qname in ipairs(agent_queues(agent_id)) do
  local q = load_queue(qname)
  if q ~= nil and skills_ok(have, q.least) then
    local ids = redis.call('ZRANGE', k_waiting(qname), 0, limit - 1)
    for _, call_id in ipairs(ids) do
      local call = load_call(call_id)
      if call ~= nil and not declined_recently(call, agent_id, q, now) then
        local levels = requirements(q, call, now)
        if skills_ok(have, levels) then
          local rank = -(call.priority * PRIORITY_SPAN + (now - call.entered_at) * q.weight)
          if best_id == nil or rank < best_rank
              or (rank == best_rank and bytes_lt(call_id, best_id)) then
            best_id, best_queue, best_rank = call_id, qname, rank
          end
          break
        end
      end
    end
  end
end

if best_id == nil then return false end
reserve(agent_id, best_id, best_queue, now_s)
return {best_id, best_queue}
