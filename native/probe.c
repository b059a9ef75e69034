/*
 * Stream probes for the health checker (src/health/checkers/stream-prober.ts): TCP_CHECK's connect
 * and HTTP_GET's connect / request / response run on one thread of their own, off the JS thread.
 *
 * Why: 1,000 checks/s cost ~0.2-0.25 core (bench/README.md, issue 4), most of it kernel TCP work done
 * inside the checker's system calls. With Node sockets all of it ran on the control thread; here it
 * runs on this thread, as non-blocking sockets in one epoll set (the system calls a check needs and
 * no socket objects), so `--dataplane-cpu` can keep it off the data plane's core. JS submits a probe
 * and later drains finished ones in batches: one eventfd write per burst of submissions, one
 * thread-safe call per batch of results.
 *
 * Model: every probe is owned by exactly one side at a time. JS -> thread through the submit queue
 * (under mu); the thread keeps in-flight probes in its own list (no lock); thread -> JS through the
 * done queue (under mu). Cancels are ids queued under mu. The thread never calls into JS.
 *
 * A probe ends with err 0 (connected; or, with a request, the response is complete: EOF, or the
 * HTTP/1.x message is complete by Content-Length / last chunk / no-body status, RFC 9112 §6.3), or
 * err = an errno: connect / I/O errors as the kernel reports them, ETIMEDOUT when the deadline passes
 * (phase tells where), EMSGSIZE when the response exceeds max bytes.
 */
#include "napi-util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <strings.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24 /* include/uapi/linux/in.h, Linux 4.2 */
#endif

enum { PH_CONNECT = 1, PH_WRITE = 2, PH_READ = 3 };
#define MAX_REQUEST (64 * 1024)

typedef struct probe {
  struct probe *next, *prev;
  uint32_t id;
  int fd;
  int phase;
  int http; /* complete an HTTP/1.x response early (by length) instead of only at EOF */
  int family;
  struct sockaddr_storage dst, src;
  socklen_t dst_len, src_len; /* src_len 0: no bind */
  uint64_t start_ns, deadline_ns, end_ns;
  uint8_t *req;
  size_t req_len, req_off;
  uint8_t *resp;
  size_t resp_len, resp_cap, resp_max;
  int err;
  int eof;
} probe;

typedef struct {
  pthread_t thread;
  int thread_started;
  int epfd, evfd;
  pthread_mutex_t mu;
  probe *submit; /* LIFO under mu; the thread reverses it */
  probe *done;   /* LIFO under mu; drain reverses it */
  uint32_t *cancels;
  size_t ncancel, cancel_cap;
  int stopping;
  int notified; /* a wake-up of JS is pending (under mu) */
  napi_threadsafe_function tsfn;
  napi_env env;
  int closed;
  int refd;
} engine;

static uint64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void probe_free(probe *p) {
  if (p->fd >= 0) close(p->fd);
  free(p->req);
  free(p->resp);
  free(p);
}

static void wake_thread(engine *e) {
  uint64_t one = 1;
  ssize_t r = write(e->evfd, &one, sizeof one);
  (void)r; /* EAGAIN: the counter is already non-zero, the thread wakes anyway */
}

/* ---- HTTP completeness (thread side) -------------------------------------------------------- */

static const uint8_t *find_bytes(const uint8_t *h, size_t hn, const char *needle) {
  size_t nn = strlen(needle);
  if (hn < nn) return NULL;
  for (size_t i = 0; i + nn <= hn; i++)
    if (h[i] == (uint8_t)needle[0] && memcmp(h + i, needle, nn) == 0) return h + i;
  return NULL;
}

/* 1 when buf holds a whole HTTP/1.x response whose end does not depend on EOF. Malformed or
 * length-less responses return 0 and are completed by EOF (JS parses and judges them). */
