/*
** client.c - echo-client: the load generator of the echo benchmark
** (bench/echo/run.lua), in C on libuv so that it is never the bottleneck
** and is the same for every server measured.
**
**   echo-client PORT CONNECTIONS MSG_BYTES SECONDS
**
** Opens CONNECTIONS TCP connections to 127.0.0.1:PORT.  Once all are up,
** each runs a closed loop: send one message of MSG_BYTES, wait until as
** many bytes came back, count a request, send the next.  Every byte that
** comes back is compared with what was sent (a memcmp against the message,
** as it arrives; no copy).  Messages differ from one request to the next
** (a sliding window over a pattern), so a server answering with stale or
** misplaced bytes fails.  After SECONDS (a decimal number), measured with
** uv_hrtime from the moment the last connection came up, it stops
** counting, closes the connections and prints one line:
**
**   requests <n> bytes <b> seconds <s>
**
** (b: echoed payload bytes of the requests counted).  Any error (connect,
** read, write, a mismatch, the server closing early) is reported on
** stderr and the exit status is 1.
*/
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#define PATTERN_SHIFTS 251        /* distinct message windows (a prime) */
#define CONNECT_TIMEOUT_MS 10000  /* all connections up within this */
#define READ_BUF 65536            /* room offered to each uv read */

typedef struct Conn {
  uv_tcp_t tcp;           /* first: the handle's memory is the Conn */
  uv_connect_t connect;
  uv_write_t write;       /* the one write in flight */
  size_t index;           /* position in the connection array */
  size_t shift;           /* the message is pattern + shift */
  size_t got;             /* bytes of the current reply received */
  int busy;               /* a request is in flight */
  char buf[READ_BUF];     /* owns: read buffer, compared then dropped */
} Conn;

typedef struct Bench {
  uv_loop_t *loop;        /* borrows: the default loop */
  uv_timer_t timer;       /* connect timeout, then the run's length */
  Conn *conns;            /* owns: 'nconns' connections */
  size_t nconns;
  size_t connected;       /* connections up so far */
  size_t msg;             /* message size in bytes */
  char *pattern;          /* owns: msg + PATTERN_SHIFTS bytes */
  uint64_t run_ms;        /* length of the run */
  uint64_t start, stop;   /* uv_hrtime() of the run's start and end */
  uint64_t requests;      /* replies complete and checked, within the run */
  int running;            /* counting: all up, the time is not over */
  int stopping;           /* the time is over: errors are expected */
} Bench;

static Bench B;

static void fail(const char *what, int rc) {
  if (rc != 0)
    fprintf(stderr, "echo-client: %s: %s\n", what, uv_strerror(rc));
  else
    fprintf(stderr, "echo-client: %s\n", what);
  exit(1);
}

static void check(const char *what, int rc) {
  if (rc != 0)
    fail(what, rc);
}

/* ---------------------------------------------------------- requests */

static void on_write(uv_write_t *req, int status) {
  (void)req;
  if (status < 0 && !B.stopping)
    fail("write", status);
}

/* Send the next message on 'c' (only one is ever in flight). */
static void send_request(Conn *c) {
  uv_buf_t buf;
  c->shift = (c->shift + 1) % PATTERN_SHIFTS;
  c->got = 0;
  c->busy = 1;
  buf = uv_buf_init(B.pattern + c->shift, (unsigned)B.msg);
  check("write", uv_write(&c->write, (uv_stream_t *)&c->tcp, &buf, 1,
                          on_write));
}

static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf) {
  Conn *c = (Conn *)handle;
  (void)suggested;
  *buf = uv_buf_init(c->buf, sizeof c->buf);
}

static void on_read(uv_stream_t *stream, ssize_t n, const uv_buf_t *buf) {
  Conn *c = (Conn *)stream;
  if (n == 0)
    return;
  if (n < 0) {
    if (B.stopping)
      return;
    fail(n == UV_EOF ? "the server closed a connection" : "read",
         n == UV_EOF ? 0 : (int)n);
  }
  if (!c->busy || c->got + (size_t)n > B.msg)
    fail("the server sent more bytes than it was sent", 0);
  if (memcmp(buf->base, B.pattern + c->shift + c->got, (size_t)n) != 0) {
    fprintf(stderr, "echo-client: connection %zu: the echo differs from "
            "the message at bytes %zu..%zu\n", c->index, c->got,
            c->got + (size_t)n);
    exit(1);
  }
  c->got += (size_t)n;
  if (c->got < B.msg)
    return;
  c->busy = 0;
  if (!B.running)
    return;
  B.requests++;
  send_request(c);
}

