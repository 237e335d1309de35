// SPDX-License-Identifier: Apache-2.0
// Fixture: a file that does not include widget.h (stays in the cache).
namespace fixture {

int otherSize(int scale) { return 3 * scale; }

}  // namespace fixture
