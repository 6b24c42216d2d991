-- match_call: the best eligible available agent for one queued call, claimed atomically.
-- ARGV: prefix, call_id, now (exact decimal string), page size of the candidate walk.
-- Returns {agent id, queue}, or nil when the call is not queued or no agent is eligible.
--
-- Candidates come from the queue's available set in (primary, agent id) order; the walk stops
-- at the first score above the best eligible primary found, after checking every tie on
-- idle_since. most-skilled with IVR skills beyond the queue's own cannot trust the stored
-- score (it sums the queue's skills only), so it scans every available member instead.

local call_id, now_s, page = ARGV[2], ARGV[3], tonumber(ARGV[4])
local now = tonumber(now_s)

local call = load_call(call_id)
if call == nil or not redis.call('ZSCORE', k_waiting(call.queue), call_id) then return false end
local q = load_queue(call.queue)
if q == nil then return false end
local levels, base, names = requirements(q, call, now)

local full_scan = false
local base_names = {}
for s, _ in pairs(base) do
  base_names[#base_names + 1] = s
  if q.skills[s] == nil then full_scan = true end
end
full_scan = full_scan and q.strategy == 'most-skilled'

local available = k_available(call.queue)
local best_id, best_primary, best_idle
local offset = 0
local done = false
while not done do
  local rows = redis.call('ZRANGE', available, offset, offset + page - 1, 'WITHSCORES')
  if #rows == 0 then break end
  offset = offset + page
  for i = 1, #rows, 2 do
    local id, primary = rows[i], tonumber(rows[i + 1])
    if not full_scan and best_id ~= nil and primary > best_primary then
      done = true
      break
    end
    if not declined_recently(call, id, q, now) then
      local state = redis.call('HMGET', k_agent(id), 'status', 'idle_since')
      if state[1] == 'available' and registered(id, now) then
        local ok = true
        if full_scan then
          local have = skill_levels(id, base_names)
          ok = skills_ok(have, levels)
          primary = 0
          for _, s in ipairs(base_names) do primary = primary - have[s] end
        else
          ok = skills_ok(skill_levels(id, names), levels)
        end
        if ok then
          local idle = tonumber(state[2])
          if best_id == nil or primary < best_primary
              or (primary == best_primary and (idle < best_idle
                or (idle == best_idle and bytes_lt(id, best_id)))) then
            best_id, best_primary, best_idle = id, primary, idle
          end
        end
      end
    end
  end
end

if best_id == nil then return false end
reserve(best_id, call_id, call.queue, now_s)
return {best_id, call.queue}
