/*
 * test_selector.c - label selectors (string + JSON), field selectors, name validation.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "codec/json.h"
#include "codec/names.h"
#include "codec/selector.h"

static json_t *
labels(const char *s)
{
    char *t = bsn_strdup(s);
    for (char *p = t; *p; p++)
        if (*p == '\'')
            *p = '"';
    json_t *v = json_loads(t, 0, NULL);
    free(t);
    assert_non_null(v);
    return v;
}

static const struct {
    const char *sel, *labels;
    bool match;
} match_cases[] = {
    {"", "{}", true},
    {"", "{'a':'b'}", true},
    {"a=b", "{'a':'b'}", true},
    {"a==b", "{'a':'b'}", true},
    {"a=b", "{'a':'c'}", false},
    {"a=b", "{}", false},
    {"a!=b", "{}", true},
    {"a!=b", "{'a':'b'}", false},
    {"a!=b", "{'a':'c'}", true},
    {"e in (x,y)", "{'e':'y'}", true},
    {"e in (x,y)", "{'e':'z'}", false},
    {"e in (x,y)", "{}", false},
    {"f notin (z)", "{}", true},
    {"f notin (z)", "{'f':'z'}", false},
    {"g", "{'g':''}", true},
    {"g", "{}", false},
    {"!h", "{}", true},
    {"!h", "{'h':'1'}", false},
    {"a=b,c!=d,e in (x,y),f notin (z),g,!h", "{'a':'b','e':'x','g':'1'}", true},
    {"a=b,c!=d,e in (x,y),f notin (z),g,!h", "{'a':'b','e':'x','g':'1','h':'1'}", false},
    {"n>3", "{'n':'4'}", true},
    {"n>3", "{'n':'3'}", false},
    {"n<3", "{'n':'x'}", false},
    {"a=", "{'a':''}", true},
    {"a=", "{'a':'x'}", false},
    {"e in ()", "{'e':''}", true},
    {"e in (x,)", "{'e':''}", true},
    {"  app  =  web , tier in ( fe , be ) ", "{'app':'web','tier':'be'}", true},
    {"app.kubernetes.io/name=web", "{'app.kubernetes.io/name':'web'}", true},
};

static void
test_label_selector_match(void **state)
{
    for (size_t i = 0; i < BSN_ARRAY_LEN(match_cases); i++) {
        struct bsn_selector sel;
        struct bsn_err err;
        bsn_err_clear(&err);
        if (bsn_selector_parse(match_cases[i].sel, &sel, &err)) {
            printf("%s: %s\n", match_cases[i].sel, err.msg);
            fail();
        }
        json_t *l = labels(match_cases[i].labels);
        if (bsn_selector_match(&sel, l) != match_cases[i].match) {
            printf("%s on %s: expected %d\n", match_cases[i].sel, match_cases[i].labels,
                   match_cases[i].match);
            fail();
        }
        json_decref(l);
        bsn_selector_fini(&sel);
    }
}

static const struct {
    const char *sel, *msg_part;
} bad_cases[] = {
    {"a=b,", "expected: identifier"},
    {"(a)", "found '(', expected: identifier"},
    {"a b", "expected: in, notin, =, ==, !=, gt, lt"},
    {"a in x", "expected: '('"},
    {"a in (x", "found '', expected: ',' or ')'"},
    {"a=b c", "expected: ',' or 'end of string'"},
    {"a=b=c", "expected: ',' or 'end of string'"},
    {"-a=b", "key: Invalid value: \"-a\": name part must consist of alphanumeric characters"},
    {"a=b c d", "expected"},
    {"a=-x", "values[0][a]: Invalid value: \"-x\": a valid label must be an empty string"},
    {"n>x", "the value must be an integer"},
    {"!", "identifier after '!'"},
    {"a/b/c=d", "a qualified name must consist of"},
};

static void
test_label_selector_errors(void **state)
{
    for (size_t i = 0; i < BSN_ARRAY_LEN(bad_cases); i++) {
        struct bsn_selector sel;
        struct bsn_err err;
        bsn_err_clear(&err);
        if (bsn_selector_parse(bad_cases[i].sel, &sel, &err) == 0) {
            printf("%s: expected error\n", bad_cases[i].sel);
            fail();
        }
        assert_int_equal(err.code, 400);
        if (!strstr(err.msg, bad_cases[i].msg_part)) {
            printf("%s: message %s lacks %s\n", bad_cases[i].sel, err.msg, bad_cases[i].msg_part);
            fail();
        }
        assert_null(sel.reqs);
    }
}

static void
test_label_selector_string(void **state)
{
    struct bsn_selector sel;
    struct bsn_err err;
    assert_int_equal(bsn_selector_parse("z=1,a in (y,x),!m,k,c!=2,n>1", &sel, &err), 0);
    struct bsn_buf b;
    bsn_buf_init(&b);
    bsn_selector_string(&sel, &b);
    assert_string_equal(b.data, "a in (x,y),c!=2,k,!m,n>1,z=1");
    /* the string form parses back to the same selector */
    struct bsn_selector again;
    assert_int_equal(bsn_selector_parse(b.data, &again, &err), 0);
    assert_int_equal(again.n, sel.n);
    bsn_selector_fini(&again);
    bsn_buf_fini(&b);
    bsn_selector_fini(&sel);
}