static int http_complete(const uint8_t *buf, size_t len) {
  const uint8_t *end = find_bytes(buf, len, "\r\n\r\n");
  if (end == NULL) return 0;
  size_t head_len = (size_t)(end - buf);
  size_t body_len = len - head_len - 4;
  if (head_len < 12 || memcmp(buf, "HTTP/", 5) != 0) return 0;
  const uint8_t *sp = memchr(buf, ' ', head_len);
  if (sp == NULL || (size_t)(sp - buf) + 4 > head_len) return 0;
  int status = (sp[1] - '0') * 100 + (sp[2] - '0') * 10 + (sp[3] - '0');
  if (status == 204 || status == 304 || (status >= 100 && status < 200)) return 1;
  long long content_length = -1;
  int chunked = 0;
  const uint8_t *line = memchr(buf, '\n', head_len);
  while (line != NULL && line < end) {
    line++;
    const uint8_t *eol = memchr(line, '\n', (size_t)(end + 2 - line));
    size_t n = eol ? (size_t)(eol - line) : (size_t)(end - line);
    if (n >= 15 && strncasecmp((const char *)line, "content-length:", 15) == 0) {
      content_length = 0;
      for (size_t i = 15; i < n; i++) {
        if (line[i] >= '0' && line[i] <= '9') content_length = content_length * 10 + (line[i] - '0');
        else if (line[i] != ' ' && line[i] != '\t' && line[i] != '\r') return 0;
        if (content_length > (1LL << 40)) return 0;
      }
    } else if (n >= 18 && strncasecmp((const char *)line, "transfer-encoding:", 18) == 0) {
      if (find_bytes(line, n, "chunked") != NULL) chunked = 1;
    }
    line = eol;
  }
  if (chunked) return body_len >= 5 && memcmp(buf + len - 5, "0\r\n\r\n", 5) == 0 &&
                      (body_len == 5 || buf[len - 6] == '\n');
  if (content_length >= 0) return body_len >= (size_t)content_length;
  return 0;
}

/* ---- the probe thread ----------------------------------------------------------------------- */

typedef struct {
  probe *live; /* doubly linked, thread-owned */
  probe *done; /* finished this turn, LIFO */
  uint64_t next_scan;
} thread_state;

static void finish(thread_state *t, probe *p, int err) {
  if (p->prev) p->prev->next = p->next;
  else t->live = p->next;
  if (p->next) p->next->prev = p->prev;
  if (p->fd >= 0) close(p->fd); /* also leaves the epoll set */
  p->fd = -1;
  p->err = err;
  p->end_ns = mono_ns();
  p->next = t->done;
  p->prev = NULL;
  t->done = p;
}

static void start(engine *e, thread_state *t, probe *p) {
  p->next = t->live;
  p->prev = NULL;
  if (t->live) t->live->prev = p;
  t->live = p;
  if (p->deadline_ns < t->next_scan) t->next_scan = p->deadline_ns;
  p->phase = PH_CONNECT;
  p->fd = socket(p->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (p->fd < 0) return finish(t, p, errno);
  int one = 1;
  setsockopt(p->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (p->src_len > 0) {
    uint16_t sport = p->family == AF_INET ? ((struct sockaddr_in *)&p->src)->sin_port
                                          : ((struct sockaddr_in6 *)&p->src)->sin6_port;
    /* an address without a port: let connect() pick the port, per destination (no exhaustion) */
    if (sport == 0) setsockopt(p->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    if (bind(p->fd, (struct sockaddr *)&p->src, p->src_len) < 0) return finish(t, p, errno);
  }
  if (connect(p->fd, (struct sockaddr *)&p->dst, p->dst_len) < 0 && errno != EINPROGRESS)
    return finish(t, p, errno);
  struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = p};
  if (epoll_ctl(e->epfd, EPOLL_CTL_ADD, p->fd, &ev) < 0) return finish(t, p, errno);
}

static void on_readable(thread_state *t, probe *p) {
  for (;;) {
    if (p->resp_len == p->resp_cap) {
      if (p->resp_cap > p->resp_max) return finish(t, p, EMSGSIZE);
      size_t cap = p->resp_cap ? p->resp_cap * 2 : 4096;
      if (cap > p->resp_max + 1) cap = p->resp_max + 1;
      uint8_t *n = realloc(p->resp, cap);
      if (n == NULL) return finish(t, p, ENOMEM);
      p->resp = n;
      p->resp_cap = cap;
    }
    ssize_t r = recv(p->fd, p->resp + p->resp_len, p->resp_cap - p->resp_len, MSG_DONTWAIT);
    if (r == 0) {
      p->eof = 1;
      return finish(t, p, 0);
    }
    if (r < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (errno == EINTR) continue;
      return finish(t, p, errno);
    }
    p->resp_len += (size_t)r;
    if (p->resp_len > p->resp_max) return finish(t, p, EMSGSIZE);
  }
  if (p->http && http_complete(p->resp, p->resp_len)) finish(t, p, 0);
}

static void on_event(engine *e, thread_state *t, probe *p, uint32_t events) {
  /* finished earlier in this turn (cancelled before its event was handled): it sits in t->done, its
   * fd closed; the event is stale */
  if (p->fd < 0) return;
  if (p->phase == PH_CONNECT) {
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
    if (err != 0) return finish(t, p, err);
    if (p->req == NULL) return finish(t, p, 0);
    p->phase = PH_WRITE;
  }
  if (p->phase == PH_WRITE) {
    while (p->req_off < p->req_len) {
      ssize_t r = send(p->fd, p->req + p->req_off, p->req_len - p->req_off, MSG_DONTWAIT | MSG_NOSIGNAL);
      if (r < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) return; /* still EPOLLOUT */
        if (errno == EINTR) continue;
        return finish(t, p, errno);
      }
      p->req_off += (size_t)r;
    }
    p->phase = PH_READ;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = p};
    if (epoll_ctl(e->epfd, EPOLL_CTL_MOD, p->fd, &ev) < 0) return finish(t, p, errno);
    return; /* the response comes later; EPOLLIN reports it */
  }
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) on_readable(t, p);
}

