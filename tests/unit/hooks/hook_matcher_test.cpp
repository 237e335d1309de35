// SPDX-License-Identifier: Apache-2.0
#include "hooks/hook_matcher.h"

#include <gtest/gtest.h>

namespace jobwatch::hooks {
namespace {

using Names = std::vector<std::string>;

config::HookDefinition hook(std::string name, std::vector<std::string> on,
                            std::vector<std::string> types = {}) {
  config::HookDefinition h;
  h.name = std::move(name);
  h.on = std::move(on);
  h.types = std::move(types);
  h.command = {"/bin/true"};
  return h;
}

TEST(HookMatcher, MatchesListedStatusesOnly) {
  std::vector<config::HookDefinition> hooks{hook("done", {"completed"}),
                                            hook("bad", {"failed", "not_found", "timed_out"})};
  EXPECT_EQ(matchingHooks(hooks, "completed", "extraction"), Names{"done"});
  EXPECT_EQ(matchingHooks(hooks, "failed", "extraction"), Names{"bad"});
  EXPECT_EQ(matchingHooks(hooks, "timed_out", ""), Names{"bad"});
  EXPECT_EQ(matchingHooks(hooks, "processing", "extraction"), Names{});
  // Exact, canonical (lowercase) names only.
  EXPECT_EQ(matchingHooks(hooks, "COMPLETED", "extraction"), Names{});
}

TEST(HookMatcher, StarMatchesEveryStatus) {
  std::vector<config::HookDefinition> hooks{hook("all", {"*"})};
  for (const char* status : {"queued", "processing", "completed", "failed", "unknown", "review"}) {
    EXPECT_EQ(matchingHooks(hooks, status, "x"), Names{"all"}) << status;
  }
}

TEST(HookMatcher, TypesFilterIsExactWhenGiven) {
  std::vector<config::HookDefinition> hooks{hook("any", {"completed"}),
                                            hook("ext", {"completed"}, {"extraction"}),
                                            hook("two", {"completed"}, {"parsing", "extraction"})};
  EXPECT_EQ(matchingHooks(hooks, "completed", "extraction"), (Names{"any", "ext", "two"}));
  EXPECT_EQ(matchingHooks(hooks, "completed", "parsing"), (Names{"any", "two"}));
  EXPECT_EQ(matchingHooks(hooks, "completed", "Extraction"), (Names{"any"}));
  EXPECT_EQ(matchingHooks(hooks, "completed", ""), (Names{"any"}));
}

TEST(HookMatcher, KeepsConfigOrder) {
  std::vector<config::HookDefinition> hooks{hook("z", {"*"}), hook("a", {"failed"}),
                                            hook("m", {"*"})};
  EXPECT_EQ(matchingHooks(hooks, "failed", "t"), (Names{"z", "a", "m"}));
  EXPECT_EQ(matchingHooks({}, "failed", "t"), Names{});
}

}  // namespace
}  // namespace jobwatch::hooks
