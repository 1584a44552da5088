/*
 * The receive side of an AES-GCM SSH connection, outside Node's stream machinery.
 *
 * A download through burrow used to cost, per read of the SSH socket, Node's read
 * callback, the 'data' event, ssh2's parse loop and the sink's N-API send: with the
 * AES, ~0.35 CPU-s/GiB of user time more than OpenSSH's client (bench/HISTORY.md,
 * sessions 21-22). Here a uv_poll on a dup of the SSH socket reads up to 256 KiB per
 * wakeup, decrypts every whole packet in place (the same OpenSSL calls as ssh2's
 * binding), sends the CHANNEL_DATA of registered sinks straight to their sockets (one
 * sendmsg per sink per read), and hands every other payload to JavaScript, in order,
 * as a copy. JavaScript is told what each sink received and still holds, and answers
 * with each sink's window (src/ssh/native-rx.ts) and how many bytes it may receive
 * before JavaScript's window logic must hear again (its quiet: until a window adjust
 * is due, or the tuner's probe completes). A report is due when that many came, when
 * what the sink holds changed, before JavaScript gets any other message, at a stop, and
 * REPORT_MS after bytes were left unreported (a timer: burrow's counters and keepalive
 * hear of them even if nothing else comes). At a download's rates that is one call into
 * JavaScript every several reads instead of one per read (bench/HISTORY.md, session 34).
 *
 * What a sink's socket does not take is held, in order, and written as the socket
 * takes it; the channel's window bounds it, and the other channels go on. Before any
 * other message for that channel (an EOF, say) the loop lets go of the sink: what it
 * holds goes to JavaScript (`onEvict`), which queues it on Node's socket ahead of
 * what follows, and the channel's data takes ssh2's path until JavaScript hands the
 * sink back. At a CLOSE the sink goes whatever it holds (the channel's number may be
 * given to a new channel). Data past a sink's window goes to JavaScript, which closes the channel.
 *
 * A channel whose upload pump (tx-pump.c, through tx-pump-api.h) is registered gets the
 * server's window adjusts straight from here, without JavaScript; every 16 of them
 * JavaScript hears that the server lives (`onRun(0)`: burrow's keepalive counts what
 * arrives), and such reads count as busy ones.
 *
 * A read of at least NAP_READ bytes that emptied the socket (a download under way) is
 * followed by a nap: the loop stops polling the socket for nap_ms, then takes at once
 * what came meanwhile. Woken by every segment, the loop made 12-17 context switches per
 * MiB of a loopback download, on a 2-core machine shared with sshd and the local
 * reader; napping, ~2, its CPU per GiB fell by 12-17 %, and the `-L` / `-D` downloads
 * read 876 / 870 MiB/s against 784 / 781 (OpenSSH 901 / 982; bench/HISTORY.md,
 * session 56). A nap lasts 1-2 ms (libuv's timers count whole ms), in which the kernel
 * queues what arrives: ~2 MB at 1 GB/s, within the receive buffer Linux sizes for such
 * a rate. Only on TCP: a unix socket's buffer is fixed and small (~208 KiB), and a `-J`
 * hop's socketpair (src/forward/hop-carrier.ts) held to that per nap carried a loopback
 * download at 188 MiB/s instead of ~500. The connection's other messages wait as long,
 * only while a download runs. Only at NAP_RATE (256 MB/s) or more since the last large
 * read that emptied the socket: at ~24 MiB/s (100 ms, default buffers) a nap seldom saved
 * a wake-up and added a timer's, ~0.1 CPU-s/GiB (HISTORY, session 56). Off with
 * setNap(0) (BURROW_NO_RX_NAP=1, native-rx.ts).
 *
 * It stops (and hands back the undecrypted rest) on EOF or an error of the SSH
 * socket, on a bad packet, after IDLE_READS reads without sink data or pump credits (an
 * upload without a pump: its window adjusts cost less in ssh2's parse than a call into
 * JavaScript each), or when
 * JavaScript asks (key exchange, see native-rx.ts);
 * what the sinks hold is evicted first. A stopped loop frees itself once libuv has
 * closed its handles.
 */
#include <node_api.h>
#include <uv.h>
#include <openssl/evp.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
#include "call-js.h"
#include "gcm-iv.h"
#include "tx-pump-api.h"

#define READ_MAX (256 * 1024)
#define MAX_PKT 35000
#define BUF_CAP (READ_MAX + MAX_PKT + 64)
#define MAX_SINKS 1024
#define MAX_IOV 64
#define REPORT_W 5
/* A sink's bytes go unreported no longer than this (ms), whatever JavaScript's quiet. */
#define REPORT_MS 100
/* Reads in a row without sink data after which the loop hands back. */
#define IDLE_READS 16
/* Window adjusts given to pumps between two calls that tell JavaScript the server lives. */
#define PULSE_CREDITS 16
/* A read at least this large that emptied the socket is followed by a nap (above). */
#define NAP_READ (64 * 1024)
/* ...and only at a rate of at least this many bytes per ms since the last such read. */
#define NAP_RATE (256 * 1024)
/* Whether a loop on descriptor `fd` may nap: a TCP socket's (the fuzz harness says yes). */
#ifndef NAP_ELIGIBLE
#define NAP_ELIGIBLE(fd) tcp_socket(fd)
#endif

