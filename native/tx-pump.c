/*
 * A local socket's bytes read and sent as sealed CHANNEL_DATA packets without
 * JavaScript in between: an upload through `-L`/`-D`, a download through `-R`, on an
 * AES-GCM connection (src/ssh/native-pump.ts).
 *
 * With tx-seal.c alone, each read of the local socket still went through Node's read
 * callback, the join's write, the Channel's Writable and its `_write`, and each window
 * adjust from the server through the Channel's wait for window: ~35 % of an upload's
 * CPU over a 50 ms link, where a few hundred such events a second keep V8 in its
 * baseline tier (bench/HISTORY.md, sessions 32-33). Here a uv_poll on a dup of the
 * local socket reads at most what the server's window allows (256 KiB at most), asks
 * JavaScript once whether and how to send (`onRead`: one small call, which counts the
 * bytes, takes them off the Channel's window and moves ssh2's cipher on), seals the
 * packets and sends them with one send(2). What the SSH socket does not take, or all of
 * it while Node holds bytes for that socket, goes to JavaScript (`onQueue`) to be
 * queued after them, and the pump waits until it was written (`pumpResume`). Without
 * window it waits for a credit: from the receive loop in C (`pumpApi`, rx-loop.c), or
 * `pumpCredit` from JavaScript when the loop does not run; the adjust that ends such a
 * wait is acknowledged at once (`credit`).
 *
 * It stops itself, and tells JavaScript (`onStop(errno, data)`), at the local socket's
 * EOF (0) or read error (errno), and when `onRead` declines (a key exchange began:
 * `data` holds the bytes read, for ssh2's path); no memory after a partial send ends
 * the connection (code -1, as when sealing fails). While it waits it still watches the
 * socket: at a FIN it hands back (0: Node reads on), at a reset it reports the error
 * (the bytes still unread are void, and Node would wait for window to read past them).
 * `pumpStop` stops it without a word (the channel is done). Main thread only; a
 * stopped pump frees itself once libuv has closed its handle and JavaScript has
 * dropped its handle.
 *
 * pumpStart(localFd, sshFd, cipher, key, iv, recipient, packetSize, window, onRead, onQueue, onStop)
 *   onRead(n, windowLeft) -> -1 (declined) or packetsDone * 2 + (1 if the SSH socket may be written now)
 *   onStop(err, data, window)
 * pumpKey(h, cipher, key, iv)   the key and IV that onRead's packetsDone count from now
 *                               (after a key exchange, or ssh2 moved its IV on)
 * pumpCredit(h, n)              the server's window grew by n
 * pumpResume(h)                 what onQueue got was written
 * pumpStop(h)
 * pumpApi()                     an External of tx-pump-api.h's TxPumpApi, for rx-loop.c
 */
#include "tx-pump.h"
#include <uv.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>
#include "call-js.h"
#include "tx-packets.h"

#define PUMP_READ (256 * 1024)
/* onStop's code when bytes counted as sent could not be sent: the connection must end. */
#define LOST (-1)

typedef struct {
  napi_env env;
  uv_poll_t poll;
  int lfd, sfd; /* dups of the local socket's and of the SSH socket's descriptors */
  uint32_t recipient, psize;
  int64_t window;
  int polling; /* the events polled for: UV_READABLE, UV_DISCONNECT, or none */
  int wait_sock, stopped, stop_req, in_js;
  int refs; /* the uv handle and the JavaScript handle */
  EVP_CIPHER_CTX *ctx;
  const EVP_CIPHER *cipher; /* the context's, with `key` */
  unsigned char key[32];
  unsigned char iv[12]; /* the IV that onRead's packetsDone counts from */
  napi_ref on_read, on_queue, on_stop;
} Pump;

/* One read buffer for all pumps: a callback is done with it before it returns. */
static unsigned char *rbuf;

static void release(Pump *p) {
  if (--p->refs > 0) return;
  EVP_CIPHER_CTX_free(p->ctx);
  free(p);
}

static void closed(uv_handle_t *h) {
  Pump *p = (Pump *)h->data;
  close(p->lfd);
  close(p->sfd);
  napi_delete_reference(p->env, p->on_read);
  napi_delete_reference(p->env, p->on_queue);
  napi_delete_reference(p->env, p->on_stop);
  release(p);
}