static void
test_label_selector_json(void **state)
{
    struct bsn_selector sel;
    struct bsn_err err;
    json_t *l = labels("{'app':'web','tier':'fe'}");

    assert_int_equal(bsn_selector_from_json(NULL, &sel, &err), 0);
    assert_false(bsn_selector_match(&sel, l)); /* null selector: nothing */
    bsn_selector_fini(&sel);

    json_t *ls = labels("{}");
    assert_int_equal(bsn_selector_from_json(ls, &sel, &err), 0);
    assert_true(bsn_selector_is_everything(&sel));
    assert_true(bsn_selector_match(&sel, l));
    bsn_selector_fini(&sel);
    json_decref(ls);

    ls = labels("{'matchLabels':{'app':'web'},'matchExpressions':[{'key':'tier','operator':"
                "'In','values':['fe','be']},{'key':'canary','operator':'DoesNotExist'},"
                "{'key':'app','operator':'Exists'}]}");
    assert_int_equal(bsn_selector_from_json(ls, &sel, &err), 0);
    assert_true(bsn_selector_match(&sel, l));
    json_t *l2 = labels("{'app':'web','tier':'db'}");
    assert_false(bsn_selector_match(&sel, l2));
    json_decref(l2);
    bsn_selector_fini(&sel);
    json_decref(ls);

    ls = labels("{'matchExpressions':[{'key':'tier','operator':'Near','values':['x']}]}");
    assert_int_equal(bsn_selector_from_json(ls, &sel, &err), -1);
    assert_string_equal(err.msg, "\"Near\" is not a valid label selector operator");
    json_decref(ls);
    ls = labels("{'matchExpressions':[{'key':'tier','operator':'In','values':[]}]}");
    assert_int_equal(bsn_selector_from_json(ls, &sel, &err), -1);
    assert_non_null(strstr(err.msg, "values set can't be empty"));
    json_decref(ls);
    ls = labels("{'matchExpressions':[{'key':'tier','operator':'Exists','values':['a']}]}");
    assert_int_equal(bsn_selector_from_json(ls, &sel, &err), -1);
    assert_non_null(strstr(err.msg, "values set must be empty"));
    json_decref(ls);
    ls = labels("{'matchLabels':{'bad key':'x'}}");
    assert_int_equal(bsn_selector_from_json(ls, &sel, &err), -1);
    json_decref(ls);
    json_decref(l);
}