/* The nap in ms (0: none), and naps taken, every loop together (setNap, naps). */
static int nap_ms = 1;
static double naps_taken;

typedef struct Rx Rx;

/* A channel whose upload pump (tx-pump.c) takes the server's window adjusts from here. */
typedef struct {
  uint32_t recipient;
  void *pump;
  const TxPumpApi *api;
  napi_ref ref; /* the pump's handle, kept alive while it is here */
} Credit;

typedef struct {
  Rx *rx;
  uint32_t recipient;
  int fd; /* a dup of the local socket's descriptor */
  int dead;
  int64_t window;
  struct iovec iov[MAX_IOV];
  int niov;
  size_t batch;
  uint64_t received; /* since the last report */
  int64_t quiet;     /* received bytes JavaScript need not hear of yet (0: each read) */
  int urgent;        /* what it holds changed, or its socket failed: report now */
  unsigned char *hold;
  size_t hold_len, hold_off;
  uv_poll_t wpoll;
  int wpolling;
} Sink;

struct Rx {
  napi_env env;
  uv_timer_t timer; /* REPORT_MS after bytes were left unreported */
  int timing;
  uv_timer_t nap; /* the socket's poll starts again when it fires */
  uint64_t read_total, mark_bytes, mark_ms; /* bytes read; at the last large read that emptied the socket, and when */
  uv_poll_t poll;
  int fd; /* a dup of the SSH socket's descriptor */
  int polling, stopped, in_js, stop_req, handles, idle;
  int may_nap; /* a TCP socket (NAP_ELIGIBLE) */
  uint64_t sunk; /* sink bytes so far */
  EVP_CIPHER_CTX *ctx;
  unsigned char *buf;
  size_t have;
  uint64_t packets;
  napi_ref on_payload, on_run, on_stop, on_evict, report_ref;
  int32_t *report;
  size_t report_cap; /* rows */
  Sink *sinks[MAX_SINKS];
  int nsinks;
  Credit credits[MAX_SINKS];
  int ncredits;
  uint64_t credited; /* window adjusts handed to pumps so far */
  uint64_t pulsed;   /* `credited` when JavaScript last heard of them */
  Sink *last; /* the sink of the last CHANNEL_DATA: most packets are for the same */
};

static void ssh_cb(uv_poll_t *h, int status, int events);
static void sink_cb(uv_poll_t *h, int status, int events);
static void do_stop(Rx *rx, int err);

static size_t held_of(const Sink *s) { return s->hold_len - s->hold_off; }

/* The sink holds nothing any more (all written, or its socket failed). */
static void drop_hold(Sink *s) {
  free(s->hold);
  s->hold = NULL;
  s->hold_len = s->hold_off = 0;
}

static Sink *find_sink(Rx *rx, uint32_t recipient) {
  if (rx->last != NULL && rx->last->recipient == recipient) return rx->last;
  for (int i = 0; i < rx->nsinks; i++)
    if (rx->sinks[i]->recipient == recipient) return rx->last = rx->sinks[i];
  return NULL;
}

