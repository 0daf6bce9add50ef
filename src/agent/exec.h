/*
 * exec.h - `kubectl exec`, `kubectl attach` and `kubectl port-forward` on the node: the
 * streaming pod subresources (pods/exec, pods/attach, pods/portforward) served by the agent.
 *
 * One entry point, transport-agnostic: the embedded agent calls it from the API server's pod
 * subresource hook (bsn_apiserver_set_pod_handler + bsn_api_reply_take_http_req), a standalone
 * agent from its own kubelet-style HTTPS server. Both hand over the raw HTTP request, before
 * any upgrade:
 *
 *     void bsn_agent_stream_serve(struct bsn_agent *a, struct bsn_http_req *req,
 *                                 const char *sub, const char *ns, const char *pod);
 *
 *   a    the agent that runs the pod (its loop must be the loop of req's server)
 *   req  an HTTP/1.1 request, not yet answered; bsn_agent_stream_serve finishes it (an error
 *        response, or the protocol upgrade, after which the agent owns the connection). The
 *        method may be GET (WebSocket) or POST (SPDY). req->query carries the options, as
 *        upstream:
 *        exec: command (repeated, at least one), container, stdin, stdout, stderr, tty
 *        ("true"/"1"); attach: container, stdin, stdout, stderr, tty;
 *        portforward: ports (repeated or comma-separated; only for the channel protocol).
 *   sub  "exec", "attach" or "portforward"
 *   ns, pod  the pod (must be one of a's pods)
 *
 * Errors before the upgrade are answered as a Kubernetes Status (JSON): 404 pod not found on
 * this node, 400 unknown container / container not running / no command / nothing to stream
 * / not an upgrade request. Everything else (exit codes, exec failures) is reported in-band.
 *
 * Protocols (chosen from Sec-WebSocket-Protocol; the first we support in our order):
 *   exec/attach, WebSocket (kubectl >= 1.30): "v5.channel.k8s.io", "v4.channel.k8s.io",
 *     "v3.channel.k8s.io", "v2.channel.k8s.io", "channel.k8s.io". Each binary message is one
 *     byte of channel (0 stdin, 1 stdout, 2 stderr, 3 error/status, 4 resize) + data. v5: a
 *     message [255, 0] closes stdin. v4/v5: the status on channel 3 is a metav1.Status JSON
 *     (Success, or Failure with reason NonZeroExitCode and details.causes[{reason ExitCode,
 *     message "<code>"}]); v1-v3: the error text only. Resize: {"Width":W,"Height":H}.
 *   portforward, WebSocket: "SPDY/3.1+portforward.k8s.io" (kubectl >= 1.31 tunnels SPDY/3.1
 *     inside binary messages; see exec_spdy.c) and "v4.channel.k8s.io" / "portforward.k8s.io"
 *     (the kubelet's channel protocol: per port a data channel 2i and an error channel 2i+1,
 *     the first message on each carries the port as 2 bytes little-endian).
 *   Plain SPDY/3.1 (kubectl < 1.30, port-forward < 1.31): `Upgrade: SPDY/3.1` with
 *     X-Stream-Protocol-Version "v4.channel.k8s.io" .. "channel.k8s.io" (exec/attach: one
 *     SPDY stream per stdin/stdout/stderr/error/resize, the process starts once all asked
 *     for are open) or "portforward.k8s.io" (the same streams as the tunnelled form).
 *
 * The process (exec) runs in the container through bsn_runtime_exec: non-TTY with pipes, TTY
 * with a pseudo-terminal (resize -> TIOCSWINSZ). Output is read only while less than 256 KiB
 * wait to be sent to the client (backpressure); stdin is buffered up to 1 MiB, beyond that
 * the connection is not read. When the client goes away the process group is killed
 * (SIGKILL). Everything runs on the agent's loop.
 */
#ifndef BSN_AGENT_EXEC_H
#define BSN_AGENT_EXEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "http/websocket.h"

struct bsn_agent;
struct bsn_http_req;

void bsn_agent_stream_serve(struct bsn_agent *a, struct bsn_http_req *req, const char *sub,
                            const char *ns, const char *pod);

