/*
 * tcpbench: traffic endpoints for burrow's bench suite.
 *
 * Both ends generate the same deterministic pseudo-random stream, so every bulk
 * transfer is checked by sha256 without a shared file. Receivers keep the bytes
 * in memory and hash after the clock stops, so hashing never slows a transfer.
 *
 * server ADDR PORT SSF_PORT
 *   PORT:     the client sends one command byte:
 *             'G' + u64 n: the server sends n bytes of the stream, then closes;
 *             'P' + u64 n: the server reads until EOF, answers 'K' at once,
 *                          then the 32-byte sha256 of what it read, closes;
 *             'R':         the server answers one byte and closes;
 *             'S':         the server answers a u64: bytes written so far to
 *                          the latest 'G' connection (for the stalled reader);
 *             'g' + u64 n: as 'G', and 'p' + u64 n: reads n bytes, answers 'K' and
 *                          their sha256; after either the connection stays open for
 *                          the next command (the `hold` relay's connection).
 *   SSF_PORT: the server speaks first: one byte, then close.
 * get  HOST PORT N            download N bytes, check sha256
 * put  HOST PORT N            upload N bytes, server checks sha256
 * rr   HOST PORT COUNT        COUNT sequential connect, 'R', 1-byte answer, close
 * ssf  HOST SSF_PORT COUNT    COUNT sequential connect, read 1 byte, close
 * conc HOST PORT N BYTES      N concurrent downloads of BYTES each
 * cput HOST PORT N BYTES      N concurrent uploads of BYTES each (the server checks each)
 * stall HOST PORT N SECS      download N bytes, but stop reading after 1 MiB for SECS
 *                             seconds; then ask the server ('S', a second connection)
 *                             how much it got to send: what the path holds for a reader
 *                             that stopped; then read the rest, checked
 * hold HOST PORT LPORT        raw TCP as a tunnel in use: one connection to the server,
 *                             opened at the start and held, carries each download ('G')
 *                             or upload ('P') that a client makes to 127.0.0.1:LPORT in
 *                             turn, as 'g' / 'p'; prints "ready" once connected
 *
 * Client modes print one JSON line. Exit status 0 only if every byte checked out.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_BYTES (1024ULL * 1024 * 1024)
#define CHUNK (256 * 1024)

static uint8_t *pattern;
static size_t pattern_len;
/* Bytes written so far to the latest 'G' connection (the stalled-reader case). */
static _Atomic uint64_t get_written;

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what) {
  fprintf(stderr, "tcpbench: %s: %s\n", what, strerror(errno));
  exit(2);
}

/* xorshift64*: cheap, deterministic, incompressible enough for SSH. */
static void make_pattern(size_t n) {
  pattern_len = n;
  pattern = mmap(NULL, n + 8, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  if (pattern == MAP_FAILED) die("mmap");
  uint64_t x = 0x9E3779B97F4A7C15ULL;
  for (size_t i = 0; i < n; i += 8) {
    x ^= x >> 12; x ^= x << 25; x ^= x >> 27;
    uint64_t v = x * 0x2545F4914F6CDD1DULL;
    memcpy(pattern + i, &v, 8);
  }
}

static int write_all(int fd, const uint8_t *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n > CHUNK ? CHUNK : n);
    if (w < 0) { if (errno == EINTR) continue; return -1; }
    p += w; n -= (size_t)w;
  }
  return 0;
}

/* Reads until EOF into buf (cap bytes); returns bytes read or -1. */
static ssize_t read_eof(int fd, uint8_t *buf, size_t cap) {
  size_t got = 0;
  int extra = 0;
  for (;;) {
    size_t want = cap - got;
    if (want == 0) {            /* more than expected: discard, report cap + 1 */
      uint8_t tmp[4096];
      ssize_t r = read(fd, tmp, sizeof tmp);
      if (r < 0) { if (errno == EINTR) continue; return -1; }
      if (r == 0) return (ssize_t)got + extra;
      extra = 1;
      continue;
    }
    ssize_t r = read(fd, buf + got, want > CHUNK ? CHUNK : want);
    if (r < 0) { if (errno == EINTR) continue; return -1; }
    if (r == 0) return (ssize_t)got;
    got += (size_t)r;
  }
}

static int read_n(int fd, uint8_t *buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(fd, buf + got, n - got);
    if (r < 0) { if (errno == EINTR) continue; return -1; }
    if (r == 0) return -1;
    got += (size_t)r;
  }
  return 0;
}