static void finalize(napi_env env, void *data, void *hint) {
  (void)env, (void)hint;
  release((Pump *)data);
}

static void do_stop(Pump *p) {
  if (p->stopped) return;
  p->stopped = 1;
  p->polling = 0;
  uv_close((uv_handle_t *)&p->poll, closed);
}

static void pump_cb(uv_poll_t *h, int status, int events);

/*
 * Reads while the server's window has room and nothing waits for Node's socket. Else
 * it watches the socket for its client going, a FIN or a reset (pump_cb): a reset must
 * not go unnoticed while the window is shut.
 */
static void update_poll(Pump *p) {
  int want = p->stopped ? 0 : !p->wait_sock && p->window > 0 ? UV_READABLE : UV_DISCONNECT;
  if (want == p->polling) return;
  p->polling = want;
  if (want) uv_poll_start(&p->poll, want, pump_cb);
  else uv_poll_stop(&p->poll);
}

/*
 * Returns 0, or -1 if the callback threw (reported as an uncaught exception). `ticks`:
 * as a callback from the event loop, after which Node runs its queued ticks and
 * microtasks; else a plain call. onRead must be plain: a tick could make a packet of
 * ssh2's (another channel's write, say), numbered after the ones onRead counted but
 * written before them.
 */
static int call_js(Pump *p, napi_ref fnref, size_t argc, napi_value *argv, napi_value *result, int ticks) {
  return call_js_ref(p->env, fnref, &p->in_js, argc, argv, result, ticks);
}

/* Stops, then tells JavaScript why, handing back `len` bytes read and not sent. */
static void finish(Pump *p, int err, const unsigned char *data, size_t len) {
  do_stop(p);
  napi_value argv[3];
  napi_create_int32(p->env, err, &argv[0]);
  if (len == 0 || napi_create_buffer_copy(p->env, len, data, NULL, &argv[1]) != napi_ok) {
    if (len != 0) napi_create_int32(p->env, LOST, &argv[0]);
    napi_get_undefined(p->env, &argv[1]);
  }
  napi_create_double(p->env, (double)p->window, &argv[2]);
  call_js(p, p->on_stop, 3, argv, NULL, 1);
}

/* One read: asked for, sealed, sent or queued. */
static void pump_once(Pump *p) {
  size_t max = p->window < PUMP_READ ? (size_t)p->window : PUMP_READ;
  if (max == 0) return;
  if (rbuf == NULL && (rbuf = malloc(PUMP_READ)) == NULL) {
    finish(p, 0, NULL, 0); /* Node reads on */
    return;
  }
  ssize_t n = read(p->lfd, rbuf, max);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
  if (n <= 0) {
    finish(p, n < 0 ? errno : 0, NULL, 0);
    return;
  }

  napi_value args[2], res = NULL;
  double r = -1;
  napi_create_double(p->env, (double)n, &args[0]);
  napi_create_double(p->env, (double)(p->window - n), &args[1]);
  if (call_js(p, p->on_read, 2, args, &res, 0) != 0 || res == NULL || napi_get_value_double(p->env, res, &r) != napi_ok) r = -1;
  /* A stop asked for meanwhile waits until these are sent: JavaScript counted them. */
  if (r < 0) {
    finish(p, 0, rbuf, (size_t)n);
    return;
  }

  uint64_t done = (uint64_t)(r / 2);
  int direct = (uint64_t)r & 1;
  p->window -= n;
  size_t total = tx_sealed_len((size_t)n, p->psize);
  unsigned char *dst = tx_out(total);
  /* JavaScript counted these bytes as sent: past this point they must go, or the connection. */
  if (dst == NULL || !tx_seal_packets(p->ctx, p->iv, done, p->recipient, rbuf, (size_t)n, p->psize, dst)) {
    finish(p, LOST, NULL, 0);
    return;
  }
  size_t sent = direct ? tx_send(p->sfd, dst, total) : 0;
  if (sent == total) return;
  p->wait_sock = 1;
  update_poll(p);
  napi_value rest;
  if (napi_create_buffer_copy(p->env, total - sent, dst + sent, NULL, &rest) != napi_ok) {
    finish(p, LOST, NULL, 0);
    return;
  }
  call_js(p, p->on_queue, 1, &rest, NULL, 1);
}