static void scan_deadlines(thread_state *t, uint64_t now) {
  uint64_t next = UINT64_MAX;
  probe *p = t->live;
  while (p != NULL) {
    probe *n = p->next;
    if (p->deadline_ns <= now) finish(t, p, ETIMEDOUT);
    else if (p->deadline_ns < next) next = p->deadline_ns;
    p = n;
  }
  t->next_scan = next;
}

static void *engine_main(void *arg) {
  engine *e = (engine *)arg;
  thread_state t = {.live = NULL, .done = NULL, .next_scan = UINT64_MAX};
  struct epoll_event evs[128];
  for (;;) {
    int timeout = -1;
    if (t.next_scan != UINT64_MAX) {
      uint64_t now = mono_ns();
      timeout = t.next_scan <= now ? 0 : (int)((t.next_scan - now) / 1000000u) + 1;
    }
    int n = epoll_wait(e->epfd, evs, 128, timeout);
    int stop = 0;
    for (int i = 0; i < n; i++) {
      if (evs[i].data.ptr != NULL) continue;
      uint64_t v;
      ssize_t r = read(e->evfd, &v, sizeof v);
      (void)r;
      pthread_mutex_lock(&e->mu);
      probe *sub = e->submit;
      e->submit = NULL;
      uint32_t *cancels = e->cancels;
      size_t ncancel = e->ncancel;
      e->cancels = NULL;
      e->ncancel = e->cancel_cap = 0;
      stop = e->stopping;
      pthread_mutex_unlock(&e->mu);
      probe *rev = NULL; /* submission order */
      while (sub) {
        probe *nx = sub->next;
        sub->next = rev;
        rev = sub;
        sub = nx;
      }
      while (rev) {
        probe *nx = rev->next;
        start(e, &t, rev);
        rev = nx;
      }
      for (size_t c = 0; c < ncancel; c++) {
        for (probe *p = t.live; p != NULL; p = p->next) {
          if (p->id != cancels[c]) continue;
          finish(&t, p, ECANCELED);
          break;
        }
      }
      free(cancels);
    }
    for (int i = 0; i < n; i++)
      if (evs[i].data.ptr != NULL) on_event(e, &t, (probe *)evs[i].data.ptr, evs[i].events);
    uint64_t now = mono_ns();
    if (now >= t.next_scan) scan_deadlines(&t, now);
    if (stop) {
      while (t.live) finish(&t, t.live, ECANCELED);
      while (t.done) {
        probe *nx = t.done->next;
        probe_free(t.done);
        t.done = nx;
      }
      return NULL;
    }
    if (t.done == NULL) continue;
    probe *last = t.done;
    while (last->next) last = last->next;
    pthread_mutex_lock(&e->mu);
    last->next = e->done;
    e->done = t.done;
    int notify = !e->notified;
    e->notified = 1;
    pthread_mutex_unlock(&e->mu);
    t.done = NULL;
    if (notify) napi_call_threadsafe_function(e->tsfn, NULL, napi_tsfn_nonblocking);
  }
}

/* ---- JS side -------------------------------------------------------------------------------- */

static void call_js(napi_env env, napi_value js_cb, void *context, void *data) {
  (void)context;
  (void)data;
  if (env == NULL || js_cb == NULL) return; /* tearing down */
  napi_value undefined;
  napi_get_undefined(env, &undefined);
  napi_call_function(env, undefined, js_cb, 0, NULL, NULL);
}

