/* Closed-loop echo load worker, in C so that the client is never the bottleneck of `python -m harness bench`.
 *
 * usage: loadgen [--cycles] HOST PORT CONNECTIONS SIZE BEGIN WARM_END END LATFILE [SERVER_PID...]
 * With --cycles, each of the CONNECTIONS slots repeats connect, send, receive the echo, close: a "round trip"
 * is then a whole cycle, and its latency runs from connect() to the end of the echo.
 *   BEGIN, WARM_END, END: CLOCK_MONOTONIC seconds (Python's time.monotonic() on Linux).
 * Opens CONNECTIONS connections, waits until BEGIN, then each connection sends SIZE bytes and waits for their
 * echo, again and again, until END. Round trips completed after WARM_END are counted and their latencies (ns,
 * int64) written to LATFILE. Prints one line:
 *   trips busy connect_seconds server_cpu_seconds errors first_error...
 * busy: this process's CPU time over the window as a share of it; server_cpu_seconds: CPU time of the given
 * pids over the window (-1 when not readable).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct conn {
    int fd;
    int got;
    int unsent;
    int connecting; /* --cycles: connect() in progress */
    long long sent_at;
};

static int cycles_mode;
static const struct addrinfo *target_ai;

/* --cycles: open slot c's next connection, non-blocking; 0 on success (in progress), else errno. */
static int start_cycle(int ep, struct conn *c, unsigned slot, long long now) {
    int fd = socket(target_ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd < 0) return errno;
    if (connect(fd, target_ai->ai_addr, target_ai->ai_addrlen) != 0 && errno != EINPROGRESS) {
        int err = errno;
        close(fd);
        return err;
    }
    c->fd = fd;
    c->got = 0;
    c->unsent = 0;
    c->connecting = 1;
    c->sent_at = now;
    struct epoll_event ev = {.events = EPOLLOUT, .data.u32 = slot};
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    return 0;
}

static long long now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static double now_s(void) { return now_ns() / 1e9; }

static double cpu_self(void) {
    struct rusage r;
    getrusage(RUSAGE_SELF, &r);
    return r.ru_utime.tv_sec + r.ru_utime.tv_usec / 1e6 + r.ru_stime.tv_sec + r.ru_stime.tv_usec / 1e6;
}

static double server_cpu(int n, char **pids) {
    long long ticks = 0;
    int seen = 0;
    for (int i = 0; i < n; i++) {
        char path[64], buf[2048];
        snprintf(path, sizeof path, "/proc/%s/stat", pids[i]);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        size_t len = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[len] = 0;
        char *p = strrchr(buf, ')');
        if (!p) continue;
        unsigned long long utime, stime;
        /* after ") ": state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime stime */
        if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) == 2) {
            ticks += (long long)(utime + stime);
            seen = 1;
        }
    }
    return seen ? (double)ticks / sysconf(_SC_CLK_TCK) : -1.0;
}

