/*
 * hostaddr.h - the node's own address, as Kubernetes components pick it by default, and the
 * IPv4 CIDR arithmetic of the service range (--service-cidr).
 */
#ifndef BSN_BASE_HOSTADDR_H
#define BSN_BASE_HOSTADDR_H

#include <stddef.h>
#include <stdint.h>

/*
 * Writes the first IPv4 address of an interface that is up and not loopback (the node's
 * InternalIP, the API server's advertise address, a LoadBalancer's ingress) into out, or
 * "127.0.0.1" when there is none. Returns 0 when a non-loopback address was found, -1 else.
 */
int bsn_host_ipv4(char *out, size_t n);

/*
 * An IPv4 range "A.B.C.D/P": the network address (host byte order, host bits cleared) and
 * the prefix length. Returns 0, or -1 when s is not an IPv4 CIDR with min_prefix <= P <= max_prefix
 * or when its host bits are not zero.
 */
int bsn_cidr4_parse(const char *s, unsigned min_prefix, unsigned max_prefix, uint32_t *net,
                    unsigned *prefix);
/* The address net + index, dotted ("10.43.0.10" for 10.43.0.0 and 10). */
void bsn_ip4_format(uint32_t net, uint32_t index, char *out, size_t n);

#endif
