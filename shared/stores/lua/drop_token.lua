-- KEYS: token. ARGV: the user tag it must belong to ('' = anyone's). Returns the tag, or
-- false if there was no such watch.
local raw = redis.call('GET', KEYS[1])
if not raw then return false end
local tag = cjson.decode(raw).user_tag
if ARGV[1] ~= '' and tag ~= ARGV[1] then return false end
redis.call('DEL', KEYS[1])
return tag
