// SPDX-License-Identifier: Apache-2.0
// curl_probe: the cost of libcurl alone, without jobwatchd. Polls
// GET {base}/jobs/{prefix}{i} for i cycling over `count` IDs with `conc`
// transfers in flight on one multi handle and one thread, pooled easy
// handles and kept-alive connections, and does nothing with the answers.
// It shows what any libcurl-based poller can reach on this machine, so the
// bench can tell jobwatchd's own cost from libcurl's and the kernel's.
//
// Two loop shapes:
//   perform  curl_multi_perform + curl_multi_poll, and the same easy-handle
//            options, as CurlMultiTransport (the bench's "libcurl alone")
//   socket   curl_multi_socket_action driven by epoll: one epoll_wait per
//            ~30 answers instead of a 32-fd poll() per few, yet no better
//            than perform here (within the machine's noise, +-5%), so the
//            transport keeps perform
//   PROBE_BARE=1 in the environment leaves out the transport's extra options.
//
// Usage: curl_probe MODE BASE_URL PREFIX COUNT SECONDS [CONC]
// Prints: {"requests": N, "seconds": S, "cpu_seconds": C}
#include <curl/curl.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

struct Transfer {
  CURL* easy = nullptr;
  std::string body;
};

size_t onBody(char* data, size_t size, size_t n, void* user) {
  static_cast<Transfer*>(user)->body.append(data, size * n);
  return size * n;
}

double cpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

int epfd = -1;
long timeout_ms = -1;

int onSocket(CURL*, curl_socket_t s, int what, void*, void*) {
  epoll_event ev{};
  ev.data.fd = s;
  if (what == CURL_POLL_REMOVE) {
    epoll_ctl(epfd, EPOLL_CTL_DEL, s, nullptr);
    return 0;
  }
  ev.events = ((what & CURL_POLL_IN) != 0 ? unsigned{EPOLLIN} : 0u) |
              ((what & CURL_POLL_OUT) != 0 ? unsigned{EPOLLOUT} : 0u);
  if (epoll_ctl(epfd, EPOLL_CTL_MOD, s, &ev) != 0) epoll_ctl(epfd, EPOLL_CTL_ADD, s, &ev);
  return 0;
}

int onTimer(CURLM*, long ms, void*) {
  timeout_ms = ms;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 6) {
    std::fprintf(stderr, "usage: curl_probe perform|socket BASE_URL PREFIX COUNT SECONDS [CONC]\n");
    return 2;
  }
  const bool socket_mode = std::strcmp(argv[1], "socket") == 0;
  const std::string base = argv[2];
  const std::string prefix = argv[3];
  const long count = std::atol(argv[4]);
  const double seconds = std::atof(argv[5]);
  const int conc = argc > 6 ? std::atoi(argv[6]) : 32;
  const bool full_options = std::getenv("PROBE_BARE") == nullptr;

  curl_global_init(CURL_GLOBAL_DEFAULT);
  CURLM* multi = curl_multi_init();
  curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, static_cast<long>(conc));
  curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, static_cast<long>(conc));
  if (socket_mode) {
    epfd = epoll_create1(EPOLL_CLOEXEC);
    curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, onSocket);
    curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, onTimer);
  }
  curl_slist* headers = curl_slist_append(nullptr, "X-API-Key: bench-key");
  headers = curl_slist_append(headers, "Accept: application/json");

  std::vector<Transfer> transfers(static_cast<size_t>(conc));
  long next = 0;
  long done = 0;
  auto startOne = [&](Transfer& t) {
    const std::string url = base + "/jobs/" + prefix + std::to_string(next++ % count);
    t.body.clear();
    curl_easy_setopt(t.easy, CURLOPT_URL, url.c_str());
    curl_multi_add_handle(multi, t.easy);
  };
  for (auto& t : transfers) {
    t.easy = curl_easy_init();
    curl_easy_setopt(t.easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(t.easy, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(t.easy, CURLOPT_WRITEFUNCTION, onBody);
    curl_easy_setopt(t.easy, CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(t.easy, CURLOPT_PRIVATE, &t);
    if (full_options) {  // everything CurlMultiTransport sets
      curl_easy_setopt(t.easy, CURLOPT_PROTOCOLS_STR, "http,https");
      curl_easy_setopt(t.easy, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
      curl_easy_setopt(t.easy, CURLOPT_FOLLOWLOCATION, 0L);
      curl_easy_setopt(t.easy, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
      curl_easy_setopt(t.easy, CURLOPT_TIMEOUT_MS, 10000L);
      curl_easy_setopt(t.easy, CURLOPT_LOW_SPEED_LIMIT, 64L);
      curl_easy_setopt(t.easy, CURLOPT_LOW_SPEED_TIME, 10L);
      curl_easy_setopt(t.easy, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(1 << 20));
      curl_easy_setopt(t.easy, CURLOPT_USERAGENT, "jobwatchd");
      curl_easy_setopt(t.easy, CURLOPT_TCP_KEEPALIVE, 1L);
    }
    startOne(t);
  }

  const auto t0 = std::chrono::steady_clock::now();
  const double c0 = cpuSeconds();
  const auto end = t0 + std::chrono::duration<double>(seconds);
  int running = 0;
  std::vector<epoll_event> events(64);
  while (std::chrono::steady_clock::now() < end) {
    if (socket_mode) {
      const int n = epoll_wait(epfd, events.data(), static_cast<int>(events.size()),
                               timeout_ms < 0 ? 100 : static_cast<int>(timeout_ms));
      if (n == 0) {
        curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, &running);
      }
      for (int i = 0; i < n; ++i) {
        int mask = 0;
        if (events[i].events & EPOLLIN) mask |= CURL_CSELECT_IN;
        if (events[i].events & EPOLLOUT) mask |= CURL_CSELECT_OUT;
        if (events[i].events & (EPOLLERR | EPOLLHUP)) mask |= CURL_CSELECT_ERR;
        curl_multi_socket_action(multi, events[i].data.fd, mask, &running);
      }
      if (n > 0 && timeout_ms == 0)
        curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, &running);
    } else {
      curl_multi_perform(multi, &running);
    }
    int queued = 0;
    bool any = false;
    while (CURLMsg* msg = curl_multi_info_read(multi, &queued)) {
      if (msg->msg != CURLMSG_DONE) continue;
      Transfer* t = nullptr;
      curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &t);
      if (msg->data.result != CURLE_OK) {
        std::fprintf(stderr, "curl_probe: %s\n", curl_easy_strerror(msg->data.result));
        return 1;
      }
      curl_multi_remove_handle(multi, t->easy);
      ++done;
      any = true;
      startOne(*t);
    }
    if (!socket_mode && !any) curl_multi_poll(multi, nullptr, 0, 100, nullptr);
  }
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("{\"requests\": %ld, \"seconds\": %.3f, \"cpu_seconds\": %.3f}\n", done, elapsed,
              cpuSeconds() - c0);
  return 0;
}
