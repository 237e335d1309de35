// SPDX-License-Identifier: Apache-2.0
// Fixture for tests/tools/test_clang_tidy_cached.py: a header that only
// widget.cpp includes; the test seeds a clang-tidy finding into a copy.
#pragma once

namespace fixture {

int widgetSize(int scale);

}  // namespace fixture