static void wait_until(double t) {
    double left;
    while ((left = t - now_s()) > 0) {
        struct timespec d = {(time_t)left, (long)((left - (time_t)left) * 1e9)};
        nanosleep(&d, NULL);
    }
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--cycles") == 0) {
        cycles_mode = 1;
        argv++;
        argc--;
    }
    if (argc < 9) {
        fprintf(stderr, "usage: %s HOST PORT CONNECTIONS SIZE BEGIN WARM_END END LATFILE [SERVER_PID...]\n", argv[0]);
        return 2;
    }
    const char *host = argv[1], *port = argv[2], *latfile = argv[8];
    int nconn = atoi(argv[3]), size = atoi(argv[4]);
    double begin = atof(argv[5]), warm_end = atof(argv[6]), end = atof(argv[7]);
    int npids = argc - 9;
    char **pids = argv + 9;
    int errors = 0;
    char first_error[256] = "-";

    struct addrinfo hints = {0}, *ai;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
    if (getaddrinfo(host, port, &hints, &ai) != 0) {
        fprintf(stderr, "bad address %s %s\n", host, port);
        return 2;
    }
    target_ai = ai;
    struct rlimit lim; /* one descriptor per connection: take what the hard limit allows */
    if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
        lim.rlim_cur = lim.rlim_max;
        setrlimit(RLIMIT_NOFILE, &lim);
    }
    struct conn *conns = calloc(nconn, sizeof *conns);
    char *message = malloc(size), *buf = malloc(size > 65536 ? size : 65536);
    for (int i = 0; i < size; i++) message[i] = (char)(i % 251);
    double t0 = now_s();
    int open = 0;
    for (int i = 0; i < nconn && !cycles_mode; i++) {
        int fd = socket(ai->ai_family, SOCK_STREAM, 0);
        if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
            if (!errors++) snprintf(first_error, sizeof first_error, "connect: %s", strerror(errno));
            if (fd >= 0) close(fd);
            conns[i].fd = -1;
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        conns[i].fd = fd;
        open++;
    }
    double connect_seconds = now_s() - t0;
    size_t cap = 1 << 20, nlat = 0;
    long long *lat = malloc(cap * sizeof *lat);
    int ep = epoll_create1(0);
    wait_until(begin);
    if (cycles_mode) {
        for (int i = 0; i < nconn; i++) {
            int err = start_cycle(ep, &conns[i], (unsigned)i, now_ns());
            if (err) {
                conns[i].fd = -1;
                if (!errors++) snprintf(first_error, sizeof first_error, "connect: %s", strerror(err));
            } else {
                open++;
            }
        }
    }
    for (int i = 0; i < nconn && !cycles_mode; i++) {
        if (conns[i].fd < 0) continue;
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (unsigned)i};
        conns[i].sent_at = now_ns();
        ssize_t n = send(conns[i].fd, message, size, MSG_NOSIGNAL);
        conns[i].unsent = size - (n > 0 ? (int)n : 0);
        if (conns[i].unsent) ev.events |= EPOLLOUT;
        epoll_ctl(ep, EPOLL_CTL_ADD, conns[i].fd, &ev);
    }
    long long trips = 0;
    int measuring = 0;
    double cpu_at_warm = 0, server_at_warm = -1;
    struct epoll_event events[256];
    while (open > 0) {
        double now = now_s();
        if (now >= end) break;
        if (!measuring && now >= warm_end) {
            measuring = 1;
            cpu_at_warm = cpu_self();
            server_at_warm = npids ? server_cpu(npids, pids) : -1;
        }
        int wait_ms = (int)((end - now) * 1000) + 1;
        int n = epoll_wait(ep, events, 256, wait_ms < 100 ? wait_ms : 100);
        for (int e = 0; e < n; e++) {
            struct conn *c = &conns[events[e].data.u32];
            if (c->fd < 0) continue;
            int failed = 0;
            if (c->connecting) {
                int err = 0;
                socklen_t len = sizeof err;
                getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
                if (err) {
                    failed = err;
                } else {
                    int one = 1;
                    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    c->connecting = 0;
                    ssize_t s = send(c->fd, message, size, MSG_NOSIGNAL);
                    c->unsent = size - (s > 0 ? (int)s : 0);
                    if (s < 0 && errno != EAGAIN) failed = errno;
                    struct epoll_event ev = {.events = EPOLLIN | (c->unsent ? EPOLLOUT : 0),
                                             .data.u32 = events[e].data.u32};
                    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
                    if (!failed) continue;
                }
            }
            if ((events[e].events & EPOLLOUT) && c->unsent) {
                ssize_t s = send(c->fd, message + size - c->unsent, c->unsent, MSG_NOSIGNAL);
                if (s > 0) c->unsent -= (int)s;
                else if (s < 0 && errno != EAGAIN) failed = errno;
                if (!c->unsent && !failed) {
                    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = events[e].data.u32};
                    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
                }
            }
            if (!failed && (events[e].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) {
                ssize_t r = recv(c->fd, buf, size - c->got, 0);
                if (r == 0) failed = -1;
                else if (r < 0 && errno != EAGAIN) failed = errno;
                else if (r > 0) {
                    c->got += (int)r;
                    if (c->got == size) {
                        long long t = now_ns();
                        if (measuring) {
                            trips++;
                            if (nlat == cap) lat = realloc(lat, (cap *= 2) * sizeof *lat);
                            lat[nlat++] = t - c->sent_at;
                        }
                        if (cycles_mode) { /* this cycle is done: close, and start the next one */
                            epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                            close(c->fd);
                            int err = start_cycle(ep, c, events[e].data.u32, t);
                            if (err) {
                                c->fd = -1;
                                open--;
                                if (!errors++) snprintf(first_error, sizeof first_error, "connect: %s", strerror(err));
                            }
                            continue;
                        }
                        c->got = 0;
                        c->sent_at = t;
                        ssize_t s = send(c->fd, message, size, MSG_NOSIGNAL);
                        c->unsent = size - (s > 0 ? (int)s : 0);
                        if (s < 0 && errno != EAGAIN) failed = errno;
                        else if (c->unsent) {
                            struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.u32 = events[e].data.u32};
                            epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
                        }
                    }
                }
            }
            if (failed) {
                if (!errors++) {
                    if (failed == -1) snprintf(first_error, sizeof first_error, "the server closed the connection");
                    else snprintf(first_error, sizeof first_error, "%s", strerror(failed));
                }
                epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                close(c->fd);
                c->fd = -1;
                open--;
            }
        }
    }
    double window = now_s() - warm_end;
    double busy = measuring && window > 0 ? (cpu_self() - cpu_at_warm) / window : 0;
    double server_now = npids ? server_cpu(npids, pids) : -1;
    double server = server_now >= 0 && server_at_warm >= 0 ? server_now - server_at_warm : -1;
    FILE *f = fopen(latfile, "wb");
    if (f) {
        fwrite(lat, sizeof *lat, nlat, f);
        fclose(f);
    }
    printf("%lld %.6f %.6f %.6f %d %s\n", trips, busy, connect_seconds, server, errors, first_error);
    return 0;
}
