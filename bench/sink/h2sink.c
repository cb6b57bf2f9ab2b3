/*
 * A loopback APNs stand-in for the benchmarks: TLS with ALPN h2 on 127.0.0.1,
 * answers every request with 200 and an apns-id header, and costs next to nothing,
 * so what a benchmark measures is the client, not the receiver.
 *
 *   h2sink PORT CERT KEY COUNT_FILE [LOG_FILE]
 *
 * COUNT_FILE holds the number of requests answered, rewritten every 100 ms, so a
 * harness can wait for a count without speaking HTTP/2 itself. LOG_FILE, when
 * given, gets one line per request: the wall-clock arrival time and the :path
 * (which carries the device token), for latency measurements.
 * SIGTERM or SIGINT: write the final count and exit.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <nghttp2/nghttp2.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 512
#define READ_CHUNK 65536

typedef struct {
    int fd;
    SSL *ssl;
    nghttp2_session *h2;
    int ready;           /* TLS handshake done, HTTP/2 session made */
    int dead;
    unsigned char *out;  /* bytes nghttp2 produced that TLS has not taken yet */
    size_t out_len, out_off, out_cap;
} conn_t;

static volatile sig_atomic_t stopping = 0;
static unsigned long long answered = 0;
static FILE *request_log = NULL;
static const char *count_path = NULL;

static void on_signal(int sig) { (void)sig; stopping = 1; }

static double wall_clock(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Rename over the old file so a reader never sees a half-written number. */
static void write_count(void) {
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", count_path);
    FILE *f = fopen(tmp, "w");
    if (!f) return;
    fprintf(f, "%llu\n", answered);
    fclose(f);
    rename(tmp, count_path);
    if (request_log) fflush(request_log);
}

static int pick_h2(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                   const unsigned char *in, unsigned int inlen, void *arg) {
    (void)ssl; (void)arg;
    for (unsigned int i = 0; i < inlen; i += 1u + in[i]) {
        if (in[i] == 2 && i + 2 < inlen && in[i + 1] == 'h' && in[i + 2] == '2') {
            *out = in + i + 1;
            *outlen = 2;
            return SSL_TLSEXT_ERR_OK;
        }
    }
    return SSL_TLSEXT_ERR_ALERT_FATAL;
}

static int on_header(nghttp2_session *h2, const nghttp2_frame *frame, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                     void *user) {
    (void)flags; (void)user;
    if (!request_log || frame->hd.type != NGHTTP2_HEADERS) return 0;
    if (namelen == 5 && memcmp(name, ":path", 5) == 0) {
        char *path = strndup((const char *)value, valuelen);
        nghttp2_session_set_stream_user_data(h2, frame->hd.stream_id, path);
    }
    return 0;
}

static int on_frame(nghttp2_session *h2, const nghttp2_frame *frame, void *user) {
    (void)user;
    if ((frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA) ||
        !(frame->hd.flags & NGHTTP2_FLAG_END_STREAM))
        return 0;
    int32_t id = frame->hd.stream_id;
    answered++;
    if (request_log) {
        const char *path = nghttp2_session_get_stream_user_data(h2, id);
        fprintf(request_log, "%.6f %s\n", wall_clock(), path ? path : "-");
    }
    char apns_id[40];
    snprintf(apns_id, sizeof apns_id, "00000000-0000-4000-8000-%012llx", answered);
    nghttp2_nv headers[] = {
        {(uint8_t *)":status", (uint8_t *)"200", 7, 3, NGHTTP2_NV_FLAG_NONE},
        {(uint8_t *)"apns-id", (uint8_t *)apns_id, 7, strlen(apns_id), NGHTTP2_NV_FLAG_NONE},
    };
    return nghttp2_submit_response(h2, id, headers, 2, NULL) == 0 ? 0
                                                                   : NGHTTP2_ERR_CALLBACK_FAILURE;
}

static int on_close(nghttp2_session *h2, int32_t id, uint32_t code, void *user) {
    (void)code; (void)user;
    free(nghttp2_session_get_stream_user_data(h2, id));
    return 0;
}

static int start_session(conn_t *c) {
    nghttp2_session_callbacks *cbs;
    nghttp2_session_callbacks_new(&cbs);
    nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_close);
    int rv = nghttp2_session_server_new(&c->h2, cbs, c);
    nghttp2_session_callbacks_del(cbs);
    if (rv != 0) return -1;
    nghttp2_settings_entry settings[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 1000},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1 << 20},
    };
    return nghttp2_submit_settings(c->h2, NGHTTP2_FLAG_NONE, settings, 2);
}