static void pump_cb(uv_poll_t *h, int status, int events) {
  Pump *p = (Pump *)h->data;
  if (p->stopped) return;
  napi_handle_scope scope;
  napi_open_handle_scope(p->env, &scope);
  if (status < 0) {
    /* The socket failed (a reset; libuv stopped the handle): its error, not the bytes
     * still unread before it, which Node would read first and then wait for window. */
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(p->lfd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
    finish(p, err, NULL, 0);
  } else if (!(events & UV_READABLE) || p->polling != UV_READABLE) {
    finish(p, 0, NULL, 0); /* a FIN while there was no window: Node reads on */
  } else {
    pump_once(p);
  }
  napi_close_handle_scope(p->env, scope);
  if (p->stop_req) do_stop(p);
  else update_poll(p);
}

/* The call's `want` arguments into argv; the pump its first one names, or NULL. */
static Pump *args_pump(napi_env env, napi_callback_info info, size_t want, napi_value *argv) {
  size_t argc = want;
  void *p = NULL;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc != want || napi_get_value_external(env, argv[0], &p) != napi_ok || p == NULL) return NULL;
  return (Pump *)p;
}

/* The connection's key: `p`'s context set up for it and its first IV kept. */
static int set_key(napi_env env, Pump *p, napi_value vname, napi_value vkey, napi_value viv) {
  char name[32];
  size_t nlen, klen, ivlen;
  unsigned char *key, *iv;
  if (napi_get_value_string_utf8(env, vname, name, sizeof name, &nlen) != napi_ok ||
      napi_get_buffer_info(env, vkey, (void **)&key, &klen) != napi_ok ||
      napi_get_buffer_info(env, viv, (void **)&iv, &ivlen) != napi_ok || ivlen != 12)
    return 0;
  const EVP_CIPHER *c = tx_gcm_cipher(name, klen);
  if (c == NULL) return 0;
  /* ssh2 moves its IV on after packets sealed here, before its own next one: often the
   * same key with a later IV, which needs no new context. */
  if (c != p->cipher || memcmp(p->key, key, klen) != 0) {
    p->cipher = NULL;
    if (!tx_set_key(&p->ctx, c, key)) return 0;
    memcpy(p->key, key, klen);
    p->cipher = c;
  }
  memcpy(p->iv, iv, 12);
  return 1;
}

static napi_value pump_start(napi_env env, napi_callback_info info) {
  size_t argc = 11;
  napi_value argv[11], r;
  int32_t lfd, sfd;
  uint32_t recipient, psize;
  double window;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  Pump *p = calloc(1, sizeof *p);
  if (p == NULL) {
    napi_throw_error(env, NULL, "tx-pump: out of memory");
    return NULL;
  }
  if (argc < 11 || napi_get_value_int32(env, argv[0], &lfd) != napi_ok || napi_get_value_int32(env, argv[1], &sfd) != napi_ok ||
      napi_get_value_uint32(env, argv[5], &recipient) != napi_ok || napi_get_value_uint32(env, argv[6], &psize) != napi_ok ||
      napi_get_value_double(env, argv[7], &window) != napi_ok || lfd < 0 || sfd < 0 || psize == 0 || window < 0) {
    free(p);
    napi_throw_type_error(env, NULL,
                          "tx-pump: pumpStart(localFd, sshFd, cipher, key, iv, recipient, packetSize, window, onRead, onQueue, onStop)");
    return NULL;
  }
  if (!set_key(env, p, argv[2], argv[3], argv[4])) {
    EVP_CIPHER_CTX_free(p->ctx);
    free(p);
    napi_throw_error(env, NULL, "tx-pump: not an AES-GCM key");
    return NULL;
  }
  p->lfd = dup(lfd);
  p->sfd = p->lfd < 0 ? -1 : dup(sfd);
  if (p->sfd < 0) {
    if (p->lfd >= 0) close(p->lfd);
    EVP_CIPHER_CTX_free(p->ctx);
    free(p);
    napi_throw_error(env, NULL, "tx-pump: out of descriptors");
    return NULL;
  }
  p->env = env;
  p->recipient = recipient;
  p->psize = psize;
  p->window = (int64_t)window;
  p->refs = 2;
  napi_create_reference(env, argv[8], 1, &p->on_read);
  napi_create_reference(env, argv[9], 1, &p->on_queue);
  napi_create_reference(env, argv[10], 1, &p->on_stop);
  uv_loop_t *loop;
  napi_get_uv_event_loop(env, &loop);
  uv_poll_init(loop, &p->poll, p->lfd);
  p->poll.data = p;
  update_poll(p);
  napi_create_external(env, p, finalize, NULL, &r);
  return r;
}

