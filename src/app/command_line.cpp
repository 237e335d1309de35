// SPDX-License-Identifier: Apache-2.0
#include "app/command_line.h"

#include <algorithm>
#include <cctype>
#include <utility>

#include "app/version.h"

namespace jobwatch::app {
namespace {

const std::pair<const char*, Mode> kOperatorCommands[] = {
    {"status", Mode::kStatus}, {"jobs", Mode::kJobs},   {"show", Mode::kShow},
    {"hooks", Mode::kHooks},   {"retry", Mode::kRetry}, {"poll", Mode::kPoll},
    {"forget", Mode::kForget},
};

bool isOperator(Mode m) { return m >= Mode::kStatus; }

// An operator command's own option at args[i] (advancing i past its
// value); false when it is not one.
bool operatorOption(Command& cmd, const std::vector<std::string>& args, size_t& i) {
  const std::string& a = args[i];
  auto needValue = [&](const char* what) -> const std::string* {
    if (i + 1 == args.size()) {
      cmd.usage_error = a + " needs " + what;
      return nullptr;
    }
    return &args[++i];
  };
  if (a == "--json") {
    cmd.json = true;
  } else if (cmd.mode == Mode::kJobs && a == "--status") {
    if (const auto* v = needValue("a status")) {
      std::string word = *v;  // statuses are kept lowercased
      for (char& ch : word) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      cmd.statuses.push_back(std::move(word));
    }
  } else if (cmd.mode == Mode::kJobs && a == "--account") {
    if (const auto* v = needValue("an account")) cmd.account = *v;
  } else if (cmd.mode == Mode::kHooks && a == "--failed") {
    cmd.failed_only = true;
  } else if (cmd.mode == Mode::kRetry && a == "--all-failed") {
    cmd.all_failed = true;
  } else if ((cmd.mode == Mode::kShow || cmd.mode == Mode::kRetry || cmd.mode == Mode::kPoll ||
              cmd.mode == Mode::kForget) &&
             (a.empty() || a[0] != '-')) {
    cmd.ids.push_back(a);
  } else {
    return false;
  }
  return true;
}

void checkOperatorArity(Command& cmd) {
  if (cmd.mode == Mode::kShow && cmd.ids.size() != 1) cmd.usage_error = "show needs one job ID";
  if ((cmd.mode == Mode::kPoll || cmd.mode == Mode::kForget) && cmd.ids.empty()) {
    cmd.usage_error = "this command needs at least one job ID";
  }
  if (cmd.mode == Mode::kRetry && cmd.ids.empty() == !cmd.all_failed) {
    cmd.usage_error = "retry needs EVENT_ID... or --all-failed";
  }
}

// `jobwatchd status --help`, `add --help`: help, whatever else is given.
bool asksForHelp(const std::vector<std::string>& args) {
  return std::any_of(args.begin() + 1, args.end(),
                     [](const std::string& a) { return a == "--help" || a == "-h"; });
}

}  // namespace

Command parseCommandLine(const std::vector<std::string>& args) {
  Command cmd;
  int modes = 0;
  auto setMode = [&](Mode m) {
    cmd.mode = m;
    ++modes;
  };
  size_t first = 0;
  if (!args.empty() && args[0] == "add") {
    setMode(Mode::kAdd);
    first = 1;
  }
  for (const auto& [name, mode] : kOperatorCommands) {
    if (!args.empty() && args[0] == name) {
      setMode(mode);
      first = 1;
    }
  }
  if (first == 1 && asksForHelp(args)) {
    Command help;
    help.mode = Mode::kHelp;
    return help;
  }
  for (size_t i = first; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--config" || a == "-c") {
      if (i + 1 == args.size()) {
        cmd.usage_error = a + " needs a path";
        return cmd;
      }
      cmd.config = args[++i];
    } else if (a.rfind("--config=", 0) == 0) {
      cmd.config = a.substr(9);
    } else if (isOperator(cmd.mode) && operatorOption(cmd, args, i)) {
      if (!cmd.usage_error.empty()) return cmd;
    } else if (cmd.mode == Mode::kAdd && (a == "--label" || a == "-l")) {
      if (i + 1 == args.size()) {
        cmd.usage_error = a + " needs KEY=VALUE";
        return cmd;
      }
      const std::string& kv = args[++i];
      const auto eq = kv.find('=');
      if (eq == std::string::npos || eq == 0) {
        cmd.usage_error = "--label needs KEY=VALUE, got \"" + kv.substr(0, 64) + "\"";
        return cmd;
      }
      cmd.labels.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
    } else if (cmd.mode == Mode::kAdd && (a == "--account" || a == "-a")) {
      if (i + 1 == args.size()) {
        cmd.usage_error = a + " needs an account name";
        return cmd;
      }
      cmd.account = args[++i];
    } else if (cmd.mode == Mode::kAdd && (a.empty() || a[0] != '-')) {
      cmd.ids.push_back(a);
    } else if (a == "--once") {
      setMode(Mode::kOnce);
    } else if (a == "--check-config" || a == "-t") {
      setMode(Mode::kCheckConfig);
    } else if (a == "--version" || a == "-V") {
      setMode(Mode::kVersion);
    } else if (a == "--help" || a == "-h") {
      setMode(Mode::kHelp);
    } else {
      cmd.usage_error = "unknown argument \"" + a.substr(0, 64) + "\"";
      return cmd;
    }
  }
  if (modes > 1)
    cmd.usage_error = "--once, --check-config, --version and --help exclude each other";
  if (cmd.config.empty()) cmd.usage_error = "--config needs a non-empty path";
  if (cmd.mode == Mode::kAdd && cmd.ids.empty()) cmd.usage_error = "add needs at least one job ID";
  if (isOperator(cmd.mode) && cmd.usage_error.empty()) checkOperatorArity(cmd);
  return cmd;
}

