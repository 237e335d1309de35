// SPDX-License-Identifier: Apache-2.0
// fakeapi: a fake Unsiloed Vision API for demos, integration tests and
// benchmarks. This file only reads the command line, loads the scenario,
// starts the server and waits for SIGTERM/SIGINT.
//
// Exit codes: 0 stopped by a signal, 1 bad scenario, 2 usage error,
// 3 could not listen or write the port file.
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include "fake_server.h"
#include "job_store.h"
#include "scenario.h"

namespace {

constexpr int kExitBadScenario = 1;
constexpr int kExitUsage = 2;
constexpr int kExitRuntime = 3;

constexpr char kUsage[] =
    "usage: fakeapi --scenario FILE [--listen HOST:PORT] [--port-file PATH] [--threads N]\n"
    "\n"
    "Serves a fake Unsiloed Vision API (GET /jobs/{id}, /jobs/{id}/result) from a\n"
    "YAML scenario, plus /_admin/ endpoints for tests.\n"
    "\n"
    "  --scenario FILE     the YAML scenario (required)\n"
    "  --listen HOST:PORT  address to bind (default 127.0.0.1:0, port 0 = any free port)\n"
    "  --port-file PATH    also write the bound port to PATH (atomically)\n"
    "  --threads N         most connections served at once, one thread each (default 1024)\n"
    "\n"
    "Prints 'fakeapi listening on HOST:PORT' once ready; SIGTERM/SIGINT stop it.\n";

struct Options {
  std::string scenario;
  fakeapi::ServerOptions server;
  std::optional<std::string> port_file;
};

[[noreturn]] void usageError(const std::string& message) {
  std::fprintf(stderr, "fakeapi: %s\n%s", message.c_str(), kUsage);
  std::exit(kExitUsage);
}

Options parseArgs(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    }
    std::string value;
    const std::size_t eq = arg.find('=');
    if (arg.starts_with("--") && eq != std::string_view::npos) {
      value = std::string(arg.substr(eq + 1));
      arg = arg.substr(0, eq);
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      usageError("missing value for " + std::string(arg));
    }
    if (arg == "--scenario") {
      options.scenario = value;
    } else if (arg == "--listen") {
      options.server.listen = value;
    } else if (arg == "--port-file") {
      options.port_file = value;
    } else if (arg == "--threads") {
      char* end = nullptr;
      const long n = std::strtol(value.c_str(), &end, 10);
      if (value.empty() || *end != '\0' || n < 1 || n > 100000) {
        usageError("--threads wants a number from 1 to 100000");
      }
      options.server.max_connections = static_cast<std::size_t>(n);
    } else {
      usageError("unknown option " + std::string(arg));
    }
  }
  if (options.scenario.empty()) usageError("--scenario is required");
  return options;
}

bool writePortFile(const std::string& path, std::uint16_t port) {
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  std::FILE* f = std::fopen(tmp.c_str(), "w");
  if (f == nullptr) return false;
  const bool written = std::fprintf(f, "%u\n", static_cast<unsigned>(port)) > 0;
  if (std::fclose(f) != 0 || !written || std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    return false;
  }
  return true;
}

int run(const Options& options) {
  // Signals are blocked before any thread starts and read here only; a
  // SIGTERM that arrives while a big scenario loads still ends in exit 0.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  auto loaded = fakeapi::loadScenario(options.scenario);
  if (const auto* error = std::get_if<fakeapi::ScenarioError>(&loaded)) {
    std::fprintf(stderr, "fakeapi: %s\n", error->message.c_str());
    return kExitBadScenario;
  }

  fakeapi::JobStore store(std::get<fakeapi::Scenario>(loaded), fakeapi::Now::read());
  loaded = fakeapi::ScenarioError{};  // the store keeps what it needs

  auto bound = fakeapi::FakeApiServer::bind(store, options.server);
  if (const auto* error = std::get_if<std::string>(&bound)) {
    std::fprintf(stderr, "fakeapi: %s\n", error->c_str());
    return kExitRuntime;
  }
  auto& server = *std::get<std::unique_ptr<fakeapi::FakeApiServer>>(bound);
  server.start();
  std::printf("fakeapi listening on %s\n", server.address().c_str());
  std::fflush(stdout);
  if (options.port_file && !writePortFile(*options.port_file, server.port())) {
    std::fprintf(stderr, "fakeapi: cannot write port file %s: %s\n", options.port_file->c_str(),
                 std::strerror(errno));
    return kExitRuntime;
  }

  int signal_number = 0;
  while (sigwait(&stop_signals, &signal_number) != 0) {
  }
  server.stop();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const Options options = parseArgs(argc, argv);
  try {
    return run(options);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fakeapi: %s\n", e.what());
    return kExitRuntime;
  }
}