/* ------------------------------------------------------- run, stop */

static void on_closed(uv_handle_t *handle) {
  (void)handle;
}

static void on_time_over(uv_timer_t *timer) {
  size_t i;
  B.stop = uv_hrtime();
  B.running = 0;
  B.stopping = 1;
  for (i = 0; i < B.nconns; i++)
    uv_close((uv_handle_t *)&B.conns[i].tcp, on_closed);
  uv_close((uv_handle_t *)timer, on_closed);
}

static void on_connect_timeout(uv_timer_t *timer) {
  (void)timer;
  fprintf(stderr, "echo-client: only %zu of %zu connections came up "
          "within %d ms\n", B.connected, B.nconns, CONNECT_TIMEOUT_MS);
  exit(1);
}

static void start_run(void) {
  size_t i;
  check("timer", uv_timer_stop(&B.timer));
  B.running = 1;
  B.start = uv_hrtime();
  check("timer", uv_timer_start(&B.timer, on_time_over, B.run_ms, 0));
  for (i = 0; i < B.nconns; i++)
    send_request(&B.conns[i]);
}

static void on_connect(uv_connect_t *req, int status) {
  Conn *c = req->data;
  if (status < 0)
    fail("connect", status);
  check("nodelay", uv_tcp_nodelay(&c->tcp, 1));
  check("read", uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read));
  if (++B.connected == B.nconns)
    start_run();
}

/* -------------------------------------------------------------- main */

static long arg(const char *s, const char *name, long min, long max) {
  char *end;
  long v = strtol(s, &end, 10);
  if (*s == '\0' || *end != '\0' || v < min || v > max) {
    fprintf(stderr, "echo-client: bad %s '%s' (%ld..%ld)\n", name, s, min,
            max);
    exit(2);
  }
  return v;
}

/* SECONDS, a decimal number (0.001..3600), in milliseconds. */
static uint64_t seconds(const char *s) {
  char *end;
  double v = strtod(s, &end);
  if (*s == '\0' || *end != '\0' || !(v >= 0.001 && v <= 3600)) {
    fprintf(stderr, "echo-client: bad SECONDS '%s' (0.001..3600)\n", s);
    exit(2);
  }
  return (uint64_t)(v * 1000 + 0.5);
}

int main(int argc, char **argv) {
  struct sockaddr_in addr;
  size_t i;
  if (argc != 5) {
    fprintf(stderr, "usage: echo-client PORT CONNECTIONS MSG_BYTES "
            "SECONDS\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);  /* a closed peer is an error, not a death */
  B.loop = uv_default_loop();
  B.nconns = (size_t)arg(argv[2], "CONNECTIONS", 1, 10000);
  B.msg = (size_t)arg(argv[3], "MSG_BYTES", 1, 64L << 20);
  B.run_ms = seconds(argv[4]);
  check("address", uv_ip4_addr("127.0.0.1",
                               (int)arg(argv[1], "PORT", 1, 65535), &addr));
  if ((B.pattern = malloc(B.msg + PATTERN_SHIFTS)) == NULL ||
      (B.conns = calloc(B.nconns, sizeof *B.conns)) == NULL)
    fail("not enough memory", 0);
  for (i = 0; i < B.msg + PATTERN_SHIFTS; i++)  /* no period of 251 */
    B.pattern[i] = (char)((i * 7 + i / 251) & 0xff);
  check("timer", uv_timer_init(B.loop, &B.timer));
  check("timer", uv_timer_start(&B.timer, on_connect_timeout,
                                CONNECT_TIMEOUT_MS, 0));
  for (i = 0; i < B.nconns; i++) {
    Conn *c = &B.conns[i];
    c->index = i;
    c->shift = i % PATTERN_SHIFTS;
    c->connect.data = c;
    check("tcp", uv_tcp_init(B.loop, &c->tcp));
    check("connect", uv_tcp_connect(&c->connect, &c->tcp,
                                    (const struct sockaddr *)&addr,
                                    on_connect));
  }
  check("run", uv_run(B.loop, UV_RUN_DEFAULT));
  if (B.requests == 0)
    fail("no request completed", 0);
  printf("requests %llu bytes %llu seconds %.6f\n",
         (unsigned long long)B.requests,
         (unsigned long long)(B.requests * B.msg),
         (double)(B.stop - B.start) / 1e9);
  check("close", uv_loop_close(B.loop));
  free(B.conns);
  free(B.pattern);
  return 0;
}
