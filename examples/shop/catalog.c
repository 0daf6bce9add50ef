/*
 * catalog.c - the shop's product catalogue (seed 004: "browse products").
 *
 * Its data is its own: a product table loaded at start from SHOP_PRODUCTS
 * ("id:name:price_cents:stock;...", a built-in list by default). Read-only API:
 *   GET /products                 -> {"items":[...]} (optional ?q= substring filter)
 *   GET /products/{id}            -> one product, or 404 ProductNotFound
 * Responses carry Cache-Control: max-age=10 so the gateway's cache may serve them.
 * Config: PORT (8080), HOST, SHOP_PRODUCTS.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kit/kit.h"

#define MAX_PRODUCTS 256

/* ---- domain ---- */

struct product {
    char id[32];
    char name[96];
    long price_cents;
    long stock;
};

struct catalog {
    struct product items[MAX_PRODUCTS];
    size_t n;
};

static const char default_products[] = "p1:Coffee mug:1200:40;p2:T-shirt:2500:25;"
                                       "p3:Sticker pack:500:300;p4:Hoodie:5900:10";

/* Parses "id:name:price:stock;..." into c; returns -1 on a malformed entry. */
static int
catalog_load(struct catalog *c, const char *spec)
{
    c->n = 0;
    char *copy = strdup(spec), *save = NULL;
    int rc = 0;
    for (char *e = strtok_r(copy, ";", &save); e; e = strtok_r(NULL, ";", &save)) {
        struct product *p = &c->items[c->n];
        char *f[4] = {0}, *s2 = NULL;
        int nf = 0;
        for (char *t = strtok_r(e, ":", &s2); t && nf < 4; t = strtok_r(NULL, ":", &s2))
            f[nf++] = t;
        if (nf != 4 || c->n == MAX_PRODUCTS || strlen(f[0]) >= sizeof(p->id) ||
            strlen(f[1]) >= sizeof(p->name)) {
            rc = -1;
            break;
        }
        snprintf(p->id, sizeof(p->id), "%s", f[0]);
        snprintf(p->name, sizeof(p->name), "%s", f[1]);
        p->price_cents = strtol(f[2], NULL, 10);
        p->stock = strtol(f[3], NULL, 10);
        if (p->price_cents <= 0 || p->stock < 0) {
            rc = -1;
            break;
        }
        c->n++;
    }
    free(copy);
    return rc;
}

static const struct product *
catalog_find(const struct catalog *c, const char *id)
{
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->items[i].id, id) == 0)
            return &c->items[i];
    return NULL;
}

static json_t *
product_json(const struct product *p)
{
    return json_pack("{s:s,s:s,s:I,s:s,s:I}", "id", p->id, "name", p->name, "priceCents",
                     (json_int_t)p->price_cents, "currency", "EUR", "stock", (json_int_t)p->stock);
}

/* ---- resources ---- */

static void
list_products(struct bsn_kit_ctx *ctx, void *data)
{
    const struct catalog *c = data;
    char q[96];
    const char *filter = bsn_kit_query(ctx, "q", q, sizeof(q));
    json_t *items = json_array();
    for (size_t i = 0; i < c->n; i++)
        if (!filter || strcasestr(c->items[i].name, filter))
            json_array_append_new(items, product_json(&c->items[i]));
    bsn_kit_set_header(ctx, "Cache-Control", "max-age=10");
    bsn_kit_json(ctx, 200, json_pack("{s:o}", "items", items));
}

static void
get_product(struct bsn_kit_ctx *ctx, void *data)
{
    const char *id = bsn_kit_param(ctx, "id");
    const struct product *p = catalog_find(data, id);
    if (!p)
        return bsn_kit_error(ctx, 404, "ProductNotFound", "product %s not found", id);
    bsn_kit_set_header(ctx, "Cache-Control", "max-age=10");
    bsn_kit_json(ctx, 200, product_json(p));
}

int
main(void)
{
    static struct catalog c;
    if (catalog_load(&c, bsn_kit_env("SHOP_PRODUCTS", default_products)) < 0) {
        fprintf(stderr, "shop-catalog: SHOP_PRODUCTS must be id:name:price_cents:stock;...\n");
        return 1;
    }
    struct bsn_kit_app *app = bsn_kit_app_new("shop-catalog");
    bsn_kit_route(app, "GET", "/products", list_products, &c, NULL,
                  "List products (optional ?q= filter)");
    bsn_kit_route(app, "GET", "/products/{id}", get_product, &c, NULL, "Get one product");
    int rc = bsn_kit_app_run(app, NULL);
    bsn_kit_app_free(app);
    return rc < 0 ? 1 : 0;
}
