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
 * direction has its own thread and a 256 MiB FIFO, pre-faulted (first-touch page
 * faults on the FIFO were what made reads slow: packets were held up to 360 ms
 * past their due time); a full FIFO drops packets like a router queue.
 * Prints "ready" when both devices exist; SIGUSR1 prints per-direction counters
 * (packets, drops, worst lateness, most bytes held, time in read/write) to
 * stderr; exits on SIGTERM/SIGINT (printing the counters).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <pthread.h>
#include <sys/prctl.h>
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
#define MAX_PKT (65536 + 64)   /* IP packet (MTU <= 65535) + virtio-net header */

struct hdr { uint64_t due_ns; uint32_t len; uint32_t pad; };

struct ring {
  uint8_t *buf;
  size_t head, tail;    /* byte offsets; tail = write position */
  size_t used;
  unsigned long dropped;
};

static volatile sig_atomic_t stop;

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
  /* A virtio-net header on every packet lets checksums stay "partial": neither
   * the sending kernel (before the TUN) nor the receiving one (after it) has to
   * compute or verify a checksum over each 64 KB packet. The header is carried
   * through the line unchanged. DELAYLINE_NO_OFFLOAD=1 turns this off. */
  int offload = !getenv("DELAYLINE_NO_OFFLOAD");
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI | (offload ? IFF_VNET_HDR : 0);
  strncpy(ifr.ifr_name, ifname, IFNAMSIZ - 1);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) die("TUNSETIFF");
  if (offload && ioctl(fd, TUNSETOFFLOAD, (unsigned long)TUN_F_CSUM) < 0) die("TUNSETOFFLOAD");
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


struct dir {
  const char *name;
  int in, out;
  uint64_t delay_ns;
  struct ring r;
  unsigned long pkts;
  unsigned long long bytes;
  uint64_t max_late_ns;   /* worst (write time - due time) */
  size_t max_used;        /* most bytes held at once */
  unsigned long eagain, werr;
  uint64_t write_ns, max_write_ns, max_oversleep_ns;
  unsigned long wakes;
  uint64_t max_in_ns, max_out_ns, in_ns;
};

static void pump_in(struct dir *d) {
  struct ring *r = &d->r;
  for (int i = 0; i < 64; i++) {
    uint8_t *slot = ring_reserve(r, sizeof(struct hdr) + MAX_PKT);
    static __thread uint8_t drop[MAX_PKT];
    uint8_t *dst = slot ? slot + sizeof(struct hdr) : drop;
    ssize_t n = read(d->in, dst, MAX_PKT);
    if (n <= 0) return;
    if (!slot) { r->dropped++; continue; }
    struct hdr h = { now_ns() + d->delay_ns, (uint32_t)n, 0 };
    memcpy(slot, &h, sizeof h);
    size_t rec = (sizeof(struct hdr) + (size_t)n + 7) & ~(size_t)7;
    r->tail += rec;
    r->used += rec;
    if (r->used > d->max_used) d->max_used = r->used;
  }
}

/* Writes every due packet; returns ns until the next one is due (or -1 if empty). */
static int64_t pump_out(struct dir *d) {
  struct ring *r = &d->r;
  uint64_t t = now_ns();
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
    if (h.due_ns > t) {
      t = now_ns();
      if (h.due_ns > t) return (int64_t)(h.due_ns - t);
    }
    if (t - h.due_ns > d->max_late_ns) d->max_late_ns = t - h.due_ns;
    uint64_t w0 = now_ns();
    ssize_t wr = write(d->out, r->buf + r->head + sizeof h, h.len);
    uint64_t w1 = now_ns();
    d->write_ns += w1 - w0;
    if (w1 - w0 > d->max_write_ns) d->max_write_ns = w1 - w0;
    t = w1;
    if (wr < 0) {
      if (errno == EAGAIN || errno == ENOBUFS) { d->eagain++; return 20000; }
      d->werr++;
    } else {
      d->pkts++;
      d->bytes += h.len;
    }
    size_t rec = (sizeof(struct hdr) + h.len + 7) & ~(size_t)7;
    r->head += rec;
    r->used -= rec;
  }
  return -1;
}

