/*
 * CHANNEL_DATA packets of an AES-GCM SSH connection, framed, padded and sealed
 * (RFC 4253 section 6, RFC 5647): what ssh2's cipher would make of a channel's data,
 * made in one pass; and single packets of other messages (window adjusts). Shared by
 * tx-seal.c (one write of a channel, one message) and tx-pump.c (a local socket read
 * and sent in native code). Main thread only: no locks.
 */
#ifndef BURROW_TX_PACKETS_H
#define BURROW_TX_PACKETS_H
#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>

#define TX_TAG 16

/* The AES-GCM cipher OpenSSL calls `name` with a key of `klen` bytes, or NULL. */
const EVP_CIPHER *tx_gcm_cipher(const char *name, size_t klen);

/* `*ctx` (made if NULL) set up to encrypt with `c` and `key`; 0 on failure. */
int tx_set_key(EVP_CIPHER_CTX **ctx, const EVP_CIPHER *c, const unsigned char *key);

/* Bytes of the packets that carry `dlen` bytes of data in packets of `psize` at most. */
size_t tx_sealed_len(size_t dlen, uint32_t psize);

/*
 * Seals `dlen` bytes at `src` for channel `recipient` into `dst` (tx_sealed_len bytes):
 * ceil(dlen / psize) packets, all full but the last. `iv` is the key's first IV; `done`
 * packets used the key since. Returns 0 when OpenSSL failed (the context is then unset).
 */
int tx_seal_packets(EVP_CIPHER_CTX *ctx, const unsigned char *iv, uint64_t done, uint32_t recipient,
                    const unsigned char *src, size_t dlen, uint32_t psize, unsigned char *dst);

/* Bytes of the one packet that carries a `plen`-byte message (its payload). */
size_t tx_message_len(size_t plen);

/*
 * Seals one packet whose payload is the `plen` bytes at `msg` (a message other than
 * channel data: a window adjust) into `dst` (tx_message_len bytes); `iv` and `done` as
 * for tx_seal_packets. Returns 0 when OpenSSL failed (the context is then unset).
 */
int tx_seal_message(EVP_CIPHER_CTX *ctx, const unsigned char *iv, uint64_t done, const unsigned char *msg, size_t plen,
                    unsigned char *dst);

/*
 * Sends what the socket `fd` takes of `len` bytes now, without blocking; returns how
 * much. Full, or broken: the caller queues the rest on Node's socket, which meets the
 * same error if any.
 */
size_t tx_send(int fd, const unsigned char *p, size_t len);

/* Memory for sealed packets, shared by all callers and reused: valid until the next call. */
unsigned char *tx_out(size_t need);
#endif
