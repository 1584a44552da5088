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
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include "gcm-iv.h"

#define TAG 16
#define MAX_PAD 19
/* CHANNEL_DATA header in the payload: type, recipient, data length. */
#define HDR 9

/* One context, kept for the key it was last set up with: connections seldom alternate.
 * Called on the main thread only (ssh2's channels live there), so no lock. */
static EVP_CIPHER_CTX *ctx;
static const EVP_CIPHER *ctx_cipher;
static unsigned char ctx_key[32];
static unsigned char *out;
static size_t out_cap;

static int set_key(const EVP_CIPHER *c, const unsigned char *key, size_t klen) {
  if (ctx != NULL && ctx_cipher == c && memcmp(ctx_key, key, klen) == 0) return 1;
  if (ctx == NULL && (ctx = EVP_CIPHER_CTX_new()) == NULL) return 0;
  ctx_cipher = NULL;
  if (EVP_EncryptInit_ex(ctx, c, NULL, NULL, NULL) != 1 ||
      !EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_IVLEN, 12, NULL) ||
      EVP_EncryptInit_ex(ctx, NULL, NULL, key, NULL) != 1)
    return 0;
  EVP_CIPHER_CTX_set_padding(ctx, 0);
  memcpy(ctx_key, key, klen);
  ctx_cipher = c;
  return 1;
}

static size_t packet_len(size_t dlen) {
  size_t body = 1 + HDR + dlen; /* padding length byte, payload */
  size_t pad = 16 - (body & 15);
  if (pad < 4) pad += 16;
  return 4 + body + pad + TAG;
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
  const EVP_CIPHER *c = EVP_get_cipherbyname(name);
  if (c == NULL || (c != EVP_aes_128_gcm() && c != EVP_aes_256_gcm()) ||
      (size_t)EVP_CIPHER_key_length(c) != klen)
    return fail(env, "tx-seal: not an AES-GCM cipher");
  if (!set_key(c, key, klen)) return fail(env, "tx-seal: cipher setup failed");

  size_t n = (dlen + psize - 1) / psize;
  size_t last = dlen - (n - 1) * (size_t)psize;
  size_t total = (n - 1) * packet_len(psize) + packet_len(last);
  unsigned char *dst;
  napi_value whole = NULL;
  if (fd < 0) {
    /* Nothing to send here: seal straight into the Buffer handed back. */
    if (napi_create_buffer(env, total, (void **)&dst, &whole) != napi_ok) return fail(env, "tx-seal: out of memory");
  } else {
    if (out_cap < total) {
      unsigned char *b = realloc(out, total);
      if (b == NULL) return fail(env, "tx-seal: out of memory");
      out = b;
      out_cap = total;
    }
    dst = out;
  }

  /* The IV's invocation counter (its last 8 bytes) counts the key's packets. */
  unsigned char ivn[12];
  gcm_iv_after(ivn, iv, (uint64_t)done);
  if (EVP_EncryptInit_ex(ctx, NULL, NULL, NULL, ivn) != 1 ||
      !EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IV_FIXED, -1, ivn)) {
    ctx_cipher = NULL;
    return fail(env, "tx-seal: cipher setup failed");
  }
  unsigned char pads[MAX_PAD * 64];
  size_t padpos = sizeof pads;

  const unsigned char *src = data;
  unsigned char *p = dst;
  for (size_t k = 0; k < n; k++) {
    size_t len = k + 1 < n ? psize : last;
    size_t plen = packet_len(len);
    size_t body = plen - 4 - TAG;
    size_t pad = body - 1 - HDR - len;
    uint32_t l32 = (uint32_t)body;
    p[0] = l32 >> 24, p[1] = l32 >> 16, p[2] = l32 >> 8, p[3] = l32;
    p[4] = (unsigned char)pad;
    p[5] = 94; /* SSH_MSG_CHANNEL_DATA */
    p[6] = recipient >> 24, p[7] = recipient >> 16, p[8] = recipient >> 8, p[9] = recipient;
    uint32_t d32 = (uint32_t)len;
    p[10] = d32 >> 24, p[11] = d32 >> 16, p[12] = d32 >> 8, p[13] = d32;
    if (padpos + pad > sizeof pads) {
      if (RAND_bytes(pads, sizeof pads) != 1) memset(pads, 0, sizeof pads);
      padpos = 0;
    }
    memcpy(p + 14 + len, pads + padpos, pad);
    padpos += pad;
    unsigned char lastiv[1];
    int outl;
    /* The data is encrypted from where it lies into the packet: no copy of it first. */
    if (!EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_IV_GEN, 1, lastiv) ||
        !EVP_EncryptUpdate(ctx, NULL, &outl, p, 4) ||
        EVP_EncryptUpdate(ctx, p + 4, &outl, p + 4, 1 + HDR) != 1 ||
        EVP_EncryptUpdate(ctx, p + 14, &outl, src, (int)len) != 1 ||
        EVP_EncryptUpdate(ctx, p + 14 + len, &outl, p + 14 + len, (int)pad) != 1 ||
        EVP_EncryptFinal_ex(ctx, p + 4 + body, &outl) != 1 ||
        !EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG, p + 4 + body)) {
      ctx_cipher = NULL;
      return fail(env, "tx-seal: encryption failed");
    }
    src += len;
    p += plen;
  }

  if (fd < 0) return whole;
  size_t sent = 0;
  while (sent < total) {
    ssize_t s = send(fd, dst + sent, total - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (s < 0 && errno == EINTR) continue;
    /* Full, or broken: Node's socket gets the rest, and meets the same error if any. */
    if (s <= 0) break;
    sent += (size_t)s;
  }
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
  return exports;
}
