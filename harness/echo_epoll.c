/* The ceiling baseline of `python -m harness bench`: an epoll echo server in C (the `c-epoll` baseline).
 *
 * usage: echo_epoll HOST PORT    (PORT 0: ephemeral); prints "listening on HOST:PORT" once ready.
 * Edge cases handled as the reference servers do: partial writes are kept and the connection stops being read
 * until they are flushed; EOF from the client is answered with FIN once everything is echoed.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUF 65536

struct conn {
    int fd;
    char *pending;
    int off, len, eof;
};

static void finish(int ep, struct conn *c) {
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    free(c->pending);
    free(c);
}

static void watch(int ep, struct conn *c) {
    struct epoll_event ev = {.events = c->len ? EPOLLOUT : EPOLLIN, .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Send what is pending; returns -1 on a dead connection. */
static int flush(struct conn *c) {
    while (c->off < c->len) {
        ssize_t n = send(c->fd, c->pending + c->off, c->len - c->off, MSG_NOSIGNAL);
        if (n < 0) return errno == EAGAIN ? 0 : -1;
        c->off += (int)n;
    }
    c->off = c->len = 0;
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s HOST PORT\n", argv[0]);
        return 2;
    }
    struct addrinfo hints = {0}, *ai;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
    if (getaddrinfo(argv[1], argv[2], &hints, &ai) != 0) {
        fprintf(stderr, "bad address %s %s\n", argv[1], argv[2]);
        return 2;
    }
    int lfd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(lfd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(lfd, 4096) != 0) {
        perror("bind/listen");
        return 1;
    }
    struct sockaddr_storage sa;
    socklen_t salen = sizeof sa;
    getsockname(lfd, (struct sockaddr *)&sa, &salen);
    char host[64];
    int port = ai->ai_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&sa)->sin6_port)
                                         : ntohs(((struct sockaddr_in *)&sa)->sin_port);
    inet_ntop(ai->ai_family,
              ai->ai_family == AF_INET6 ? (void *)&((struct sockaddr_in6 *)&sa)->sin6_addr
                                        : (void *)&((struct sockaddr_in *)&sa)->sin_addr,
              host, sizeof host);
    printf("listening on %s:%d\n", host, port);
    fflush(stdout);
    int ep = epoll_create1(0);
    struct epoll_event lev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev);
    static char buf[BUF];
    struct epoll_event events[256];
    for (;;) {
        int n = epoll_wait(ep, events, 256, -1);
        for (int i = 0; i < n; i++) {
            struct conn *c = events[i].data.ptr;
            if (!c) {
                int fd;
                while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    struct conn *nc = calloc(1, sizeof *nc);
                    nc->fd = fd;
                    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = nc};
                    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
                }
                continue;
            }
            if (c->len) { /* writable again: flush, then read again */
                if (flush(c) < 0) { finish(ep, c); continue; }
                if (!c->len && c->eof) { shutdown(c->fd, SHUT_WR); finish(ep, c); continue; }
                watch(ep, c);
                continue;
            }
            ssize_t r = recv(c->fd, buf, BUF, 0);
            if (r == 0) { shutdown(c->fd, SHUT_WR); finish(ep, c); continue; }
            if (r < 0) { if (errno != EAGAIN) finish(ep, c); continue; }
            ssize_t s = send(c->fd, buf, r, MSG_NOSIGNAL);
            if (s < 0 && errno != EAGAIN) { finish(ep, c); continue; }
            if (s < r) {
                int left = (int)(r - (s > 0 ? s : 0));
                c->pending = realloc(c->pending, left);
                memcpy(c->pending, buf + (r - left), left);
                c->off = 0;
                c->len = left;
                watch(ep, c);
            }
        }
    }
}
