"""The Lua script of :class:`~python_mastery_portfolio.redis.RedisBreakerStateStore`.

One script makes every step of the state machine, as
:class:`~python_mastery_portfolio.resilience.InMemoryBreakerStateStore` does in Python: it reads
the breaker's hash, applies the operation and writes the hash back, atomically.
"""

from __future__ import annotations

from python_mastery_portfolio.redis._scripts import Script

__all__ = ["STEP"]

# KEYS: the hash. ARGV: op, mode, caller now, the policy (7 fields; failure_rate -1 for
# none), ticket, forced target. Returns {state, epoch, result, retry, forced, #log, log...,
# [stats]}; the hash's idle ttl in ms is the last ARGV. Op 'peek' only reads. Result 1 =
# admitted / moved; retry '' (admitted), 'none' (forced open) or seconds.
STEP = Script(
    """
local key = KEYS[1]
local op = ARGV[1]
local now
if ARGV[2] == 's' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1e6
else
  now = tonumber(ARGV[3])
end
local threshold = tonumber(ARGV[4])
local recovery = tonumber(ARGV[5])
local max_probes = tonumber(ARGV[6])
local needed = tonumber(ARGV[7])
local rate = tonumber(ARGV[8])
local window = tonumber(ARGV[9])
local minimum = tonumber(ARGV[10])
local ticket = tonumber(ARGV[11])
local target = ARGV[12]
local idle_ms = tonumber(ARGV[13])

local h = {}
local raw = redis.call('HGETALL', key)
for i = 1, #raw, 2 do h[raw[i]] = raw[i + 1] end
local function n(name) return tonumber(h[name] or '0') end
local state = h['state'] or 'closed'
local epoch = n('epoch')
local forced = h['forced'] or ''
local log = {}
local result = 0
local retry = ''

local function wclear()
  for i = 0, 9 do h['wc' .. i] = 0; h['wf' .. i] = 0 end
  h['window_calls'] = 0
  h['window_failures'] = 0
end
local function wadvance()
  if not h['wwidth'] then return end
  local index = math.floor(now / tonumber(h['wwidth']))
  local last = n('wlast')
  if index <= last then return end
  local stop = index
  if last + 10 < stop then stop = last + 10 end
  for stale = last + 1, stop do
    local slot = stale % 10
    h['window_calls'] = n('window_calls') - n('wc' .. slot)
    h['window_failures'] = n('window_failures') - n('wf' .. slot)
    h['wc' .. slot] = 0
    h['wf' .. slot] = 0
  end
  h['wlast'] = index
end
local function wrecord(failed)
  if not h['wwidth'] then
    h['wwidth'] = window / 10
    h['wlast'] = math.floor(now / (window / 10))
    wclear()
  end
  wadvance()
  local slot = n('wlast') % 10
  h['wc' .. slot] = n('wc' .. slot) + 1
  h['window_calls'] = n('window_calls') + 1
  if failed then
    h['wf' .. slot] = n('wf' .. slot) + 1
    h['window_failures'] = n('window_failures') + 1
  end
end
local function to(new)
  table.insert(log, state)
  table.insert(log, new)
  state = new
  epoch = epoch + 1
  h['consecutive_failures'] = 0
  h['half_open_calls'] = 0
  h['probe_successes'] = 0
  if new == 'open' then
    h['opened_at'] = now
    h['opened'] = n('opened') + 1
  elseif new == 'closed' and h['wwidth'] then
    wclear()
  end
end
local function expire_open()
  if state == 'open' and forced == '' and now >= n('opened_at') + recovery then
    to('half_open')
  end
end
local function refuse(after)
  h['rejected'] = n('rejected') + 1
  retry = after
end

if op == 'state' then
  expire_open()
elseif op == 'enter' then
  if state == 'open' then
    if forced ~= '' then
      refuse('none')
    else
      local remaining = n('opened_at') + recovery - now
      if remaining > 0 then refuse(string.format('%.17g', remaining)) else to('half_open') end
    end
  end
  if retry == '' then
    if state == 'half_open' then
      if n('half_open_calls') >= max_probes then
        refuse('0')
      else
        h['half_open_calls'] = n('half_open_calls') + 1
        result = 1
      end
    else
      result = 1
    end
  end
elseif op == 'success' then
  h['successes'] = n('successes') + 1
  if ticket == epoch then
    if state == 'closed' then
      h['consecutive_failures'] = 0
      if rate >= 0 then wrecord(false) end
    else
      h['half_open_calls'] = n('half_open_calls') - 1
      h['probe_successes'] = n('probe_successes') + 1
      if n('probe_successes') >= needed then
        to('closed')
        result = 1
      end
    end
  end
elseif op == 'failure' then
  h['failures'] = n('failures') + 1
  if ticket == epoch and forced == '' then
    local opens = true
    if state == 'closed' then
      if rate < 0 then
        h['consecutive_failures'] = n('consecutive_failures') + 1
        opens = n('consecutive_failures') >= threshold
      else
        wrecord(true)
        opens = n('window_calls') >= minimum
          and n('window_failures') / n('window_calls') >= rate
      end
    end
    if opens then
      to('open')
      result = 1
    end
  end
elseif op == 'ignored' then
  h['ignored'] = n('ignored') + 1
  if ticket == epoch and state == 'half_open' then
    h['half_open_calls'] = n('half_open_calls') - 1
  end
elseif op == 'reset' then
  forced = ''
  if state ~= 'closed' then
    to('closed')
    result = 1
  else
    epoch = epoch + 1
    h['consecutive_failures'] = 0
    if h['wwidth'] then wclear() end
  end
elseif op == 'force' then
  forced = target
  if state ~= target then
    to(target)
    result = 1
  end
elseif op == 'stats' then
  expire_open()
  wadvance()
end

if op ~= 'peek' and (op ~= 'state' or #log > 0) then
  h['state'] = state
  h['epoch'] = epoch
  h['forced'] = forced
  local flat = {}
  for name, value in pairs(h) do
    table.insert(flat, name)
    table.insert(flat, value)
  end
  redis.call('HSET', key, unpack(flat))
  -- Gone once idle (nothing open or counting outlives it) -- except an operator's hold.
  if forced ~= '' then
    redis.call('PERSIST', key)
  else
    redis.call('PEXPIRE', key, math.max(idle_ms, math.ceil(2000 * (recovery + window))))
  end
end
local reply = {state, epoch, result, retry, forced, #log}
for _, value in ipairs(log) do table.insert(reply, value) end
if op == 'stats' then
  for _, name in ipairs({'successes', 'failures', 'ignored', 'rejected', 'opened',
      'consecutive_failures', 'half_open_calls', 'window_calls', 'window_failures'}) do
    table.insert(reply, n(name))
  end
end
return reply
"""
)
