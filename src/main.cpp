// SPDX-License-Identifier: Apache-2.0
// jobwatchd: parses the command line and hands over to the app.
#include <string>
#include <vector>

#include "api/curl_multi_transport.h"
#include "app/commands.h"

int main(int argc, char** argv) {
  // Once, before any thread starts (FACTS.md: libcurl).
  jobwatch::api::CurlGlobal curl;
  std::vector<std::string> args(argv + 1, argv + argc);
  return jobwatch::app::runCommand(jobwatch::app::parseCommandLine(args));
}