static napi_value pump_key(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  Pump *p = args_pump(env, info, 4, argv);
  if (p == NULL) {
    napi_throw_type_error(env, NULL, "tx-pump: pumpKey(h, cipher, key, iv)");
    return NULL;
  }
  if (!p->stopped && !set_key(env, p, argv[1], argv[2], argv[3])) napi_throw_error(env, NULL, "tx-pump: not an AES-GCM key");
  return NULL;
}

/*
 * The server's window grew by n. A pump that had none left first has the kernel
 * acknowledge the adjust at once (TCP_QUICKACK). sshd leaves Nagle on for a forwarded
 * channel's connection: the adjusts it makes while one of its small segments is
 * unacknowledged wait for that acknowledgment, one batch a round trip, and an
 * acknowledgment riding on the bytes this credit lets go leaves after their read and
 * seal. Each round trip of a window-bound upload was that much longer (bench/HISTORY.md,
 * session 35).
 */
static void credit(Pump *p, int64_t n) {
  if (p->window <= 0 && !p->stopped) { /* a stopped pump's descriptors may be closed */
    int one = 1;
    setsockopt(p->sfd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
  }
  p->window += n;
  if (!p->in_js) update_poll(p);
}

static napi_value pump_credit(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  double n;
  Pump *p = args_pump(env, info, 2, argv);
  if (p == NULL || napi_get_value_double(env, argv[1], &n) != napi_ok) {
    napi_throw_type_error(env, NULL, "tx-pump: pumpCredit(h, n)");
    return NULL;
  }
  credit(p, (int64_t)n);
  return NULL;
}

/* The receive loop's way in (native/rx-loop.c): a window adjust it read for the pump. */
static void credit_from_loop(void *pump, int64_t n) {
  credit((Pump *)pump, n);
}

static const TxPumpApi loop_api = {TX_PUMP_API_VERSION, credit_from_loop};

/* pumpApi(): what the receive loop calls to credit a pump (an External). */
static napi_value pump_api(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value r;
  napi_create_external(env, (void *)&loop_api, NULL, NULL, &r);
  return r;
}

static napi_value pump_resume(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  Pump *p = args_pump(env, info, 1, argv);
  if (p == NULL) {
    napi_throw_type_error(env, NULL, "tx-pump: pumpResume(h)");
    return NULL;
  }
  p->wait_sock = 0;
  if (!p->in_js) update_poll(p);
  return NULL;
}

static napi_value pump_stop(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  Pump *p = args_pump(env, info, 1, argv);
  if (p == NULL) {
    napi_throw_type_error(env, NULL, "tx-pump: pumpStop(h)");
    return NULL;
  }
  if (p->in_js) p->stop_req = 1;
  else do_stop(p);
  return NULL;
}

void tx_pump_exports(napi_env env, napi_value exports) {
  static const struct {
    const char *name;
    napi_callback fn;
  } api[] = {{"pumpStart", pump_start}, {"pumpKey", pump_key}, {"pumpCredit", pump_credit}, {"pumpResume", pump_resume}, {"pumpStop", pump_stop}, {"pumpApi", pump_api}};
  for (size_t i = 0; i < sizeof api / sizeof api[0]; i++) {
    napi_value fn;
    napi_create_function(env, api[i].name, NAPI_AUTO_LENGTH, api[i].fn, NULL, &fn);
    napi_set_named_property(env, exports, api[i].name, fn);
  }
}
