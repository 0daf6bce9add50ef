-- wrk script: POST unique 1 KiB ConfigMaps (durable creates) with the admin token.
local threads = {}
local counter = 0
local pad = string.rep("x", 900)

function setup(thread)
    thread:set("tid", #threads + 1)
    table.insert(threads, thread)
end

function init(args)
    math.randomseed(os.time() * 1000 + tid)
    wrk.method = "POST"
    wrk.headers["Content-Type"] = "application/json"
    wrk.headers["Authorization"] = "Bearer " .. os.getenv("BOSUN_TOKEN")
end

function request()
    counter = counter + 1
    local body = string.format(
        '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"b%s-%d-%d-%d"},"data":{"d":"%s"}}',
        os.getenv("BENCH_RUN") or "0", tid, counter, math.random(1, 1000000000), pad)
    return wrk.format(nil, nil, nil, body)
end

function response(status, headers, body)
    if status ~= 201 then
        io.stderr:write("unexpected status " .. status .. "\n")
    end
end
