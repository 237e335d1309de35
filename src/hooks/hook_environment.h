// SPDX-License-Identifier: Apache-2.0
// The exact environment and argv a hook run gets (SPEC "Hooks"): PATH,
// LANG, and the JOBWATCH_* variables describing the job and the run.
// Nothing else of the daemon's environment is passed; never the API key.
//
// Size is an invariant, not a hope. The kernel refuses to start a program
// (E2BIG, "Argument list too long") when one string of its argv or
// environment exceeds MAX_ARG_STRLEN (128 KiB) or all of them together
// exceed ARG_MAX (2 MiB with the default 8 MiB stack; strings, their NULs
// and one pointer each count). So every value is bounded here:
//  - the 16 fixed variables: each value is cut to kMaxHookValueBytes (the
//    API client already refuses fields over 64 KiB, status over 256 bytes;
//    PATH and LANG come from the daemon's environment), except
//    JOBWATCH_ACCOUNT, the last, cut to kMaxAccountNameBytes (config
//    refuses account names over 32 bytes, SPEC "Accounts");
//  - labels: at most kMaxLabelsPerJob of them, with names of at most
//    kMaxLabelKeyLength and values of at most kMaxLabelValueBytes, at most
//    kMaxLabelBytesPerJob together (util/label_limits.h; the watch-list
//    parser refuses more). Labels stored before these caps existed are
//    trimmed the same way: the first ones in name order that fit are kept.
// kMaxHookEnvironmentBytes is the resulting worst case; it is checked at
// compile time to leave at least half of ARG_MAX for argv, and at run time
// for every environment built.
//
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "config/config.h"
#include "state/state_store.h"
#include "util/label_limits.h"

namespace jobwatch::hooks {

// Kernel limits (linux/binfmts.h, and ARG_MAX with an 8 MiB stack).
inline constexpr std::size_t kKernelMaxArgStrlen = std::size_t{128} * 1024;
inline constexpr std::size_t kKernelArgMax = std::size_t{2} * 1024 * 1024;

inline constexpr std::size_t kFixedHookVariables = 16;  // the last is JOBWATCH_ACCOUNT
// The longest fixed name: JOBWATCH_PREVIOUS_STATUS (checked in the .cpp).
inline constexpr std::size_t kMaxFixedNameLength = 24;
inline constexpr std::size_t kMaxHookValueBytes = std::size_t{64} * 1024;
inline constexpr std::size_t kLabelPrefixLength = 15;  // "JOBWATCH_LABEL_"
// A with_result hook's JOBWATCH_RESULT_FILE or JOBWATCH_RESULT_ERROR
// (SPEC "Results"): at most one of them, its name at most 21 bytes.
inline constexpr std::size_t kMaxResultNameLength = 21;
inline constexpr std::size_t kMaxResultValueBytes = std::size_t{8} * 1024;
// An account's name: `^[a-z0-9_-]{1,32}$` (SPEC "Accounts").
inline constexpr std::size_t kMaxAccountNameBytes = 32;

// What one "NAME=value" string costs the kernel: its bytes, its NUL, its
// pointer.
constexpr std::size_t hookStringCost(std::size_t bytes) { return bytes + 1 + sizeof(char*); }

inline constexpr std::size_t kMaxHookEnvironmentBytes =
    (kFixedHookVariables - 1) * hookStringCost(kMaxFixedNameLength + 1 + kMaxHookValueBytes) +
    hookStringCost(kMaxFixedNameLength + 1 + kMaxAccountNameBytes) +
    kMaxLabelsPerJob * hookStringCost(kLabelPrefixLength + 1) + kMaxLabelBytesPerJob +
    hookStringCost(kMaxResultNameLength + 1 + kMaxResultValueBytes) +
    sizeof(char*);  // the terminating null pointer

static_assert(kMaxFixedNameLength + 1 + kMaxHookValueBytes < kKernelMaxArgStrlen,
              "a fixed variable could exceed MAX_ARG_STRLEN");
static_assert(kLabelPrefixLength + kMaxLabelKeyLength + 1 + kMaxLabelValueBytes <
                  kKernelMaxArgStrlen,
              "a label variable could exceed MAX_ARG_STRLEN");
static_assert(kMaxHookEnvironmentBytes <= kKernelArgMax / 2,
              "the hook environment must leave at least half of ARG_MAX for argv");

// "NAME=value" strings. `path` and `lang` are the daemon's PATH and LANG
// (defaults when unset). `attempt` is 1 for the first run. The result
// never costs more than kMaxHookEnvironmentBytes (see above).
std::vector<std::string> hookEnvironment(const state::HookRun& run, int attempt,
                                         const std::string& path, const std::string& lang);

// What `env` costs the kernel: every string with its NUL and pointer, and
// the terminating null pointer.
std::size_t hookEnvironmentBytes(const std::vector<std::string>& env);

// argv for a definition: `command` as given, or {"/bin/sh", "-c", shell}.
std::vector<std::string> hookArgv(const config::HookDefinition& hook);

}  // namespace jobwatch::hooks