static inline uint32_t be32(const unsigned char *p) {
  return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* Returns 0, or -1 if the callback threw (reported as an uncaught exception). */
static int call_js(Rx *rx, napi_ref fnref, size_t argc, napi_value *argv, napi_value *result) {
  return call_js_ref(rx->env, fnref, &rx->in_js, argc, argv, result, true);
}

/* Sends each sink's batch; what the kernel does not take is copied to its hold. */
static void flush_sinks(Rx *rx) {
  for (int i = 0; i < rx->nsinks; i++) {
    Sink *s = rx->sinks[i];
    if (s->niov == 0) continue;
    ssize_t sent = 0;
    if (!s->dead && held_of(s) == 0) {
      struct msghdr m;
      memset(&m, 0, sizeof m);
      m.msg_iov = s->iov;
      m.msg_iovlen = (size_t)s->niov;
      do sent = sendmsg(s->fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
      while (sent < 0 && errno == EINTR);
      if (sent < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK) s->dead = 1;
        sent = 0;
      }
    }
    size_t rest = s->batch - (size_t)sent;
    if (rest > 0 && !s->dead) {
      if (s->hold_off > 0) {
        memmove(s->hold, s->hold + s->hold_off, held_of(s));
        s->hold_len -= s->hold_off;
        s->hold_off = 0;
      }
      unsigned char *grown = realloc(s->hold, s->hold_len + rest);
      if (grown == NULL) {
        s->dead = 1; /* out of memory: the channel's data cannot be kept */
      } else {
        s->hold = grown;
        size_t skip = (size_t)sent;
        for (int k = 0; k < s->niov; k++) {
          size_t l = s->iov[k].iov_len;
          if (skip >= l) {
            skip -= l;
            continue;
          }
          memcpy(s->hold + s->hold_len, (char *)s->iov[k].iov_base + skip, l - skip);
          s->hold_len += l - skip;
          skip = 0;
        }
        if (!s->wpolling) {
          uv_poll_start(&s->wpoll, UV_WRITABLE, sink_cb);
          s->wpolling = 1;
        }
      }
    }
    if (s->dead) drop_hold(s);
    if (sent < (ssize_t)s->batch) s->urgent = 1;
    s->niov = 0;
    s->batch = 0;
  }
}

/*
 * Whether JavaScript must hear of the sink now: what it holds changed, or it received
 * bytes and either `force` (before JavaScript acts on anything else, or the timer) or
 * more than JavaScript's window logic asked to hear of (the sink's quiet).
 */
static int report_due(const Sink *s, int force) {
  if (s->urgent) return 1;
  return s->received > 0 && (force || (int64_t)s->received >= s->quiet);
}

/*
 * Tells JavaScript the received bytes and what it holds (-1: its socket failed) of each
 * sink whose report is due, in calls of at most report_cap rows; JavaScript writes back
 * each one's window, and how many bytes it may receive before the next report is due.
 * Returns -1 if it threw.
 */
static int report(Rx *rx, int force) {
  for (;;) {
    size_t n = 0;
    for (int i = 0; i < rx->nsinks && n < rx->report_cap; i++) {
      Sink *s = rx->sinks[i];
      if (!report_due(s, force)) continue;
      int32_t *row = rx->report + n * REPORT_W;
      row[0] = (int32_t)s->recipient;
      row[1] = (int32_t)s->received;
      row[2] = s->dead ? -1 : (int32_t)held_of(s);
      row[3] = -1;
      row[4] = -1;
      s->received = 0;
      s->urgent = 0;
      n++;
    }
    if (n == 0) return 0;
    napi_handle_scope scope;
    napi_open_handle_scope(rx->env, &scope);
    napi_value argv[1];
    napi_create_uint32(rx->env, (uint32_t)n, &argv[0]);
    int r = call_js(rx, rx->on_run, 1, argv, NULL);
    napi_close_handle_scope(rx->env, scope);
    if (r < 0) return -1;
    for (size_t k = 0; k < n; k++) {
      int32_t *row = rx->report + k * REPORT_W;
      Sink *s = find_sink(rx, (uint32_t)row[0]);
      if (s != NULL && row[3] >= 0) s->window = row[3];
      if (s != NULL && row[4] >= 0) s->quiet = row[4];
    }
    /* a full call: more may be due (those reported are not, until they receive again) */
    if (n < rx->report_cap) return 0;
  }
}

/* onRun(0): no sink to report, but the server spoke. Returns -1 if JavaScript threw. */
static int pulse(Rx *rx) {
  napi_handle_scope scope;
  napi_open_handle_scope(rx->env, &scope);
  napi_value argv[1];
  napi_create_uint32(rx->env, 0, &argv[0]);
  int r = call_js(rx, rx->on_run, 1, argv, NULL);
  napi_close_handle_scope(rx->env, scope);
  return r;
}

/* Returns 1 if JavaScript asked to stop (or threw), 0 otherwise. */
static int js_payload(Rx *rx, const unsigned char *payload, size_t plen) {
  napi_handle_scope scope;
  napi_open_handle_scope(rx->env, &scope);
  napi_value argv[1], res;
  void *data;
  napi_create_buffer_copy(rx->env, plen, payload, &data, &argv[0]);
  int r = call_js(rx, rx->on_payload, 1, argv, &res);
  bool stop = false;
  if (r == 0 && res != NULL) napi_get_value_bool(rx->env, res, &stop);
  napi_close_handle_scope(rx->env, scope);
  return r < 0 || stop || rx->stop_req;
}

static void close_sink(Rx *rx, Sink *s);

/* Takes the sink out of the loop (it closes once libuv is done with it). */
static void remove_sink(Rx *rx, Sink *s) {
  for (int i = 0; i < rx->nsinks; i++) {
    if (rx->sinks[i] != s) continue;
    rx->sinks[i] = rx->sinks[--rx->nsinks];
    break;
  }
  if (rx->last == s) rx->last = NULL;
  close_sink(rx, s);
}

/*
 * Hands JavaScript what the sink holds (its socket takes it after what Node queued
 * before) and takes the sink out of the loop. Returns -1 if JavaScript threw.
 */
static int evict(Rx *rx, Sink *s) {
  napi_handle_scope scope;
  napi_open_handle_scope(rx->env, &scope);
  napi_value argv[2];
  void *data;
  size_t n = s->dead ? 0 : held_of(s);
  napi_create_uint32(rx->env, s->recipient, &argv[0]);
  napi_create_buffer_copy(rx->env, n, n > 0 ? s->hold + s->hold_off : (const void *)"", &data, &argv[1]);
  remove_sink(rx, s);
  int r = call_js(rx, rx->on_evict, 2, argv, NULL);
  napi_close_handle_scope(rx->env, scope);
  return r;
}

/* The index of channel `recipient`'s pump in rx->credits, or -1. */
static int find_credit(const Rx *rx, uint32_t recipient) {
  for (int i = 0; i < rx->ncredits; i++)
    if (rx->credits[i].recipient == recipient) return i;
  return -1;
}

static void drop_credit(Rx *rx, int i) {
  napi_delete_reference(rx->env, rx->credits[i].ref);
  rx->credits[i] = rx->credits[--rx->ncredits];
}

/* Message types that name a channel of ours first (RFC 4254): 91-100. */
static int for_channel(const unsigned char *payload, uint32_t plen) {
  return plen >= 5 && payload[0] >= 91 && payload[0] <= 100;
}

static void timer_cb(uv_timer_t *t) {
  Rx *rx = (Rx *)t->data;
  rx->timing = 0;
  if (rx->stopped) return;
  if (report(rx, 1) < 0 || rx->stop_req) do_stop(rx, 0);
}

/* Bytes left unreported are reported REPORT_MS later at the latest. */
static void arm_timer(Rx *rx) {
  if (rx->timing || rx->stopped) return;
  for (int i = 0; i < rx->nsinks; i++) {
    if (rx->sinks[i]->received == 0) continue;
    uv_timer_start(&rx->timer, timer_cb, REPORT_MS, 0);
    rx->timing = 1;
    return;
  }
}

/* Decrypts and delivers the whole packets in the buffer. -1: a bad packet; 1: stop. */
static int process(Rx *rx) {
  size_t off = 0;
  int ret = 0;
  while (rx->have - off >= 4) {
    if (rx->stop_req) {
      ret = 1;
      break;
    }
    unsigned char *p = rx->buf + off;
    uint32_t len = be32(p);
    if (len > MAX_PKT - 20 || len < 16 || (len & 15) != 0) {
      ret = -1;
      break;
    }
    if (rx->have - off < 4 + (size_t)len + 16) break;
    unsigned char lastiv[1];
    int outlen;
    if (!EVP_CIPHER_CTX_ctrl(rx->ctx, EVP_CTRL_GCM_IV_GEN, 1, lastiv) ||
        !EVP_DecryptUpdate(rx->ctx, NULL, &outlen, p, 4) ||
        EVP_DecryptUpdate(rx->ctx, p + 4, &outlen, p + 4, (int)len) != 1 ||
        (uint32_t)outlen != len ||
        EVP_CIPHER_CTX_ctrl(rx->ctx, EVP_CTRL_AEAD_SET_TAG, 16, p + 4 + len) != 1 ||
        !EVP_DecryptFinal_ex(rx->ctx, NULL, &outlen)) {
      ret = -1;
      break;
    }
    /* A padding length past the packet's is a bad packet: it stops the loop before
       it is counted, as a bad tag does (ssh2 then fails on it), not after (JavaScript
       would go on with the rest and the packet would be lost without an error). */
    uint32_t pad = p[4];
    if (pad + 1 > len) {
      ret = -1;
      break;
    }
    rx->packets++;
    off += 4 + (size_t)len + 16;
    unsigned char *payload = p + 5;
    uint32_t plen = len - pad - 1;
    if (plen == 0) continue;
    if (payload[0] == 94 && plen >= 9) {
      Sink *s = find_sink(rx, be32(payload + 1));
      uint32_t dlen = be32(payload + 5);
      if (s != NULL && dlen <= plen - 9 && (int64_t)dlen <= s->window) {
        if (s->niov == MAX_IOV) flush_sinks(rx);
        s->iov[s->niov].iov_base = payload + 9;
        s->iov[s->niov].iov_len = dlen;
        s->niov++;
        s->batch += dlen;
        s->received += dlen;
        s->window -= dlen;
        rx->sunk += dlen;
        continue;
      }
    }
    /* A window adjust for a pumped channel goes to its pump, without JavaScript. */
    if (payload[0] == 93 && plen >= 9 && rx->ncredits > 0) {
      int i = find_credit(rx, be32(payload + 1));
      if (i >= 0) {
        rx->credits[i].api->credit(rx->credits[i].pump, (int64_t)be32(payload + 5));
        rx->credited++;
        continue;
      }
    }
    /* Any other packet: the data before it leaves first, then JavaScript gets a copy. */
    flush_sinks(rx);
    if (report(rx, 1) < 0) {
      ret = 1;
      break;
    }
    if (payload[0] == 97 && plen >= 5) {
      int i = find_credit(rx, be32(payload + 1));
      if (i >= 0) drop_credit(rx, i); /* its number may soon name a new channel */
    }
    if (for_channel(payload, plen) && payload[0] != 93) {
      /* What the channel's sink holds must reach its socket before this message acts.
         After a CLOSE no data comes for the channel, and its number may soon name a new
         one: the sink goes in any case. */
      Sink *s = find_sink(rx, be32(payload + 1));
      if (s != NULL && (held_of(s) > 0 || payload[0] == 97) && evict(rx, s) < 0) {
        ret = 1;
        break;
      }
    }
    if (js_payload(rx, payload, plen)) {
      ret = 1;
      break;
    }
  }
  flush_sinks(rx);
  if (report(rx, 0) < 0 && ret == 0) ret = 1;
  if (ret == 0) arm_timer(rx);
  if (off > 0) {
    memmove(rx->buf, rx->buf + off, rx->have - off);
    rx->have -= off;
  }
  return ret;
}

static void sink_cb(uv_poll_t *h, int status, int events) {
  Sink *s = (Sink *)h->data;
  Rx *rx = s->rx;
  (void)events;
  if (status < 0) s->dead = 1;
  while (!s->dead && held_of(s) > 0) {
    ssize_t sent;
    do sent = send(s->fd, s->hold + s->hold_off, held_of(s), MSG_NOSIGNAL | MSG_DONTWAIT);
    while (sent < 0 && errno == EINTR);
    if (sent < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK) s->dead = 1;
      break;
    }
    s->hold_off += (size_t)sent;
  }
  if (s->dead || held_of(s) == 0) {
    drop_hold(s);
    uv_poll_stop(&s->wpoll);
    s->wpolling = 0;
  }
  s->urgent = 1;
  if (report(rx, 0) < 0 || rx->stop_req) do_stop(rx, 0);
}