static void engine_stop(engine *e) {
  if (e->closed) return;
  e->closed = 1;
  if (e->thread_started) {
    pthread_mutex_lock(&e->mu);
    e->stopping = 1;
    pthread_mutex_unlock(&e->mu);
    wake_thread(e);
    pthread_join(e->thread, NULL);
  }
  while (e->submit) {
    probe *nx = e->submit->next;
    probe_free(e->submit);
    e->submit = nx;
  }
  while (e->done) {
    probe *nx = e->done->next;
    probe_free(e->done);
    e->done = nx;
  }
  free(e->cancels);
  e->cancels = NULL;
  if (e->tsfn) napi_release_threadsafe_function(e->tsfn, napi_tsfn_abort);
  e->tsfn = NULL;
  if (e->epfd >= 0) close(e->epfd);
  if (e->evfd >= 0) close(e->evfd);
  e->epfd = e->evfd = -1;
}

static void engine_cleanup_hook(void *arg) { engine_stop((engine *)arg); }

static void engine_finalize(napi_env env, void *data, void *hint) {
  (void)hint;
  engine *e = (engine *)data;
  if (!e->closed) {
    napi_remove_env_cleanup_hook(env, engine_cleanup_hook, e);
    engine_stop(e);
  }
  pthread_mutex_destroy(&e->mu);
  free(e);
}

/* the arguments of a probe function whose first is the probeOpen handle: e is the engine */
#define ENGINE_ARGS(N)                                                                          \
  ARGS(N);                                                                                      \
  engine *e = get_engine(env, argv[0]);                                                         \
  if (e == NULL) return throw_type(env, FN, "handle must be a probeOpen handle")

static engine *get_engine(napi_env env, napi_value v) {
  void *data = NULL;
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_external) return NULL;
  if (napi_get_value_external(env, v, &data) != napi_ok) return NULL;
  return (engine *)data;
}

#undef FN
#define FN "probeOpen"
/* probeOpen(onDone) -> handle: starts the probe thread; onDone() runs (on this thread's loop) when
 * finished probes wait in probeDrain. The handle does not keep the loop alive until probeRef. */
static napi_value js_probe_open(napi_env env, napi_callback_info info) {
  ARGS(1);
  napi_valuetype t;
  if (napi_typeof(env, argv[0], &t) != napi_ok || t != napi_function)
    return throw_type(env, FN, "onDone must be a function");
  engine *e = calloc(1, sizeof *e);
  if (e == NULL) return throw_errno(env, FN, "calloc", NULL, ENOMEM);
  e->epfd = e->evfd = -1;
  pthread_mutex_init(&e->mu, NULL);
  napi_value handle;
  if (napi_create_external(env, e, engine_finalize, NULL, &handle) != napi_ok) {
    pthread_mutex_destroy(&e->mu);
    free(e);
    return throw_errno(env, FN, "napi_create_external", NULL, ENOMEM);
  }
  /* from here the finalizer owns e */
  napi_add_env_cleanup_hook(env, engine_cleanup_hook, e);
  e->env = env;
  e->epfd = epoll_create1(EPOLL_CLOEXEC);
  if (e->epfd < 0) return throw_errno(env, FN, "epoll_create1", NULL, errno);
  e->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (e->evfd < 0) return throw_errno(env, FN, "eventfd", NULL, errno);
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
  if (epoll_ctl(e->epfd, EPOLL_CTL_ADD, e->evfd, &ev) < 0) return throw_errno(env, FN, "epoll_ctl", NULL, errno);
  napi_value name;
  napi_create_string_utf8(env, "lvsd-probes", NAPI_AUTO_LENGTH, &name);
  if (napi_create_threadsafe_function(env, argv[0], NULL, name, 0, 1, NULL, NULL, NULL, call_js, &e->tsfn) !=
      napi_ok)
    return throw_errno(env, FN, "napi_create_threadsafe_function", NULL, EINVAL);
  napi_unref_threadsafe_function(env, e->tsfn);
  /* the thread takes no signals: they stay with Node's threads */
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  int r = pthread_create(&e->thread, NULL, engine_main, e);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (r != 0) return throw_errno(env, FN, "pthread_create", NULL, r);
  e->thread_started = 1;
  pthread_setname_np(e->thread, "lvsd-probes");
  return handle;
}

