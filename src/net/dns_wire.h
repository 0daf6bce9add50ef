/*
 * dns_wire.h - DNS wire format (RFC 1035, RFC 6891): a strict query parser, a general message
 * walker (for upstream responses and tests) and a response encoder with name compression.
 *
 * Nothing here allocates. Every input is treated as hostile: names are decompressed with
 * loop protection (each pointer must point strictly before the previous one, so a chain ends
 * after at most len/2 hops, and never forward of the label that holds it), labels are at most
 * 63 bytes, names at most 255 bytes on the wire, and section counts are capped.
 *
 * Names in our own structures are kept in uncompressed wire form ("\3www\7example\3com\0"),
 * lower-cased where they are used as keys (DNS comparisons are case-insensitive; answers echo
 * the question's own bytes).
 */
#ifndef BSN_NET_DNS_WIRE_H
#define BSN_NET_DNS_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BSN_DNS_HDR_LEN    12
#define BSN_DNS_NAME_MAX   255 /* wire bytes, including the root label */
#define BSN_DNS_LABEL_MAX  63
#define BSN_DNS_UDP_MIN    512   /* payload limit without EDNS0 */
#define BSN_DNS_UDP_MAX    4096  /* largest EDNS0 payload we honour */
#define BSN_DNS_MSG_MAX    65535 /* TCP message cap */
#define BSN_DNS_MAX_RR     256   /* cap on RRs walked by bsn_dns_msg_parse */
#define BSN_DNS_MAX_ADDL_Q 4     /* additional RRs accepted in a query */

enum bsn_dns_type {
    BSN_DNS_T_A = 1,
    BSN_DNS_T_NS = 2,
    BSN_DNS_T_CNAME = 5,
    BSN_DNS_T_SOA = 6,
    BSN_DNS_T_PTR = 12,
    BSN_DNS_T_TXT = 16,
    BSN_DNS_T_AAAA = 28,
    BSN_DNS_T_SRV = 33,
    BSN_DNS_T_OPT = 41,
    BSN_DNS_T_ANY = 255,
};

enum bsn_dns_rcode {
    BSN_DNS_R_NOERROR = 0,
    BSN_DNS_R_FORMERR = 1,
    BSN_DNS_R_SERVFAIL = 2,
    BSN_DNS_R_NXDOMAIN = 3,
    BSN_DNS_R_NOTIMP = 4,
    BSN_DNS_R_REFUSED = 5,
    BSN_DNS_R_BADVERS = 16, /* extended (EDNS) rcode */
};

#define BSN_DNS_CLASS_IN 1

/* Header flag bits (second 16-bit word). */
#define BSN_DNS_F_QR 0x8000
#define BSN_DNS_F_AA 0x0400
#define BSN_DNS_F_TC 0x0200
#define BSN_DNS_F_RD 0x0100
#define BSN_DNS_F_RA 0x0080
#define BSN_DNS_F_AD 0x0020
#define BSN_DNS_F_CD 0x0010

/* Result of bsn_dns_query_parse(). */
enum bsn_dns_parse_result {
    BSN_DNS_PARSE_OK = 0,
    BSN_DNS_PARSE_DROP = -1,    /* no usable header, or a response: send nothing */
    BSN_DNS_PARSE_FORMERR = -2, /* header parsed, rest malformed: answer FORMERR */
    BSN_DNS_PARSE_NOTIMP = -3,  /* opcode other than QUERY */
    BSN_DNS_PARSE_BADVERS = -4, /* EDNS version other than 0 */
};

/* A parsed query. qname_lc is the lower-cased uncompressed name; the original bytes of the
 * question section stay in the packet at [BSN_DNS_HDR_LEN, question_end). */
struct bsn_dns_query {
    uint16_t id;
    uint16_t flags; /* raw header flags */
    uint16_t opcode;
    uint16_t qtype, qclass;
    uint8_t qname_lc[BSN_DNS_NAME_MAX];
    uint16_t qname_len; /* wire length of qname_lc, including the root byte */
    uint16_t question_end;
    bool qname_compressed; /* question name used a pointer (rare, legal) */
    bool edns;
    uint8_t edns_version;
    bool edns_do;
    uint16_t edns_udp; /* advertised payload size, clamped to [512, BSN_DNS_UDP_MAX] */
};

/*
 * Parses a query. Returns BSN_DNS_PARSE_OK or a negative bsn_dns_parse_result. When the
 * result is FORMERR/NOTIMP/BADVERS, q->id, q->flags and q->opcode are valid (and so is EDNS
 * information when it was parsed) so the caller can build an error reply with
 * bsn_dns_reply_error().
 */
int bsn_dns_query_parse(const uint8_t *pkt, size_t len, struct bsn_dns_query *q);

/*
 * Reads the (possibly compressed) name at *off into out (uncompressed wire form, lower-cased
 * if lower), advancing *off past the name's bytes at that position. Returns the wire length
 * of the name (>= 1) or -1 if it is malformed (truncated, bad label type, pointer loop or
 * forward pointer, label > 63, name > 255).
 */
