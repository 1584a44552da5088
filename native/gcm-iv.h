/*
 * The IV of an AES-GCM SSH connection's packet (RFC 5647): a fixed 4-byte field and an
 * 8-byte invocation counter that counts the key's packets. Shared by rx-loop.c and
 * tx-seal.c, which start `done` packets after the IV ssh2 holds.
 */
#ifndef BURROW_GCM_IV_H
#define BURROW_GCM_IV_H
#include <stdint.h>
#include <string.h>

/* `out` = `iv` with its invocation counter `done` further on. */
static inline void gcm_iv_after(unsigned char out[12], const unsigned char *iv, uint64_t done) {
  memcpy(out, iv, 12);
  uint64_t ctr = 0;
  for (int i = 4; i < 12; i++) ctr = (ctr << 8) | out[i];
  ctr += done;
  for (int i = 11; i >= 4; i--) {
    out[i] = (unsigned char)ctr;
    ctr >>= 8;
  }
}
#endif
