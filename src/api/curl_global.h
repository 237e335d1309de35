// CurlGlobal: libcurl's process-wide initialisation, held by main() for the
// life of the process. Construct it before any thread starts.
#pragma once

namespace jobwatch::api {

class CurlGlobal {
 public:
  CurlGlobal();
  ~CurlGlobal();
  CurlGlobal(const CurlGlobal&) = delete;
  CurlGlobal& operator=(const CurlGlobal&) = delete;
};

}  // namespace jobwatch::api