static void
test_field_selector(void **state)
{
    json_t *pod = labels("{'metadata':{'name':'web-1','namespace':'default'},'spec':"
                         "{'nodeName':'n1'},'status':{'phase':'Running'}}");
    struct bsn_field_selector fs;
    struct bsn_err err;
    assert_int_equal(
        bsn_field_selector_parse("metadata.name=web-1,status.phase!=Pending", &fs, &err), 0);
    assert_int_equal(fs.n, 2);
    assert_int_equal(bsn_field_selector_match(&fs, bsn_field_get_json, pod, &err), 1);
    bsn_field_selector_fini(&fs);
    assert_int_equal(bsn_field_selector_parse("status.phase!=Running", &fs, &err), 0);
    assert_int_equal(bsn_field_selector_match(&fs, bsn_field_get_json, pod, &err), 0);
    bsn_field_selector_fini(&fs);
    assert_int_equal(bsn_field_selector_parse("spec.nodeName==n1", &fs, &err), 0);
    assert_int_equal(bsn_field_selector_match(&fs, bsn_field_get_json, pod, &err), 1);
    bsn_field_selector_fini(&fs);
    /* missing fields read as "" */
    assert_int_equal(bsn_field_selector_parse("spec.schedulerName=", &fs, &err), 0);
    assert_int_equal(bsn_field_selector_match(&fs, bsn_field_get_json, pod, &err), 1);
    bsn_field_selector_fini(&fs);
    /* escapes */
    assert_int_equal(bsn_field_selector_parse("metadata.name=a\\,b\\=c,x=y", &fs, &err), 0);
    assert_int_equal(fs.n, 2);
    assert_string_equal(fs.reqs[0].value, "a,b=c");
    bsn_field_selector_fini(&fs);
    assert_int_equal(bsn_field_selector_parse("", &fs, &err), 0);
    assert_int_equal(fs.n, 0);
    assert_int_equal(bsn_field_selector_match(&fs, bsn_field_get_json, pod, &err), 1);
    bsn_field_selector_fini(&fs);
    assert_int_equal(bsn_field_selector_parse("metadata.name", &fs, &err), -1);
    assert_string_equal(err.msg, "invalid selector: 'metadata.name'; can't understand "
                                 "'metadata.name'");
    assert_int_equal(bsn_field_selector_parse("=x", &fs, &err), -1);
    json_decref(pod);
}

