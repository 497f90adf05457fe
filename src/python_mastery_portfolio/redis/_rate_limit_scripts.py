"""The Lua scripts of :class:`~python_mastery_portfolio.redis.RedisRateLimitStore`.

Times are passed and kept in two parts, seconds and nanoseconds ("<s>:<ns>" in a bucket),
because Lua's numbers are doubles: every sum and difference the scripts make stays exact.
Mode ``s`` reads the server's clock (``TIME``), mode ``c`` the caller's ``now``.
"""

from __future__ import annotations

from python_mastery_portfolio.redis._scripts import Script

__all__ = ["BACKLOG", "RELEASE", "TAKE", "TRY_TAKE"]

# Shared by every script: the time to decide on, a bucket's distance ahead of it, storing.
COMMON = """
local function now_of(mode, h, l)
  if mode == 's' then
    local t = redis.call('TIME')
    return tonumber(t[1]), tonumber(t[2]) * 1000
  end
  return tonumber(h), tonumber(l)
end
local function parse(text)
  local i = string.find(text, ':', 1, true)
  return tonumber(string.sub(text, 1, i - 1)), tonumber(string.sub(text, i + 1))
end
local function ahead_of(name, h, l)
  local cur = redis.call('GET', name)
  if not cur then return 0 end
  local th, tl = parse(cur)
  local d = (th - h) * 1e9 + (tl - l)
  if d > 0 then return d end
  return 0
end
local function shift(h, l, delta)
  local t = l + delta
  local carry = math.floor(t / 1e9)
  t = t - carry * 1e9
  if t < 0 then t = t + 1e9; carry = carry - 1 end
  if t >= 1e9 then t = t - 1e9; carry = carry + 1 end
  return h + carry, t
end
local function store(name, h, l, after)
  local th, tl = shift(h, l, after)
  redis.call('SET', name, string.format('%.0f:%.0f', th, tl), 'PX', math.ceil(after / 1e6))
end
"""

# KEYS: bucket. ARGV: mode, now seconds, now ns, cost, tolerance. Returns 1 or 0.
TRY_TAKE = Script(
    COMMON
    + """
local h, l = now_of(ARGV[1], ARGV[2], ARGV[3])
local after = ahead_of(KEYS[1], h, l) + tonumber(ARGV[4])
if after <= tonumber(ARGV[5]) then
  store(KEYS[1], h, l, after)
  return 1
end
return 0
"""
)

# ARGV as TRY_TAKE, then max_wait (-1: none). Returns {status, wait, distance, now s, now ns}:
# status 1 granted (distance: to the new tat), 2 reserved (idem), 0 refused (to the old one).
TAKE = Script(
    COMMON
    + """
local h, l = now_of(ARGV[1], ARGV[2], ARGV[3])
local ahead = ahead_of(KEYS[1], h, l)
local after = ahead + tonumber(ARGV[4])
local wait = after - tonumber(ARGV[5])
local max_wait = tonumber(ARGV[6])
if wait <= 0 then
  store(KEYS[1], h, l, after)
  return {1, 0, after, h, l}
end
if max_wait >= 0 and wait > max_wait then
  return {0, wait, ahead, h, l}
end
store(KEYS[1], h, l, after)
return {2, wait, after, h, l}
"""
)

# KEYS: bucket. ARGV: refund, tat seconds, tat ns. Returns 1 if the refund went back.
RELEASE = Script(
    COMMON
    + """
local refund = tonumber(ARGV[1])
local cur = redis.call('GET', KEYS[1])
if not cur then return 0 end
local th, tl = parse(cur)
if th ~= tonumber(ARGV[2]) or tl ~= tonumber(ARGV[3]) then return 0 end
local px = redis.call('PTTL', KEYS[1]) - math.floor(refund / 1e6)
if px <= 0 then
  redis.call('DEL', KEYS[1])
  return 1
end
th, tl = shift(th, tl, -refund)
redis.call('SET', KEYS[1], string.format('%.0f:%.0f', th, tl), 'PX', px)
return 1
"""
)

# KEYS: bucket. ARGV: mode, now seconds, now ns. Returns how far the tat runs ahead of now.
BACKLOG = Script(
    COMMON
    + """
local h, l = now_of(ARGV[1], ARGV[2], ARGV[3])
return ahead_of(KEYS[1], h, l)
"""
)