static void nodelay(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

/* ---------------------------------------------------------------- server */

static int send_stream(int fd, uint64_t n) {
  for (uint64_t off = 0; off < n; off += CHUNK) {
    uint64_t len = n - off < CHUNK ? n - off : CHUNK;
    if (write_all(fd, pattern + off, len) < 0) return -1;
    atomic_fetch_add(&get_written, len);
  }
  return 0;
}

/* An upload of n bytes: read until EOF ('P') or exactly n bytes ('p'), then 'K' at
 * once (the client's clock stops there, before the server hashes), then the sha256
 * (zeros if fewer or more than n came). 0 if all n came and the reply went out. */
static int take_upload(int fd, uint64_t n, int until_eof) {
  uint8_t *buf = mmap(NULL, n + 1, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  if (buf == MAP_FAILED) return -1;
  int ok = until_eof ? read_eof(fd, buf, n) == (ssize_t)n : read_n(fd, buf, n) == 0;
  int sent = write_all(fd, (const uint8_t *)"K", 1) == 0;
  uint8_t md[32];
  memset(md, 0, sizeof md);
  if (ok) SHA256(buf, n, md);
  sent = sent && write_all(fd, md, sizeof md) == 0;
  munmap(buf, n + 1);
  return ok && sent ? 0 : -1;
}

static void *serve_conn(void *arg) {
  int fd = (int)(intptr_t)arg;
  uint8_t cmd;
  uint64_t n;
  nodelay(fd);
next:
  if (read_n(fd, &cmd, 1) < 0) goto out;
  if (cmd == 'g' || cmd == 'p') {
    if (read_n(fd, (uint8_t *)&n, 8) < 0 || n > pattern_len) goto out;
    atomic_store(&get_written, 0);
    if ((cmd == 'g' ? send_stream(fd, n) : take_upload(fd, n, 0)) == 0) goto next;
  } else if (cmd == 'R') {
    (void)!write(fd, "r", 1);
  } else if (cmd == 'S') {
    uint64_t w = atomic_load(&get_written);
    write_all(fd, (const uint8_t *)&w, 8);
  } else if (cmd == 'G') {
    if (read_n(fd, (uint8_t *)&n, 8) < 0 || n > pattern_len) goto out;
    atomic_store(&get_written, 0);
    send_stream(fd, n);
  } else if (cmd == 'P') {
    if (read_n(fd, (uint8_t *)&n, 8) < 0 || n > pattern_len) goto out;
    take_upload(fd, n, 1);
  }
out:
  close(fd);
  return NULL;
}

static void *ssf_conn(void *arg) {
  int fd = (int)(intptr_t)arg;
  nodelay(fd);
  (void)!write(fd, "s", 1);
  /* Wait for the client's close so our FIN never races its read. */
  uint8_t tmp[16];
  while (read(fd, tmp, sizeof tmp) > 0) {}
  close(fd);
  return NULL;
}

static int listen_on(const char *addr, int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
  if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1) die("address");
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) die("bind");
  if (listen(fd, 4096) < 0) die("listen");
  return fd;
}

struct acceptor { int fd; void *(*fn)(void *); };

static void *accept_loop(void *arg) {
  struct acceptor *a = arg;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attr, 256 * 1024);
  for (;;) {
    int c = accept(a->fd, NULL, NULL);
    if (c < 0) { if (errno == EINTR || errno == ECONNABORTED) continue; die("accept"); }
    pthread_t t;
    if (pthread_create(&t, &attr, a->fn, (void *)(intptr_t)c) != 0) close(c);
  }
  return NULL;
}

static int server(const char *addr, int port, int ssf_port) {
  struct acceptor main_a = { listen_on(addr, port), serve_conn };
  struct acceptor ssf_a = { listen_on(addr, ssf_port), ssf_conn };
  pthread_t t;
  pthread_create(&t, NULL, accept_loop, &ssf_a);
  printf("ready\n");
  fflush(stdout);
  accept_loop(&main_a);
  return 0;
}

/* ---------------------------------------------------------------- client */

static const char *g_host;
static int g_port;

static int connect_to(const char *host, int port_no) {
  struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM }, *res;
  char port[16];
  snprintf(port, sizeof port, "%d", port_no);
  if (getaddrinfo(host, port, &hints, &res) != 0) return -1;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (connect(fd, res->ai_addr, res->ai_addrlen) < 0) { close(fd); freeaddrinfo(res); return -1; }
  freeaddrinfo(res);
  nodelay(fd);
  return fd;
}