std::string usageText() {
  return R"(Usage: jobwatchd [--config PATH]
  or:  jobwatchd --check-config [--config PATH]
  or:  jobwatchd --once [--config PATH]
  or:  jobwatchd add [--config PATH] [--account NAME] [--label KEY=VALUE]... ID...
  or:  jobwatchd status|jobs|show|hooks|retry|poll|forget [--config PATH] [--json] ...
  or:  jobwatchd --version | --help

Watches asynchronous jobs of the Unsiloed Vision API (GET /jobs/{job_id}):
polls every watched job that is not finished, logs each status change, and
keeps running until SIGTERM or SIGINT.

Options:
  -c, --config PATH   configuration file (default /etc/jobwatchd/jobwatchd.yaml)
  -t, --check-config  validate the configuration and the watch file, print
                      every problem with file, line and key; exit 0 or 1
      --once          poll every watched unfinished job once, print a table
                      (ID, status, type, PDF name, error) and exit; exit 1 if
                      any poll failed
  -V, --version       print the version and exit
  -h, --help          print this help and exit

Commands:
  add ID...           watch these jobs: writes one file atomically into the
                      drop directory (watch.drop_dir) of the running service;
                      -l, --label KEY=VALUE adds a label to each (repeatable);
                      -a, --account NAME puts them under that account of the
                      configuration (default: "default"); invalid input or
                      an unknown account writes nothing and exits 1

Operator commands (ask the running daemon over its control socket,
control.socket, default /run/jobwatchd/control.sock, mode 0660: usable by the
service user and the members of control.group, a group the service runs as -
under systemd a drop-in with Group=GROUP; each prints a table, or with --json
one JSON document; exit 0 ok, 1 bad input, not found or a failure of the
running daemon, 3 daemon not running - then status, jobs, show and hooks read
the state database directly, read-only, and say so on stderr; COMMAND --help
prints this help):
  status              version, uptime, API up, budget and requests in the
                      last minute, last successful poll, jobs per status,
                      hooks pending/running/failed, last reload; exit 1 when
                      degraded (API down, key refused, state writes failing)
  jobs [--status S]... [--account A]
                      one line per job: ID, account, status, type, PDF name,
                      age, last poll; --account A: that account's jobs only
  show ID             one job: every field, labels, its transitions, its hook
                      runs and attempts (exit code or signal, duration, the
                      last lines of output)
  hooks [--failed]    the hook ledger: pending, running, failed for good
  retry EVENT_ID... | --all-failed
                      run permanently failed hook runs again (one new attempt
                      each, committed before the answer); EVENT_ID is
                      JOB_ID:STATUS as in JOBWATCH_EVENT_ID
  poll ID...          poll these jobs now, out of turn, within the budget
  forget ID...        stop watching jobs added by drop file (or add) and
                      forget them; refused for jobs listed in the watch file

Status page: GET / on metrics.listen (beside /metrics) is a read-only page
with the same information as status, the jobs (filtered by status), recent
transitions and failed hooks; it refreshes itself.

The API key is read from api.api_key_file or the environment variable named by
api.api_key_env (default UNSILOED_API_KEY); never from the command line.
api.api_key_file may start with ${CREDENTIALS_DIRECTORY}/ to name a systemd
credential (LoadCredential=); nothing else in the configuration is expanded.

Exit status:
  0  success
  1  bad configuration or input (file, line and key are named)
  2  usage error
  3  runtime failure

Signals:
  SIGTERM, SIGINT  stop polling, wait for requests in flight, give running
                   hooks up to 20 s, commit state, exit 0
  SIGHUP           reload the configuration and the watch file; an invalid
                   configuration is logged and the running one is kept

Environment:
  UNSILOED_API_KEY       the API key, unless api.api_key_file is set
  CREDENTIALS_DIRECTORY  set by systemd (LoadCredential=): where a
                         ${CREDENTIALS_DIRECTORY}/NAME key file is read from
  NOTIFY_SOCKET          set by systemd (Type=notify): READY=1, RELOADING=1,
                         STOPPING=1, STATUS= with job counts, and WATCHDOG=1
                         from the scheduler thread when WATCHDOG_USEC is set
  JOURNAL_STREAM         set by systemd: when it names stderr, log lines go
                         to the journal with the fields JOBWATCH_JOB_ID,
                         JOBWATCH_STATUS, JOBWATCH_PREVIOUS_STATUS and
                         JOBWATCH_HOOK (journalctl -u jobwatchd
                         JOBWATCH_JOB_ID=ID)

Files:
  /etc/jobwatchd/jobwatchd.yaml  configuration
  /etc/jobwatchd/jobs.yaml       watch list (watch.file)
  /etc/jobwatchd/api-key         API key, loaded by jobwatchd.service
  /var/lib/jobwatchd/            state database, drop directory (state.path,
                                 watch.drop_dir)
)";
}

std::string versionText() { return std::string("jobwatchd ") + kVersion + "\n"; }

}  // namespace jobwatch::app
