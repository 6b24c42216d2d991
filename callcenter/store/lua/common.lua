-- Shared helpers, prepended to every routing script (Redis 6.2 scripts cannot include files).
--
-- Mirrors callcenter.domain.routing (policy docstring): eligibility, escalation and the
-- ordering keys. Key names are built from ARGV[1] (keys.PREFIX) exactly as keys.py builds them.
--
-- Never format a fractional number in Lua: tostring() uses %.14g and would round epoch
-- seconds. Times are written back as the exact strings Python sent (ARGV) or Redis stored.

local P = ARGV[1]
local PRIORITY_SPAN = 1e10

local function k_agent(id) return P .. 'agent:' .. id end
local function k_skills(id) return P .. 'agent-skills:' .. id end
local function k_config(id) return P .. 'agent-config:' .. id end
local function k_queue(q) return P .. 'rq:' .. q end
local function k_available(q) return P .. 'rq-available:' .. q end
local function k_waiting(q) return P .. 'rq-waiting:' .. q end
local function k_call(c) return P .. 'wait:' .. c end
local K_REGISTERED = P .. 'agents:registered'

-- Byte-wise a < b: Python str order and sorted-set member order. Lua's own < uses strcoll,
-- which follows the server's locale, so it is not used on ids.
local function bytes_lt(a, b)
  local n = math.min(#a, #b)
  for i = 1, n do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y end
  end
  return #a < #b
end

local function hash_table(flat)
  local t = {}
  for i = 1, #flat, 2 do t[flat[i]] = flat[i + 1] end
  return t
end

-- EscalationStep.relax
local function relax(levels, step)
  local relaxed = {}
  for s, l in pairs(levels) do
    if not step.drop_set[s] then
      local floor = step.min_levels[s]
      if floor ~= nil and floor < l then l = floor end
      l = l - step.lower_by
      if l < 1 then l = 1 end
      relaxed[s] = l
    end
  end
  return relaxed
end

-- A queue's routing config, decoded once per script run.
local queue_cache = {}
local function load_queue(name)
  local cached = queue_cache[name]
  if cached then return cached end
  local h = hash_table(redis.call('HGETALL', k_queue(name)))
  if h.strategy == nil then return nil end
  local q = {
    name = name,
    strategy = h.strategy,
    weight = tonumber(h.weight),
    decline_retry = tonumber(h.decline_retry),
    skills = cjson.decode(h.skills),
    steps = cjson.decode(h.steps),
  }
  for _, step in ipairs(q.steps) do
    local drop = {}
    for _, s in ipairs(step.drop) do drop[s] = true end
    step.drop_set = drop
  end
  -- What every call of the queue needs at the least: its own skills after every step (IVR
  -- skills only add, and relaxing is monotone). An agent short of it can skip the queue.
  local least = q.skills
  for _, step in ipairs(q.steps) do least = relax(least, step) end
  q.least = least
  queue_cache[name] = q
  return q
end

-- A waiting call's hash, decoded; nil when the call is gone.
local function load_call(call_id)
  local h = hash_table(redis.call('HGETALL', k_call(call_id)))
  if h.queue == nil then return nil end
  local declined = {}
  for field, value in pairs(h) do
    if string.sub(field, 1, 2) == 'd:' then declined[string.sub(field, 3)] = tonumber(value) end
  end
  return {
    id = call_id,
    queue = h.queue,
    priority = tonumber(h.priority),
    entered_at = tonumber(h.entered_at),
    skills = cjson.decode(h.skills),
    declined = declined,
  }
end

-- escalation.requirements_at: queue and IVR skills merged (higher level wins), then every
-- step whose wait is reached relaxes them in order. Returns (levels, base, names of levels).
local function requirements(q, call, now)
  local base = {}
  for s, l in pairs(q.skills) do base[s] = l end
  for s, l in pairs(call.skills) do
    if base[s] == nil or l > base[s] then base[s] = l end
  end
  local waited = now - call.entered_at
  if waited < 0 then waited = 0 end
  local levels = base
  for _, step in ipairs(q.steps) do
    if waited < step.after then break end
    levels = relax(levels, step)
  end
  local names = {}
  for s, _ in pairs(levels) do names[#names + 1] = s end
  return levels, base, names
end

local function declined_recently(call, agent_id, q, now)
  local at = call.declined[agent_id]
  return at ~= nil and now < at + q.decline_retry
end

local function registered(agent_id, now)
  local until_ts = redis.call('ZSCORE', K_REGISTERED, agent_id)
  return until_ts and tonumber(until_ts) > now
end

-- Levels of the named skills, one HMGET (0 where the agent lacks the skill).
local function skill_levels(agent_id, names)
  local out = {}
  if #names == 0 then return out end
  local have = redis.call('HMGET', k_skills(agent_id), unpack(names))
  for i, s in ipairs(names) do out[s] = tonumber(have[i]) or 0 end
  return out
end

local function skills_ok(have, levels)
  for s, need in pairs(levels) do
    if (have[s] or 0) < need then return false end
  end
  return true
end

local function agent_queues(agent_id)
  local raw = redis.call('HGET', k_config(agent_id), 'queues')
  if not raw then return {} end
  return cjson.decode(raw)
end

-- transitions.Reserve, plus the two index updates that make it a claim: the agent leaves
-- every available set, the call leaves its queue (its hash stays for RONA / decline).
local function reserve(agent_id, call_id, queue, now_s)
  local key = k_agent(agent_id)
  redis.call('HSET', key, 'status', 'reserved', 'since', now_s, 'call_id', call_id,
    'queue', queue, 'last_offered_at', now_s, 'offered:' .. queue, now_s)
  redis.call('HDEL', key, 'reason', 'wrap_up_until')
  for _, q in ipairs(agent_queues(agent_id)) do redis.call('ZREM', k_available(q), agent_id) end
  redis.call('ZREM', k_waiting(queue), call_id)
  redis.call('HSET', k_call(call_id), 'agent', agent_id)
end
