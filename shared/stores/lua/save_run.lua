-- KEYS: run, user, history, history:order. ARGV: expected version ('' = no run), version,
-- state, user_id, created_at, then the finished run ('' = none), its record, completed_at,
-- then the run's stamp ('' = none).
-- History is written before the run: a failure there (it raises) leaves nothing written.
local found = redis.call('HGET', KEYS[1], 'version') or ''
if found ~= ARGV[1] then return {0, found} end
if ARGV[6] ~= '' and redis.call('HSETNX', KEYS[3], ARGV[6], ARGV[7]) == 1 then
  redis.call('ZADD', KEYS[4], ARGV[8], ARGV[6])
end
if redis.call('EXISTS', KEYS[2]) == 0 then
  redis.call('HSET', KEYS[2], 'user_id', ARGV[4], 'created_at', ARGV[5])
end
redis.call('HSET', KEYS[1], 'version', ARGV[2], 'state', ARGV[3], 'stamp', ARGV[9])
return {1, ''}