static void
test_names(void **state)
{
    struct bsn_name_msgs m = {0};
    assert_int_equal(bsn_validate_dns1123_subdomain("web-1.example.com", &m), 0);
    assert_int_equal(bsn_validate_dns1123_subdomain("Web", &m), 1);
    assert_string_equal(
        m.msg[0],
        "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' "
        "or '.', and must start and end with an alphanumeric character (e.g. 'example.com', "
        "regex used for validation is "
        "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')");
    char long_name[300];
    memset(long_name, 'a', 254);
    long_name[254] = '\0';
    memset(&m, 0, sizeof(m));
    assert_int_equal(bsn_validate_dns1123_subdomain(long_name, &m), 1);
    assert_string_equal(m.msg[0], "must be no more than 253 characters");
    assert_false(bsn_is_dns1123_subdomain("a..b"));
    assert_false(bsn_is_dns1123_subdomain("-a"));
    assert_false(bsn_is_dns1123_subdomain(""));

    assert_true(bsn_is_dns1123_label("my-name"));
    assert_true(bsn_is_dns1123_label("123-abc"));
    assert_false(bsn_is_dns1123_label("a.b"));
    long_name[64] = '\0';
    memset(&m, 0, sizeof(m));
    assert_int_equal(bsn_validate_dns1123_label(long_name, &m), 1);
    assert_string_equal(m.msg[0], "must be no more than 63 characters");

    memset(&m, 0, sizeof(m));
    assert_int_equal(bsn_validate_dns1035_label("my-svc", &m), 0);
    assert_int_equal(bsn_validate_dns1035_label("1svc", &m), 1);
    assert_string_equal(m.msg[0],
                        "a DNS-1035 label must consist of lower case alphanumeric characters or "
                        "'-', start with an alphabetic character, and end with an alphanumeric "
                        "character (e.g. 'my-name',  or 'abc-123', regex used for validation is "
                        "'[a-z]([-a-z0-9]*[a-z0-9])?')");

    assert_true(bsn_is_qualified_name("app"));
    assert_true(bsn_is_qualified_name("app.kubernetes.io/name"));
    assert_true(bsn_is_qualified_name("My_Name.x"));
    assert_false(bsn_is_qualified_name("/name"));
    assert_false(bsn_is_qualified_name("Example.com/name"));
    assert_false(bsn_is_qualified_name("a/"));
    assert_false(bsn_is_qualified_name("_a"));
    memset(&m, 0, sizeof(m));
    assert_int_equal(bsn_validate_qualified_name("/x", &m), 1);
    assert_string_equal(m.msg[0], "prefix part must be non-empty");
    memset(&m, 0, sizeof(m));
    assert_int_equal(bsn_validate_qualified_name("a b", &m), 1);
    assert_string_equal(m.msg[0],
                        "name part must consist of alphanumeric characters, '-', '_' or '.', and "
                        "must start and end with an alphanumeric character (e.g. 'MyName',  or "
                        "'my.name',  or '123-abc', regex used for validation is "
                        "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')");

    assert_true(bsn_is_label_value(""));
    assert_true(bsn_is_label_value("v1.2_x-y"));
    assert_false(bsn_is_label_value("-x"));
    assert_false(bsn_is_label_value("a b"));

    memset(&m, 0, sizeof(m));
    assert_int_equal(bsn_validate_port_name("http", &m), 0);
    assert_int_equal(bsn_validate_port_name("metrics-8080", &m), 0);
    assert_int_equal(bsn_validate_port_name("8080", &m), 1);
    assert_string_equal(m.msg[0], "must contain at least one letter (a-z)");
    memset(&m, 0, sizeof(m));
    assert_int_equal(bsn_validate_port_name("-a--b_Cdefghijklmnop", &m), 4);
    assert_string_equal(m.msg[0], "must be no more than 15 characters");
    memset(&m, 0, sizeof(m));
    assert_int_equal(bsn_validate_port_num(0, &m), 1);
    assert_string_equal(m.msg[0], "must be between 1 and 65535, inclusive");
    assert_int_equal(bsn_validate_port_num(65535, NULL), 0);
    assert_int_equal(bsn_validate_env_var_name("MY_ENV.NAME-x", NULL), 0);
    assert_int_equal(bsn_validate_env_var_name("1X", NULL), 1);
    assert_int_equal(bsn_validate_env_var_name("A B", NULL), 1);
    assert_int_equal(bsn_validate_config_map_key("nginx.conf", NULL), 0);
    assert_int_equal(bsn_validate_config_map_key("..data", NULL), 1);
    assert_int_equal(bsn_validate_config_map_key("a/b", NULL), 1);
    memset(&m, 0, sizeof(m));
    assert_int_equal(bsn_validate_config_map_key(".", &m), 1);
    assert_string_equal(m.msg[0], "must not be '.'");

    json_t *ann = json_object();
    json_object_set_new(ann, "Example.com/Key", json_string("ok")); /* checked lowercased */
    memset(&m, 0, sizeof(m));
    assert_int_equal(bsn_validate_annotations(ann, &m), 0);
    char *big = bsn_malloc(300 * 1024);
    memset(big, 'x', 300 * 1024 - 1);
    big[300 * 1024 - 1] = '\0';
    json_object_set_new(ann, "k", json_string(big));
    free(big);
    assert_int_equal(bsn_validate_annotations(ann, &m), 1);
    assert_string_equal(m.msg[0], "Too long: must have at most 262144 bytes");
    json_decref(ann);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_label_selector_match),  cmocka_unit_test(test_label_selector_errors),
        cmocka_unit_test(test_label_selector_string), cmocka_unit_test(test_label_selector_json),
        cmocka_unit_test(test_field_selector),        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
