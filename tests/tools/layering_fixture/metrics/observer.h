// SPDX-License-Identifier: Apache-2.0
// Fixture for the layering check's self-test: metrics (level 2) including
// the scheduler (level 3) must be reported. Never compiled.
#pragma once

#include "scheduler/poll_events.h"
#include "util/clock.h"
