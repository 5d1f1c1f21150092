local function schedule(zset, due, job, channel)
  local head = redis.call('ZRANGE', zset, 0, 0, 'WITHSCORES')
  redis.call('ZADD', zset, due, job)
  if #head == 0 or tonumber(due) < tonumber(head[2]) then
    redis.call('PUBLISH', channel, due)
  end
end
if tonumber(ARGV[4]) > 0 and
   not redis.call('SET', KEYS[3], '1', 'NX', 'EX', ARGV[4]) then return 0 end
if tonumber(ARGV[2]) > 0 then
  schedule(KEYS[2], ARGV[2], ARGV[1], ARGV[5])
elseif ARGV[3] == 'front' then
  redis.call('RPUSH', KEYS[1], ARGV[1])
else
  redis.call('LPUSH', KEYS[1], ARGV[1])
end
return 1
