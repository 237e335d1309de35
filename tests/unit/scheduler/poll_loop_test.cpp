// SPDX-License-Identifier: Apache-2.0
// The scheduler thread: posted commands, the heartbeat, and its failure.
// A real thread with a transport that sleeps until woken, as curl's does.
#include "scheduler/poll_loop.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace jobwatch::scheduler {
namespace {

using namespace std::chrono_literals;

// No requests ever finish; run() waits until woken or max_wait.
class SleepingTransport final : public api::HttpTransport {
 public:
  void start(api::HttpRequest) override {}
  size_t inFlight() const override { return 0; }
  void run(std::chrono::milliseconds max_wait, std::vector<api::HttpResponse>&) override {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, max_wait, [this] { return woken_; });
    woken_ = false;
  }
  void wake() override {
    {
      std::lock_guard lock(mu_);
      woken_ = true;
    }
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool woken_ = false;
};

// Waits (bounded) until `done` holds.
template <typename F>
bool eventually(F done) {
  for (int i = 0; i < 1000 && !done(); ++i) std::this_thread::sleep_for(5ms);
  return done();
}

class PollLoopTest : public ::testing::Test {
 protected:
  PollLoopTest() : log(LogFormat::kText, LogLevel::kDebug, log_text) {
    ScheduleSettings s;
    s.base_url = "http://127.0.0.1:1";
    engine =
        std::make_unique<PollEngine>(s, status::StatusMapper(), transport, clock, events, log, 1);
  }
  std::unique_ptr<PollLoop> make(PollLoopOptions options = {}) {
    return std::make_unique<PollLoop>(*engine, transport, clock, log, std::move(options));
  }

  SystemClock clock;
  SleepingTransport transport;
  PollEventsFanout events{{}};
  std::ostringstream log_text;
  Log log;
  std::unique_ptr<PollEngine> engine;
};

TEST_F(PollLoopTest, PostedCommandsRunInOrderOnTheSchedulerThread) {
  auto loop = make();
  std::mutex mu;
  std::vector<int> ran;
  std::thread::id where;
  loop->post([&] {
    std::lock_guard lock(mu);
    ran.push_back(1);
    where = std::this_thread::get_id();
  });  // before start: runs once it starts
  loop->start();
  loop->post([&] {
    std::lock_guard lock(mu);
    ran.push_back(2);
  });
  ASSERT_TRUE(eventually([&] {
    std::lock_guard lock(mu);
    return ran.size() == 2;
  }));
  std::lock_guard lock(mu);
  EXPECT_EQ(ran, (std::vector<int>{1, 2}));
  EXPECT_NE(where, std::this_thread::get_id());
  EXPECT_FALSE(loop->failed());
}

TEST_F(PollLoopTest, TheHeartbeatIsCalledWhenItAsksToBeEvenWithNothingToPoll) {
  std::atomic<int> beats{0};
  PollLoopOptions options;
  options.heartbeat = [&](SteadyTime now, const PollEngine& e) {
    EXPECT_EQ(e.jobCount(), 0u);
    ++beats;
    return now + 10ms;  // the engine alone would sleep an hour
  };
  auto loop = make(std::move(options));
  loop->start();
  EXPECT_TRUE(eventually([&] { return beats.load() >= 5; }));
  loop->stop();
}

TEST_F(PollLoopTest, AnUnexpectedErrorEndsTheThreadAndSaysSo) {
  auto loop = make();
  loop->start();
  loop->post([] { throw std::runtime_error("broken invariant in a command"); });
  ASSERT_TRUE(eventually([&] { return loop->failed(); }));
  std::atomic<bool> ran{false};
  loop->post([&] { ran = true; });  // nobody runs it any more
  loop->stop();
  EXPECT_FALSE(ran.load());
  EXPECT_NE(log_text.str().find("broken invariant in a command"), std::string::npos);
}

}  // namespace
}  // namespace jobwatch::scheduler
