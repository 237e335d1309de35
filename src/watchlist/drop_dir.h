// SPDX-License-Identifier: Apache-2.0
// The watch list's file-system side, for includers that want all of it:
// the drop directory watcher (drop_dir_watcher.h), the drop file writer of
// `jobwatchd add` (drop_file_writer.h) and the watch file monitor
// (watch_file_monitor.h). New code includes the one it needs.
#pragma once

#include "watchlist/drop_dir_watcher.h"
#include "watchlist/drop_file_writer.h"
#include "watchlist/watch_file_monitor.h"
