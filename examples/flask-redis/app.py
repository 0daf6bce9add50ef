# app.py - seed 001's demo app: a Flask page counter kept in Redis.
#
# GET / answers "[<pod hostname>] Redis counter value=N" and increments the counter;
# APP_VERSION (v1) is shown from v2 on, so a rolling update is visible. Redis is found by its
# Service name (COUNTER_REDIS_HOST, default "redis"; not REDIS_PORT: Kubernetes sets that one
# to "tcp://10.43.x.y:6379" for a Service named redis). Runs with Debian's python3-flask and
# python3-redis through Bosun's `host` image: no image build, no registry.
import os
import socket

from flask import Flask
import redis

app = Flask(__name__)
store = redis.Redis(host=os.environ.get("COUNTER_REDIS_HOST", "redis"),
                    port=int(os.environ.get("COUNTER_REDIS_PORT", "6379")),
                    socket_timeout=2, socket_connect_timeout=2)
version = os.environ.get("APP_VERSION", "v1")


@app.route("/")
def counter():
    value = store.incr("hits")
    prefix = "" if version == "v1" else version + " "
    return "%s[%s] Redis counter value=%d\n" % (prefix, socket.gethostname(), value)


@app.route("/healthz")
def healthz():
    store.ping()
    return "ok\n"


if __name__ == "__main__":
    app.run(host=os.environ.get("HOST", "0.0.0.0"), port=int(os.environ.get("PORT", "5000")))
