/*
 * hostaddr.h - the node's own address, as Kubernetes components pick it by default.
 */
#ifndef BSN_BASE_HOSTADDR_H
#define BSN_BASE_HOSTADDR_H

#include <stddef.h>

/*
 * Writes the first IPv4 address of an interface that is up and not loopback (the node's
 * InternalIP, the API server's advertise address, a LoadBalancer's ingress) into out, or
 * "127.0.0.1" when there is none. Returns 0 when a non-loopback address was found, -1 else.
 */
int bsn_host_ipv4(char *out, size_t n);

#endif