static void nap_cb(uv_timer_t *t) {
  Rx *rx = (Rx *)t->data;
  if (!rx->stopped) uv_poll_start(&rx->poll, UV_READABLE, ssh_cb);
}

/* An IPv4 or IPv6 socket: the loop's descriptor is a stream socket, so TCP. */
static int tcp_socket(int fd) {
  struct sockaddr_storage a;
  socklen_t len = sizeof a;
  if (getsockname(fd, (struct sockaddr *)&a, &len) != 0) return 0;
  return a.ss_family == AF_INET || a.ss_family == AF_INET6;
}

/* After a large read that emptied the socket: no polling for nap_ms, if the bytes have
   come fast since the last such read (within the same ms counts as fast). Called from
   the socket's poll, so never during a nap (the poll is stopped then). */
static void take_nap(Rx *rx) {
  if (nap_ms <= 0 || !rx->may_nap) return;
  uint64_t now = uv_now(rx->poll.loop), bytes = rx->read_total - rx->mark_bytes;
  int fast = now <= rx->mark_ms || bytes >= (now - rx->mark_ms) * NAP_RATE;
  rx->mark_bytes = rx->read_total;
  rx->mark_ms = now;
  if (!fast) return;
  uv_poll_stop(&rx->poll);
  naps_taken++;
  uv_timer_start(&rx->nap, nap_cb, (uint64_t)nap_ms, 0);
}

