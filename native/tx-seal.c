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

static napi_value seal(napi_env env, napi_callback_info info) {
  size_t argc = 8;
  napi_value argv[8], r;
  int32_t fd;
  uint32_t recipient, psize;
  double done;
  char name[32];
  size_t nlen, klen, ivlen, dlen;
  unsigned char *key, *iv;
  void *data;
  napi_typedarray_type tt;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 8 || napi_get_value_int32(env, argv[0], &fd) != napi_ok ||
      napi_get_value_string_utf8(env, argv[1], name, sizeof name, &nlen) != napi_ok ||
      napi_get_buffer_info(env, argv[2], (void **)&key, &klen) != napi_ok ||
      napi_get_buffer_info(env, argv[3], (void **)&iv, &ivlen) != napi_ok ||
      napi_get_value_double(env, argv[4], &done) != napi_ok ||
      napi_get_value_uint32(env, argv[5], &recipient) != napi_ok ||
      napi_get_typedarray_info(env, argv[6], &tt, &dlen, &data, NULL, NULL) != napi_ok ||
      napi_get_value_uint32(env, argv[7], &psize) != napi_ok ||
      tt != napi_uint8_array || ivlen != 12 || done < 0 || psize == 0 || dlen == 0) {
    napi_throw_type_error(env, NULL, "tx-seal: seal(fd, cipher, key, iv, packetsDone, recipient, data, packetSize)");
    return NULL;
  }
  const EVP_CIPHER *c = tx_gcm_cipher(name, klen);
  if (c == NULL) return fail(env, "tx-seal: not an AES-GCM cipher");
  if (!set_key(c, key, klen)) return fail(env, "tx-seal: cipher setup failed");

  size_t total = tx_sealed_len(dlen, psize);
  unsigned char *dst;
  napi_value whole = NULL;
  if (fd < 0) {
    /* Nothing to send here: seal straight into the Buffer handed back. */
    if (napi_create_buffer(env, total, (void **)&dst, &whole) != napi_ok) return fail(env, "tx-seal: out of memory");
  } else if ((dst = tx_out(total)) == NULL) {
    return fail(env, "tx-seal: out of memory");
  }
  if (!tx_seal_packets(ctx, iv, (uint64_t)done, recipient, data, dlen, psize, dst)) {
    ctx_cipher = NULL;
    return fail(env, "tx-seal: encryption failed");
  }

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

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "seal", NAPI_AUTO_LENGTH, seal, NULL, &fn);
  napi_set_named_property(env, exports, "seal", fn);
  tx_pump_exports(env, exports);
  return exports;
}
