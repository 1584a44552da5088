/*
 * One sendmsg(2) for several buffers, straight to a socket's descriptor.
 *
 * Channel data from an SSH read goes to its local socket here rather than through
 * Node's stream and write machinery (src/forward/sink.ts): the caller has made sure
 * Node has nothing queued on that socket, and hands Node whatever does not fit.
 * Non-blocking, no SIGPIPE. Returns the bytes sent (possibly fewer than given), or
 * -errno when nothing was sent.
 */
#include <node_api.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define MAX_IOV 64

static napi_value sendv(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], r;
  int32_t fd = -1;
  uint32_t count = 0;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 2 || napi_get_value_int32(env, argv[0], &fd) != napi_ok ||
      napi_get_array_length(env, argv[1], &count) != napi_ok) {
    napi_throw_type_error(env, NULL, "sendv(fd, buffers)");
    return NULL;
  }
  int64_t total = 0;
  uint32_t i = 0;
  while (i < count) {
    struct iovec iov[MAX_IOV];
    size_t want = 0;
    int n = 0;
    for (; i < count && n < MAX_IOV; i++, n++) {
      napi_value el;
      napi_typedarray_type type;
      size_t len;
      void *data;
      if (napi_get_element(env, argv[1], i, &el) != napi_ok ||
          napi_get_typedarray_info(env, el, &type, &len, &data, NULL, NULL) != napi_ok ||
          type != napi_uint8_array) {
        napi_throw_type_error(env, NULL, "sendv: buffers must be Uint8Arrays");
        return NULL;
      }
      iov[n].iov_base = data;
      iov[n].iov_len = len;
      want += len;
    }
    struct msghdr m;
    memset(&m, 0, sizeof m);
    m.msg_iov = iov;
    m.msg_iovlen = (size_t)n;
    ssize_t sent;
    do sent = sendmsg(fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
    while (sent < 0 && errno == EINTR);
    if (sent < 0) {
      if (total == 0) total = -errno;
      break;
    }
    total += sent;
    if ((size_t)sent < want) break;
  }
  napi_create_int64(env, total, &r);
  return r;
}

/*
 * socketpair(): two connected AF_UNIX stream sockets, close-on-exec, as [fd, fd]; throws
 * with strerror's words when none can be made. A ProxyJump hop's channel is joined to
 * one (as a forward joins a local socket), and the inner connection runs on the other
 * (src/forward/hop-carrier.ts): both then have a descriptor for the native paths.
 */
static napi_value make_socketpair(napi_env env, napi_callback_info info) {
  (void)info;
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
    napi_throw_error(env, NULL, strerror(errno));
    return NULL;
  }
  napi_value r, a, b;
  napi_create_array_with_length(env, 2, &r);
  napi_create_int32(env, fds[0], &a);
  napi_create_int32(env, fds[1], &b);
  napi_set_element(env, r, 0, a);
  napi_set_element(env, r, 1, b);
  return r;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "sendv", NAPI_AUTO_LENGTH, sendv, NULL, &fn);
  napi_set_named_property(env, exports, "sendv", fn);
  napi_create_function(env, "socketpair", NAPI_AUTO_LENGTH, make_socketpair, NULL, &fn);
  napi_set_named_property(env, exports, "socketpair", fn);
  return exports;
}