static void ssh_cb(uv_poll_t *h, int status, int events) {
  Rx *rx = (Rx *)h->data;
  (void)events;
  if (rx->stopped) return;
  if (status < 0) {
    do_stop(rx, status);
    return;
  }
  for (int turn = 0; turn < 4; turn++) {
    size_t room = BUF_CAP - rx->have;
    if (room > READ_MAX) room = READ_MAX;
    ssize_t n;
    do n = read(rx->fd, rx->buf + rx->have, room);
    while (n < 0 && errno == EINTR);
    if (n == 0) {
      do_stop(rx, 0);
      return;
    }
    if (n < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK) do_stop(rx, -errno);
      return;
    }
    rx->have += (size_t)n;
    rx->read_total += (uint64_t)n;
    uint64_t sunk = rx->sunk, credited = rx->credited;
    int r = process(rx);
    if (r != 0) {
      do_stop(rx, r < 0 ? -EBADMSG : 0);
      return;
    }
    rx->idle = rx->sunk != sunk || rx->credited != credited ? 0 : rx->idle + 1;
    /* Adjusts taken here reach no JavaScript: now and then it hears that the server
     * lives (burrow's keepalive counts what arrives). */
    if (rx->credited - rx->pulsed >= PULSE_CREDITS) {
      rx->pulsed = rx->credited;
      if (pulse(rx) < 0 || rx->stop_req) {
        do_stop(rx, 0);
        return;
      }
    }
    if (rx->idle >= IDLE_READS) {
      do_stop(rx, 0);
      return;
    }
    if ((size_t)n < room) {
      if (n >= NAP_READ) take_nap(rx);
      return;
    }
  }
}

