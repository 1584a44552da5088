/*
 * Keeps glibc from handing freed memory straight back to the kernel.
 *
 * burrow moves data through short-lived buffers of up to a few MiB (socket reads,
 * decrypted packets). With glibc's defaults, buffers over 128 KiB are mmap'ed and
 * unmapped one by one, and freed heap is trimmed at 128 KiB, so the next buffer
 * lands on fresh pages: a page fault and a page clear per 4 KiB, which cost more
 * CPU than the decryption on the machines measured (bench/README.md). Same knobs as
 * the MALLOC_*_ environment variables, set once at startup. No-op elsewhere.
 */
#include <node_api.h>
#include <stdbool.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

static napi_value tune(napi_env env, napi_callback_info info) {
  (void)info;
  bool ok = false;
#ifdef __GLIBC__
  ok = mallopt(M_MMAP_THRESHOLD, 16 * 1024 * 1024) == 1 &&
       mallopt(M_TRIM_THRESHOLD, 64 * 1024 * 1024) == 1 &&
       mallopt(M_TOP_PAD, 16 * 1024 * 1024) == 1;
#endif
  napi_value r;
  napi_get_boolean(env, ok, &r);
  return r;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "tune", NAPI_AUTO_LENGTH, tune, NULL, &fn);
  napi_set_named_property(env, exports, "tune", fn);
  return exports;
}
