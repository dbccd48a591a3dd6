-- Commit the changes of one or more consecutive events of a routing domain, atomically.
-- KEYS: 1 version, 2 agents hash, 3 contacts hash, 4 queues hash, 5 alerts hash, then one event
--       (outbox) key per event (E), then one key per customer history written.
-- ARGV: 1 expected version, 2 event ttl seconds, 3 events (E), 4 agent entries (A), 5 contact
--       entries (C), 6 queue entries (Q), 7 alert entries (L), 8 customer ttl seconds, 9 version steps
--       (the events that changed the state: the version counts events, however they are batched),
--       then E outputs (JSON, one per event), then A pairs (agent id, record JSON or '' to delete),
--       C contact pairs, Q queue pairs, L alert pairs, then one customer history record per customer key.
-- Records are stored verbatim (cjson would round floats and turn [] into {}); they are decoded
-- only to re-check the promises.
-- Returns {'duplicate', outputs, index} for the first event applied before (0-based; nothing written)
-- | {'conflict', version} | {'applied', version};
-- an error reply starting with INVARIANT when a change would break a promise.
local HEADER = 9
local EVENTS = tonumber(ARGV[3])
local FIRST_EVENT_KEY = 6
for i = 0, EVENTS - 1 do
  local stored = redis.call('GET', KEYS[FIRST_EVENT_KEY + i])
  if stored then
    return {'duplicate', stored, tostring(i)}
  end
end
local version = tonumber(redis.call('GET', KEYS[1]) or '0')
if version ~= tonumber(ARGV[1]) then
  return {'conflict', tostring(version)}
end
local OUTPUTS = HEADER + 1
local PAIRS = HEADER + EVENTS
local agent_end = PAIRS + 2 * tonumber(ARGV[4])
local contact_end = agent_end + 2 * tonumber(ARGV[5])
local queue_end = contact_end + 2 * tonumber(ARGV[6])
local alert_end = queue_end + 2 * tonumber(ARGV[7])

-- Promises 2 and 3, re-checked here whatever the caller computed (state/store.py has the same rules):
-- no contact given beyond capacity, new contacts only to available agents, and a contact held by one agent
-- only: (A) a contact an agent newly holds is assigned to it, (B) a contact leaving an agent is
-- released by that agent in the same commit.
local new_agents, new_contacts = {}, {}
for i = PAIRS + 1, agent_end, 2 do new_agents[ARGV[i]] = ARGV[i + 1] end
for i = agent_end + 1, contact_end, 2 do new_contacts[ARGV[i]] = ARGV[i + 1] end

local function contact_now(contact_id)
  local raw = new_contacts[contact_id]
  if raw == nil then raw = redis.call('HGET', KEYS[3], contact_id) end
  if not raw or raw == '' then return nil end
  return cjson.decode(raw)
end

for agent_id, raw in pairs(new_agents) do
  if raw ~= '' then
    local rec = cjson.decode(raw)
    local before = redis.call('HGET', KEYS[2], agent_id)
    local before_active = {}
    if before then before_active = cjson.decode(before).active end
    -- Capacity binds on channels where the agent gains a contact: a lowered capacity (a new login)
    -- does not take away contacts already in progress.
    local load, gained = {}, {}
    for contact_id, channel in pairs(rec.active) do
      load[channel] = (load[channel] or 0) + 1
      if before_active[contact_id] == nil then gained[channel] = true end
    end
    for channel, _ in pairs(gained) do
      if load[channel] > (rec.capacity[channel] or 0) then
        return redis.error_reply('INVARIANT agent ' .. agent_id .. ' over capacity on ' .. channel)
      end
    end
    for contact_id, _ in pairs(rec.active) do
      if before_active[contact_id] == nil then
        if rec.state ~= 'available' then
          return redis.error_reply('INVARIANT agent ' .. agent_id .. ' given a contact while ' .. rec.state)
        end
        local held = contact_now(contact_id)
        if held == nil or held.status ~= 'assigned' or held.agent_id ~= agent_id then
          return redis.error_reply('INVARIANT agent ' .. agent_id .. ' holds ' .. contact_id .. ', which is not assigned to it')
        end
      end
    end
  end
end
for contact_id, raw in pairs(new_contacts) do
  local before = redis.call('HGET', KEYS[3], contact_id)
  if before then
    local old = cjson.decode(before)
    local new_agent = nil
    if raw ~= '' then new_agent = cjson.decode(raw).agent_id end
    if old.status == 'assigned' and old.agent_id ~= new_agent then
      local prev = new_agents[old.agent_id]
      if prev == nil or (prev ~= '' and cjson.decode(prev).active[contact_id] ~= nil) then
        return redis.error_reply('INVARIANT contact ' .. contact_id .. ' left agent ' .. old.agent_id .. ' without being released')
      end
    end
  end
end

local function write(hash, from, to)
  for i = from, to, 2 do
    if ARGV[i + 1] == '' then
      redis.call('HDEL', hash, ARGV[i])
    else
      redis.call('HSET', hash, ARGV[i], ARGV[i + 1])
    end
  end
end
write(KEYS[2], PAIRS + 1, agent_end)
write(KEYS[3], agent_end + 1, contact_end)
write(KEYS[4], contact_end + 1, queue_end)
write(KEYS[5], queue_end + 1, alert_end)
local first_customer_key = FIRST_EVENT_KEY + EVENTS
for i = first_customer_key, #KEYS do
  redis.call('SET', KEYS[i], ARGV[alert_end + 1 + i - first_customer_key], 'EX', tonumber(ARGV[8]))
end
if tonumber(ARGV[9]) > 0 then
  version = redis.call('INCRBY', KEYS[1], ARGV[9])
end
for i = 0, EVENTS - 1 do
  redis.call('SET', KEYS[FIRST_EVENT_KEY + i], ARGV[OUTPUTS + i], 'EX', tonumber(ARGV[2]))
end
return {'applied', tostring(version)}