static void free_rx(Rx *rx) {
  while (rx->ncredits > 0) drop_credit(rx, rx->ncredits - 1);
  napi_delete_reference(rx->env, rx->on_payload);
  napi_delete_reference(rx->env, rx->on_run);
  napi_delete_reference(rx->env, rx->on_stop);
  napi_delete_reference(rx->env, rx->on_evict);
  napi_delete_reference(rx->env, rx->report_ref);
  EVP_CIPHER_CTX_free(rx->ctx);
  free(rx->buf);
  free(rx);
}

static void handle_closed(uv_handle_t *h) {
  Rx *rx = (Rx *)uv_handle_get_data(h);
  if (h == (uv_handle_t *)&rx->timer || h == (uv_handle_t *)&rx->nap) {
    /* nothing of its own */
  } else if (h != (uv_handle_t *)&rx->poll) {
    Sink *s = (Sink *)((char *)h - offsetof(Sink, wpoll));
    close(s->fd);
    free(s->hold);
    free(s);
  } else {
    close(rx->fd);
  }
  if (--rx->handles == 0) free_rx(rx);
}

static void close_sink(Rx *rx, Sink *s) {
  uv_handle_set_data((uv_handle_t *)&s->wpoll, rx);
  uv_close((uv_handle_t *)&s->wpoll, handle_closed);
}

/* Stops reading, drops the sinks, and hands JavaScript the undecrypted rest. */
static void do_stop(Rx *rx, int err) {
  if (rx->stopped) return;
  rx->stopped = 1;
  rx->polling = 0;
  uv_handle_set_data((uv_handle_t *)&rx->poll, rx);
  uv_close((uv_handle_t *)&rx->poll, handle_closed);
  uv_handle_set_data((uv_handle_t *)&rx->timer, rx);
  uv_close((uv_handle_t *)&rx->timer, handle_closed);
  uv_handle_set_data((uv_handle_t *)&rx->nap, rx);
  uv_close((uv_handle_t *)&rx->nap, handle_closed);
  rx->timing = 0;
  /* what the sinks received and JavaScript has not heard of, then what they hold, goes on through Node */
  report(rx, 1);
  while (rx->nsinks > 0) evict(rx, rx->sinks[rx->nsinks - 1]);
  napi_handle_scope scope;
  napi_open_handle_scope(rx->env, &scope);
  napi_value argv[3];
  void *data;
  napi_create_buffer_copy(rx->env, rx->have, rx->buf, &data, &argv[0]);
  napi_create_double(rx->env, (double)rx->packets, &argv[1]);
  napi_create_int32(rx->env, err, &argv[2]);
  rx->have = 0;
  call_js(rx, rx->on_stop, 3, argv, NULL);
  napi_close_handle_scope(rx->env, scope);
}

/* The call's `want` arguments into argv; the loop its first one names, or NULL. */
static Rx *args_rx(napi_env env, napi_callback_info info, size_t want, napi_value *argv) {
  size_t argc = want;
  void *p = NULL;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc != want || napi_get_value_external(env, argv[0], &p) != napi_ok) return NULL;
  return (Rx *)p;
}

/*
 * start(fd, cipherName, key, iv, packetsDone, onPayload, onRun, onStop, onEvict, report):
 * reads `fd` from now on. `iv` is the key's first IV; `packetsDone` packets were
 * decrypted with this key already. Returns the loop's handle.
 */