static int parse_addr(const char *s, uint16_t port, struct sockaddr_storage *ss, socklen_t *len, int *family) {
  memset(ss, 0, sizeof *ss);
  struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
  struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
  if (inet_pton(AF_INET, s, &a4->sin_addr) == 1) {
    a4->sin_family = AF_INET;
    a4->sin_port = htons(port);
    *len = sizeof *a4;
    *family = AF_INET;
    return 1;
  }
  if (inet_pton(AF_INET6, s, &a6->sin6_addr) == 1) {
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons(port);
    *len = sizeof *a6;
    *family = AF_INET6;
    return 1;
  }
  return 0;
}

#undef FN
#define FN "probeStart"
/* probeStart(handle, id, host, port, bindHost|'', bindPort, timeoutMs, request|null, maxResponse, http) */
static napi_value js_probe_start(napi_env env, napi_callback_info info) {
  ENGINE_ARGS(10);
  if (e->closed) return throw_errno(env, FN, "probeStart", "(closed)", EBADF);
  uint32_t id, port, bind_port, timeout_ms, max_resp;
  if (!get_u32(env, argv[1], &id)) return throw_type(env, FN, "id must be a number");
  char host[64], bind_host[64];
  size_t hl = 0, bl = 0;
  if (napi_get_value_string_utf8(env, argv[2], host, sizeof host, &hl) != napi_ok)
    return throw_type(env, FN, "host must be a string");
  if (!get_u32(env, argv[3], &port) || port == 0 || port > 65535)
    return throw_range(env, FN, "port must be 1-65535");
  if (napi_get_value_string_utf8(env, argv[4], bind_host, sizeof bind_host, &bl) != napi_ok)
    return throw_type(env, FN, "bindHost must be a string");
  if (!get_u32(env, argv[5], &bind_port) || bind_port > 65535)
    return throw_range(env, FN, "bindPort must be 0-65535");
  if (!get_u32(env, argv[6], &timeout_ms) || timeout_ms == 0)
    return throw_range(env, FN, "timeoutMs must be a positive number");
  uint8_t *req = NULL;
  size_t req_len = 0;
  napi_valuetype rt;
  napi_typeof(env, argv[7], &rt);
  if (rt != napi_null && rt != napi_undefined && !get_bytes(env, argv[7], &req, &req_len))
    return throw_type(env, FN, "request must be a Uint8Array or null");
  if (req_len > MAX_REQUEST) return throw_range(env, FN, "request larger than 64 KiB");
  if (!get_u32(env, argv[8], &max_resp)) return throw_type(env, FN, "maxResponse must be a number");
  bool http = false;
  if (napi_get_value_bool(env, argv[9], &http) != napi_ok) return throw_type(env, FN, "http must be a boolean");

  probe *p = calloc(1, sizeof *p);
  if (p == NULL) return throw_errno(env, FN, "calloc", NULL, ENOMEM);
  p->fd = -1;
  p->id = id;
  if (!parse_addr(host, (uint16_t)port, &p->dst, &p->dst_len, &p->family)) {
    free(p);
    return throw_type(env, FN, "host must be an IPv4 or IPv6 address");
  }
  if (bl > 0 || bind_port > 0) {
    int bf;
    const char *b = bl > 0 ? bind_host : (p->family == AF_INET ? "0.0.0.0" : "::");
    if (!parse_addr(b, (uint16_t)bind_port, &p->src, &p->src_len, &bf) || bf != p->family) {
      free(p);
      return throw_type(env, FN, "bindHost must be an address of the host's family");
    }
  }
  if (req_len > 0) {
    p->req = malloc(req_len);
    if (p->req == NULL) {
      free(p);
      return throw_errno(env, FN, "malloc", NULL, ENOMEM);
    }
    memcpy(p->req, req, req_len);
    p->req_len = req_len;
  }
  p->resp_max = max_resp;
  p->http = http;
  p->start_ns = mono_ns();
  p->deadline_ns = p->start_ns + (uint64_t)timeout_ms * 1000000u;
  pthread_mutex_lock(&e->mu);
  /* one wake-up per batch: a non-empty queue means the thread has a wake-up coming and takes the
   * whole queue when it comes (a burst of due checks costs one eventfd write, not one each) */
  int wake = e->submit == NULL;
  p->next = e->submit;
  e->submit = p;
  pthread_mutex_unlock(&e->mu);
  if (wake) wake_thread(e);
  return make_undefined(env);
}