int bsn_dns_name_read(const uint8_t *pkt, size_t len, size_t *off, uint8_t *out, bool lower);

/* Converts a wire name into dotted text ("www.example.com." ; root is "."); returns the text
 * length or -1 if out is too small. Non-printable bytes are escaped as \DDD. */
int bsn_dns_name_to_text(const uint8_t *name, char *out, size_t outlen);

/* Converts dotted text into a wire name (lower-cased if lower); a trailing dot is optional.
 * Returns the wire length or -1 when a label is empty or too long or the name too long. */
int bsn_dns_name_from_text(const char *text, size_t textlen, uint8_t *out, bool lower);

/* Wire length of a well-formed uncompressed name. */
size_t bsn_dns_name_len(const uint8_t *name);

/* Case-insensitive equality of two uncompressed wire names. */
bool bsn_dns_name_eq(const uint8_t *a, const uint8_t *b);

/* --- message walker ------------------------------------------------------------------------ */

struct bsn_dns_rr {
    uint16_t name_off; /* offset of the owner name in the packet */
    uint16_t type, rclass;
    uint32_t ttl;
    uint16_t ttl_off; /* offset of the TTL field, for TTL rewriting */
    uint16_t rdata_off, rdlen;
    uint8_t section; /* 1 answer, 2 authority, 3 additional */
};

struct bsn_dns_msg {
    uint16_t id, flags;
    uint16_t qdcount, ancount, nscount, arcount;
    uint16_t question_end;
    uint8_t qname_lc[BSN_DNS_NAME_MAX];
    uint16_t qtype, qclass;
    int nrr;
    struct bsn_dns_rr rr[BSN_DNS_MAX_RR];
};

/* Walks a whole message (query or response) with exactly one question. Returns 0 or -1 on any
 * malformation or when there are more than BSN_DNS_MAX_RR records. */
int bsn_dns_msg_parse(const uint8_t *pkt, size_t len, struct bsn_dns_msg *m);

/* --- encoder ------------------------------------------------------------------------------- */

#define BSN_DNS_COMP_MAX 64

/*
 * Response builder over a caller buffer. `limit` is the size the message must fit in (UDP
 * payload size or 65535 for TCP); records that do not fit are rolled back and, in the answer
 * and authority sections, set TC. Names are compressed against every name already written.
 */
struct bsn_dns_enc {
    uint8_t *buf;
    size_t limit;
    size_t len;
    uint16_t counts[4]; /* qd, an, ns, ar */
    bool truncated;
    int ncomp;
    uint16_t comp[BSN_DNS_COMP_MAX]; /* offsets of names (and their suffixes) written */
    size_t reserve;                  /* bytes kept back (for the OPT record) */
};

/*
 * Starts a response to q in buf: copies the question bytes from the query packet verbatim
 * (echoing its case), sets QR, copies RD and CD, sets AA if aa. limit is clamped to the
 * buffer's capacity by the caller. Reserves room for an OPT record when q->edns.
 */
void bsn_dns_enc_init(struct bsn_dns_enc *e, uint8_t *buf, size_t limit,
                      const struct bsn_dns_query *q, const uint8_t *qpkt, bool aa);
void bsn_dns_enc_set_flag(struct bsn_dns_enc *e, uint16_t flag);

/* Owner name forms for bsn_dns_enc_rr: owner == NULL means "the question name". */
/* Appends one RR to section (1 answer, 2 authority, 3 additional); rdata is given raw except
 * that for CNAME/PTR/NS/SRV/SOA the embedded names (uncompressed wire form in rdata) are
 * compressed. Returns 0, or -1 if it did not fit (the message is left unchanged). */
int bsn_dns_enc_rr(struct bsn_dns_enc *e, int section, const uint8_t *owner, uint16_t type,
                   uint32_t ttl, const uint8_t *rdata, size_t rdlen);

/* Finishes the message with rcode (extended rcodes > 15 go into the OPT record): writes the
 * counts, the OPT record if the query had EDNS, sets TC if anything required was dropped.
 * Returns the message length. */
size_t bsn_dns_enc_finish(struct bsn_dns_enc *e, const struct bsn_dns_query *q, int rcode);

/*
 * Builds an error reply (FORMERR/NOTIMP/BADVERS/SERVFAIL/REFUSED) into out. The question is
 * echoed when the query parsed far enough (q->question_end != 0). Returns the length.
 */
size_t bsn_dns_reply_error(const uint8_t *qpkt, const struct bsn_dns_query *q, int rcode,
                           uint8_t *out, size_t outcap);

/* Big-endian helpers. */
static inline uint16_t
bsn_dns_get16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}
static inline uint32_t
bsn_dns_get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline void
bsn_dns_put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}
static inline void
bsn_dns_put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

#endif