static napi_value start(napi_env env, napi_callback_info info) {
  size_t argc = 10;
  napi_value argv[10], r;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd = -1;
  char name[64];
  size_t nlen, klen = 0, ivlen = 0, tlen = 0;
  unsigned char *key = NULL, *iv = NULL;
  double done = 0;
  napi_typedarray_type tt;
  void *tdata = NULL;
  if (argc < 10 || napi_get_value_int32(env, argv[0], &fd) != napi_ok ||
      napi_get_value_string_utf8(env, argv[1], name, sizeof name, &nlen) != napi_ok ||
      napi_get_buffer_info(env, argv[2], (void **)&key, &klen) != napi_ok ||
      napi_get_buffer_info(env, argv[3], (void **)&iv, &ivlen) != napi_ok ||
      napi_get_value_double(env, argv[4], &done) != napi_ok ||
      napi_get_typedarray_info(env, argv[9], &tt, &tlen, &tdata, NULL, NULL) != napi_ok ||
      tt != napi_int32_array || tlen < REPORT_W || ivlen != 12 || done < 0) {
    napi_throw_type_error(env, NULL, "rx-loop: start(fd, cipher, key, iv, packetsDone, onPayload, onRun, onStop, onEvict, report)");
    return NULL;
  }
  const EVP_CIPHER *c = EVP_get_cipherbyname(name);
  if (c == NULL || (c != EVP_aes_128_gcm() && c != EVP_aes_256_gcm()) ||
      (size_t)EVP_CIPHER_key_length(c) != klen) {
    napi_throw_error(env, NULL, "rx-loop: not an AES-GCM cipher");
    return NULL;
  }
  /* The IV's invocation counter (its last 8 bytes) counts the packets. */
  unsigned char ivn[12];
  gcm_iv_after(ivn, iv, (uint64_t)done);
  EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
  if (ctx == NULL || EVP_DecryptInit_ex(ctx, c, NULL, NULL, NULL) != 1 ||
      !EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_IVLEN, 12, NULL) ||
      EVP_DecryptInit_ex(ctx, NULL, NULL, key, ivn) != 1 ||
      !EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IV_FIXED, -1, ivn)) {
    EVP_CIPHER_CTX_free(ctx);
    napi_throw_error(env, NULL, "rx-loop: cipher setup failed");
    return NULL;
  }
  EVP_CIPHER_CTX_set_padding(ctx, 0);
  int dfd = dup(fd);
  Rx *rx = calloc(1, sizeof *rx);
  unsigned char *buf = malloc(BUF_CAP);
  if (dfd < 0 || rx == NULL || buf == NULL) {
    if (dfd >= 0) close(dfd);
    free(rx);
    free(buf);
    EVP_CIPHER_CTX_free(ctx);
    napi_throw_error(env, NULL, "rx-loop: out of resources");
    return NULL;
  }
  rx->env = env;
  rx->ctx = ctx;
  rx->buf = buf;
  rx->fd = dfd;
  rx->may_nap = NAP_ELIGIBLE(dfd);
  rx->report = tdata;
  rx->report_cap = tlen / REPORT_W;
  napi_create_reference(env, argv[5], 1, &rx->on_payload);
  napi_create_reference(env, argv[6], 1, &rx->on_run);
  napi_create_reference(env, argv[7], 1, &rx->on_stop);
  napi_create_reference(env, argv[8], 1, &rx->on_evict);
  napi_create_reference(env, argv[9], 1, &rx->report_ref);
  uv_loop_t *loop;
  napi_get_uv_event_loop(env, &loop);
  uv_poll_init(loop, &rx->poll, rx->fd);
  rx->poll.data = rx;
  uv_timer_init(loop, &rx->timer);
  uv_unref((uv_handle_t *)&rx->timer);
  rx->timer.data = rx;
  /* Not unref'd, unlike the report timer: while it runs the socket's poll is stopped,
     and a download under way must keep the event loop alive as the poll did. */
  uv_timer_init(loop, &rx->nap);
  rx->nap.data = rx;
  rx->handles = 3;
  uv_poll_start(&rx->poll, UV_READABLE, ssh_cb);
  rx->polling = 1;
  napi_create_external(env, rx, NULL, NULL, &r);
  return r;
}

/* setSink(h, recipient, fd, window): the channel's data goes straight to `fd`. */
static napi_value set_sink(napi_env env, napi_callback_info info) {
  napi_value argv[4], ok;
  Rx *rx = args_rx(env, info, 4, argv);
  uint32_t recipient;
  int32_t fd;
  double window;
  if (rx == NULL || napi_get_value_uint32(env, argv[1], &recipient) != napi_ok ||
      napi_get_value_int32(env, argv[2], &fd) != napi_ok ||
      napi_get_value_double(env, argv[3], &window) != napi_ok) {
    napi_throw_type_error(env, NULL, "rx-loop: setSink(h, recipient, fd, window)");
    return NULL;
  }
  bool r = false;
  if (!rx->stopped && rx->nsinks < MAX_SINKS && find_sink(rx, recipient) == NULL) {
    Sink *s = calloc(1, sizeof *s);
    int dfd = s != NULL ? dup(fd) : -1;
    if (dfd >= 0) {
      s->rx = rx;
      s->recipient = recipient;
      s->fd = dfd;
      s->window = (int64_t)window;
      uv_loop_t *loop;
      napi_get_uv_event_loop(env, &loop);
      uv_poll_init(loop, &s->wpoll, dfd);
      s->wpoll.data = s;
      rx->handles++;
      rx->sinks[rx->nsinks++] = s;
      r = true;
    } else {
      free(s);
    }
  }
  napi_get_boolean(env, r, &ok);
  return ok;
}

/*
 * clearSink(h, recipient): the channel is done; whatever its sink still holds is dropped.
 * Returns the bytes it received that no report told JavaScript of.
 */
