"""The Lua scripts the session store runs on the Redis server (one round trip each).

Each script is atomic on the server: what it reads and writes cannot interleave
with another client's commands. Values are ``ocs1 <kind> <active_at> <json>``
(codec.py): the scripts only look at the 21-byte header, except the soft
rotation, which decodes the JSON once per rotation to find `next_sid`.
"""
from __future__ import annotations

#: Lua helper of the scripts that name a session from its id (predecessors listed in a family set): the
#: prefix is KeyLayout.session_prefix(); one ending in '{' is a Redis Cluster layout, where the id is written
#: `<first 42>}<rest>` so that the key hashes like the session and the family (keys.py).
SESSION_KEY = """
local function session_key(prefix, sid)
  if string.sub(prefix, -1) == '{' then
    return prefix .. string.sub(sid, 1, 42) .. '}' .. string.sub(sid, 43)
  end
  return prefix .. sid
end
"""

#: The read of every request. KEYS[1] the session; ARGV[1] the caller's clock (Unix seconds), or 0 for a
#: read that is not user activity. Slides the expiry when less than `ttl - after` is left and restamps the
#: last activity (13 digits at offset 7, in place) when it is at least `granularity` seconds old; returns
#: the value as it is after the call. The numbers are formatted in (one script per expiry policy), so a call
#: sends only the key and the clock.
GET = """
local value = redis.call('GET', KEYS[1])
if not value then return false end
if string.sub(value, 1, 5) == 'ocs1 ' then
  local ttl, after
  if string.sub(value, 6, 6) == 'a' then
    ttl = {authenticated_ttl}; after = {authenticated_after}
  else
    ttl = {anonymous_ttl}; after = {anonymous_after}
  end
  if redis.call('TTL', KEYS[1]) < ttl - after then
    redis.call('EXPIRE', KEYS[1], ttl)
  end
  local now = tonumber(ARGV[1])
  if now and now > 0 then
    local active = tonumber(string.sub(value, 8, 20))
    if active and now - active >= {granularity} then
      local stamp = string.format('%013d', now)
      redis.call('SETRANGE', KEYS[1], 7, stamp)
      value = string.sub(value, 1, 7) .. stamp .. string.sub(value, 21)
    end
  end
end
return value
"""

#: Vacuum. KEYS the sessions of one SCAN batch; ARGV[1] the threshold: delete those whose last activity is
#: before it (reads only their 21-byte header; anything that is not ours is left alone).
VACUUM = """
local deleted = 0
local threshold = tonumber(ARGV[1])
for _, key in ipairs(KEYS) do
  local head = redis.pcall('GETRANGE', key, 0, 20)
  if type(head) == 'string' and string.sub(head, 1, 5) == 'ocs1 ' then
    local active = tonumber(string.sub(head, 8, 20))
    if active and active < threshold then
      redis.call('DEL', key)
      deleted = deleted + 1
    end
  end
end
return deleted
"""

#: Hard rotation (login, logout, expired session). KEYS[1] the old session, KEYS[2] the new one, KEYS[3] the
#: old session's family (predecessors left by soft rotations); ARGV[1] the new value, ARGV[2] its TTL,
#: ARGV[3] the key prefix of sessions. The old id and every predecessor stop working at once.
REPLACE = SESSION_KEY + """
redis.call('DEL', KEYS[1])
for _, sid in ipairs(redis.call('SMEMBERS', KEYS[3])) do
  redis.call('DEL', session_key(ARGV[3], sid))
end
redis.call('DEL', KEYS[3])
redis.call('SET', KEYS[2], ARGV[1], 'EX', ARGV[2])
return 1
"""

#: The first half of a hard rotation on a Redis Cluster, where the new id hashes to another slot than the old
#: one (then the new session is SET afterwards): KEYS[1] the old session, KEYS[2] its family; ARGV[1] the key
#: prefix of sessions. The old id and every predecessor stop working at once, before the new id exists.
DROP = SESSION_KEY + """
redis.call('DEL', KEYS[1])
for _, sid in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  redis.call('DEL', session_key(ARGV[1], sid))
end
redis.call('DEL', KEYS[2])
return 1
"""

#: Soft rotation (Odoo 19, every few hours). KEYS[1] the current session, KEYS[2] its successor, KEYS[3] the
#: family; ARGV[1] the current value with `next_sid`/`deletion_time`, ARGV[2] its TTL, ARGV[3] the successor's
#: value, ARGV[4] its TTL, ARGV[5] the current id, ARGV[6] the family's TTL.
#: Returns the successor id another request already chose (nothing written), 0 when the current session is
#: gone (revoked or logged out meanwhile: nothing is resurrected), 1 when rotated.
SOFT_ROTATE = """
local current = redis.call('GET', KEYS[1])
if not current then return 0 end
if string.sub(current, 1, 5) == 'ocs1 ' then
  local ok, data = pcall(cjson.decode, string.sub(current, 22))
  if ok and type(data) == 'table' and type(data['next_sid']) == 'string' then
    return data['next_sid']
  end
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
redis.call('SET', KEYS[2], ARGV[3], 'EX', ARGV[4])
redis.call('SADD', KEYS[3], ARGV[5])
redis.call('EXPIRE', KEYS[3], ARGV[6])
return 1
"""

#: Collect the predecessors of a soft-rotated session. KEYS[1] the session, KEYS[2] its family; ARGV[1] its
#: value without the collection flag, ARGV[2] its TTL, ARGV[3] the key prefix of sessions, ARGV[4] its id.
#: The session is rewritten only if it still exists (a revoked session is never resurrected) and has not been
#: superseded meanwhile (its `next_sid`/`deletion_time` stay). When a late request runs this on a superseded
#: session, that session stays in the family, for its successor to collect.
DELETE_PREDECESSORS = SESSION_KEY + """
local deleted = 0
for _, sid in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  if sid ~= ARGV[4] then
    deleted = deleted + redis.call('DEL', session_key(ARGV[3], sid))
    redis.call('SREM', KEYS[2], sid)
  end
end
local current = redis.call('GET', KEYS[1])
if current then
  local ok, data = pcall(cjson.decode, string.sub(current, 22))
  if not (ok and type(data) == 'table' and data['next_sid']) then
    redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
  end
end
return deleted
"""
