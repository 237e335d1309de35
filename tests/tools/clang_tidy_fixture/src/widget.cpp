// SPDX-License-Identifier: Apache-2.0
#include "widget.h"

namespace fixture {

int widgetSize(int scale) { return 2 * scale; }

}  // namespace fixture
