/*
 * A channel's data as sealed SSH packets, in one call: the send side of an AES-GCM
 * connection's bulk data (an upload through `-L`/`-D`, a download through `-R`).
 *
 * ssh2 used to make each 32 KiB CHANNEL_DATA packet in JavaScript: allocate, copy,
 * encrypt (one call into its binding), hand it to the socket (corked), and write
 * the tick's packets with Node's writev. At the rate an upload through a long link
 * runs (~600 packets a second, window adjusts in between), that code stays in V8's
 * baseline tier and cost burrow ~1.6x OpenSSH's CPU per GiB (bench/HISTORY.md,
 * session 31). Here the packets of a whole write are framed, padded, encrypted with
 * the connection's key from the IV ssh2 would use next, and sent with one send(2)
 * when the caller says the socket has nothing queued (src/ssh/native-tx.ts). What
 * the socket does not take, or everything when there is no descriptor, comes back
 * as a Buffer for the caller to queue on Node's socket, in order.
 *
 * seal(fd, cipher, key, iv, packetsDone, recipient, data, packetSize)
 *   fd          the SSH socket's descriptor, or -1: return everything
 *   iv          the IV of the key's first packet; packetsDone packets used it since
 *   returns     undefined when the socket took it all, else the unsent bytes
 *   throws      before anything was sent, or (code ERR_TX_SEAL_PARTIAL) when the rest
 *               of a partial send could not be kept
 * Packets: ceil(data.length / packetSize), all full but the last.
 *
 * message(fd, cipher, key, iv, packetsDone, payload)
 *   one packet of any other message (`payload`, its type byte first); the rest as seal
 */
#include <node_api.h>
#include <stdint.h>
#include <string.h>
#include "tx-packets.h"
#include "tx-pump.h"

/* One context, kept for the key it was last set up with: connections seldom alternate.
 * Called on the main thread only (ssh2's channels live there), so no lock. */
static EVP_CIPHER_CTX *ctx;
static const EVP_CIPHER *ctx_cipher;
static unsigned char ctx_key[32];

static int set_key(const EVP_CIPHER *c, const unsigned char *key, size_t klen) {
  if (ctx != NULL && ctx_cipher == c && memcmp(ctx_key, key, klen) == 0) return 1;
  ctx_cipher = NULL;
  if (!tx_set_key(&ctx, c, key)) return 0;
  memcpy(ctx_key, key, klen);
  ctx_cipher = c;
  return 1;
}

static napi_value fail(napi_env env, const char *msg) {
  napi_throw_error(env, NULL, msg);
  return NULL;
}

/* Where to seal `total` bytes: with no descriptor, straight into the Buffer handed back
 * (`*whole`); else into the shared memory that is sent from. NULL (thrown) when out of memory. */
static unsigned char *out_for(napi_env env, int32_t fd, size_t total, napi_value *whole) {
  unsigned char *dst = NULL;
  *whole = NULL;
  if (fd < 0 ? napi_create_buffer(env, total, (void **)&dst, whole) != napi_ok : (dst = tx_out(total)) == NULL) {
    fail(env, "tx-seal: out of memory");
    return NULL;
  }
  return dst;
}

/* Sends the sealed bytes to `fd`: undefined when it took them all, else what it did not
 * take as a Buffer (all of them, `whole`, without a descriptor). */
static napi_value deliver(napi_env env, int32_t fd, const unsigned char *dst, size_t total, napi_value whole) {
  napi_value r;
  if (fd < 0) return whole;
  size_t sent = tx_send(fd, dst, total);
  if (sent == total) {
    napi_get_undefined(env, &r);
    return r;
  }
  if (napi_create_buffer_copy(env, total - sent, dst + sent, NULL, &r) != napi_ok) {
    /* Part of the packets left: the connection cannot go on (the caller ends it). */
    napi_throw_error(env, "ERR_TX_SEAL_PARTIAL", "tx-seal: out of memory after a partial send");
    return NULL;
  }
  return r;
}

/* The arguments every call starts with, (fd, cipher, key, iv, packetsDone): the context is
 * set up for the key. Throws `usage` (or the cipher's error) and returns 0 when unusable. */
