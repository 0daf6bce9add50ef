/*
 * purchase.c - the shop's purchase service (seed 004), in two versions for the canary.
 *
 * PURCHASE_VERSION=1: POST /purchases {productId, quantity} -> 201 {id, user, productId,
 * quantity, unitPriceCents, totalCents, version}. PURCHASE_VERSION=2 adds promotion codes:
 * the request may carry "promoCode"; the answer adds "promoCode" and "discountPercent". The
 * API stays backward compatible (seed 004's caution): every v1 request is valid for v2 and
 * gets the same fields with the same meaning; v1 accepts and ignores an unknown "promoCode".
 * The price comes from the catalogue service (http://catalog by DNS name); the buyer from the
 * X-User header the gateway sets from the JWT's `sub`.
 *   POST /purchases        -> create
 *   GET  /purchases        -> the caller's purchases
 *   GET  /version          -> {"version": 1|2}
 * Config: PORT (8080), HOST, PURCHASE_VERSION (1), CATALOG_URL (http://catalog),
 * PROMO_CODES ("WELCOME10:10,HALF:50"; v2 only).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "kit/kit.h"

#define MAX_PURCHASES 4096

/* ---- domain ---- */

struct shop {
    int version;
    const char *promos; /* "CODE:percent,..." */
    struct bsn_kit_client *catalog;
    json_t *purchases; /* array, newest last */
    long next_id;
};

/* Discount percent of a promotion code, or -1 when the code is unknown. */
static int
promo_percent(const char *promos, const char *code)
{
    size_t cl = strlen(code);
    for (const char *p = promos; *p;) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        const char *colon = memchr(p, ':', n);
        if (colon && (size_t)(colon - p) == cl && strncasecmp(p, code, cl) == 0) {
            int v = atoi(colon + 1);
            return v > 0 && v <= 100 ? v : -1;
        }
        p += n + (end ? 1 : 0);
    }
    return -1;
}

/* totalCents after a percentage discount, rounded half up. */
static long
price_total(long unit_cents, long qty, int discount)
{
    long gross = unit_cents * qty;
    return gross - (gross * discount + 50) / 100;
}

/* ---- service ---- */

struct pending {
    struct bsn_kit_ctx *ctx;
    struct shop *shop;
    char user[128];
    long qty;
    int discount; /* -1 = no code given */
    char promo[64];
};

static void
priced(int status, json_t *product, const struct bsn_err *err, void *data)
{
    struct pending *p = data;
    struct bsn_kit_ctx *ctx = p->ctx;
    struct shop *s = p->shop;
    if (!status) {
        bsn_kit_error_err(ctx, err);
    } else if (status == 404) {
        bsn_kit_error(ctx, 404, "ProductNotFound", "%s",
                      json_string_value(json_object_get(product, "message")));
    } else if (status != 200 || !json_is_integer(json_object_get(product, "priceCents"))) {
        bsn_kit_error(ctx, 502, "CatalogError", "the catalogue answered %d", status);
    } else if (json_integer_value(json_object_get(product, "stock")) < p->qty) {
        bsn_kit_error(ctx, 409, "OutOfStock", "only %lld left",
                      (long long)json_integer_value(json_object_get(product, "stock")));
    } else if (json_array_size(s->purchases) >= MAX_PURCHASES) {
        bsn_kit_error(ctx, 507, "TooManyPurchases", "the demo keeps %d purchases", MAX_PURCHASES);
    } else {
        long unit = (long)json_integer_value(json_object_get(product, "priceCents"));
        int discount = p->discount > 0 ? p->discount : 0;
        json_t *out =
            json_pack("{s:I,s:s,s:O,s:I,s:I,s:I,s:i}", "id", (json_int_t)s->next_id++, "user",
                      p->user, "productId", json_object_get(product, "id"), "quantity",
                      (json_int_t)p->qty, "unitPriceCents", (json_int_t)unit, "totalCents",
                      (json_int_t)price_total(unit, p->qty, discount), "version", s->version);
        if (s->version >= 2 && p->discount > 0) {
            json_object_set_new(out, "promoCode", json_string(p->promo));
            json_object_set_new(out, "discountPercent", json_integer(discount));
        }
        json_array_append(s->purchases, out);
        bsn_kit_json(ctx, 201, out);
    }
    free(p);
}

/* ---- resources ---- */

