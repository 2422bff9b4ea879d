"""The Lua scripts that make each shared operation atomic on Valkey/Redis.

Every script decides on the server, in one round trip, so copies racing for the same
key cannot interleave between a read and a write."""

# KEYS: one per delivery id. ARGV: ttl_ms. 1 if none was there; marks them all.
FIRST_TIME = """
local fresh = 1
for _, key in ipairs(KEYS) do
  if not redis.call('SET', key, '1', 'NX', 'PX', ARGV[1]) then fresh = 0 end
end
return fresh
"""

# KEYS: lock, fence counter. ARGV: ttl_ms. {1, token} if we now hold the lock with a
# new fencing token, else {0, the holder's token}.
ACQUIRE = """
local holder = redis.call('GET', KEYS[1])
if holder then return {0, holder} end
local token = tostring(redis.call('INCR', KEYS[2]))
redis.call('SET', KEYS[1], token, 'PX', ARGV[1])
return {1, token}
"""

# KEYS: the holder's result, lock. {result or false, lock holder or false, lock pttl}.
PEEK = """
return {redis.call('GET', KEYS[1]), redis.call('GET', KEYS[2]), redis.call('PTTL', KEYS[2])}
"""

# KEYS: lock, result. ARGV: token, payload, result ttl_ms, channel. The fence: only a
# holder whose token still holds the lock may publish a result and release the lock.
FINISH = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
redis.call('DEL', KEYS[1])
redis.call('PUBLISH', ARGV[4], ARGV[1])
return 1
"""

# KEYS: lock. ARGV: token, ttl_ms. The holder keeps its lock while its work runs, fenced.
RENEW = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
return redis.call('PEXPIRE', KEYS[1], ARGV[2])
"""

# KEYS: lock. ARGV: token, channel. Release without a result (the work raised), fenced.
RELEASE = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('PUBLISH', ARGV[2], ARGV[1])
return 1
"""

# KEYS: the person's sorted set of action times (or the API's), and optionally a pause
# key. ARGV: limit, window_ms, unique member. A sliding window on the server's clock
# (copies' clocks may disagree): -1 if allowed (and counted), else milliseconds until
# the oldest action leaves the window, or until the pause ends.
TAKE = """
if KEYS[2] then
  local paused = redis.call('PTTL', KEYS[2])
  if paused > 0 then return paused end
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return math.max(0, tonumber(oldest[2]) + window - now)
end
redis.call('ZADD', KEYS[1], now, ARGV[3])
redis.call('PEXPIRE', KEYS[1], window)
return -1
"""

# KEYS: the pause key. ARGV: ttl_ms. Pause for ttl_ms unless a longer pause is set.
PAUSE = """
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
end
return 0
"""

# KEYS: the batch slot. ARGV: batch id, ttl_ms. false if ours now, else the holder's id.
BEGIN_BATCH = """
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return holder end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return false
"""

# KEYS: the batch slot. ARGV: batch id. Only the holder releases it.
END_BATCH = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 0
"""