static void report(struct dir *d) {
  fprintf(stderr, "delayline %s: %lu packets %llu bytes, dropped %lu, write errors %lu, max late %.3f ms, max held %.1f MiB, "
          "write %.3f s (max %.3f ms), %lu wakes, max oversleep %.3f ms, read %.3f s (max %.3f ms), max out %.3f ms\n",
          d->name, d->pkts, d->bytes, d->r.dropped, d->werr, d->max_late_ns / 1e6,
          d->max_used / 1048576.0, d->write_ns / 1e9, d->max_write_ns / 1e6, d->wakes, d->max_oversleep_ns / 1e6, d->in_ns / 1e9, d->max_in_ns / 1e6, d->max_out_ns / 1e6);
}

/* One thread per direction: read from `in`, hold, write to `out`. */
static void *run_dir(void *arg) {
  struct dir *d = arg;
  prctl(PR_SET_TIMERSLACK, 1UL);
  /* A wire does not wait for a CPU: on a shared 2-core machine a normal thread
   * overslept its timers by up to 107 ms under load (counters above). Real-time
   * priority (root) keeps the delay exact; the thread only runs when a packet is
   * due or arrives, so it can't starve anything. Best effort. */
  struct sched_param sp = { .sched_priority = 10 };
  if (!getenv("DELAYLINE_NO_RT")) (void)!pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp);
  struct pollfd p = { .fd = d->in, .events = POLLIN };
  while (!stop) {
    uint64_t o0 = now_ns();
    int64_t wait = pump_out(d);
    uint64_t o1 = now_ns();
    if (o1 - o0 > d->max_out_ns) d->max_out_ns = o1 - o0;
    struct timespec ts = { 0, 100 * 1000 * 1000 };   /* wake to notice `stop` */
    if (wait >= 0 && wait < 100 * 1000 * 1000) { ts.tv_sec = 0; ts.tv_nsec = wait; }
    uint64_t p0 = now_ns();
    int n = ppoll(&p, 1, &ts, NULL);
    d->wakes++;
    if (n == 0 && wait >= 0) {
      uint64_t over = now_ns() - p0 - (uint64_t)ts.tv_nsec;
      if (over > d->max_oversleep_ns && over < 1000000000ULL) d->max_oversleep_ns = over;
    }
    if (n < 0) { if (errno == EINTR) continue; die("ppoll"); }
    if (p.revents & POLLIN) {
      uint64_t i0 = now_ns();
      pump_in(d);
      uint64_t i1 = now_ns();
      d->in_ns += i1 - i0;
      if (i1 - i0 > d->max_in_ns) d->max_in_ns = i1 - i0;
    }
  }
  return NULL;
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: delayline NETNS_A NETNS_B IFNAME ONE_WAY_DELAY_US\n");
    return 2;
  }
  uint64_t delay_ns = strtoull(argv[4], NULL, 10) * 1000ULL;
  int fa = open_tun(argv[1], argv[3]);
  int fb = open_tun(argv[2], argv[3]);
  static struct dir ab, ba;
  ab = (struct dir){ .name = "a->b", .in = fa, .out = fb, .delay_ns = delay_ns };
  ba = (struct dir){ .name = "b->a", .in = fb, .out = fa, .delay_ns = delay_ns };
  ab.r.buf = mmap(NULL, RING_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  ba.r.buf = mmap(NULL, RING_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  if (ab.r.buf == MAP_FAILED || ba.r.buf == MAP_FAILED) die("mmap");
  sigset_t block;
  sigemptyset(&block);
  sigaddset(&block, SIGTERM);
  sigaddset(&block, SIGINT);
  sigaddset(&block, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &block, NULL);   /* threads inherit: only main takes signals */
  pthread_t ta, tb;
  if (pthread_create(&ta, NULL, run_dir, &ab) || pthread_create(&tb, NULL, run_dir, &ba)) die("pthread_create");
  printf("ready\n");
  fflush(stdout);
  for (;;) {
    int sig;
    sigwait(&block, &sig);
    if (sig == SIGUSR1) { report(&ab); report(&ba); continue; }
    break;
  }
  stop = 1;
  pthread_join(ta, NULL);
  pthread_join(tb, NULL);
  report(&ab);
  report(&ba);
  return 0;
}
