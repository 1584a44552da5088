/* SSH packets sealed in one pass: see tx-packets.h. */
#include "tx-packets.h"
#include <openssl/rand.h>
#include <errno.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <string.h>
#include "gcm-iv.h"

#define MAX_PAD 19
/* CHANNEL_DATA header in the payload: type, recipient, data length. */
#define HDR 9

const EVP_CIPHER *tx_gcm_cipher(const char *name, size_t klen) {
  const EVP_CIPHER *c = EVP_get_cipherbyname(name);
  if (c == NULL || (c != EVP_aes_128_gcm() && c != EVP_aes_256_gcm()) || (size_t)EVP_CIPHER_key_length(c) != klen)
    return NULL;
  return c;
}

int tx_set_key(EVP_CIPHER_CTX **ctx, const EVP_CIPHER *c, const unsigned char *key) {
  if (*ctx == NULL && (*ctx = EVP_CIPHER_CTX_new()) == NULL) return 0;
  if (EVP_EncryptInit_ex(*ctx, c, NULL, NULL, NULL) != 1 || !EVP_CIPHER_CTX_ctrl(*ctx, EVP_CTRL_AEAD_SET_IVLEN, 12, NULL) ||
      EVP_EncryptInit_ex(*ctx, NULL, NULL, key, NULL) != 1)
    return 0;
  EVP_CIPHER_CTX_set_padding(*ctx, 0);
  return 1;
}

size_t tx_message_len(size_t plen) {
  size_t body = 1 + plen; /* padding length byte, payload */
  size_t pad = 16 - (body & 15);
  if (pad < 4) pad += 16;
  return 4 + body + pad + TX_TAG;
}

static size_t packet_len(size_t dlen) {
  return tx_message_len(HDR + dlen);
}

size_t tx_sealed_len(size_t dlen, uint32_t psize) {
  size_t n = (dlen + psize - 1) / psize;
  return (n - 1) * packet_len(psize) + packet_len(dlen - (n - 1) * (size_t)psize);
}

/* Random padding, drawn from OpenSSL's RNG a pool at a time. */
static unsigned char pads[MAX_PAD * 64];
static size_t padpos = sizeof pads;

static const unsigned char *padding(size_t n) {
  if (padpos + n > sizeof pads) {
    if (RAND_bytes(pads, sizeof pads) != 1) memset(pads, 0, sizeof pads);
    padpos = 0;
  }
  padpos += n;
  return pads + padpos - n;
}

/* The context set to the IV after `done` packets of the key whose first IV is `iv`: the
 * IV's invocation counter (its last 8 bytes) counts the key's packets. */
static int start_at(EVP_CIPHER_CTX *ctx, const unsigned char *iv, uint64_t done) {
  unsigned char ivn[12];
  gcm_iv_after(ivn, iv, done);
  return EVP_EncryptInit_ex(ctx, NULL, NULL, NULL, ivn) == 1 && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IV_FIXED, -1, ivn);
}

/* Frames the packet at `p` for a `plen`-byte payload (left for the caller to write at
 * p + 5): its length, padding length and random padding. Returns its body's length
 * (padding length byte, payload, padding): what is encrypted. */
static size_t frame(unsigned char *p, size_t plen) {
  size_t body = tx_message_len(plen) - 4 - TX_TAG;
  size_t pad = body - 1 - plen;
  uint32_t l32 = (uint32_t)body;
  p[0] = l32 >> 24, p[1] = l32 >> 16, p[2] = l32 >> 8, p[3] = l32;
  p[4] = (unsigned char)pad;
  memcpy(p + 5 + plen, padding(pad), pad);
  return body;
}

/* The next packet's IV, and its length (at `p`) as additional data. */
static int open_packet(EVP_CIPHER_CTX *ctx, const unsigned char *p) {
  unsigned char lastiv[1];
  int outl;
  return EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_IV_GEN, 1, lastiv) && EVP_EncryptUpdate(ctx, NULL, &outl, p, 4) == 1;
}

/* The packet at `p`, its body encrypted, gets its tag. */
static int close_packet(EVP_CIPHER_CTX *ctx, unsigned char *p, size_t body) {
  int outl;
  return EVP_EncryptFinal_ex(ctx, p + 4 + body, &outl) == 1 && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TX_TAG, p + 4 + body);
}

int tx_seal_packets(EVP_CIPHER_CTX *ctx, const unsigned char *iv, uint64_t done, uint32_t recipient,
                    const unsigned char *src, size_t dlen, uint32_t psize, unsigned char *dst) {
  if (!start_at(ctx, iv, done)) return 0;
  size_t n = (dlen + psize - 1) / psize;
  size_t last = dlen - (n - 1) * (size_t)psize;
  unsigned char *p = dst;
  for (size_t k = 0; k < n; k++) {
    size_t len = k + 1 < n ? psize : last;
    size_t body = frame(p, HDR + len);
    size_t pad = body - 1 - HDR - len;
    p[5] = 94; /* SSH_MSG_CHANNEL_DATA */
    p[6] = recipient >> 24, p[7] = recipient >> 16, p[8] = recipient >> 8, p[9] = recipient;
    uint32_t d32 = (uint32_t)len;
    p[10] = d32 >> 24, p[11] = d32 >> 16, p[12] = d32 >> 8, p[13] = d32;
    int outl;
    /* The data is encrypted from where it lies into the packet: no copy of it first. */
    if (!open_packet(ctx, p) || EVP_EncryptUpdate(ctx, p + 4, &outl, p + 4, 1 + HDR) != 1 ||
        EVP_EncryptUpdate(ctx, p + 14, &outl, src, (int)len) != 1 ||
        EVP_EncryptUpdate(ctx, p + 14 + len, &outl, p + 14 + len, (int)pad) != 1 || !close_packet(ctx, p, body))
      return 0;
    src += len;
    p += 4 + body + TX_TAG;
  }
  return 1;
}

int tx_seal_message(EVP_CIPHER_CTX *ctx, const unsigned char *iv, uint64_t done, const unsigned char *msg, size_t plen,
                    unsigned char *dst) {
  size_t body = frame(dst, plen);
  memcpy(dst + 5, msg, plen);
  int outl;
  return start_at(ctx, iv, done) && open_packet(ctx, dst) && EVP_EncryptUpdate(ctx, dst + 4, &outl, dst + 4, (int)body) == 1 &&
         close_packet(ctx, dst, body);
}

static unsigned char *out;
static size_t out_cap;

unsigned char *tx_out(size_t need) {
  if (out_cap < need) {
    unsigned char *b = realloc(out, need);
    if (b == NULL) return NULL;
    out = b;
    out_cap = need;
  }
  return out;
}

size_t tx_send(int fd, const unsigned char *p, size_t len) {
  size_t sent = 0;
  while (sent < len) {
    ssize_t s = send(fd, p + sent, len - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (s < 0 && errno == EINTR) continue;
    if (s <= 0) break;
    sent += (size_t)s;
  }
  return sent;
}
