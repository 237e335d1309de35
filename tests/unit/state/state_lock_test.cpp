// SPDX-License-Identifier: Apache-2.0
#include "state/state_lock.h"

#include <gtest/gtest.h>

#include "state_test_support.h"

namespace jobwatch::state {
namespace {

TEST(StateLock, OneHolderAtATime) {
  testing::TempDir dir;
  auto first = StateLock::acquire(dir / "state.db");
  ASSERT_TRUE(first.ok()) << first.error().message;
  auto second = StateLock::acquire(dir / "state.db");
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.error().message.find("state.db.lock"), std::string::npos);
  EXPECT_NE(second.error().message.find("another jobwatchd process"), std::string::npos);
  EXPECT_EQ(second.error().kind, ErrorKind::kRuntime);  // may pass: exit 3, restarted
  first = Error{"released"};                            // dropping the holder releases the lock
  EXPECT_TRUE(StateLock::acquire(dir / "state.db").ok());
}

TEST(StateLock, MissingDirectoryIsNamed) {
  testing::TempDir dir;
  auto lock = StateLock::acquire(dir / "nope" / "state.db");
  ASSERT_FALSE(lock.ok());
  EXPECT_NE(lock.error().message.find("nope/state.db.lock"), std::string::npos);
}

}  // namespace
}  // namespace jobwatch::state
