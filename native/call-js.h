/*
 * A call into JavaScript from native code that libuv called (rx-loop.c, tx-pump.c).
 */
#ifndef BURROW_CALL_JS_H
#define BURROW_CALL_JS_H
#include <node_api.h>
#include <stdbool.h>

/*
 * Calls `fnref` with `this` the global object; `*result` gets what it returned (NULL
 * if it threw). `ticks`: as a callback from the event loop, after which Node runs its
 * queued ticks and microtasks; else a plain call. `*in_js` counts calls under way (a
 * native method that JavaScript calls meanwhile must not reenter the caller's state).
 * Returns 0, or -1 if the callback threw: the exception is reported as uncaught.
 */
static inline int call_js_ref(napi_env env, napi_ref fnref, int *in_js, size_t argc, napi_value *argv, napi_value *result, bool ticks) {
  napi_value fn, recv, res;
  napi_get_reference_value(env, fnref, &fn);
  napi_get_global(env, &recv);
  (*in_js)++;
  napi_status st = ticks ? napi_make_callback(env, NULL, recv, fn, argc, argv, &res) : napi_call_function(env, recv, fn, argc, argv, &res);
  (*in_js)--;
  if (result) *result = NULL;
  if (st != napi_ok) {
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (pending) {
      napi_value err;
      napi_get_and_clear_last_exception(env, &err);
      napi_fatal_exception(env, err);
    }
    return -1;
  }
  if (result) *result = res;
  return 0;
}

#endif
