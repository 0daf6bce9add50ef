/*
 * hostaddr.c - the node's default IPv4 address (getifaddrs order, first up non-loopback).
 */
#include "base/hostaddr.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>

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
