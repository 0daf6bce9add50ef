-- wrk script: GET one object with the admin token.
function init(args)
    wrk.headers["Authorization"] = "Bearer " .. os.getenv("BOSUN_TOKEN")
end