#undef FN
#define FN "probeCancel"
/* probeCancel(handle, id): the probe's socket is closed; it is never reported. */
static napi_value js_probe_cancel(napi_env env, napi_callback_info info) {
  ENGINE_ARGS(2);
  uint32_t id;
  if (!get_u32(env, argv[1], &id)) return throw_type(env, FN, "id must be a number");
  if (e->closed) return make_undefined(env);
  pthread_mutex_lock(&e->mu);
  if (e->ncancel == e->cancel_cap) {
    size_t cap = e->cancel_cap ? e->cancel_cap * 2 : 16;
    uint32_t *n = realloc(e->cancels, cap * sizeof *n);
    if (n == NULL) {
      pthread_mutex_unlock(&e->mu);
      return throw_errno(env, FN, "realloc", NULL, ENOMEM);
    }
    e->cancels = n;
    e->cancel_cap = cap;
  }
  int wake = e->ncancel == 0; /* as in probeStart: one wake-up per batch */
  e->cancels[e->ncancel++] = id;
  pthread_mutex_unlock(&e->mu);
  if (wake) wake_thread(e);
  return make_undefined(env);
}

#undef FN
#define FN "probeDrain"
/* probeDrain(handle) -> [[id, errno, phase, eof, latencyUs, response|null], ...] in completion order;
 * cancelled probes are not in it. */
static napi_value js_probe_drain(napi_env env, napi_callback_info info) {
  ENGINE_ARGS(1);
  pthread_mutex_lock(&e->mu);
  probe *list = e->done;
  e->done = NULL;
  e->notified = 0;
  pthread_mutex_unlock(&e->mu);
  probe *rev = NULL;
  while (list) {
    probe *nx = list->next;
    list->next = rev;
    rev = list;
    list = nx;
  }
  napi_value out;
  napi_create_array(env, &out);
  uint32_t i = 0;
  while (rev) {
    probe *p = rev;
    rev = p->next;
    if (p->err != ECANCELED) {
      napi_value row, v;
      napi_create_array_with_length(env, 6, &row);
      napi_create_uint32(env, p->id, &v);
      napi_set_element(env, row, 0, v);
      napi_create_int32(env, p->err, &v);
      napi_set_element(env, row, 1, v);
      napi_create_int32(env, p->phase, &v);
      napi_set_element(env, row, 2, v);
      napi_get_boolean(env, p->eof != 0, &v);
      napi_set_element(env, row, 3, v);
      napi_create_double(env, (double)(p->end_ns - p->start_ns) / 1000.0, &v);
      napi_set_element(env, row, 4, v);
      if (p->req != NULL && p->resp_len > 0 && p->resp_len <= p->resp_max) {
        void *d;
        napi_create_buffer_copy(env, p->resp_len, p->resp, &d, &v);
      } else {
        napi_get_null(env, &v);
      }
      napi_set_element(env, row, 5, v);
      napi_set_element(env, out, i++, row);
    }
    probe_free(p);
  }
  return out;
}

#undef FN
#define FN "probeRef"
/* probeRef(handle, keepAlive): whether pending probes keep the event loop alive. */
static napi_value js_probe_ref(napi_env env, napi_callback_info info) {
  ENGINE_ARGS(2);
  bool on = false;
  if (napi_get_value_bool(env, argv[1], &on) != napi_ok) return throw_type(env, FN, "keepAlive must be a boolean");
  if (e->closed || e->tsfn == NULL || (int)on == e->refd) return make_undefined(env);
  if (on) napi_ref_threadsafe_function(env, e->tsfn);
  else napi_unref_threadsafe_function(env, e->tsfn);
  e->refd = on;
  return make_undefined(env);
}

#undef FN
#define FN "probeClose"
/* probeClose(handle): stops the thread; pending probes are dropped unreported. */
static napi_value js_probe_close(napi_env env, napi_callback_info info) {
  ENGINE_ARGS(1);
  if (!e->closed) {
    napi_remove_env_cleanup_hook(env, engine_cleanup_hook, e);
    engine_stop(e);
  }
  return make_undefined(env);
}

void probe_register(napi_env env, napi_value exports) {
  export_fn(env, exports, "probeOpen", js_probe_open);
  export_fn(env, exports, "probeStart", js_probe_start);
  export_fn(env, exports, "probeCancel", js_probe_cancel);
  export_fn(env, exports, "probeDrain", js_probe_drain);
  export_fn(env, exports, "probeRef", js_probe_ref);
  export_fn(env, exports, "probeClose", js_probe_close);
}