/* With TCPBENCH_SOCKS=host:port, connections go through that SOCKS5 proxy (ssh -D). */
static int dial(void) {
  const char *proxy = getenv("TCPBENCH_SOCKS");
  if (!proxy) return connect_to(g_host, g_port);
  char phost[256];
  snprintf(phost, sizeof phost, "%s", proxy);
  char *colon = strrchr(phost, ':');
  if (!colon) return -1;
  *colon = 0;
  int fd = connect_to(phost, atoi(colon + 1));
  if (fd < 0) return -1;
  uint8_t req[3 + 4 + 256 + 2];
  size_t hl = strlen(g_host);
  req[0] = 5; req[1] = 1; req[2] = 0;
  uint8_t *c = req + 3;
  c[0] = 5; c[1] = 1; c[2] = 0; c[3] = 3; c[4] = (uint8_t)hl;
  memcpy(c + 5, g_host, hl);
  c[5 + hl] = (uint8_t)(g_port >> 8);
  c[6 + hl] = (uint8_t)g_port;
  /* Method negotiation and CONNECT in one write (no round trip in between). */
  uint8_t rep[12];
  if (write_all(fd, req, 3 + 7 + hl) < 0 || read_n(fd, rep, 2) < 0 || rep[1] != 0 ||
      read_n(fd, rep, 10) < 0 || rep[1] != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

static uint8_t expected_md[32];

/* Downloads n bytes; returns 1 if intact. */
static int get_once(uint64_t n, double *secs) {
  uint8_t *buf = mmap(NULL, n + 1, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  if (buf == MAP_FAILED) return 0;
  double t0 = now();
  int fd = dial();
  if (fd < 0) { munmap(buf, n + 1); return 0; }
  uint8_t hdr[9] = { 'G' };
  memcpy(hdr + 1, &n, 8);
  write_all(fd, hdr, 9);
  ssize_t got = read_eof(fd, buf, n);
  if (secs) *secs = now() - t0;
  close(fd);
  int ok = 0;
  if (got == (ssize_t)n) {
    uint8_t md[32];
    SHA256(buf, n, md);
    ok = memcmp(md, expected_md, 32) == 0;
  }
  munmap(buf, n + 1);
  return ok;
}

static int put_once(uint64_t n, double *secs) {
  double t0 = now();
  int fd = dial();
  if (fd < 0) return 0;
  uint8_t hdr[9] = { 'P' };
  memcpy(hdr + 1, &n, 8);
  write_all(fd, hdr, 9);
  write_all(fd, pattern, n);
  shutdown(fd, SHUT_WR);
  uint8_t k;
  if (read_n(fd, &k, 1) < 0 || k != 'K') { close(fd); return 0; }
  if (secs) *secs = now() - t0;
  uint8_t md[32];
  int ok = read_n(fd, md, 32) == 0 && memcmp(md, expected_md, 32) == 0;
  close(fd);
  return ok;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static int latency(int count, int speak_first) {
  double *t = calloc((size_t)count, sizeof *t);
  int fails = 0;
  double total0 = now();
  for (int i = 0; i < count; i++) {
    double t0 = now();
    int fd = dial();
    uint8_t b;
    if (fd < 0) { fails++; continue; }
    if (!speak_first) write_all(fd, (const uint8_t *)"R", 1);
    if (read_n(fd, &b, 1) < 0) fails++;
    close(fd);
    t[i] = now() - t0;
  }
  double total = now() - total0;
  qsort(t, (size_t)count, sizeof *t, cmp_double);
  printf("{\"count\":%d,\"fails\":%d,\"median_ms\":%.4f,\"p90_ms\":%.4f,\"mean_ms\":%.4f}\n",
         count, fails, t[count / 2] * 1e3, t[(count * 9) / 10] * 1e3, total / count * 1e3);
  return fails ? 1 : 0;
}

/* A reader that stops: 1 MiB, then SECS seconds without a read(2), then the rest.
 * "held" is what the server got to send beyond what was read: every buffer on the path. */
static int stall(uint64_t n, int stall_secs) {
  const uint64_t first = 1024 * 1024;
  if (n <= first) return 2;
  uint8_t *buf = mmap(NULL, n + 1, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  if (buf == MAP_FAILED) return 2;
  int fd = dial();
  if (fd < 0) { munmap(buf, n + 1); return 2; }
  uint8_t hdr[9] = { 'G' };
  memcpy(hdr + 1, &n, 8);
  write_all(fd, hdr, 9);
  int ok = read_n(fd, buf, first) == 0;
  sleep((unsigned)stall_secs);
  uint64_t sent = 0;
  int q = dial();
  ok = ok && q >= 0 && write_all(q, (const uint8_t *)"S", 1) == 0 && read_n(q, (uint8_t *)&sent, 8) == 0;
  if (q >= 0) close(q);
  ssize_t got = ok ? read_eof(fd, buf + first, n - first) : -1;
  close(fd);
  ok = ok && got == (ssize_t)(n - first);
  if (ok) {
    uint8_t md[32];
    SHA256(buf, n, md);
    ok = memcmp(md, expected_md, 32) == 0;
  }
  munmap(buf, n + 1);
  printf("{\"bytes\":%llu,\"held\":%llu,\"ok\":%s}\n", (unsigned long long)n,
         (unsigned long long)(sent - first), ok ? "true" : "false");
  return ok ? 0 : 1;
}

/* Copies exactly n bytes from one socket to the other. */
static int relay_n(int from, int to, uint64_t n) {
  static uint8_t buf[CHUNK];
  while (n > 0) {
    ssize_t r = read(from, buf, n > CHUNK ? CHUNK : n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0 || write_all(to, buf, (size_t)r) < 0) return -1;
    n -= (uint64_t)r;
  }
  return 0;
}

/* One transfer at a time over the held connection `up`. A client that breaks off
 * mid-transfer leaves the held stream out of step: the relay then exits, and the
 * bench sees its next transfer fail. */
static _Noreturn void hold(int lport) {
  int up = dial();
  if (up < 0) die("connect");
  int l = listen_on("127.0.0.1", lport);
  printf("ready\n");
  fflush(stdout);
  for (;;) {
    int c = accept(l, NULL, NULL);
    if (c < 0) { if (errno == EINTR || errno == ECONNABORTED) continue; die("accept"); }
    nodelay(c);
    uint8_t hdr[9];
    uint64_t n;
    if (read_n(c, hdr, 9) == 0 && (hdr[0] == 'G' || hdr[0] == 'P')) {
      memcpy(&n, hdr + 1, 8);
      hdr[0] = hdr[0] == 'G' ? 'g' : 'p';
      if (write_all(up, hdr, 9) < 0) die("held connection");
      int ok = hdr[0] == 'g' ? relay_n(up, c, n) == 0 : relay_n(c, up, n) == 0 && relay_n(up, c, 33) == 0;
      if (!ok) die("transfer over the held connection");
    }
    close(c);
  }
}

struct conc_arg { uint64_t n; int put; int ok; };

static void *conc_one(void *arg) {
  struct conc_arg *a = arg;
  a->ok = a->put ? put_once(a->n, NULL) : get_once(a->n, NULL);
  return NULL;
}

static int concurrent(int n, uint64_t bytes, int put) {
  pthread_t *th = calloc((size_t)n, sizeof *th);
  struct conc_arg *args = calloc((size_t)n, sizeof *args);
  double t0 = now();
  for (int i = 0; i < n; i++) {
    args[i].n = bytes;
    args[i].put = put;
    pthread_create(&th[i], NULL, conc_one, &args[i]);
  }
  int fails = 0;
  for (int i = 0; i < n; i++) {
    pthread_join(th[i], NULL);
    if (!args[i].ok) fails++;
  }
  double secs = now() - t0;
  printf("{\"n\":%d,\"bytes\":%llu,\"fails\":%d,\"secs\":%.6f}\n", n, (unsigned long long)bytes,
         fails, secs);
  return fails ? 1 : 0;
}

int main(int argc, char **argv) {
  signal(SIGPIPE, SIG_IGN);
  if (argc < 2) { fprintf(stderr, "usage: see tcpbench.c\n"); return 2; }
  const char *mode = argv[1];
  if (!strcmp(mode, "server") && argc == 5) {
    make_pattern(MAX_BYTES);
    return server(argv[2], atoi(argv[3]), atoi(argv[4]));
  }
  if (argc < 5) { fprintf(stderr, "tcpbench: bad arguments\n"); return 2; }
  g_host = argv[2];
  g_port = atoi(argv[3]);
  if (!strcmp(mode, "hold")) hold(atoi(argv[4]));
  if (!strcmp(mode, "rr")) return latency(atoi(argv[4]), 0);
  if (!strcmp(mode, "ssf")) return latency(atoi(argv[4]), 1);
  if ((!strcmp(mode, "conc") || !strcmp(mode, "cput")) && argc == 6) {
    uint64_t bytes = strtoull(argv[5], NULL, 10);
    if (bytes > MAX_BYTES) return 2;
    make_pattern(bytes);
    SHA256(pattern, bytes, expected_md);
    return concurrent(atoi(argv[4]), bytes, mode[1] == 'p');
  }
  if (!strcmp(mode, "stall") && argc == 6) {
    uint64_t bytes = strtoull(argv[4], NULL, 10);
    if (bytes > MAX_BYTES) return 2;
    make_pattern(bytes);
    SHA256(pattern, bytes, expected_md);
    return stall(bytes, atoi(argv[5]));
  }
  uint64_t n = strtoull(argv[4], NULL, 10);
  if (n > MAX_BYTES) return 2;
  make_pattern(n);
  SHA256(pattern, n, expected_md);
  double secs = 0;
  int ok;
  if (!strcmp(mode, "get")) ok = get_once(n, &secs);
  else if (!strcmp(mode, "put")) ok = put_once(n, &secs);
  else { fprintf(stderr, "tcpbench: unknown mode %s\n", mode); return 2; }
  printf("{\"bytes\":%llu,\"secs\":%.6f,\"ok\":%s}\n", (unsigned long long)n, secs,
         ok ? "true" : "false");
  return ok ? 0 : 1;
}