/* Push everything nghttp2 wants to send through TLS; 1 if TLS could not take it all yet. */
static int flush(conn_t *c) {
    for (;;) {
        if (c->out_off == c->out_len) {
            c->out_off = c->out_len = 0;
            const uint8_t *data;
            ssize_t n;
            while ((n = nghttp2_session_mem_send(c->h2, &data)) > 0) {
                if (c->out_len + (size_t)n > c->out_cap) {
                    c->out_cap = (c->out_len + (size_t)n) * 2;
                    c->out = realloc(c->out, c->out_cap);
                }
                memcpy(c->out + c->out_len, data, (size_t)n);
                c->out_len += (size_t)n;
            }
            if (n < 0) { c->dead = 1; return 0; }
            if (c->out_len == 0) return 0;
        }
        int w = SSL_write(c->ssl, c->out + c->out_off, (int)(c->out_len - c->out_off));
        if (w > 0) { c->out_off += (size_t)w; continue; }
        int err = SSL_get_error(c->ssl, w);
        if (err == SSL_ERROR_WANT_WRITE || err == SSL_ERROR_WANT_READ) return 1;
        c->dead = 1;
        return 0;
    }
}

/* Handle readiness on one connection; returns the poll events it waits for next. */
static short serve(conn_t *c) {
    static unsigned char buf[READ_CHUNK];
    if (!c->ready) {
        int r = SSL_accept(c->ssl);
        if (r != 1) {
            int err = SSL_get_error(c->ssl, r);
            if (err == SSL_ERROR_WANT_READ) return POLLIN;
            if (err == SSL_ERROR_WANT_WRITE) return POLLOUT;
            c->dead = 1;
            return 0;
        }
        const unsigned char *proto;
        unsigned int len;
        SSL_get0_alpn_selected(c->ssl, &proto, &len);
        if (len != 2 || memcmp(proto, "h2", 2) != 0 || start_session(c) != 0) {
            c->dead = 1;
            return 0;
        }
        c->ready = 1;
    }
    for (;;) {
        int n = SSL_read(c->ssl, buf, sizeof buf);
        if (n > 0) {
            if (nghttp2_session_mem_recv(c->h2, buf, (size_t)n) < 0) { c->dead = 1; return 0; }
            continue;
        }
        int err = SSL_get_error(c->ssl, n);
        if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) break;
        c->dead = 1;
        return 0;
    }
    int blocked = flush(c);
    if (c->dead) return 0;
    if (!blocked && !nghttp2_session_want_read(c->h2) && !nghttp2_session_want_write(c->h2)) {
        c->dead = 1;
        return 0;
    }
    return (short)(POLLIN | (blocked ? POLLOUT : 0));
}

static void drop(conn_t *c) {
    if (c->h2) nghttp2_session_del(c->h2);
    SSL_free(c->ssl);
    close(c->fd);
    free(c->out);
}

static int listen_on(int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK); /* never anything but loopback */
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(fd, 1024) != 0) {
        perror("h2sink: listen");
        exit(1);
    }
    return fd;
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: %s PORT CERT KEY COUNT_FILE [LOG_FILE]\n", argv[0]);
        return 2;
    }
    count_path = argv[4];
    if (argc > 5) {
        request_log = fopen(argv[5], "w");
        if (!request_log) { perror("h2sink: log"); return 1; }
        setvbuf(request_log, NULL, _IOFBF, 1 << 20);
    }
    signal(SIGPIPE, SIG_IGN);
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);

    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    if (SSL_CTX_use_certificate_chain_file(ctx, argv[2]) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, argv[3], SSL_FILETYPE_PEM) != 1) {
        ERR_print_errors_fp(stderr);
        return 1;
    }
    SSL_CTX_set_alpn_select_cb(ctx, pick_h2, NULL);

    static conn_t conns[MAX_CONNS];
    static struct pollfd fds[MAX_CONNS + 1];
    int nconns = 0;
    fds[0].fd = listen_on(atoi(argv[1]));
    fds[0].events = POLLIN;
    write_count();
    printf("listening\n");
    fflush(stdout);

    double last_write = wall_clock();
    while (!stopping) {
        if (poll(fds, (nfds_t)nconns + 1, 100) < 0 && errno != EINTR) break;
        if (fds[0].revents & POLLIN) {
            int fd;
            while (nconns < MAX_CONNS && (fd = accept4(fds[0].fd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                int one = 1;
                setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                conn_t *c = &conns[nconns];
                memset(c, 0, sizeof *c);
                c->fd = fd;
                c->ssl = SSL_new(ctx);
                SSL_set_fd(c->ssl, fd);
                fds[nconns + 1] = (struct pollfd){.fd = fd, .events = POLLIN};
                nconns++;
            }
        }
        for (int i = 0; i < nconns; i++) {
            if (fds[i + 1].revents) fds[i + 1].events = serve(&conns[i]);
            if (conns[i].dead) {
                drop(&conns[i]);
                nconns--;
                conns[i] = conns[nconns];
                fds[i + 1] = fds[nconns + 1];
                i--;
            }
        }
        double now = wall_clock();
        if (now - last_write >= 0.1) {
            write_count();
            last_write = now;
        }
    }
    write_count();
    return 0;
}
