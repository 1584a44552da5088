/*
 * delayline: a userspace delay line between two network namespaces (`tc netem`
 * is not available on the bench machines).
 *
 *   delayline NETNS_A NETNS_B IFNAME ONE_WAY_DELAY_US
 *
 * Creates a TUN device IFNAME in each namespace (entering them through
 * /run/netns/NAME), then copies every IP packet read from one device to the
 * other once it has been held for ONE_WAY_DELAY_US. Addresses and routes are
 * configured by the caller (`ip -n NETNS addr add A peer B dev IFNAME`). Each
 * direction has a 256 MiB FIFO; a full FIFO drops packets like a router queue.
 * Prints "ready" when both devices exist; exits on SIGTERM/SIGINT.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define RING_BYTES (256UL * 1024 * 1024)
#define MAX_PKT 65536

struct hdr { uint64_t due_ns; uint32_t len; uint32_t pad; };

struct ring {
  uint8_t *buf;
  size_t head, tail;    /* byte offsets; tail = write position */
  size_t used;
  unsigned long dropped;
};

static volatile sig_atomic_t stop;
static void on_signal(int s) { (void)s; stop = 1; }

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void die(const char *what) {
  fprintf(stderr, "delayline: %s: %s\n", what, strerror(errno));
  exit(2);
}

static int open_tun(const char *netns, const char *ifname) {
  char path[256];
  snprintf(path, sizeof path, "/run/netns/%s", netns);
  int nsfd = open(path, O_RDONLY | O_CLOEXEC);
  if (nsfd < 0) die(path);
  if (setns(nsfd, CLONE_NEWNET) < 0) die("setns");
  close(nsfd);
  int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
  if (fd < 0) die("/dev/net/tun");
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
  strncpy(ifr.ifr_name, ifname, IFNAMSIZ - 1);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) die("TUNSETIFF");
  fcntl(fd, F_SETFL, O_NONBLOCK);
  return fd;
}

/* Packets are stored contiguously; a record never wraps (we skip to 0 instead). */
static uint8_t *ring_reserve(struct ring *r, size_t need) {
  if (r->used == 0) { r->head = r->tail = 0; }
  if (r->tail >= r->head) {
    if (RING_BYTES - r->tail >= need + sizeof(struct hdr)) return r->buf + r->tail;
    if (r->head > need) {            /* wrap: mark the end as skipped */
      if (RING_BYTES - r->tail >= sizeof(struct hdr)) {
        struct hdr skip = { 0, UINT32_MAX, 0 };
        memcpy(r->buf + r->tail, &skip, sizeof skip);
      }
      r->used += RING_BYTES - r->tail;
      r->tail = 0;
      return r->buf;
    }
    return NULL;
  }
  if (r->head - r->tail > need) return r->buf + r->tail;
  return NULL;
}

static void pump_in(int fd, struct ring *r, uint64_t delay_ns) {
  for (int i = 0; i < 256; i++) {
    uint8_t *slot = ring_reserve(r, sizeof(struct hdr) + MAX_PKT);
    uint8_t drop[MAX_PKT];
    uint8_t *dst = slot ? slot + sizeof(struct hdr) : drop;
    ssize_t n = read(fd, dst, MAX_PKT);
    if (n <= 0) return;
    if (!slot) { r->dropped++; continue; }
    struct hdr h = { now_ns() + delay_ns, (uint32_t)n, 0 };
    memcpy(slot, &h, sizeof h);
    size_t rec = (sizeof(struct hdr) + (size_t)n + 7) & ~(size_t)7;
    r->tail += rec;
    r->used += rec;
  }
}

/* Writes every due packet; returns ns until the next one is due (or -1 if empty). */
static int64_t pump_out(int fd, struct ring *r) {
  while (r->used > 0) {
    if (RING_BYTES - r->head < sizeof(struct hdr)) {
      r->used -= RING_BYTES - r->head;
      r->head = 0;
      continue;
    }
    struct hdr h;
    memcpy(&h, r->buf + r->head, sizeof h);
    if (h.len == UINT32_MAX) {
      r->used -= RING_BYTES - r->head;
      r->head = 0;
      continue;
    }
    uint64_t t = now_ns();
    if (h.due_ns > t) return (int64_t)(h.due_ns - t);
    if (write(fd, r->buf + r->head + sizeof h, h.len) < 0 && errno == EAGAIN) return 20000;
    size_t rec = (sizeof(struct hdr) + h.len + 7) & ~(size_t)7;
    r->head += rec;
    r->used -= rec;
  }
  return -1;
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: delayline NETNS_A NETNS_B IFNAME ONE_WAY_DELAY_US\n");
    return 2;
  }
  uint64_t delay_ns = strtoull(argv[4], NULL, 10) * 1000ULL;
  int fa = open_tun(argv[1], argv[3]);
  int fb = open_tun(argv[2], argv[3]);
  struct ring ab = { 0 }, ba = { 0 };
  ab.buf = mmap(NULL, RING_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ba.buf = mmap(NULL, RING_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (ab.buf == MAP_FAILED || ba.buf == MAP_FAILED) die("mmap");
  struct sigaction sa = { .sa_handler = on_signal };
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  printf("ready\n");
  fflush(stdout);
  struct pollfd p[2] = { { .fd = fa, .events = POLLIN }, { .fd = fb, .events = POLLIN } };
  while (!stop) {
    int64_t wa = pump_out(fb, &ab);
    int64_t wb = pump_out(fa, &ba);
    int64_t wait = wa < 0 ? wb : (wb < 0 ? wa : (wa < wb ? wa : wb));
    struct timespec ts, *tsp = NULL;
    if (wait >= 0) {
      ts.tv_sec = wait / 1000000000;
      ts.tv_nsec = wait % 1000000000;
      tsp = &ts;
    }
    int n = ppoll(p, 2, tsp, NULL);
    if (n < 0) { if (errno == EINTR) continue; die("ppoll"); }
    if (p[0].revents & POLLIN) pump_in(fa, &ab, delay_ns);
    if (p[1].revents & POLLIN) pump_in(fb, &ba, delay_ns);
  }
  fprintf(stderr, "delayline: dropped %lu / %lu packets\n", ab.dropped, ba.dropped);
  return 0;
}
