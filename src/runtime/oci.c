/* oci.c - placeholder replaced by the OCI runtime in the next commit. */
#include "runtime/rt_impl.h"

int
bsn_oci_init(struct bsn_runtime *rt, struct bsn_err *err)
{
    return bsn_err_set(err, 501, "NotImplemented", "the oci runtime is not built yet");
}
const struct bsn_runtime_ops bsn_oci_ops = {.name = "oci"};
const struct rt_hooks bsn_oci_hooks = {0};
