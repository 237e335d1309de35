// SPDX-License-Identifier: Apache-2.0
// TEMPORARY: stands in for the PostgreSQL store (postgres_state_store.h)
// until its implementation is merged; the lead drops this file.
#include "state/postgres_state_store.h"

namespace jobwatch::state {

Result<std::unique_ptr<StateStore>> openPostgresStore(const PostgresOptions& /*options*/,
                                                      const Clock& /*clock*/) {
  return Error{"the PostgreSQL state store is not built yet", ErrorKind::kRuntime};
}

Result<std::unique_ptr<StateReader>> openPostgresReader(const std::string& /*uri*/) {
  return Error{"the PostgreSQL state store is not built yet", ErrorKind::kRuntime};
}

Result<PostgresCheck> checkPostgres(const std::string& /*uri*/) {
  return Error{"the PostgreSQL state store is not built yet", ErrorKind::kRuntime};
}

}  // namespace jobwatch::state
