// SPDX-License-Identifier: Apache-2.0
// Bounds on a job's labels, checked when a watch list is parsed and relied
// on where labels are spent: each label becomes an environment variable
// JOBWATCH_LABEL_<NAME>=<value> of every hook run, and the kernel refuses
// to start a program whose environment is too large (E2BIG "Argument list
// too long": ARG_MAX for argv and environment together, MAX_ARG_STRLEN for
// one string). hooks/hook_environment.h derives its worst case from these.
//
// Thread-safety: constants.
#pragma once

#include <cstddef>

namespace jobwatch {

// Labels one job may carry (after duplicate entries of the job are merged).
inline constexpr std::size_t kMaxLabelsPerJob = 64;
// A label name: ^[A-Za-z_][A-Za-z0-9_]{0,63}$.
inline constexpr std::size_t kMaxLabelKeyLength = 64;
// A label value: printable text of at most this many bytes.
inline constexpr std::size_t kMaxLabelValueBytes = 1024;
// Names plus values of all labels of one job, in bytes.
inline constexpr std::size_t kMaxLabelBytesPerJob = std::size_t{16} * 1024;

static_assert(kMaxLabelBytesPerJob >= kMaxLabelKeyLength + kMaxLabelValueBytes,
              "one label of the largest size must fit a job");

}  // namespace jobwatch
