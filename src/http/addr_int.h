/*
 * addr_int.h - internal: address parsing and resolution shared by server and client.
 */
#ifndef BSN_HTTP_ADDR_INT_H
#define BSN_HTTP_ADDR_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

/* Splits "host:port" / "[v6]:port" / ":port". Returns 0 or -1. */
int bsn_http_split_hostport(const char *s, char *host, size_t hostsz, char *port, size_t portsz);
/* getaddrinfo wrapper: a stream address for host ("" = any) and numeric port, the first IPv4
 * one when resolving a peer (passive false), else the first. */
int bsn_http_resolve(const char *host, const char *port, bool passive, struct sockaddr_storage *ss,
                     socklen_t *sslen);
/* Fills a sockaddr_un. Returns -1 if the path is too long. */
int bsn_http_unix_addr(const char *path, struct sockaddr_storage *ss, socklen_t *sslen);

#endif
