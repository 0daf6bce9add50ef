/*
 * hostaddr.c - the node's default IPv4 address (getifaddrs order, first up non-loopback).
 */
#include "base/hostaddr.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
bsn_host_ipv4(char *out, size_t n)
{
    snprintf(out, n, "127.0.0.1");
    struct ifaddrs *ifs = NULL;
    if (getifaddrs(&ifs) < 0)
        return -1;
    int rc = -1;
    for (struct ifaddrs *i = ifs; i; i = i->ifa_next) {
        if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET || (i->ifa_flags & IFF_LOOPBACK) ||
            !(i->ifa_flags & IFF_UP))
            continue;
        const struct in_addr *a =
            &((const struct sockaddr_in *)(const void *)i->ifa_addr)->sin_addr;
        if ((ntohl(a->s_addr) >> 24) == 127)
            continue;
        inet_ntop(AF_INET, a, out, (socklen_t)n);
        rc = 0;
        break;
    }
    freeifaddrs(ifs);
    return rc;
}

int
bsn_cidr4_parse(const char *s, unsigned min_prefix, unsigned max_prefix, uint32_t *net,
                unsigned *prefix)
{
    const char *slash = s ? strchr(s, '/') : NULL;
    if (!slash || slash == s || (size_t)(slash - s) >= 16)
        return -1;
    char ip[16];
    memcpy(ip, s, (size_t)(slash - s));
    ip[slash - s] = 0;
    struct in_addr a;
    if (inet_pton(AF_INET, ip, &a) != 1)
        return -1;
    char *end;
    unsigned long p = strtoul(slash + 1, &end, 10);
    if (slash[1] < '0' || slash[1] > '9' || *end || p < min_prefix || p > max_prefix || p > 32)
        return -1;
    uint32_t v = ntohl(a.s_addr);
    uint32_t mask = p ? ~0u << (32 - p) : 0;
    if (v & ~mask)
        return -1;
    *net = v;
    *prefix = (unsigned)p;
    return 0;
}

void
bsn_ip4_format(uint32_t net, uint32_t index, char *out, size_t n)
{
    uint32_t v = net + index;
    snprintf(out, n, "%u.%u.%u.%u", v >> 24, (v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff);
}
