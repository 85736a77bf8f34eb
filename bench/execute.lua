-- wrk script: POST :execute with the echo agent, cycling through 1,000 distinct slugs.
local counter = 0

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-API-KEY"] = os.getenv("FRUXON_KEY")

function init(args)
  -- Each wrk thread starts at its own offset so that the threads do not move in lockstep.
  counter = math.random(0, 999)
end

function request()
  counter = counter + 1
  local body = string.format(
    '{"parameters":{"question":"where is my order?"},"sessionId":"conv-%d",' ..
    '"environmentSlug":"customer_%d"}', counter, counter % 1000)
  return wrk.format(nil, nil, nil, body)
end