static int prepare(napi_env env, napi_value *argv, const char *usage, int32_t *fd, unsigned char **iv, double *done) {
  char name[32];
  size_t nlen, klen, ivlen;
  unsigned char *key;
  if (napi_get_value_int32(env, argv[0], fd) != napi_ok ||
      napi_get_value_string_utf8(env, argv[1], name, sizeof name, &nlen) != napi_ok ||
      napi_get_buffer_info(env, argv[2], (void **)&key, &klen) != napi_ok ||
      napi_get_buffer_info(env, argv[3], (void **)iv, &ivlen) != napi_ok ||
      napi_get_value_double(env, argv[4], done) != napi_ok || ivlen != 12 || *done < 0) {
    napi_throw_type_error(env, NULL, usage);
    return 0;
  }
  const EVP_CIPHER *c = tx_gcm_cipher(name, klen);
  const char *err = c == NULL ? "tx-seal: not an AES-GCM cipher" : !set_key(c, key, klen) ? "tx-seal: cipher setup failed" : NULL;
  if (err != NULL) fail(env, err);
  return err == NULL;
}

/* The Uint8Array at `v`, at least 1 byte: its bytes and length, or 0. */
static int bytes_of(napi_env env, napi_value v, void **data, size_t *len) {
  napi_typedarray_type tt;
  return napi_get_typedarray_info(env, v, &tt, len, data, NULL, NULL) == napi_ok && tt == napi_uint8_array && *len > 0;
}

static napi_value seal(napi_env env, napi_callback_info info) {
  static const char usage[] = "tx-seal: seal(fd, cipher, key, iv, packetsDone, recipient, data, packetSize)";
  size_t argc = 8;
  napi_value argv[8];
  int32_t fd;
  uint32_t recipient, psize;
  double done;
  size_t dlen;
  unsigned char *iv;
  void *data;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 8 || napi_get_value_uint32(env, argv[5], &recipient) != napi_ok || !bytes_of(env, argv[6], &data, &dlen) ||
      napi_get_value_uint32(env, argv[7], &psize) != napi_ok || psize == 0) {
    napi_throw_type_error(env, NULL, usage);
    return NULL;
  }
  if (!prepare(env, argv, usage, &fd, &iv, &done)) return NULL;
  size_t total = tx_sealed_len(dlen, psize);
  unsigned char *dst;
  napi_value whole;
  if ((dst = out_for(env, fd, total, &whole)) == NULL) return NULL;
  if (!tx_seal_packets(ctx, iv, (uint64_t)done, recipient, data, dlen, psize, dst)) {
    ctx_cipher = NULL;
    return fail(env, "tx-seal: encryption failed");
  }
  return deliver(env, fd, dst, total, whole);
}

/*
 * message(fd, cipher, key, iv, packetsDone, payload): one packet of another message
 * (a window adjust), sealed and sent or handed back as seal does. ssh2 would build it,
 * encrypt it with a call into its binding, and write it corked, uncorked a tick later:
 * at a download's thousands of adjusts a second, most of the JavaScript a download runs
 * (bench/HISTORY.md, session 36).
 */
static napi_value message(napi_env env, napi_callback_info info) {
  static const char usage[] = "tx-seal: message(fd, cipher, key, iv, packetsDone, payload)";
  size_t argc = 6;
  napi_value argv[6];
  int32_t fd;
  double done;
  size_t plen;
  unsigned char *iv;
  void *payload;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 6 || !bytes_of(env, argv[5], &payload, &plen) || plen > 1024) {
    napi_throw_type_error(env, NULL, usage);
    return NULL;
  }
  if (!prepare(env, argv, usage, &fd, &iv, &done)) return NULL;
  size_t total = tx_message_len(plen);
  unsigned char *dst;
  napi_value whole;
  if ((dst = out_for(env, fd, total, &whole)) == NULL) return NULL;
  if (!tx_seal_message(ctx, iv, (uint64_t)done, payload, plen, dst)) {
    ctx_cipher = NULL;
    return fail(env, "tx-seal: encryption failed");
  }
  return deliver(env, fd, dst, total, whole);
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "seal", NAPI_AUTO_LENGTH, seal, NULL, &fn);
  napi_set_named_property(env, exports, "seal", fn);
  napi_create_function(env, "message", NAPI_AUTO_LENGTH, message, NULL, &fn);
  napi_set_named_property(env, exports, "message", fn);
  tx_pump_exports(env, exports);
  return exports;
}
