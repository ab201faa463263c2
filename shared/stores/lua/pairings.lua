-- Shared by every pairing script, which it is prepended to.
-- KEYS, always all five: pairings, codes, expiry, unbound, bound. A pairing is a JSON object
-- of strings in `pairings` under its device code hash; `codes` maps a user code hash to it;
-- `expiry` and `unbound` are sorted sets of device code hashes by expiry; `bound` holds
-- "<user tag>:<device code hash>" for every bound pairing, read by a user's tag prefix.
local PAIRINGS, CODES, EXPIRY, UNBOUND, BOUND = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local function load(dch)
  local raw = redis.call('HGET', PAIRINGS, dch)
  if raw then return cjson.decode(raw) end
  return nil
end
local function save(dch, p) redis.call('HSET', PAIRINGS, dch, cjson.encode(p)) end
local function drop(dch)
  local p = load(dch)
  redis.call('ZREM', EXPIRY, dch)
  redis.call('ZREM', UNBOUND, dch)
  if not p then return 0 end
  redis.call('HDEL', PAIRINGS, dch)
  if redis.call('HGET', CODES, p.user_code_hash) == dch then
    redis.call('HDEL', CODES, p.user_code_hash)
  end
  if p.user_tag then redis.call('ZREM', BOUND, p.user_tag .. ':' .. dch) end
  return 1
end
local function bound_to(tag)
  return redis.call('ZRANGEBYLEX', BOUND, '[' .. tag .. ':', '(' .. tag .. ';')
end
local function extend(ttl)
  for i = 1, 5 do
    if redis.call('EXISTS', KEYS[i]) == 1 and redis.call('TTL', KEYS[i]) < ttl then
      redis.call('EXPIRE', KEYS[i], ttl)
    end
  end
end