/* ---- protocol pieces (exec_proto.c), public for the unit tests and the fuzz target ---- */

#define BSN_RC_STDIN  0
#define BSN_RC_STDOUT 1
#define BSN_RC_STDERR 2
#define BSN_RC_ERROR  3
#define BSN_RC_RESIZE 4
#define BSN_RC_CLOSE  255 /* v5: [255, channel] closes that channel */

#define BSN_RC_MAX_ARGS  1024
#define BSN_RC_MAX_PORTS 16

/* Options of an exec/attach/portforward request (from its query string). */
struct bsn_rc_opts {
    char container[254];
    char **command; /* NULL-terminated, ncommand entries */
    size_t ncommand;
    bool in, out, err, tty;
    uint16_t ports[BSN_RC_MAX_PORTS];
    size_t nports;
};

/* Parses a raw query ("command=ls&command=-l&stdout=true"). Unknown keys are ignored.
 * Returns 0, or -1 with why (bad escape, too many arguments, bad port). */
int bsn_rc_opts_parse(const char *query, struct bsn_rc_opts *o, char *why, size_t whylen);
void bsn_rc_opts_fini(struct bsn_rc_opts *o);

/* Protocol version of a chosen subprotocol: 5 for "v5.channel.k8s.io" .. 1 for
 * "channel.k8s.io" or NULL; 0 for anything else. */
int bsn_rc_version(const char *subprotocol);

/* The status message for channel 3 (caller frees). err_msg != NULL: a Failure with reason
 * InternalError (the command could not run); else exit_code 0: Success; else a Failure with
 * reason NonZeroExitCode and the code in details.causes. version < 4: plain text, NULL on
 * success. argv names the command in the message (may be NULL). */
char *bsn_rc_status(int version, int exit_code, const char *const *argv, const char *err_msg);

/* Appends a server-to-client binary message [channel] + data. */
void bsn_rc_encode(struct bsn_buf *out, int channel, const void *data, size_t len);

/* Parses a resize message ({"Width":80,"Height":24}); 0 or -1. */
int bsn_rc_parse_resize(const char *data, size_t len, uint16_t *width, uint16_t *height);

/* What the client sent, message by message. */
enum bsn_rc_event {
    BSN_RC_EV_DATA,   /* channel, data: bytes for a channel (stdin, or a port's stream) */
    BSN_RC_EV_RESIZE, /* width, height */
    BSN_RC_EV_EOF,    /* channel: the client closed it (v5) */
    BSN_RC_EV_PING,   /* data: answer with a PONG carrying it */
    BSN_RC_EV_CLOSE,  /* the client closed the WebSocket */
    BSN_RC_EV_RAW,    /* data: a binary message as is (SPDY tunnel: no channel byte) */
};
struct bsn_rc_msg {
    enum bsn_rc_event ev;
    int channel;
    const char *data;
    size_t len;
    uint16_t width, height;
};
typedef int (*bsn_rc_cb)(const struct bsn_rc_msg *m, void *ud);

enum bsn_rc_mode {
    BSN_RC_MODE_EXEC,  /* exec/attach: stdin, resize (v3+), close (v5) */
    BSN_RC_MODE_PORTS, /* portforward channel protocol: every channel carries data */
    BSN_RC_MODE_RAW,   /* SPDY tunnel: binary messages are passed through as BSN_RC_EV_RAW */
};
struct bsn_rc_decoder {
    struct bsn_ws_decoder ws;
    int version; /* 1..5 */
    enum bsn_rc_mode mode;
    bsn_rc_cb cb;
    void *ud;
};
void bsn_rc_decoder_init(struct bsn_rc_decoder *d, int version, enum bsn_rc_mode mode, bsn_rc_cb cb,
                         void *ud);
void bsn_rc_decoder_fini(struct bsn_rc_decoder *d);
/* Decodes the complete frames at the start of buf (masked client frames; unmasked in place).
 * Returns bytes consumed, or -1 with *close_code (protocol violation). cb returning non-zero
 * stops decoding after that message. Messages on unknown channels and empty ones are
 * dropped; a bad resize message is dropped. */
long bsn_rc_decode(struct bsn_rc_decoder *d, char *buf, size_t len, int *close_code);

#endif