static const struct bsn_kit_field purchase_fields[] = {
    {"productId", BSN_KIT_STRING, true, "a product of the catalogue"},
    {"quantity", BSN_KIT_INTEGER, true, "1..100"},
    {"promoCode", BSN_KIT_STRING, false, "a promotion code (version 2; ignored by version 1)"},
};
static const struct bsn_kit_schema purchase_schema = {"NewPurchase", purchase_fields, 3, 64};

static void
create_purchase(struct bsn_kit_ctx *ctx, void *data)
{
    struct shop *s = data;
    const char *user = bsn_kit_header(ctx, "X-User");
    if (!user || !*user)
        return bsn_kit_error(ctx, 401, "Unauthenticated", "no X-User (call through the gateway)");
    json_t *body = bsn_kit_body(ctx);
    long qty = (long)json_integer_value(json_object_get(body, "quantity"));
    if (qty < 1 || qty > 100)
        return bsn_kit_error(ctx, 400, "InvalidQuantity", "quantity must be 1..100, not %ld", qty);
    const char *id = json_string_value(json_object_get(body, "productId"));
    const char *code = json_string_value(json_object_get(body, "promoCode"));
    struct pending *p = bsn_calloc(1, sizeof(*p));
    p->ctx = ctx;
    p->shop = s;
    p->qty = qty;
    p->discount = -1;
    snprintf(p->user, sizeof(p->user), "%s", user);
    if (s->version >= 2 && code && *code) {
        p->discount = promo_percent(s->promos, code);
        if (p->discount < 0) {
            free(p);
            return bsn_kit_error(ctx, 400, "InvalidPromoCode", "unknown promotion code %s", code);
        }
        snprintf(p->promo, sizeof(p->promo), "%s", code);
    }
    char path[160];
    if (strlen(id) > 64 || strchr(id, '/') || strchr(id, '?')) {
        free(p);
        return bsn_kit_error(ctx, 400, "InvalidProductId", "bad product id");
    }
    snprintf(path, sizeof(path), "/products/%s", id);
    bsn_kit_defer(ctx);
    bsn_kit_client_call_async(s->catalog, ctx, "GET", path, NULL, priced, p);
}

static void
list_purchases(struct bsn_kit_ctx *ctx, void *data)
{
    struct shop *s = data;
    const char *user = bsn_kit_header(ctx, "X-User");
    json_t *items = json_array();
    size_t i;
    json_t *v;
    json_array_foreach(s->purchases, i,
                       v) if (user && strcmp(json_string_value(json_object_get(v, "user")), user) ==
                                          0) json_array_append(items, v);
    bsn_kit_json(ctx, 200, json_pack("{s:o}", "items", items));
}

static void
get_version(struct bsn_kit_ctx *ctx, void *data)
{
    const struct shop *s = data;
    bsn_kit_json(ctx, 200, json_pack("{s:i}", "version", s->version));
}

int
main(void)
{
    struct bsn_loop *loop = bsn_loop_new();
    struct shop s = {
        .version = (int)bsn_kit_env_int("PURCHASE_VERSION", 1),
        .promos = bsn_kit_env("PROMO_CODES", "WELCOME10:10,HALF:50"),
        .purchases = json_array(),
        .next_id = 1,
    };
    if (s.version != 1 && s.version != 2) {
        fprintf(stderr, "shop-purchase: PURCHASE_VERSION must be 1 or 2\n");
        return 1;
    }
    s.catalog = bsn_kit_client_new(&(struct bsn_kit_client_opts){
        .base_url = bsn_kit_env("CATALOG_URL", "http://catalog"), .loop = loop});
    struct bsn_kit_app *app = bsn_kit_app_new("shop-purchase");
    bsn_kit_app_set_version(app, s.version == 2 ? "2.0.0" : "1.0.0");
    bsn_kit_route(app, "POST", "/purchases", create_purchase, &s, &purchase_schema,
                  "Buy a product (version 2: with an optional promotion code)");
    bsn_kit_route(app, "GET", "/purchases", list_purchases, &s, NULL, "The caller's purchases");
    bsn_kit_route(app, "GET", "/version", get_version, &s, NULL, "API version of this replica");
    int rc = bsn_kit_app_run_on(app, loop, NULL);
    bsn_kit_app_free(app);
    bsn_kit_client_free(s.catalog);
    json_decref(s.purchases);
    bsn_loop_free(loop);
    return rc < 0 ? 1 : 0;
}
