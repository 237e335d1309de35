// SPDX-License-Identifier: Apache-2.0
#include "app/service_notifier.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>

#include "support/scoped_env.h"

namespace jobwatch::app {
namespace {

using namespace std::chrono_literals;

TEST(FormatServiceStatus, CountsInLifecycleOrderThenOtherWords) {
  const std::map<std::string, size_t> counts = {
      {"completed", 30}, {"failed", 10},   {"processing", 80}, {"queued", 0},
      {"review", 2},     {"cancelled", 1}, {"unknown", 3}};
  EXPECT_EQ(formatServiceStatus(counts, 126, 2),
            "watching 126 jobs: 3 unknown, 80 processing, 30 completed, 10 failed, 1 cancelled, "
            "2 review; hooks pending 2");
}

TEST(FormatServiceStatus, ManyUnknownWordsAreSummedAsOther) {
  std::map<std::string, size_t> counts = {{"processing", 5}};
  for (int i = 0; i < 2000; ++i) counts["w" + std::to_string(1000 + i)] = 1;
  EXPECT_EQ(formatServiceStatus(counts, 2005, 0),
            "watching 2005 jobs: 5 processing, 1 w1000, 1 w1001, 1 w1002, 1997 other; "
            "hooks pending 0");
}

TEST(FormatServiceStatus, EmptyAndSingular) {
  EXPECT_EQ(formatServiceStatus({}, 0, 0), "watching 0 jobs; hooks pending 0");
  EXPECT_EQ(formatServiceStatus({{"queued", 1}}, 1, 0),
            "watching 1 job: 1 queued; hooks pending 0");
}

using ScopedEnv = testing_support::ScopedEnv;

TEST(ServiceNotifier, WithoutNotifySocketNothingIsEnabled) {
  ScopedEnv socket("NOTIFY_SOCKET", nullptr);
  ScopedEnv watchdog("WATCHDOG_USEC", "1000000");
  auto notifier = makeServiceNotifier();
  EXPECT_FALSE(notifier->enabled());
  EXPECT_FALSE(notifier->watchdogInterval().has_value());
  notifier->ready();  // harmless
}

// The service manager's end: a datagram socket in a temp dir.
class FakeServiceManager {
 public:
  FakeServiceManager() {
    std::string dir_template = ::testing::TempDir() + "notify_test.XXXXXX";
    dir_ = ::mkdtemp(dir_template.data());
    path_ = (dir_ / "notify.sock").string();
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path_.c_str(), sizeof addr.sun_path - 1);
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) std::abort();
    timeval tv{5, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  ~FakeServiceManager() {
    ::close(fd_);
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  const std::string& path() const { return path_; }
  std::string receive() {
    char buf[4096];
    const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string("<nothing>");
  }

 private:
  std::filesystem::path dir_;
  std::string path_;
  int fd_ = -1;
};

TEST(ServiceNotifier, SpeaksTheNotifyProtocol) {
  FakeServiceManager manager;
  ScopedEnv socket("NOTIFY_SOCKET", manager.path().c_str());
  ScopedEnv watchdog("WATCHDOG_USEC", "3000000");
  ScopedEnv watchdog_pid("WATCHDOG_PID", nullptr);
  auto notifier = makeServiceNotifier();
  ASSERT_TRUE(notifier->enabled());
  ASSERT_TRUE(notifier->watchdogInterval().has_value());
  EXPECT_EQ(*notifier->watchdogInterval(), 1500ms);

  notifier->ready();
  EXPECT_EQ(manager.receive(), "READY=1");
  notifier->watchdog();
  EXPECT_EQ(manager.receive(), "WATCHDOG=1");
  notifier->status("watching 1 job\nINJECTED=1");
  EXPECT_EQ(manager.receive(), "STATUS=watching 1 job INJECTED=1");
  notifier->stopping();
  EXPECT_EQ(manager.receive(), "STOPPING=1");

  timespec before{};
  ::clock_gettime(CLOCK_MONOTONIC, &before);
  notifier->reloading();
  const std::string reloading = manager.receive();
  const std::string prefix = "RELOADING=1\nMONOTONIC_USEC=";
  ASSERT_EQ(reloading.rfind(prefix, 0), 0u) << reloading;
  const long long usec = std::stoll(reloading.substr(prefix.size()));
  const long long before_usec = before.tv_sec * 1'000'000LL + before.tv_nsec / 1000;
  EXPECT_GE(usec, before_usec);
  EXPECT_LT(usec - before_usec, 5'000'000LL);
}

TEST(ServiceNotifier, WatchdogForAnotherPidIsOff) {
  FakeServiceManager manager;
  ScopedEnv socket("NOTIFY_SOCKET", manager.path().c_str());
  ScopedEnv watchdog("WATCHDOG_USEC", "3000000");
  ScopedEnv watchdog_pid("WATCHDOG_PID", std::to_string(::getpid() + 1).c_str());
  auto notifier = makeServiceNotifier();
  EXPECT_TRUE(notifier->enabled());
  EXPECT_FALSE(notifier->watchdogInterval().has_value());
}

}  // namespace
}  // namespace jobwatch::app