static napi_value clear_sink(napi_env env, napi_callback_info info) {
  napi_value argv[2], r;
  Rx *rx = args_rx(env, info, 2, argv);
  uint32_t recipient;
  if (rx == NULL || napi_get_value_uint32(env, argv[1], &recipient) != napi_ok) {
    napi_throw_type_error(env, NULL, "rx-loop: clearSink(h, recipient)");
    return NULL;
  }
  Sink *s = find_sink(rx, recipient);
  double unreported = s != NULL ? (double)s->received : 0;
  if (s != NULL) remove_sink(rx, s);
  napi_create_double(env, unreported, &r);
  return r;
}

/* setPump(h, recipient, pump, api): the channel's window adjusts go to its upload pump. */
static napi_value set_pump(napi_env env, napi_callback_info info) {
  napi_value argv[4], ok;
  Rx *rx = args_rx(env, info, 4, argv);
  uint32_t recipient;
  void *pump = NULL, *api = NULL;
  if (rx == NULL || napi_get_value_uint32(env, argv[1], &recipient) != napi_ok ||
      napi_get_value_external(env, argv[2], &pump) != napi_ok || napi_get_value_external(env, argv[3], &api) != napi_ok ||
      ((const TxPumpApi *)api)->version != TX_PUMP_API_VERSION) {
    napi_throw_type_error(env, NULL, "rx-loop: setPump(h, recipient, pump, api)");
    return NULL;
  }
  bool r = false;
  if (!rx->stopped && find_credit(rx, recipient) < 0 && rx->ncredits < MAX_SINKS) {
    Credit *c = &rx->credits[rx->ncredits++];
    c->recipient = recipient;
    c->pump = pump;
    c->api = (const TxPumpApi *)api;
    napi_create_reference(env, argv[2], 1, &c->ref);
    r = true;
  }
  napi_get_boolean(env, r, &ok);
  return ok;
}

/* clearPump(h, recipient): the channel's window adjusts go to JavaScript again. */
static napi_value clear_pump(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  Rx *rx = args_rx(env, info, 2, argv);
  uint32_t recipient;
  if (rx == NULL || napi_get_value_uint32(env, argv[1], &recipient) != napi_ok) {
    napi_throw_type_error(env, NULL, "rx-loop: clearPump(h, recipient)");
    return NULL;
  }
  int i = find_credit(rx, recipient);
  if (i >= 0) drop_credit(rx, i);
  return NULL;
}

/* stop(h): stops now, or after the current packet when called from a callback. */
static napi_value stop(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  Rx *rx = args_rx(env, info, 1, argv);
  if (rx == NULL) {
    napi_throw_type_error(env, NULL, "rx-loop: stop(h)");
    return NULL;
  }
  if (rx->in_js) rx->stop_req = 1;
  else do_stop(rx, 0);
  return NULL;
}

/* The one int32 argument of setNap and mayNap into `out`; false when there is none. */
static bool int32_arg(napi_env env, napi_callback_info info, int32_t *out) {
  size_t argc = 1;
  napi_value argv[1];
  return napi_get_cb_info(env, info, &argc, argv, NULL, NULL) == napi_ok && argc >= 1 && napi_get_value_int32(env, argv[0], out) == napi_ok;
}

/* setNap(ms): the nap after a large read that emptied the socket; 0: none. */
static napi_value set_nap(napi_env env, napi_callback_info info) {
  int32_t ms;
  if (!int32_arg(env, info, &ms) || ms < 0) {
    napi_throw_type_error(env, NULL, "rx-loop: setNap(ms)");
    return NULL;
  }
  nap_ms = ms;
  return NULL;
}

/* mayNap(fd): whether a loop on `fd` would nap (tests). */
static napi_value may_nap(napi_env env, napi_callback_info info) {
  int32_t fd;
  if (!int32_arg(env, info, &fd)) {
    napi_throw_type_error(env, NULL, "rx-loop: mayNap(fd)");
    return NULL;
  }
  napi_value r;
  napi_get_boolean(env, NAP_ELIGIBLE(fd), &r);
  return r;
}

/* naps(): naps taken so far, every loop together (tests, diagnostics). */
static napi_value naps(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value r;
  napi_create_double(env, naps_taken, &r);
  return r;
}

NAPI_MODULE_INIT() {
  static const struct {
    const char *name;
    napi_callback fn;
  } api[] = {{"start", start}, {"setSink", set_sink}, {"clearSink", clear_sink}, {"setPump", set_pump}, {"clearPump", clear_pump}, {"stop", stop}, {"setNap", set_nap}, {"naps", naps}, {"mayNap", may_nap}};
  for (size_t i = 0; i < sizeof api / sizeof api[0]; i++) {
    napi_value fn;
    napi_create_function(env, api[i].name, NAPI_AUTO_LENGTH, api[i].fn, NULL, &fn);
    napi_set_named_property(env, exports, api[i].name, fn);
  }
  return exports;
}
